from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import pytest
from urllib3.util import Retry

from tests.conftest import with_client


@pytest.fixture(autouse=True)
def _server(prefect_server: str) -> None:
    """Every flow test runs against the session's real Prefect server."""


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clients' own retries without their exponential sleeps, so that exhausting them is quick."""
    monkeypatch.setattr(Retry, "get_backoff_time", lambda self: 0.0)


def server_logs(flow_run_id: UUID) -> list[str]:
    """The log messages the server holds for a flow run (its task runs included)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    time.sleep(1.0)  # the API log handler ships in batches (interval 0.5 s in tests)
    logs = with_client(
        lambda client: client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
    )
    return [log.message for log in logs]


def server_flow_run(flow_run_id: UUID):
    return with_client(lambda client: client.read_flow_run(flow_run_id))


def artifacts_of(flow_run_id: UUID) -> list[Any]:
    """The artifacts the server holds for a flow run."""
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    return with_client(
        lambda client: client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    )


def task_runs_of(flow_run_id: UUID, timeout: float = 30.0) -> list[Any]:
    """The task runs of a flow run, with their run_count (attempts), once the server has them all.

    Prefect 3 records task runs from the events their engine emits, after the flow has returned;
    a read right after the flow can find a task run without its state yet. So this waits until
    every task run is in a final state, and two reads in a row agree on them.
    """
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    def read() -> list[Any]:
        return with_client(
            lambda client: client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
        )

    def settled(runs: list[Any]) -> list[tuple[Any, ...]]:
        return sorted((str(r.id), r.state_type, r.run_count) for r in runs)

    deadline = time.monotonic() + timeout
    previous: list[tuple[Any, ...]] | None = None
    while True:
        runs = read()
        final = bool(runs) and all(r.state is not None and r.state.is_final() for r in runs)
        if final and settled(runs) == previous or time.monotonic() > deadline:
            return runs
        previous = settled(runs) if final else None
        time.sleep(0.3)
