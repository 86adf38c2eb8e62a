"""`tasklane validate`'s look at the code of Python tasks, beyond what loading the catalog checks.

Loading already compiles inline `code:` (deployments.jobs.PythonJob). This compiles each `script:`
file and imports each `callable:` - in a subprocess, with a time limit: importing runs the module's
top level, which may hang, exit or change the interpreter, and none of that may reach the caller.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deployments.catalog import Catalog, TaskSpec
from deployments.errors import Problem
from deployments.jobs import PythonJob, describe_syntax_error, python_syntax_error

IMPORT_TIME_LIMIT_SECONDS = 10.0
# Run by the subprocess: argv[1] is the 'module:function', the rest go first on sys.path. It exits 3
# with the reason on stderr when the callable cannot be found; an import's own crash exits 1.
_IMPORT_CHECK = """
import sys
from integrations.errors import CallableNotFoundError
from integrations.python_job import extra_sys_path, load_callable
with extra_sys_path(sys.argv[2:]):
    try:
        load_callable(sys.argv[1])
    except CallableNotFoundError as exc:
        sys.stderr.write(str(exc))
        sys.exit(3)
"""


def _script_problem(file: str, task: TaskSpec, script: str) -> Problem | None:
    try:
        source = Path(script).read_bytes()
    except OSError as exc:
        return Problem(file, task.name, "script", f"{script}: cannot be read: {exc.strerror}")
    error = python_syntax_error(source.decode("utf-8", errors="replace"), script)
    return (
        None
        if error is None
        else Problem(file, task.name, "script", f"{script}: {describe_syntax_error(error)}")
    )


def _callable_problem(file: str, task: TaskSpec, job: PythonJob, time_limit: float) -> Problem | None:
    reference = job.callable or ""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_CHECK, reference, *job.path],
            capture_output=True,
            text=True,
            timeout=time_limit,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return Problem(
            file, task.name, "callable", f"importing {reference!r} took longer than {time_limit:g}s; stopped"
        )
    if done.returncode == 0:
        return None
    if done.returncode == 3:
        return Problem(file, task.name, "callable", done.stderr.strip())
    last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return Problem(file, task.name, "callable", f"importing {reference!r} failed: {last}")


def python_code_problems(catalog: Catalog, *, time_limit: float = IMPORT_TIME_LIMIT_SECONDS) -> list[Problem]:
    """The problems of the catalog's Python tasks' scripts (syntax) and callables (import), in order.

    Args:
        time_limit: seconds one callable's import may take before it counts as a problem.
    """
    problems: list[Problem] = []
    for task in catalog.tasks:
        if not isinstance(task.job, PythonJob):
            continue
        file = catalog.files_of.get(task.name, "")
        if task.job.script:
            problem = _script_problem(file, task, task.job.script)
        elif task.job.callable:
            problem = _callable_problem(file, task, task.job, time_limit)
        else:
            continue
        if problem is not None:
            problems.append(problem)
    return problems
