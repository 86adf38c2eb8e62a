"""`python -m tasklane.runtime.server start ...`: Prefect's server (`prefect server start`), with every
explicit SQLite transaction taking the write lock up front.

Why (measured; bench/burst and tests with PREFECT_API_LOG_RETRYABLE_ERRORS on Prefect 3.9.1):
several server endpoints read, then write, inside a transaction Prefect begins DEFERRED on
SQLite: a trigger creating the downstream run (`POST /deployments/{id}/create_flow_run` reads
the deployment, inserts the run) and the worker labelling a run it submits
(`PATCH /flow_runs/{id}/labels` reads the run, updates it). When another connection commits a
write in between (a running flow's log batch, a heartbeat, the late-runs service), SQLite
cannot upgrade the reader to a writer and fails at once with "database is locked"
(busy_timeout does not apply to that case), the API answers 503, and the client retries
2 s later, 4 s more on a second collision. That was the +2 s mode of a dependency's delay
(upstream Completed -> downstream Running), in a quarter of the runs.

Beginning those transactions IMMEDIATE, as Prefect already does where it asks for
`with_for_update`, makes each wait its turn for the write lock (busy_timeout) instead of
failing: no 503s, the same write throughput; SQLite has one writer at a time either way.
Reads outside explicit transactions are untouched; PostgreSQL needs none of this.

Everything else is Prefect's CLI, handed the arguments, in this process (a single-worker
`prefect server start` serves in-process). Where this Prefect lacks the hook the patch
replaces, the server starts as it is and says why.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any


def begin_sqlite_transactions_immediate() -> str | None:
    """Make Prefect's SQLite `begin_transaction` always `BEGIN IMMEDIATE`.

    Returns None when applied, else why not (the server then runs unpatched).
    """
    from prefect.server.database import configurations

    sqlite = configurations.AioSqliteConfiguration
    begin_mode = getattr(configurations, "SQLITE_BEGIN_MODE", None)
    if begin_mode is None or not hasattr(sqlite, "begin_transaction"):
        return "this Prefect has no SQLITE_BEGIN_MODE / AioSqliteConfiguration.begin_transaction"
    if getattr(sqlite.begin_transaction, "_tasklane_immediate", False):
        return None  # applied already

    @asynccontextmanager
    async def begin_transaction(self: Any, session: Any, with_for_update: bool = False) -> AsyncIterator[Any]:
        # Prefect's own begin_transaction, IMMEDIATE whether or not with_for_update was asked.
        token = begin_mode.set("IMMEDIATE")
        try:
            async with session.begin() as transaction:
                yield transaction
        finally:
            begin_mode.reset(token)

    begin_transaction._tasklane_immediate = True  # type: ignore[attr-defined]
    begin_transaction._tasklane_original = sqlite.begin_transaction  # type: ignore[attr-defined]
    sqlite.begin_transaction = begin_transaction
    return None


def main(argv: list[str] | None = None) -> None:
    from prefect.cli import app

    skipped = begin_sqlite_transactions_immediate()
    if skipped:
        print(f"tasklane server: serving without IMMEDIATE SQLite transactions: {skipped}", flush=True)
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["prefect", "server", *args]  # Prefect's CLI entry point reads its arguments there
    sys.exit(app())


if __name__ == "__main__":
    main()
