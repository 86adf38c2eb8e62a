"""The bare-Prefect baseline: the same trivial shell job as a plain Prefect flow."""

from __future__ import annotations

from prefect import flow
from prefect_shell import ShellOperation


@flow(name="bare-shell")
def bare_shell(command: str = "true") -> list[str]:
    return ShellOperation(commands=[command]).run()
