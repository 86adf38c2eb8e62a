"""`tasklane.runtime.server`: on SQLite, a transaction that reads and then writes while another
connection commits a write in between. Prefect's own `begin_transaction` (DEFERRED) fails
there with "database is locked" (the server answers 503, its client retries 2 s later);
patched (IMMEDIATE), the second writer waits its turn and both writes land. Real SQLite
through Prefect's own database configuration, no server; the patched server itself serves the
whole suite (tests/conftest.py starts it through tasklane.stack.processes).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from tasklane.runtime import server


async def read_then_write_beside_another_writer(url: str) -> list[int]:
    from prefect.server.database.configurations import AioSqliteConfiguration

    config = AioSqliteConfiguration(connection_url=url)
    engine = await config.engine()
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE runs (x INTEGER)"))
    reader, other = await config.session(engine), await config.session(engine)
    async with reader, other:

        async def other_writes() -> None:
            async with config.begin_transaction(other):
                await other.execute(sa.text("INSERT INTO runs VALUES (2)"))

        async with config.begin_transaction(reader):
            await reader.execute(sa.text("SELECT count(*) FROM runs"))  # read first, as the endpoints do
            writer = asyncio.create_task(other_writes())
            await asyncio.sleep(0.3)  # DEFERRED: the other commits now; IMMEDIATE: it waits for us
            await reader.execute(sa.text("INSERT INTO runs VALUES (1)"))
        await asyncio.wait_for(writer, timeout=30)
        rows = await reader.execute(sa.text("SELECT x FROM runs ORDER BY rowid"))
        return [row[0] for row in rows]


@pytest.fixture
def prefects_own_begin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Prefect's begin_transaction for this test, whatever an earlier one patched."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    original = AioSqliteConfiguration.begin_transaction
    while getattr(original, "_tasklane_original", None) is not None:
        original = original._tasklane_original
    monkeypatch.setattr(AioSqliteConfiguration, "begin_transaction", original)


def test_prefects_deferred_transaction_fails_when_another_writer_commits_between(
    prefects_own_begin: None, tmp_path: Path
) -> None:
    with pytest.raises(sa.exc.OperationalError, match="database is locked"):
        asyncio.run(read_then_write_beside_another_writer(f"sqlite+aiosqlite:///{tmp_path}/runs.db"))


def test_patched_the_other_writer_waits_and_both_writes_land(
    prefects_own_begin: None, tmp_path: Path
) -> None:
    assert server.begin_sqlite_transactions_immediate() is None
    assert server.begin_sqlite_transactions_immediate() is None  # twice is once
    rows = asyncio.run(read_then_write_beside_another_writer(f"sqlite+aiosqlite:///{tmp_path}/runs.db"))
    assert rows == [1, 2]  # ours first: the other began only once we had committed
