"""`tasklane up` / `tasklane down` (what `make up` and `make down` run), for real.

Ctrl-C or `down` must stop every process the stack started, a running job's own children
included, and a second `up` must reuse the same database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from tasklane.stack.peers._server import free_port
from tasklane.stack.processes import descendants
from tests.conftest import alive

TASKLANE = str(Path(sys.executable).with_name("tasklane"))
CATALOG = """
tasks:
  - name: long-job
    type: shell
    command: |
      sleep 300 & echo $! > {pidfile}
      sleep 300
"""


class Up:
    """`tasklane up` in its own session, its output collected as it comes."""

    def __init__(self, cwd: Path, env: dict[str, str], *, sigint_ignored: bool = False):
        self.process = subprocess.Popen(
            [TASKLANE, "up"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            # What a shell's `&` hands a background job: Ctrl-C must stop the stack all the same.
            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None,
        )
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_for(self, text: str, timeout: float = 150) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.output):
            assert self.process.poll() is None, "".join(self.output)
            assert time.monotonic() < deadline, f"no {text!r} in:\n{''.join(self.output)}"
            time.sleep(0.2)

    @property
    def text(self) -> str:
        return "".join(self.output)

    def wait_stopped(self, timeout: float = 90) -> None:
        """Wait for `tasklane up` to exit; on a timeout say what it printed and what still runs."""
        started = time.monotonic()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            left = [Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in descendants(self.process.pid)]
            raise AssertionError(
                f"`tasklane up` still running {timeout} s after the signal; it printed:\n{self.text}\n"
                f"and still runs: {left}"
            ) from None
        print(f"`tasklane up` stopped {time.monotonic() - started:.1f} s after the signal")


def api_health(api_port: int, timeout: float = 30) -> dict:
    """The REST API's /health once it answers: it comes up beside the server."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            health = httpx.get(f"http://127.0.0.1:{api_port}/health", timeout=2)
            if health.status_code == 200:
                return health.json()
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the REST API did not answer /health"
        time.sleep(0.5)


def test_up_runs_the_stack_and_ctrl_c_or_down_stops_all_of_it(tmp_path: Path) -> None:
    port, api_port = free_port(), free_port()
    pidfile = tmp_path / "job.pid"
    (tmp_path / "tasks.yaml").write_text(textwrap.dedent(CATALOG.format(pidfile=pidfile)))
    env = {
        **os.environ,
        "TASKLANE_HOME": str(tmp_path / ".tasklane"),
        "TASKLANE_SERVER__PORT": str(port),
        "TASKLANE_POOL__NAME": "tasklane",
        "TASKLANE_PROJECT": "default",
        "TASKLANE_CATALOG": '["tasks.yaml"]',
        "TASKLANE_WORKER__QUERY_SECONDS": "1",
        "TASKLANE_API__PORT": str(api_port),
    }
    env.pop("PREFECT_API_URL")  # the stack must point its own clients at its own server
    api = f"http://127.0.0.1:{port}/api"

    up = Up(tmp_path, env, sigint_ignored=True)
    up.wait_for("Tasklane is up")
    assert f"Prefect UI: http://127.0.0.1:{port}" in up.text
    assert httpx.get(f"{api}/health").status_code == 200
    assert (tmp_path / "prefect.toml").read_text().count(api) == 1
    assert (tmp_path / ".tasklane" / "prefect.db").exists()
    assert api_health(api_port)["status"] == "ok"
    # Every client of `tasklane up` talks to the stack's server: none starts a temporary one.
    assert "temporary server" not in up.text

    cli_env = {**env, "PREFECT_API_URL": api}
    audit = subprocess.run(  # up's own apply is on the audit trail
        [TASKLANE, "audit", "--task", "long-job"],
        cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=60,
    )
    assert audit.returncode == 0 and "created" in audit.stdout, audit.stdout + audit.stderr
    run = subprocess.run(
        [TASKLANE, "run", "long-job"], cwd=tmp_path, env=cli_env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    deadline = time.monotonic() + 60
    while not pidfile.exists():
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.2)
    job_child = int(pidfile.read_text())
    started = [up.process.pid, *descendants(up.process.pid)]
    assert len(started) >= 4  # supervisor, server, worker, flow run, shell, sleeps

    # Through the REST API: a task of its own, and the catalog's task disabled. Both must last.
    token = subprocess.run(
        [TASKLANE, "token", "create", "ops", "--role", "admin"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    ).stdout.strip().splitlines()[-1]
    rest = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {token}"})
    made = rest.post(
        "/api/scheduler/tasks",
        json={"name": "api-ping", "type": "http", "url": "https://status.example.com/ping", "schedule": "1h"},
    )
    assert made.status_code == 201, made.text
    assert rest.post("/api/scheduler/tasks/long-job/disable").status_code == 200

    os.killpg(up.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    up.wait_stopped()
    time.sleep(0.5)
    assert not [p for p in [*started, job_child] if alive(p)], "processes left after Ctrl-C"
    assert "stopped." in up.text

    for restart in (1, 2):  # `make up` twice more: the API's task and the operator's pause last
        again = Up(tmp_path, env)
        again.wait_for("Tasklane is up")
        assert "catalog: 1 tasks (0 changed)" in again.text  # the same database, nothing re-created
        api_health(api_port)
        tasks = {t["id"]: t for t in rest.get("/api/scheduler/tasks").json()["tasks"]}
        assert set(tasks) == {"long-job", "api-ping"}, f"after restart {restart}: {tasks}"
        assert tasks["long-job"]["status"] == "disabled" and tasks["api-ping"]["status"] == "active"
        if restart == 1:
            os.killpg(again.process.pid, signal.SIGINT)
            again.wait_stopped()
    started = [again.process.pid, *descendants(again.process.pid)]
    down = subprocess.run(
        [TASKLANE, "down"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert down.returncode == 0 and "tasklane up" in down.stdout
    again.wait_stopped()
    assert not [p for p in started if alive(p)], "processes left after `tasklane down`"
    nothing = subprocess.run([TASKLANE, "down"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert "nothing was running" in nothing.stdout


def test_up_with_a_bad_setting_says_which_and_stops(tmp_path: Path) -> None:
    (tmp_path / "tasks.yaml").write_text("tasks: []\n")
    env = {
        **os.environ,
        "TASKLANE_HOME": str(tmp_path / ".tasklane"),
        "TASKLANE_SERVER__PORT": str(free_port()),
        "TASKLANE_API__PORT": str(free_port()),
        "TASKLANE_CATALOG": '["tasks.yaml"]',
        "TASKLANE_SANDBOX": "false",
        "TASKLANE_HISTORY__MAINTENANCE_CRON": "0 */6 * *",
    }
    env.pop("PREFECT_API_URL")
    up = Up(tmp_path, env)
    up.wait_stopped(timeout=150)
    assert up.process.returncode == 2, up.text
    assert "maintenance_cron" in up.text and "Traceback" not in up.text, up.text
    assert "stopped." in up.text


@pytest.mark.parametrize(
    ("started", "tiers"),
    [
        # what came after the server together, then the server, then what it stood on
        ([("postgres", 1), ("server", 2), ("sandbox", 3), ("worker", 4), ("api", 5)], [[3, 4, 5], [2], [1]]),
        ([("server", 2), ("worker", 4)], [[4], [2]]),
        ([("worker", 4)], [[4], []]),
    ],
)
def test_the_stack_stops_in_tiers(monkeypatch, started, tiers) -> None:
    from tasklane.stack import processes as stack
    calls: list[list[int]] = []
    monkeypatch.setattr(stack, "stop_process_trees", lambda pids: calls.append(list(pids)))
    stack.stop_in_tiers(started)
    assert calls == tiers


@pytest.mark.parametrize("has_config", [True, False])
def test_stack_processes_find_the_settings_file_from_any_directory(
    tmp_path, monkeypatch: pytest.MonkeyPatch, has_config: bool
) -> None:
    """A flow run starts in a directory of its own: the worker's environment names the project's
    config.yaml by its absolute path (and names none when the project has none)."""
    from tasklane.stack.processes import prefect_env

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TASKLANE_CONFIG", raising=False)
    if has_config:
        (tmp_path / "config.yaml").write_text("timezone: Asia/Shanghai\n")
    env = prefect_env("http://127.0.0.1:1/api", tmp_path / ".tasklane")
    if has_config:
        assert env["TASKLANE_CONFIG"] == str(tmp_path / "config.yaml")
    else:
        assert "TASKLANE_CONFIG" not in env
