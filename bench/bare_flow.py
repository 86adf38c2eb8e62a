"""The bare-Prefect baseline: the same trivial shell job as a plain Prefect flow."""

from __future__ import annotations

import sys

from prefect import flow
from prefect_shell import ShellOperation

# Prefect's own flow-run command, for a bare deployment in a Tasklane pool (whose job template
# starts runs with tasklane.runtime.engine instead).
BARE_JOB_VARIABLES = {"command": f"{sys.executable} -m prefect.engine"}


@flow(name="bare-shell")
def bare_shell(command: str = "true") -> list[str]:
    return ShellOperation(commands=[command]).run()
