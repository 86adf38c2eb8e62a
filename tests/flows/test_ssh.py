"""The ssh task type against a real OpenSSH server started by the tests on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from blocks.ssh import SSHCredentials
from deployments.jobs import SshJob
from deployments.policy import RunPolicy
from flows.ssh import ssh_flow
from tests.conftest import alive, run
from tests.flows.conftest import server_logs

SSHD = Path("/usr/sbin/sshd")
INSTALLER = Path(__file__).parents[2] / "scripts" / "install-openssh-server"


@dataclass
class SshServer:
    port: int
    host_key: str  # the server's public key line
    user_key: str  # the client's private key (OpenSSH text)
    other_host_key: str  # a key the server does not have


def _keypair(path: Path) -> tuple[str, str]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text(), path.with_suffix(".pub").read_text().strip()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if not SSHD.exists():
        installed = subprocess.run([str(INSTALLER)], capture_output=True, text=True)
        if not SSHD.exists():
            pytest.skip(f"no OpenSSH server here: {installed.stderr.strip() or installed.stdout.strip()}")
    home = tmp_path_factory.mktemp("sshd")
    os.chmod(home, 0o700)
    _, host_public = _keypair(home / "host_key")
    user_private, user_public = _keypair(home / "user_key")
    _, other_public = _keypair(home / "other_key")
    (home / "authorized_keys").write_text(user_public + "\n")
    port = _free_port()
    (home / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\nPidFile {home / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\nAllowUsers {getpass.getuser()}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        "PermitRootLogin prohibit-password\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(home / "sshd_config")])
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sshd did not start on port {port} (exit {server.poll()})")
            time.sleep(0.1)
    try:
        yield SshServer(port, host_public, user_private, other_public)
    finally:
        server.terminate()
        server.wait(10)


def save_credentials(server: SshServer, host_key: str | None = None) -> str:
    name = f"ssh-{uuid.uuid4().hex[:8]}"
    SSHCredentials(
        host="127.0.0.1",
        port=server.port,
        username=getpass.getuser(),
        private_key=server.user_key,
        host_key=host_key or server.host_key,
    ).save(name)
    return name


def run_ssh(job: SshJob, policy: RunPolicy | None = None):
    return run(ssh_flow(job=job, policy=policy or RunPolicy(), return_state=True))


def test_output_streams_into_the_logs_and_exit_code_is_the_result(sshd: SshServer, tmp_path: Path) -> None:
    job = SshJob(
        ssh_block=save_credentials(sshd),
        command='echo "hi $GREETING from $(pwd)"; echo oops >&2',
        env={"GREETING": "there's"},
        working_dir=str(tmp_path),
    )
    state = run_ssh(job)
    assert state.is_completed(), state.message
    assert state.result() == {"exit_code": 0, "output_tail": [f"hi there's from {tmp_path}", "oops"]}
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert f"hi there's from {tmp_path}" in logs and "oops" in logs


def test_a_local_script_runs_remotely_and_a_non_zero_exit_fails_the_run(
    sshd: SshServer, tmp_path: Path
) -> None:
    script = tmp_path / "job.sh"
    script.write_text("echo step one\nexit 6\n")
    state = run_ssh(SshJob(ssh_block=save_credentials(sshd), script=str(script), shell="bash"))
    assert state.is_failed()
    assert state.message.startswith("exited with code 6: `/")  # the script's path, shortened
    assert state.message.endswith("`; last output: step one")


def test_a_host_key_that_is_not_the_pinned_one_runs_nothing(sshd: SshServer, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    job = SshJob(ssh_block=save_credentials(sshd, sshd.other_host_key), command=f"touch {marker}")
    state = run_ssh(job)
    assert state.is_failed()
    assert state.message.startswith(f"ssh: refused to connect to {getpass.getuser()}@127.0.0.1:{sshd.port}")
    assert (
        "host key is not the one pinned in the block" in state.message and "nothing was run" in state.message
    )
    assert not marker.exists()
    assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))


def test_a_host_that_does_not_answer_fails_the_run_clearly(sshd: SshServer) -> None:
    closed = SshServer(_free_port(), sshd.host_key, sshd.user_key, sshd.other_host_key)  # no server there
    state = run_ssh(SshJob(ssh_block=save_credentials(closed), command="true"))
    assert state.is_failed()
    assert state.message.startswith(f"ssh: cannot connect to {getpass.getuser()}@127.0.0.1:{closed.port}")
    assert state.message.endswith("; nothing was run")


@pytest.mark.parametrize(
    ("host_key", "pinned"),
    [
        ("127.0.0.1 ssh-ed25519 AAAAC3Nz comment", "ssh-ed25519 AAAAC3Nz"),  # a known_hosts line
        ("ssh-ed25519 AAAAC3Nz", "ssh-ed25519 AAAAC3Nz"),
    ],
)
def test_the_block_keeps_the_public_key_of_a_host_key_line(host_key: str, pinned: str) -> None:
    block = SSHCredentials(host="h", username="u", private_key="k", host_key=host_key)
    assert block.host_key == pinned


def test_a_host_key_that_is_no_key_is_refused() -> None:
    with pytest.raises(ValueError, match="is not a public key line like 'ssh-ed25519 AAAA...'; found 'none'"):
        SSHCredentials(host="h", username="u", private_key="k", host_key="none")


def _remote_pids(pids: Path) -> list[int]:
    return [int(line) for line in pids.read_text().split()] if pids.exists() else []


def test_timeout_kills_the_remote_process_group(sshd: SshServer, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A background child and one that ignores SIGTERM: neither may survive the run.
    command = (
        f"sleep 300 & echo $! >> {pids}; "
        f"sh -c 'trap \"\" TERM; sleep 300 & echo $! >> {pids}; wait' & echo $! >> {pids}; "
        f"echo $$ >> {pids}; echo started; sleep 300"
    )
    started = time.monotonic()
    state = run_ssh(SshJob(ssh_block=save_credentials(sshd), command=command), RunPolicy(timeout_seconds=3))
    assert state.name == "TimedOut", state.message
    assert time.monotonic() - started < 30
    remote = _remote_pids(pids)
    assert len(remote) == 4
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in remote) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in remote if alive(pid)] == []
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert "started" in logs and "stopped process group" in logs


def _wait_for(path: Path, lines: int, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while len(_remote_pids(path)) < lines:
        assert time.monotonic() < deadline, f"the remote job did not start: {_remote_pids(path)}"
        time.sleep(0.1)


def test_cancel_stops_the_remote_job(sshd: SshServer, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = f"sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; sleep 300"
    job = SshJob(ssh_block=save_credentials(sshd), command=command)

    async def cancelled() -> None:
        running = asyncio.ensure_future(ssh_flow(job=job, return_state=True))
        await asyncio.get_running_loop().run_in_executor(None, _wait_for, pids, 2)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    run(cancelled())
    remote = _remote_pids(pids)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in remote) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [pid for pid in remote if alive(pid)] == []


def test_cancelling_a_deployed_run_stops_the_remote_job(
    sshd: SshServer, tmp_path: Path, project: str, worker: str
) -> None:
    """Cancel as `tasklane cancel` does it: the worker stops the run's process, which stops the host's job."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    from deployments.apply import Target, apply
    from deployments.catalog import load_catalog
    from tests.conftest import TEST_POOL

    pids = tmp_path / "pids"
    catalog = tmp_path / "tasks.yaml"
    catalog.write_text(
        f"tasks:\n  - name: {project}-remote\n    type: ssh\n    ssh_block: {save_credentials(sshd)}\n"
        f"    command: 'sleep 300 & echo $! >> {pids}; echo $$ >> {pids}; sleep 300'\n"
    )

    async def deploy_and_start():
        async with get_client() as client:
            await apply(
                client, load_catalog([catalog]), Target(work_pool=TEST_POOL, timezone="UTC", project=project)
            )
        return await run_deployment(f"ssh/{project}-remote", timeout=0)

    flow_run = run(deploy_and_start())
    _wait_for(pids, 2, seconds=90)
    remote = _remote_pids(pids)
    assert all(alive(pid) for pid in remote)

    async def cancel():
        async with get_client() as client:
            await client.set_flow_run_state(
                flow_run.id, Cancelling(message="cancelled by the test"), force=True
            )

    run(cancel())
    deadline = time.monotonic() + 60
    while any(alive(pid) for pid in remote) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [pid for pid in remote if alive(pid)] == []
