"""The `ssh` task type: a command or a local script run on a remote host over SSH.

The remote side runs `setsid -w sh -c 'echo $$; exec SHELL -c COMMAND'`: the job leads a process
group of its own there and says which (its first stdout line, read here, not logged). When the
run times out or is cancelled, a second channel sends SIGTERM to that group, then SIGKILL to what
is left after a grace period, so nothing outlives the run on the host. The host's key is pinned
in the SSHCredentials block; any other key refuses the connection before the job is sent.
"""

from __future__ import annotations

import shlex
from collections import deque
from pathlib import Path
from typing import Any

import anyio
from prefect import flow, get_run_logger

from blocks.ssh import SSHCredentials
from deployments.jobs import SshJob
from deployments.policy import RunPolicy
from flows._runtime import DEFAULT_POLICY, arun_job, name_after_task
from flows.errors import BadCredentialsBlock, ShellCommandFailed, SshConnectionFailed

OUTPUT_TAIL_LINES = 20
KILL_GRACE_SECONDS = 2


def remote_command(job: SshJob, code: str) -> str:
    """The command line sent to the host: the job's env and directory, in a group of its own."""
    inner = ""
    if job.working_dir:
        inner += f"cd {shlex.quote(job.working_dir)} || exit 1; "
    inner += "".join(f"export {name}={shlex.quote(value)}; " for name, value in job.env.items())
    inner += f"exec {shlex.quote(job.shell)} -c {shlex.quote(code)}"
    return f"exec setsid -w sh -c {shlex.quote('echo $$; ' + inner)}"


def kill_group_command(pgid: int) -> str:
    """SIGTERM the remote group, then SIGKILL whatever ignored it after the grace period."""
    return (
        f"kill -TERM -- -{pgid} 2>/dev/null; i=0; "
        f"while kill -0 -- -{pgid} 2>/dev/null && [ $i -lt {KILL_GRACE_SECONDS * 10} ]; "
        "do sleep 0.1; i=$((i+1)); done; "
        f"kill -KILL -- -{pgid} 2>/dev/null; true"
    )


async def _credentials(name: str) -> SSHCredentials:
    try:
        return await SSHCredentials.aload(name)
    except ValueError as exc:
        raise BadCredentialsBlock(
            f"ssh: cannot load the ssh-credentials block {name!r}: {exc}. Save it first, e.g. "
            f"SSHCredentials(host=..., username=..., private_key=..., host_key=...).save({name!r})"
        ) from exc


async def _connect(credentials: SSHCredentials, block: str) -> Any:
    import asyncssh

    where = f"{credentials.username}@{credentials.host}:{credentials.port} (block {block!r})"
    try:
        return await credentials.get_client()
    except asyncssh.HostKeyNotVerifiable as exc:
        raise SshConnectionFailed(
            f"ssh: refused to connect to {where}: its host key is not the one pinned in the block "
            f"({exc.reason}); nothing was run. If the host's key really changed, check it "
            "(ssh-keyscan) and update the block's host_key"
        ) from None
    except (asyncssh.Error, OSError, TimeoutError) as exc:
        raise SshConnectionFailed(f"ssh: cannot connect to {where}: {exc}; nothing was run") from None


async def run_ssh(job: SshJob) -> dict[str, Any]:
    """Run the job on its host; return its exit code and last lines, or raise ShellCommandFailed."""
    logger = get_run_logger()
    code = job.command if job.command is not None else Path(job.script or "").read_text(encoding="utf-8")
    credentials = await _credentials(job.ssh_block)
    connection = await _connect(credentials, job.ssh_block)
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    pgid: int | None = None
    finished = False
    async with connection:
        process = await connection.create_process(remote_command(job, code), stdin="/dev/null")
        try:
            first = await process.stdout.readline()
            pgid = int(first.strip()) if first.strip().isdigit() else None
            logger.info("started on %s as process group %s", credentials.host, pgid)

            async def stream(reader: Any, label: str) -> None:
                while line := await reader.readline():  # '' at the end of the stream
                    text = line.rstrip("\n")
                    tail.append(text)
                    logger.info("%s%s", label, text)

            async with anyio.create_task_group() as streams:
                streams.start_soon(stream, process.stdout, "")
                streams.start_soon(stream, process.stderr, "")
            completed = await process.wait()
            finished = True
        finally:
            if not finished and pgid is not None:
                # Cancelled or timed out: shielded, or this scope's cancellation stops the kill too.
                with anyio.CancelScope(shield=True):
                    killer = await connection.run(kill_group_command(pgid), check=False)
                    logger.warning(
                        "stopped process group %s on %s (exit %s)", pgid, credentials.host, killer.exit_status
                    )
    exit_code = completed.exit_status if completed.exit_status is not None else 255
    if exit_code != 0:
        failure = ShellCommandFailed(job.command or job.script or "", exit_code, list(tail))
        logger.error(failure.report())
        raise failure
    return {"exit_code": exit_code, "output_tail": list(tail)}


@flow(name="ssh", flow_run_name=name_after_task, log_prints=True)
async def ssh_flow(job: SshJob, policy: RunPolicy = DEFAULT_POLICY) -> Any:
    """Run an SSH task with its retries and timeout."""
    return await arun_job(run_ssh, policy, "ssh-command", job)
