"""`tasklane.runtime.warm_start`: runs forked from a zygote behave, to whoever started the client, like
the process they replace (stdio, cwd, env, arguments, exit status, signals), and fall back to a
cold start where the zygote cannot serve. No Prefect server: the job is tests/tasklane/runtime/warm_job.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasklane.runtime.warm_start import SOCKET_ENV
from tasklane.stack.processes import descendants, stop_process_tree

ROOT = Path(__file__).resolve().parents[3]
CLIENT = [
    sys.executable,
    "-c",
    "from tasklane.runtime.warm_start import client; client('tests.tasklane.runtime.warm_job')",
]


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen, str]]:
    socket_path = str(tmp_path_factory.mktemp("warm") / "z.sock")
    # The "worker" is a sleep: the zygote lives as long as its worker does.
    process = subprocess.Popen(
        [sys.executable, "-m", "tasklane.runtime.warm_start", "serve", "--socket", socket_path]
        + ["--", "sleep", "600"],
        cwd=ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not Path(socket_path).exists():
        assert process.poll() is None, "the zygote exited while starting"
        assert time.monotonic() < deadline, "the zygote did not listen within 60 s"
        time.sleep(0.1)
    yield process, socket_path
    stop_process_tree(process.pid)


def client_env(socket_path: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != SOCKET_ENV}
    env["PYTHONPATH"] = str(ROOT)
    if socket_path:
        env[SOCKET_ENV] = socket_path
    return {**env, **extra}


def run_client(socket_path: str | None, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLIENT, *args],
        cwd=cwd,
        env=client_env(socket_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def report(result: subprocess.CompletedProcess) -> dict:
    return json.loads(result.stdout.splitlines()[0])


@pytest.mark.parametrize("code", [0, 3])
def test_a_warm_run_has_the_clients_stdio_cwd_env_arguments_and_exit_status(
    zygote, tmp_path: Path, code: int
) -> None:
    process, socket_path = zygote
    result = run_client(socket_path, "exit", str(code), cwd=tmp_path, WARM_JOB_MARKER="m-1")
    job = report(result)
    assert result.returncode == code, result.stderr
    assert job["ppid"] == process.pid  # forked by the zygote, not started cold by the client
    assert job["prefect_loaded_before_main"]
    assert (job["cwd"], job["marker"], job["argv"]) == (str(tmp_path), "m-1", ["exit", str(code)])
    assert "to stderr" in result.stderr


def test_a_warm_run_runs_the_exit_hooks_prefect_drains_its_logs_in(zygote, tmp_path: Path) -> None:
    _, socket_path = zygote
    result = run_client(socket_path, "hooks", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"threading", "atexit"}


def test_without_a_zygote_the_client_is_a_cold_start(tmp_path: Path) -> None:
    for socket_path in (None, str(tmp_path / "nobody.sock")):
        result = run_client(socket_path, "exit", "5", cwd=tmp_path)
        job = report(result)
        assert result.returncode == 5
        assert not job["prefect_loaded_before_main"]
        assert job["ppid"] == os.getpid()  # the client exec'd itself into the job: same pid
    assert "cold start (no zygote at" in result.stderr


def _start_waiting_client(socket_path: str, tmp_path: Path) -> tuple[subprocess.Popen, Path, int]:
    marker = tmp_path / "started"
    client = subprocess.Popen(
        [*CLIENT, "wait", str(marker)],
        cwd=tmp_path,
        env=client_env(socket_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not marker.exists():
        assert time.monotonic() < deadline, "the job did not start"
        time.sleep(0.05)
    time.sleep(0.1)
    return client, marker, int(marker.read_text())


def test_a_signal_to_the_client_reaches_the_run_and_its_status_comes_back(zygote, tmp_path: Path) -> None:
    _, socket_path = zygote
    client, marker, _ = _start_waiting_client(socket_path, tmp_path)
    client.send_signal(signal.SIGTERM)
    assert client.wait(timeout=30) == 143
    assert marker.with_suffix(".term").read_text() == "terminated"


def test_a_killed_client_takes_its_run_with_it(zygote, tmp_path: Path) -> None:
    process, socket_path = zygote
    client, _, job_pid = _start_waiting_client(socket_path, tmp_path)
    assert job_pid in descendants(process.pid)
    client.kill()
    client.wait(timeout=10)
    deadline = time.monotonic() + 10
    while job_pid in descendants(process.pid):
        assert time.monotonic() < deadline, "the run outlived its client"
        time.sleep(0.05)


def test_a_job_killed_by_a_signal_kills_the_client_with_the_same_signal(zygote, tmp_path: Path) -> None:
    _, socket_path = zygote
    client, _, job_pid = _start_waiting_client(socket_path, tmp_path)
    os.kill(job_pid, signal.SIGKILL)
    assert client.wait(timeout=30) == -signal.SIGKILL
