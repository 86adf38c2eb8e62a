"""Seeds 000 (/tasks, /reports, /health), 001 (/api/v1/scheduler) and 004 (statuses, /task_history)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from tests.tasklane.api.conftest import Api

TASK = set(
    "id name task_type type cron_expr status created_at updated_at priority metadata tags owner"
    " dependencies timeout_seconds retry_policy parameters execution_result".split()
)


def test_seed_000_tasks_and_reports(api: Api) -> None:
    p = api.project
    health = api.client.get("/health")  # no token
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert datetime.fromisoformat(health.json()["timestamp"])

    upstream = api.post(
        "/tasks", json={"name": f"{p}-up", "type": "http", "parameters": {"url": "https://a.example"}}
    )
    assert upstream.status_code == 201, upstream.text
    body = {
        "name": f"{p}-report",
        "task_type": "SCHEDULED",
        "cron_expr": "0 */6 * * *",
        "priority": "HIGH",
        "metadata": {"group": "reports", "description": "six-hourly"},
        "tags": ["nightly"],
        "owner": "alice",
        "dependencies": [f"{p}-up"],
        "timeout_seconds": 60,
        "retry_policy": {"max_retries": 2, "retry_delay": 5, "backoff_factor": 3},
        "parameters": {"type": "http", "url": "https://status.example.com/ping"},
    }
    created = api.post("/tasks", json=body)
    assert created.status_code == 201, created.text
    task = created.json()
    assert set(task) == TASK
    assert task["id"] == f"{p}-report" and task["task_type"] == "SCHEDULED" and task["type"] == "http"
    assert task["cron_expr"] == "0 */6 * * *" and task["status"] == "PENDING" and task["priority"] == "HIGH"
    assert task["tags"] == ["nightly"] and task["owner"] == "alice" and task["dependencies"] == [f"{p}-up"]
    assert task["timeout_seconds"] == 60
    assert task["retry_policy"] == {"max_retries": 2, "retry_delay": 5.0, "backoff_factor": 3.0}
    assert task["parameters"]["url"] == "https://status.example.com/ping"
    assert task["metadata"]["group"] == "reports" and task["execution_result"] is None

    listed = api.get("/tasks", role="viewer").json()
    assert set(listed) == {"total_count", "data"} and listed["total_count"] == 2
    tagged = api.get("/tasks/tags/nightly").json()
    assert tagged["total_count"] == 1 and tagged["data"][0]["id"] == f"{p}-report"
    # GET /tasks/status/{status}: seed 000's shape, seed 004's names (any case), Prefect's too.
    for status in ("PENDING", "pending", "Scheduled"):
        found = api.get(f"/tasks/status/{status}").json()
        assert found["total_count"] == 2, status
    for status in ("RUNNING", "DONE", "FAILED", "RETRY", "TIMEOUT", "CANCELLED"):
        assert api.get(f"/tasks/status/{status}").json() == {"total_count": 0, "data": []}
    bad = api.get("/tasks/status/NOPE")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"

    assert api.get(f"/tasks/{p}-report").json()["id"] == f"{p}-report"
    changed = api.put(f"/tasks/{p}-report", json={"cron_expr": "30 1 * * *", "priority": "LOW"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["cron_expr"] == "30 1 * * *" and changed.json()["priority"] == "LOW"
    assert changed.json()["dependencies"] == [f"{p}-up"]

    for kind in ("markdown", "mattermost", "confluence", "json"):
        report = api.get(f"/reports/{kind}", role="viewer").json()
        assert set(report) == {"report_type", "generated_at", "data"} and report["report_type"] == kind
        assert f"{p}-report" in report["data"]
    assert api.get("/reports/pdf").status_code == 422
    one = api.post(f"/tasks/{p}-report/report", params={"type": "markdown"}, role="operator")
    assert one.status_code == 200, one.text
    assert set(one.json()) == {"task_id", "report_type", "generated_at", "data"}
    assert one.json()["task_id"] == f"{p}-report"

    gone = api.delete(f"/tasks/{p}-report")
    assert gone.status_code == 200 and gone.json() == {"message": "Task deleted successfully"}
    assert api.get(f"/tasks/{p}-report").status_code == 404


def test_seed_000_immediate_task_runs_at_once(api: Api) -> None:
    p = api.project
    made = api.post(
        "/tasks",
        json={
            "name": f"{p}-now",
            "task_type": "IMMEDIATE",
            "type": "http",
            "parameters": {"url": "https://a.example"},
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["task_type"] == "IMMEDIATE" and made.json()["cron_expr"] is None
    history = api.get(f"/api/scheduler/tasks/{p}-now/executions").json()
    assert history["total"] == 1


@pytest.fixture
def idle_pool(work_pool: str) -> str:
    from prefect.client.orchestration import get_client

    from deployments.pool import PoolSpec, ensure_work_pool

    async def make() -> None:
        async with get_client() as client:
            await ensure_work_pool(
                client, PoolSpec("tasklane-api-idle", 1, {"high": 1, "medium": 2, "low": 3})
            )

    asyncio.run(make())
    return "tasklane-api-idle"


def test_seed_001_jobs_start_stop(tmp_path, project: str, idle_pool: str) -> None:
    from fastapi.testclient import TestClient
    from prefect.client.orchestration import get_client

    from tests.tasklane.api.conftest import make_api

    app, tokens = make_api(tmp_path, project, pool=idle_pool)

    async def paused() -> bool:
        async with get_client() as client:
            return bool((await client.read_work_pool(idle_pool)).is_paused)

    with TestClient(app) as client:
        api = Api(client, tokens, project, tmp_path)
        api.post(
            "/api/scheduler/tasks",
            json={"name": f"{project}-j", "type": "http", "url": "https://a.example", "schedule": "30s"},
        )
        jobs = api.get("/api/v1/scheduler/jobs", role="viewer").json()
        assert set(jobs) == {"code", "message", "data"} and (jobs["code"], jobs["message"]) == (
            200,
            "success",
        )
        assert set(jobs["data"][0]) == {"id", "name", "next_run", "last_run"}
        assert jobs["data"][0]["name"] == f"{project}-j" and jobs["data"][0]["next_run"]
        assert api.post("/api/v1/scheduler/stop", role="operator").status_code == 403
        stopped = api.post("/api/v1/scheduler/stop").json()
        assert stopped["code"] == 200 and stopped["data"] == {
            "pool": idle_pool,
            "paused": True,
            "changed": True,
        }
        assert asyncio.run(paused())
        started = api.post("/api/v1/scheduler/start").json()
        assert started["data"] == {"pool": idle_pool, "paused": False, "changed": True}
        assert not asyncio.run(paused())
        assert api.post("/api/v1/scheduler/start").json()["data"]["changed"] is False
