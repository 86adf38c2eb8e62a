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


def task_runs_of(flow_run_id: UUID) -> list[Any]:
    """The task runs of a flow run, with their run_count (attempts)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    return with_client(
        lambda client: client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    )
