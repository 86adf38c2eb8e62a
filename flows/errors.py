"""Errors raised by task-type flows.

FlowError
├── ShellCommandFailed     the command exited non-zero (exit code and last lines)
└── BadCredentialsBlock    a block named by the task is missing or of the wrong kind
"""

from __future__ import annotations


class FlowError(Exception):
    """Base of errors raised by `flows/`."""


class ShellCommandFailed(FlowError):
    def __init__(self, command: str, exit_code: int, tail: list[str]):
        self.exit_code = exit_code
        self.tail = tail
        last = "\n".join(tail[-5:])
        super().__init__(f"{command!r} exited with code {exit_code}; last output:\n{last}")


class BadCredentialsBlock(FlowError):
    pass
