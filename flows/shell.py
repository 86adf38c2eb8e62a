"""The `shell` task type: a command or script run by prefect-shell.

With `interpreter:` the command or script runs with that program itself: inline code is written
to a file with the interpreter's suffix and prefect-shell runs `interpreter file`; a script file
runs as `interpreter script` (exec'd by sh, which leaves the interpreter in its place, so the
interpreter is the process group's leader and nothing wraps it). 'shebang' takes the program from
the code's or script's '#!' line, as the kernel reads it (the program, then at most one argument),
so a script runs the same whether or not it is executable.

The shell runs in its own process group (prefect-shell's doing); when the run times out or
is cancelled the whole group is signalled, and anything still alive after a grace period
is killed, so no child outlives its run.

The values of a job's `secret_env` never reach a log, a result or an artifact: prefect-shell
logs the command's output as it reads it (one record per read, through the run logger), so a
filter on that logger masks them in each record before any handler (Prefect's API log handler,
the worker's console) sees it; the kept tail is masked the same way. A value the command writes
in two pieces, with its output read in between, is not recognised in either piece.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.blocks.system import Secret
from prefect_shell import ShellOperation

from deployments.jobs import INTERPRETERS, SHEBANG, ShellJob
from deployments.policy import RunPolicy
from flows._runtime import DEFAULT_POLICY, RUN_LOGGERS, arun_job, name_after_task
from flows.errors import NoShebangError, ShellCommandFailed

OUTPUT_TAIL_LINES = 20
KILL_GRACE_SECONDS = 2.0
MASK = "***"
# The secrets of the shell job running in this context, as one pattern; None outside a job. A
# context variable, not a filter per run: prefect-shell logs from tasks that copy the job's context,
# and runs in other contexts (other threads, other flows) are masked by their own values only.
_RUNNING_SECRETS: ContextVar[re.Pattern[str] | None] = ContextVar("tasklane_shell_secrets", default=None)


async def _secret_env(secret_env: dict[str, str]) -> dict[str, str]:
    values = {}
    for variable, block_name in secret_env.items():
        # Secret.aload's type loses the class through Prefect's inject_client decorator.
        secret = cast("Secret[Any]", await Secret.aload(block_name))
        values[variable] = str(secret.get())
    return values


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _reap_group(pgid: int) -> None:
    """SIGKILL the job's process group if anything in it ignored the SIGTERM.

    Synchronous on purpose: it runs while a timeout or cancellation unwinds, when every
    await in the cancelled scope would raise at once instead of waiting.
    """
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def secrets_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """What masks `values` in output: each whole value and each line of a multi-line one (the
    output is kept and logged in lines), longest first; None when there is nothing to mask.

    Blank values and lines are left out: masking them would garble every line, not hide a secret.
    """
    spellings = set()
    for value in values:
        spellings.add(value)
        spellings.update(line.strip() for line in value.splitlines())
    kept = sorted((s for s in spellings if s.strip()), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, kept))) if kept else None


class _MaskRunningSecrets(logging.Filter):
    """Replaces, in each record, the secrets of the shell job running in the record's context."""

    def filter(self, record: logging.LogRecord) -> bool:
        pattern = _RUNNING_SECRETS.get()
        if pattern is not None:
            message = record.getMessage()
            masked = pattern.sub(MASK, message)
            if masked != message:
                record.msg, record.args = masked, ()
        return True


@contextmanager
def _secrets_masked_in_logs(pattern: re.Pattern[str] | None) -> Iterator[None]:
    """Mask `pattern` in what the run logger logs in this context, for the duration.

    prefect-shell logs the output through get_run_logger(), one of the RUN_LOGGERS. Their filter
    is installed once and stays, doing nothing outside a job with secrets.
    """
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _MaskRunningSecrets) for f in logger.filters):
            logger.addFilter(_MaskRunningSecrets())
    token = _RUNNING_SECRETS.set(pattern)
    try:
        yield
    finally:
        _RUNNING_SECRETS.reset(token)


def _masked(lines: list[str], pattern: re.Pattern[str] | None) -> list[str]:
    """`lines` with every secret value the command was given replaced by `***`."""
    return lines if pattern is None else [pattern.sub(MASK, line) for line in lines]


def shebang_argv(first_line: str, where: str) -> list[str]:
    """The program and its optional one argument named by a '#!' line, as the kernel splits it.

    Raises:
        NoShebangError: the line is not '#!program ...' (`where` says whose line it is).
    """
    words = first_line.removeprefix("#!").strip().split(None, 1) if first_line.startswith("#!") else []
    if not words:
        raise NoShebangError(
            f"interpreter 'shebang': {where} does not start with '#!program'; found {first_line[:60]!r}"
        )
    return words


@contextmanager
def _operation_for(job: ShellJob, env: dict[str, str]) -> Iterator[ShellOperation]:
    """The prefect-shell operation that runs the job with its shell or interpreter."""
    inline_file = None
    try:
        if job.interpreter is None:
            command = job.command or f"exec {shlex.quote(job.shell)} {shlex.quote(job.script or '')}"
            shell, suffix = job.shell, None
        elif job.interpreter != SHEBANG and job.command is not None:
            command, shell, suffix = job.command, job.interpreter, INTERPRETERS[job.interpreter]
        else:
            if job.interpreter == SHEBANG:
                if job.command is not None:
                    # The code goes in a file of its own: the '#!' program reads its code from a file.
                    with tempfile.NamedTemporaryFile("w", prefix="tasklane-", delete=False) as inline:
                        inline.write(job.command)
                    inline_file = path = inline.name
                    first_line, where = job.command.partition("\n")[0], "the command"
                else:
                    path, where = job.script or "", f"script {job.script!r}"
                    try:
                        with open(path, encoding="utf-8", errors="replace") as script:
                            first_line = script.readline().rstrip("\n")
                    except OSError as exc:
                        raise NoShebangError(
                            f"interpreter 'shebang': cannot read {where}: {exc.strerror}"
                        ) from None
                argv = [*shebang_argv(first_line, where), path]
            else:
                argv = [job.interpreter, job.script or ""]
            command, shell, suffix = f"exec {shlex.join(argv)}", "sh", None
        yield ShellOperation(
            commands=[command], shell=shell, extension=suffix, env=env, working_dir=job.working_dir
        )
    finally:
        if inline_file is not None:
            os.unlink(inline_file)


async def run_shell(job: ShellJob) -> dict[str, Any]:
    """Run the command; return its exit code and last lines, or raise ShellCommandFailed.

    The output logged as it comes and the lines kept (in the result, its artifact and a failure's
    message) have the secret_env values masked. A failure is logged once, with its last output
    lines on lines of their own.
    """
    secrets = await _secret_env(job.secret_env)
    env = {**job.env, **secrets}
    hidden = secrets_pattern(secrets.values())
    pgid = None
    with _secrets_masked_in_logs(hidden), _operation_for(job, env) as unopened:
        try:
            async with unopened as operation:
                process = await operation.atrigger()
                pgid = process.pid
                try:
                    await process.await_for_completion()
                except RuntimeError:
                    if process.return_code in (None, 0):
                        raise
                    output = _masked((await process.afetch_result())[-OUTPUT_TAIL_LINES:], hidden)
                    failure = ShellCommandFailed(job.command or job.script or "", process.return_code, output)
                    get_run_logger().error(failure.report())
                    raise failure from None
                tail = _masked((await process.afetch_result())[-OUTPUT_TAIL_LINES:], hidden)
                return {"exit_code": process.return_code, "output_tail": tail}
        finally:
            if pgid is not None:
                _reap_group(pgid)


@flow(name="shell", flow_run_name=name_after_task, log_prints=True)
async def shell_flow(job: ShellJob, policy: RunPolicy = DEFAULT_POLICY) -> Any:
    """Run a shell task with its retries and timeout."""
    return await arun_job(run_shell, policy, "shell-command", job)
