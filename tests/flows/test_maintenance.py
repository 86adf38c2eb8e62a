"""The maintenance flow: retention beyond max_records, with the runs' logs and artifacts gone too."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from tasklane.settings.reports import HistorySettings
from tests.conftest import run


def test_maintenance_deletes_the_oldest_beyond_the_limit_with_logs_and_artifacts() -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import ArtifactCreate, LogCreate
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        LogFilter,
        LogFilterFlowRunId,
    )

    from flows.maintenance import maintenance_flow
    from tests.tasklane.history.test_runs import make_deployment, make_runs

    tag = f"tl-maint-{uuid.uuid4().hex[:8]}"

    async def setup():
        async with get_client() as client:
            deployment_id = await make_deployment(client, f"m-{tag}", ["tasklane", tag])
            ids = await make_runs(client, deployment_id, ["Completed", "Failed", "Completed", "Completed"])
            for flow_run_id in ids:
                await client.create_logs(
                    [
                        LogCreate(
                            name="job",
                            level=20,
                            message=f"hello {flow_run_id}",
                            timestamp=datetime.now(UTC),
                            flow_run_id=flow_run_id,
                        )
                    ]
                )
                await client.create_artifact(
                    ArtifactCreate(type="markdown", data="r", flow_run_id=flow_run_id)
                )
            return ids

    ids = run(setup())
    outcome = run(maintenance_flow(settings=HistorySettings(retention_days=30, max_records=2), tags=[tag]))
    assert outcome["deleted_runs"] == 2 and outcome["overflow"] == 2 and outcome["expired"] == 0
    assert outcome["deleted_artifacts"] == 2 and outcome["kept"] == 2

    async def left():
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags={"all_": [tag]}))
            logs = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)))
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
            )
            return runs, logs, artifacts

    deadline = time.monotonic() + 10
    while True:  # Prefect deletes a deleted run's logs in the background
        runs, logs, artifacts = run(left())
        if {log.flow_run_id for log in logs} == set(ids[2:]) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert sorted(r.id for r in runs) == sorted(ids[2:])  # the two newest stay
    assert {log.flow_run_id for log in logs} == set(ids[2:])
    assert {a.flow_run_id for a in artifacts} == set(ids[2:])
