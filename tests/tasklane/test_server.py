"""`tasklane.server`: Prefect's explicit SQLite transactions begin IMMEDIATE. In-process, no
server: the patched server itself serves the whole suite (tests/conftest.py starts it through
tasklane.stack), so every flow test also runs on it.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest

from tasklane import server


class FakeSession:
    """Just `begin()`: what begin_transaction uses of an AsyncSession."""

    def __init__(self) -> None:
        self.began = 0

    @asynccontextmanager
    async def begin(self):
        self.began += 1
        yield self


@pytest.mark.parametrize("with_for_update", [False, True])
def test_every_explicit_transaction_begins_immediate(with_for_update: bool) -> None:
    from prefect.server.database.configurations import SQLITE_BEGIN_MODE, AioSqliteConfiguration

    assert server.begin_sqlite_transactions_immediate() is None
    assert server.begin_sqlite_transactions_immediate() is None  # twice is once
    session = FakeSession()

    async def scenario() -> tuple[str | None, str | None]:
        config = AioSqliteConfiguration.__new__(AioSqliteConfiguration)
        async with config.begin_transaction(session, with_for_update=with_for_update) as transaction:
            assert transaction is session
            inside = SQLITE_BEGIN_MODE.get()
        return inside, SQLITE_BEGIN_MODE.get()

    assert asyncio.run(scenario()) == ("IMMEDIATE", None)  # and reset after
    assert session.began == 1
