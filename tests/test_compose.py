"""docker-compose.yml: valid by the Compose specification's schema, and every role it starts exists.

No Docker engine runs here, so the file is checked, not run: against the vendored schema
(docker/compose-spec/), and each Tasklane service's role against docker/entrypoint.sh and the
project as installed (the modules and CLI commands the role runs).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SCHEMA = json.loads((ROOT / "docker" / "compose-spec" / "compose-spec.json").read_text())
ENTRYPOINT = (ROOT / "docker" / "entrypoint.sh").read_text()
BIN = Path(sys.executable).parent
# The schema says draft-07 (as "https://json-schema.org/draft-07/schema", without the '#' that
# jsonschema looks it up by), so the draft is named here.
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def role_script(role: str) -> str:
    """The lines the entrypoint runs for `role` (its `case` branch)."""
    match = re.search(rf"^    {re.escape(role)}\)\n(.*?)^        ;;", ENTRYPOINT, re.MULTILINE | re.DOTALL)
    assert match, f"docker/entrypoint.sh has no role {role!r}"
    return match.group(1)


def test_the_file_is_valid_by_the_compose_specification() -> None:
    VALIDATOR.validate(COMPOSE)


@pytest.mark.parametrize(
    "broken",
    [
        {"services": {"api": {"image": "x", "depends_on": {"db": {"condition": "sometimes"}}}}},
        {"servics": {}},
    ],
    ids=["bad-condition", "unknown-key"],
)
def test_the_schema_refuses_a_broken_file(broken: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(broken)


def test_the_stack_has_its_four_services_started_in_order() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"postgres", "prefect-server", "worker", "api"}
    assert services["prefect-server"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("worker", "api"):
        assert services[name]["depends_on"]["prefect-server"]["condition"] == "service_healthy"
    assert "postgres:5432" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]


TASKLANE_SERVICES = ["prefect-server", "worker", "api"]


@pytest.mark.parametrize("service", TASKLANE_SERVICES)
def test_each_services_role_runs_commands_the_installed_project_has(service: str) -> None:
    (role,) = COMPOSE["services"][service]["command"]
    script = role_script(role)
    modules = re.findall(r"python -m ([\w.]+)", script)
    commands = re.findall(r"^\s*(?:exec )?(tasklane|prefect) ([a-z-]+(?: [a-z-]+)?)", script, re.MULTILINE)
    assert modules or commands, f"role {role!r} runs nothing recognisable"
    for module in modules:
        assert importlib.util.find_spec(module) is not None, f"role {role!r}: no module {module}"
    for program, words in commands:
        args = words.split()
        if program == "prefect" and args[:2] == ["block", "register"]:
            args = args[:2]
        done = subprocess.run(
            [str(BIN / program), *args, "--help"], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, (
            f"role {role!r}: `{program} {' '.join(args)}` is not a command: {done.stderr}"
        )


def test_the_image_starts_through_the_entrypoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["/usr/local/bin/tasklane-entrypoint"]' in dockerfile
    assert "COPY docker/entrypoint.sh /usr/local/bin/tasklane-entrypoint" in dockerfile
    assert "!docker/" in (ROOT / ".dockerignore").read_text().splitlines()
    # Anything else (a Docker work pool's flow run) goes on to Prefect's own entrypoint.
    assert 'exec /opt/prefect/entrypoint.sh "$@"' in ENTRYPOINT


def _wait_http(url: str, process: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None, f"{url}: its process exited with {process.returncode}"
        assert time.monotonic() < deadline, f"{url} did not answer within {seconds:g}s"
        time.sleep(0.5)


def test_the_roles_as_plain_processes_run_a_task(tmp_path: Path) -> None:
    """The entrypoint's server, worker and api roles, started as the containers start them (on SQLite
    and loopback ports instead of PostgreSQL and 0.0.0.0), run a catalog task to completion."""
    from tasklane.stack.peers._server import free_port

    server_port, api_port, project = free_port(), free_port(), f"compose-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "TASKLANE_"))}
    env |= {
        "PATH": f"{BIN}:{env.get('PATH', '')}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{server_port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "TASKLANE_SERVER_BIND": "127.0.0.1",
        "TASKLANE_SERVER__PORT": str(server_port),
        "TASKLANE_HOME": str(tmp_path / "home"),
        "TASKLANE_PROJECT": project,
        "TASKLANE_POOL__NAME": project,
        "TASKLANE_WARM_SOCKET": str(tmp_path / "warm.sock"),
        "TASKLANE_API__HOST": "127.0.0.1",
        "TASKLANE_API__PORT": str(api_port),
    }
    (tmp_path / "tasks.yaml").write_text(
        f"tasks:\n  - {{name: {project}-hello, type: shell, command: echo composed}}\n"
    )
    entrypoint = str(ROOT / "docker" / "entrypoint.sh")
    started: list[subprocess.Popen] = []

    def role(name: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("w")
        process = subprocess.Popen(
            [entrypoint, name],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(process)
        return process

    try:
        _wait_http(f"http://127.0.0.1:{server_port}/api/health", role("server"))
        worker = role("worker")
        _wait_http(f"http://127.0.0.1:{api_port}/health", role("api"))
        deadline = time.monotonic() + 120
        while "applied:" not in (tmp_path / "worker.log").read_text():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the worker role did not apply the catalog"
            time.sleep(0.5)
        done = subprocess.run(
            [str(BIN / "tasklane"), "run", f"{project}-hello", "--wait"],
            cwd=tmp_path, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Completed" in done.stdout or "completed" in done.stdout, done.stdout
    finally:
        for process in reversed(started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
