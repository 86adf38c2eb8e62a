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
