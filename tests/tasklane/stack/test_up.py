"""`tasklane up` beyond loopback: Prefect's basic auth on, its credentials made once and handed
to the stack's own clients (worker and API through their environment, the CLI through prefect.toml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from tasklane.settings import Settings
from tasklane.stack.peers._server import free_port
from tasklane.stack.processes import beyond_loopback, prefect_env, start_server, stop_process_tree
from tasklane.stack.up import _server_auth, write_project_prefect_toml

# What any Prefect client of the stack does first: read the server's work pools.
READ_POOLS = """
import asyncio
from prefect.client.orchestration import get_client

async def main():
    async with get_client() as client:
        await client.read_work_pools()
        print("read", client.api_url)

asyncio.run(main())
"""


@pytest.mark.parametrize(
    ("host", "beyond"),
    [("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("localhost", False),
     ("0.0.0.0", True), ("::", True), ("192.168.1.20", True), ("scheduler.example.com", True)],
)  # fmt: skip
def test_beyond_loopback(host: str, beyond: bool) -> None:
    assert beyond_loopback(host) is beyond


def test_credentials_are_made_once_and_shown_once_beyond_loopback(tmp_path: Path) -> None:
    def up(host: str) -> tuple[object, str]:
        console = Console(record=True, width=400)
        auth = _server_auth(Settings(home=tmp_path, server={"host": host}), console)
        return auth, console.export_text()

    assert up("127.0.0.1") == (None, "")
    assert not (tmp_path / "prefect-auth").exists()
    first, shown = up("0.0.0.0")
    assert first is not None and first.created and first.auth_string.startswith("admin:")
    assert first.auth_string in shown and str(first.path) in shown
    assert (first.path.stat().st_mode & 0o777) == 0o600
    second, shown_again = up("0.0.0.0")
    assert second is not None and not second.created and second.auth_string == first.auth_string
    assert first.auth_string not in shown_again and str(first.path) in shown_again


def test_a_server_with_auth_refuses_strangers_and_serves_the_stacks_clients(tmp_path: Path) -> None:
    console = Console(record=True, width=400)
    auth = _server_auth(Settings(home=tmp_path, server={"host": "0.0.0.0"}), console)
    assert auth is not None
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    server = start_server(tmp_path, "127.0.0.1", port, ui=False, auth_string=auth.auth_string)
    try:
        for credentials in (None, ("admin", "wrong")):
            refused = httpx.post(f"{api_url}/work_pools/filter", json={}, auth=credentials, timeout=30)
            assert refused.status_code == 401, refused.text
        user, _, password = auth.auth_string.partition(":")
        assert httpx.post(f"{api_url}/work_pools/filter", json={}, auth=(user, password)).status_code == 200

        cli_dir = tmp_path / "project"
        cli_dir.mkdir()
        write_project_prefect_toml(api_url, cli_dir / "prefect.toml", auth.auth_string)
        assert (cli_dir / "prefect.toml").stat().st_mode & 0o777 == 0o600
        # Nothing of the test session's Prefect settings: each client finds the server and its
        # credentials only where the stack put them.
        bare = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
        worker_env = prefect_env(api_url, tmp_path, auth_string=auth.auth_string)
        for name, env, cwd in (("worker/API", {**bare, **worker_env}, tmp_path), ("CLI", bare, cli_dir)):
            argv = [sys.executable, "-c", READ_POOLS]
            done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0 and f"read {api_url}/" in done.stdout, (name, done.stderr[-2000:])
    finally:
        stop_process_tree(server.pid)
