"""`tasklane.api.core.TtlCache`: reuse, coalescing, stale-while-revalidate, clearing. No server."""

from __future__ import annotations

import asyncio

import pytest

from tasklane.api.core import TtlCache


class Loader:
    """A load that counts its calls, answers `value` and can be made slow or failing."""

    def __init__(self) -> None:
        self.calls = 0
        self.value = "v1"
        self.delay = 0.0
        self.error: Exception | None = None

    async def __call__(self) -> str:
        self.calls += 1
        value = self.value
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return value


def run(coroutine):
    return asyncio.run(coroutine)


async def loaded(seconds: float, stale_seconds: float, age: float) -> tuple[TtlCache, Loader]:
    """A cache whose value for "k" ("v1") was loaded `age` seconds ago, and its loader."""
    cache, load = TtlCache(seconds, stale_seconds=stale_seconds), Loader()
    await cache.get("k", load)
    await asyncio.sleep(age)
    return cache, load


def test_fresh_values_are_reused_and_concurrent_loads_coalesce() -> None:
    async def scenario() -> None:
        cache, load = TtlCache(60), Loader()
        load.delay = 0.05
        assert await asyncio.gather(*(cache.get("k", load) for _ in range(5))) == ["v1"] * 5
        assert await cache.get("k", load) == "v1"
        assert load.calls == 1

    run(scenario())


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_cache_of_no_seconds_always_loads(seconds: float) -> None:
    async def scenario() -> None:
        cache, load = TtlCache(seconds), Loader()
        for _ in range(3):
            await cache.get("k", load)
        assert load.calls == 3

    run(scenario())


def test_a_stale_value_is_answered_at_once_while_a_fresh_one_loads() -> None:
    async def scenario() -> None:
        cache, load = await loaded(0.05, stale_seconds=10, age=0.06)
        load.value, load.delay = "v2", 0.2
        started = asyncio.get_running_loop().time()
        assert [await cache.get("k", load) for _ in range(3)] == ["v1"] * 3  # no caller waits
        assert asyncio.get_running_loop().time() - started < 0.1
        await asyncio.sleep(0.01)
        assert load.calls == 2  # one background load for the three stale answers
        await asyncio.sleep(0.3)
        assert await cache.get("k", load) == "v2"

    run(scenario())


def test_past_the_stale_window_the_caller_waits_for_the_load() -> None:
    async def scenario() -> None:
        cache, load = await loaded(0.02, stale_seconds=0.02, age=0.06)
        load.value = "v2"
        assert await cache.get("k", load) == "v2"

    run(scenario())


def test_a_failed_background_load_drops_the_value_and_the_next_caller_sees_the_error() -> None:
    async def scenario() -> None:
        cache, load = await loaded(0.02, stale_seconds=10, age=0.03)
        load.error = RuntimeError("server gone")
        assert await cache.get("k", load) == "v1"
        await asyncio.sleep(0.01)
        with pytest.raises(RuntimeError, match="server gone"):
            await cache.get("k", load)

    run(scenario())


def test_clear_forgets_values_and_loads_in_flight() -> None:
    async def scenario() -> None:
        cache, load = TtlCache(60), Loader()
        load.delay = 0.1
        before = asyncio.create_task(cache.get("k", load))
        await asyncio.sleep(0.01)
        cache.clear()  # a write happened while the first load ran
        load.value, load.delay = "v2", 0.0
        assert await cache.get("k", load) == "v2"  # not the load that began before the write
        assert await before == "v1"
        assert await cache.get("k", load) == "v2"  # the old load did not overwrite the new value

    run(scenario())


# --- the answers the OpenAPI document promises (install_error_handlers, IsoDate, IsoDateTime) -----


@pytest.fixture
def bare(tmp_path, project):
    """The app without its lifespan (no Prefect client): these answers come before any Prefect call."""
    from fastapi.testclient import TestClient

    from tests.tasklane.api.conftest import make_api

    app, tokens = make_api(tmp_path, project)
    return TestClient(app), {"Authorization": f"Bearer {tokens['admin']}"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/api/scheduler/tasks/some-task", "DELETE, GET, PUT"),
        ("GET", "/api/scheduler/tasks/from-template", "POST"),  # not the task named from-template
        ("OPTIONS", "/api/scheduler/tasks", "GET, POST"),
        ("DELETE", "/health", "GET"),
        ("PUT", "/api/v1/scheduler/start", "POST"),
    ],
)
def test_405_names_every_method_of_the_path_in_allow(bare, method: str, path: str, allow: str) -> None:
    client, headers = bare
    answer = client.request(method, path, headers=headers)
    if method == "GET":  # a GET there is routed to the task id; the other methods name the path's own
        answer = client.request("PATCH", path, headers=headers)
    assert answer.status_code == 405 and answer.headers["Allow"] == allow
    assert answer.json()["code"] == 405 and allow in answer.json()["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/scheduler/audit?since=0.5", "since"),
        ("/api/scheduler/stats?start_date=0", "start_date"),
        ("/api/scheduler/stats?end_date=1e3", "end_date"),
        ("/api/scheduler/tasks/x/executions?start_date=20240101", "start_date"),
        ("/api/scheduler/schedules/preview?spec=daily&from=12", "from"),
        ("/api/scheduler/schedules/preview?spec=", "spec"),
    ],
)
def test_a_number_is_not_a_date_and_an_empty_spec_is_no_spec(bare, path: str, field: str) -> None:
    client, headers = bare
    answer = client.get(path, headers=headers)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == [field]


@pytest.mark.parametrize("body", [b'{"name": ', b"\xff\xfe not utf-8", b"[1, 2"])
def test_a_malformed_json_body_is_the_documented_422(bare, body: bytes) -> None:
    client, headers = bare
    answer = client.post(
        "/api/scheduler/tasks", content=body, headers=headers | {"Content-Type": "application/json"}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["code"] == 422 and answer.json()["errors"][0]["field"].startswith("body")
    documented = client.get("/openapi.json").json()["paths"]["/api/scheduler/tasks"]["post"]["responses"]
    assert "malformed JSON body" in documented["422"]["description"]
