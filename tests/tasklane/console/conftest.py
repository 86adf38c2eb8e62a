"""A console per test: the REST API's app (its own project and home, a real Prefect server) with
the console mounted, users of each role, and a signed-in browser-like client per user."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.tasklane.api.conftest import make_api

PASSWORD = "correct horse battery"
USERS = {"viewer": "viewer", "operator": "operator", "admin": "admin"}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD):
    """Sign `client` in as `name`; the response to the form (after its redirect)."""
    form = client.get("/console/login")
    assert form.status_code == 200
    return client.post(
        "/console/login", data={"name": name, "password": password, "csrf": csrf_of(form.text)}
    )


@dataclass
class Console:
    app: object
    tokens: dict[str, str]
    project: str
    home: Path
    clients: dict[str, TestClient] = field(default_factory=dict)

    def client(self, name: str) -> TestClient:
        """A client signed in as user `name` (one per user, kept for the test)."""
        if name not in self.clients:
            client = TestClient(self.app)
            client.__enter__()
            self.clients[name] = client
            assert sign_in(client, name).status_code == 200
        return self.clients[name]

    def anonymous(self) -> TestClient:
        client = TestClient(self.app)
        client.__enter__()
        self.clients[f"anonymous-{len(self.clients)}"] = client
        return client

    def csrf(self, name: str) -> str:
        return csrf_of(self.client(name).get("/console/tasks").text)

    def api_post(self, path: str, role: str = "admin", **kwargs):
        return self.client(role).post(
            path, headers={"Authorization": f"Bearer {self.tokens[role]}"}, **kwargs
        )

    def add_shell_task(self, name: str, command: str, group: str = "g") -> None:
        body = {"name": name, "type": "shell", "command": command, "group": group}
        response = self.api_post("/api/scheduler/tasks", json=body)
        assert response.status_code == 201, response.text


def add_users(home: Path) -> None:
    from tasklane.console.users import UserStore, users_path

    store = UserStore(users_path(home))
    for name, role in USERS.items():
        store.add(name, role, PASSWORD)
    store.add("ops-operator", "operator", PASSWORD, ["ops"])


@pytest.fixture
def console(tmp_path: Path, project: str, work_pool: str) -> Iterator[Console]:
    add_users(tmp_path)
    app, tokens = make_api(tmp_path, project)
    made = Console(app, tokens, project, tmp_path)
    try:
        yield made
    finally:
        for client in made.clients.values():
            client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed by scripts/install-chromium when missing; else skip, saying why."""
    from tests.tasklane.console.browser_support import CHROMIUM, INSTALL

    # Always: it installs only what is missing (chromium, a Chinese font), in a moment when nothing is.
    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=900)
    if not CHROMIUM.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        pytest.skip(f"no {CHROMIUM}, and scripts/install-chromium could not install it: {tail}")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (uv sync)")
    return str(CHROMIUM)


def _serve(home: Path, project: str):
    from tests.tasklane.console.browser_support import Served

    add_users(home)
    app, tokens = make_api(home, project)
    return Served(app, tokens)


@pytest.fixture
def served(tmp_path: Path, project: str, worker: str) -> Iterator:
    """The console served by uvicorn, with a worker polling: its runs run."""
    with _serve(tmp_path, project) as server:
        yield server


@pytest.fixture
def served_idle(tmp_path: Path, project: str, work_pool: str) -> Iterator:
    """The console served by uvicorn; no worker: nothing runs."""
    with _serve(tmp_path, project) as server:
        yield server
