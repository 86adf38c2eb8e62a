"""The `shell` task type: a command or script run by prefect-shell.

The shell runs in its own process group (prefect-shell's doing); when the run times out or
is cancelled the whole group is signalled, and anything still alive after a grace period
is killed, so no child outlives its run.
"""

from __future__ import annotations

import os
import shlex
import signal
import time
from typing import Any, cast

from prefect import flow, get_run_logger
from prefect.blocks.system import Secret
from prefect_shell import ShellOperation

from deployments.jobs import ShellJob
from deployments.policy import RunPolicy
from flows._runtime import DEFAULT_POLICY, arun_job, name_after_task
from flows.errors import ShellCommandFailed

OUTPUT_TAIL_LINES = 20
KILL_GRACE_SECONDS = 2.0


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


def _masked(lines: list[str], secrets: list[str]) -> list[str]:
    """`lines` with every secret value the command was given replaced by `***`."""
    for secret in (s for s in secrets if s):
        lines = [line.replace(secret, "***") for line in lines]
    return lines


async def run_shell(job: ShellJob) -> dict[str, Any]:
    """Run the command; return its exit code and last lines, or raise ShellCommandFailed.

    The lines kept (in the result, its artifact and a failure's message) have the secret_env
    values masked. A failure is logged once, with its last output lines on lines of their own.
    """
    secrets = await _secret_env(job.secret_env)
    env = {**job.env, **secrets}
    hidden = list(secrets.values())
    command = job.command or f"exec {shlex.quote(job.shell)} {shlex.quote(job.script or '')}"
    pgid = None
    try:
        async with ShellOperation(
            commands=[command], shell=job.shell, env=env, working_dir=job.working_dir
        ) as operation:
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
