"""`tasklane.server`: the create-flow-run-from-deployment endpoint's SQLite transaction begins
IMMEDIATE, every other one as Prefect begins it. In-process, no server: the patched server
itself serves the whole suite (tests/conftest.py starts it through tasklane.stack).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest

from tasklane import server


class FakeSession:
    """Just `begin()`: what begin_transaction uses of an AsyncSession."""

    @asynccontextmanager
    async def begin(self):
        yield self


def begin_mode(*, in_endpoint: bool, with_for_update: bool) -> str | None:
    from prefect.server.database.configurations import SQLITE_BEGIN_MODE, AioSqliteConfiguration

    async def scenario() -> str | None:
        token = server._write_transaction.set(in_endpoint)
        try:
            config = AioSqliteConfiguration.__new__(AioSqliteConfiguration)
            async with config.begin_transaction(FakeSession(), with_for_update=with_for_update):
                return SQLITE_BEGIN_MODE.get()
        finally:
            server._write_transaction.reset(token)

    return asyncio.run(scenario())


@pytest.fixture(scope="module", autouse=True)
def patched() -> None:
    assert server.patch_create_flow_run_transaction() is None
    assert server.patch_create_flow_run_transaction() is None  # twice is once


@pytest.mark.parametrize(
    ("in_endpoint", "with_for_update", "mode"),
    [
        (True, False, "IMMEDIATE"),
        (False, False, "DEFERRED"),
        (False, True, "IMMEDIATE"),
        (True, True, "IMMEDIATE"),
    ],
)
def test_only_the_endpoint_and_prefects_own_write_transactions_begin_immediate(
    in_endpoint: bool, with_for_update: bool, mode: str
) -> None:
    assert begin_mode(in_endpoint=in_endpoint, with_for_update=with_for_update) == mode


def test_the_route_serves_prefects_endpoint_wrapped() -> None:
    from prefect.server.api import deployments

    (route,) = [r for r in deployments.router.routes if r.path.endswith("/create_flow_run")]
    assert route.endpoint is route.dependant.call
    assert route.endpoint._tasklane_write_transaction
    assert route.endpoint.__wrapped__.__name__ == "create_flow_run_from_deployment"


def test_the_wrapper_runs_the_endpoint_inside_the_flag() -> None:
    seen = []

    async def endpoint(**kwargs):
        seen.append(server._write_transaction.get())
        return kwargs

    assert asyncio.run(server.in_write_transaction(endpoint)(x=1)) == {"x": 1}
    assert seen == [True] and server._write_transaction.get() is False
