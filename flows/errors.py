"""Errors raised by task-type flows.

FlowError
├── ShellCommandFailed     the command exited non-zero (exit code and last lines)
├── BadCredentialsBlock    a block named by the task is missing or of the wrong kind
├── NoShebangError         interpreter 'shebang' for a script without a '#!' first line
└── SshConnectionFailed    an SSH task's host refused, was unreachable or showed another host key

`EXPECTED_FAILURES` are the failures a job reports by design (these, and the integrations' errors:
a refused request, a bad status, a missing callable...): their one-line message says what failed,
so their runs log no traceback (flows/_runtime.py). Any other exception is a job's own bug, and
keeps its traceback.
"""

from __future__ import annotations

from integrations.errors import IntegrationError

COMMAND_CHARS = 60
TAIL_LINES = 5
TAIL_LINE_CHARS = 200


def _shortened(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class FlowError(Exception):
    """Base of errors raised by `flows/`."""


class ShellCommandFailed(FlowError):
    """The command exited non-zero.

    The message is one line, for the run's state (what `tasklane run --wait`, the history and the
    alerts show): `exited with code 7: `backup.sh --all`; last output: copying | disk full`.
    `report()` is the same with the last output lines on lines of their own, for the log.
    """

    def __init__(self, command: str, exit_code: int, tail: list[str]):
        self.command = command
        self.exit_code = exit_code
        self.tail = tail
        last = self.last_lines
        super().__init__(self.headline + (f"; last output: {' | '.join(last)}" if last else "; no output"))

    @property
    def short_command(self) -> str:
        lines = self.command.strip().splitlines() or [""]
        return _shortened(lines[0] + (" …" if len(lines) > 1 else ""), COMMAND_CHARS)

    @property
    def last_lines(self) -> list[str]:
        """The last few non-blank output lines, each cut to a readable length."""
        lines = [line for line in self.tail if line.strip()]
        return [_shortened(line, TAIL_LINE_CHARS) for line in lines[-TAIL_LINES:]]

    @property
    def headline(self) -> str:
        """The exit code and the command, shortened."""
        return f"exited with code {self.exit_code}: `{self.short_command}`"

    def report(self) -> str:
        """What failed, on several lines: the headline, then the last output lines."""
        if not self.last_lines:
            return f"{self.headline}; no output"
        return "\n".join([f"{self.headline}; last output:", *self.last_lines])


class BadCredentialsBlock(FlowError):
    pass


class NoShebangError(FlowError):
    pass


class SshConnectionFailed(FlowError):
    pass


EXPECTED_FAILURES: tuple[type[Exception], ...] = (FlowError, IntegrationError)
