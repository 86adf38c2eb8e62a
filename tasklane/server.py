"""`python -m tasklane.server start ...`: Prefect's server (`prefect server start`), with the
flow runs that triggers create taking SQLite's write lock up front.

Why (measured, bench/burst and an experiment on Prefect 3.9.1): a dependency trigger creates
the downstream run through the server's own client, `POST /deployments/{id}/create_flow_run`.
That endpoint opens a deferred SQLite transaction, reads the deployment, then inserts the
run; when another connection commits a write in between (a running flow's log batch, the
late-runs service), SQLite fails the insert at once with "database is locked" (busy_timeout
does not apply to a read lock that must be upgraded), the API answers 503, and the client
retries after 2 s (a second collision: 4 s more). That was the +2.0-2.5 s mode of the
dependency delay, in a third of the runs under load. Starting that one transaction with
`BEGIN IMMEDIATE`, as Prefect's own state-setting endpoints do (`with_for_update=True`),
makes it wait its turn for the write lock instead: 0 of 40 over 1 s, same write throughput.
PostgreSQL needs none of this and is left alone.

Everything else is Prefect's CLI, handed the arguments. The patch is applied before Prefect
builds its app (the app's routes are made from the router's endpoints) and only where the
code it relies on is what it expects; otherwise the server starts as it is and says why.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

ENDPOINT = "create_flow_run_from_deployment"  # POST /deployments/{id}/create_flow_run

# Set while create_flow_run_from_deployment runs: its transaction begins IMMEDIATE.
_write_transaction: ContextVar[bool] = ContextVar("tasklane_write_transaction", default=False)


def patch_create_flow_run_transaction() -> str | None:
    """Make the create-flow-run-from-deployment endpoint's SQLite transaction begin IMMEDIATE.

    Returns None when applied, else why not (the server then runs unpatched).
    """
    from prefect.server.api import deployments
    from prefect.server.database import configurations

    sqlite = configurations.AioSqliteConfiguration
    begin_mode = getattr(configurations, "SQLITE_BEGIN_MODE", None)
    if begin_mode is None or not hasattr(sqlite, "begin_transaction"):
        return "this Prefect has no SQLITE_BEGIN_MODE / AioSqliteConfiguration.begin_transaction"
    endpoint = getattr(deployments, ENDPOINT, None)
    routes = [
        r
        for r in deployments.router.routes
        if getattr(getattr(r, "endpoint", None), "__wrapped__", None) is endpoint
        or getattr(r, "endpoint", None) is endpoint
    ]
    if endpoint is None or len(routes) != 1:
        return f"this Prefect's deployments router has {len(routes)} routes to {ENDPOINT}"
    route = routes[0]
    if getattr(route.endpoint, "_tasklane_write_transaction", False):
        return None  # applied already (imported twice)

    @asynccontextmanager
    async def begin_transaction(self: Any, session: Any, with_for_update: bool = False) -> AsyncIterator[Any]:
        # Prefect's own begin_transaction, with IMMEDIATE also inside the patched endpoint.
        immediate = with_for_update or _write_transaction.get()
        token = begin_mode.set("IMMEDIATE" if immediate else "DEFERRED")
        try:
            async with session.begin() as transaction:
                yield transaction
        finally:
            begin_mode.reset(token)

    sqlite.begin_transaction = begin_transaction
    route.endpoint = route.dependant.call = in_write_transaction(route.endpoint)
    return None


def in_write_transaction(endpoint: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`endpoint`, whose SQLite transactions begin IMMEDIATE (with the patched begin_transaction)."""

    @functools.wraps(endpoint)  # FastAPI reads the parameters through __wrapped__
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = _write_transaction.set(True)
        try:
            return await endpoint(*args, **kwargs)
        finally:
            _write_transaction.reset(token)

    wrapper._tasklane_write_transaction = True  # type: ignore[attr-defined]
    return wrapper


def main(argv: list[str] | None = None) -> None:
    from prefect.cli import app

    skipped = patch_create_flow_run_transaction()
    if skipped:
        print(f"tasklane.server: serving without the SQLite write-lock patch: {skipped}", flush=True)
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["prefect", "server", *args]  # Prefect's CLI entry point reads its arguments there
    sys.exit(app())


if __name__ == "__main__":
    main()
