from __future__ import annotations

from uuid import UUID

import pytest

from tests.conftest import run


@pytest.fixture(autouse=True)
def _server(prefect_server: str) -> None:
    """Every flow test runs against the session's real Prefect server."""


def server_logs(flow_run_id: UUID) -> list[str]:
    """The log messages the server holds for a flow run (its task runs included)."""
    import time

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    async def read() -> list[str]:
        async with get_client() as client:
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            return [log.message for log in logs]

    time.sleep(1.0)  # the API log handler ships in batches (interval 0.5 s in tests)
    return run(read())


def server_flow_run(flow_run_id: UUID):
    from prefect.client.orchestration import get_client

    async def read():
        async with get_client() as client:
            return await client.read_flow_run(flow_run_id)

    return run(read())
