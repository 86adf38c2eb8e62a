"""An API app per test: its own project (so tasks never collide), tokens for each role, a real server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TEST_POOL


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    project: str
    home: Path

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def get(self, path: str, role: str = "admin", **kwargs):
        return self.client.get(path, headers=self.headers(role), **kwargs)

    def post(self, path: str, role: str = "admin", **kwargs):
        return self.client.post(path, headers=self.headers(role), **kwargs)

    def put(self, path: str, role: str = "admin", **kwargs):
        return self.client.put(path, headers=self.headers(role), **kwargs)

    def delete(self, path: str, role: str = "admin", **kwargs):
        return self.client.delete(path, headers=self.headers(role), **kwargs)


def make_api(
    home: Path,
    project: str,
    *,
    allow_shell: bool = True,
    cache_seconds: float = 0.0,
    pool: str = TEST_POOL,
    **api_fields,
):
    """An API app over the session's server and tokens of each role for it; no rate limits unless
    `api_fields` set them (tests/tasklane/api/test_ratelimit.py)."""
    from tasklane.api import ApiSettings, create_app
    from tasklane.api.auth import TokenStore
    from tasklane.settings import Settings

    settings = Settings(home=home, project=project, pool={"name": pool}, templates=[home / "templates"])
    api = ApiSettings(
        allow_shell=allow_shell,
        cache_seconds=cache_seconds,
        tokens_file=home / "tokens.json",
        **({"rate_limit_token": "", "rate_limit_address": ""} | api_fields),
    )
    store = TokenStore(api.tokens_path(home))
    tokens = {role: store.create(f"{role}-token", role) for role in ("viewer", "operator", "admin")}
    tokens["ops-admin"] = store.create("ops-admin", "admin", ["ops"])
    return create_app(settings, api), tokens


@pytest.fixture
def api(tmp_path: Path, project: str, work_pool: str) -> Iterator[Api]:
    app, tokens = make_api(tmp_path, project)
    with TestClient(app) as client:
        yield Api(client, tokens, project, tmp_path)


def wait_for(check, timeout: float = 60.0, interval: float = 0.5):
    """Call `check` until it returns something truthy; return that (or fail after `timeout`)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(interval)
