"""What the API shows of a task: its last outcome beside a run in flight, its schedule as the
catalog writes it, times in the schedule's zone; the status routes list what the tasks show;
validation errors name fields as the catalog does."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import Api


def make_runs(deployment_id: str, finals: list[str], *, in_flight: bool) -> None:
    """Runs of the deployment ending in `finals` in order, then one left Running; each is made
    Running at once, so no worker can take it."""
    from prefect.states import Completed, Failed, Running

    finishing = {"Completed": Completed, "Failed": lambda: Failed(message="boom")}

    async def go(client) -> None:
        for name in finals:
            flow_run = await client.create_flow_run_from_deployment(UUID(deployment_id), state=Running())
            await client.set_flow_run_state(flow_run.id, finishing[name](), force=True)
        if in_flight:
            await client.create_flow_run_from_deployment(UUID(deployment_id), state=Running())

    with_client(go)


def test_a_run_in_flight_never_hides_the_last_outcome(api: Api) -> None:
    p = api.project
    schedule = {"daily": ["02:00"], "timezone": "Asia/Shanghai"}
    body = {"name": f"{p}-f", "type": "http", "url": "https://a.example/x", "schedule": schedule}
    failing = api.post("/api/scheduler/tasks", json=body)
    assert failing.status_code == 201, failing.text
    idle = api.post(
        "/api/scheduler/tasks", json={"name": f"{p}-idle", "type": "http", "url": "https://a.example"}
    )
    assert idle.status_code == 201, idle.text
    deployment_id = api.get(f"/tasks/{p}-f").json()["metadata"]["deployment_id"]
    make_runs(deployment_id, ["Completed", "Failed"], in_flight=True)

    summary = api.get(f"/api/scheduler/tasks/{p}-f").json()
    assert (summary["last_status"], summary["running_status"]) == ("failed", "running")
    assert summary["schedule"] == "daily 02:00 Asia/Shanghai" and summary["timezone"] == "Asia/Shanghai"
    next_run = datetime.fromisoformat(summary["next_run"])
    assert next_run.utcoffset() == timedelta(hours=8) and next_run.strftime("%H:%M") == "02:00"
    assert datetime.fromisoformat(summary["last_run"]).utcoffset() == timedelta(hours=8)
    assert datetime.fromisoformat(summary["running_since"]) >= datetime.fromisoformat(summary["last_run"])

    task = api.get(f"/tasks/{p}-f").json()
    assert task["status"] == "FAILED" and task["execution_result"]["state"] == "Failed"
    assert task["metadata"]["running"]["status"] == "RUNNING" and task["metadata"]["schedule"] == (
        "daily 02:00 Asia/Shanghai"
    )
    assert task["cron_expr"] == "0 2 * * *"  # the Go/Gin scheduler's field: a cron

    # The status routes list what the tasks show: the outcome, and the run in flight.
    def listed(status: str) -> set[str]:
        return {t["id"] for t in api.get(f"/tasks/status/{status}").json()["data"]}

    assert listed("FAILED") == listed("failed") == listed("RUNNING") == {f"{p}-f"}
    assert listed("PENDING") == {f"{p}-idle"} and listed("DONE") == set()
    everything = {t["id"]: t["status"] for t in api.get("/tasks").json()["data"]}
    assert everything == {f"{p}-f": "FAILED", f"{p}-idle": "PENDING"}

    # A change that leaves the schedule out keeps it as written.
    changed = api.put(f"/api/scheduler/tasks/{p}-f", json={"url": "https://b.example/y"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["schedule"] == "daily 02:00 Asia/Shanghai"
    assert changed.json()["next_run"] == summary["next_run"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/scheduler/tasks", {"type": "http", "url": "https://a.example", "jsn": {"a": 1}}),
        ("/tasks", {"type": "http", "parameters": {"url": "https://a.example", "jsn": {"a": 1}}}),
    ],
)
def test_errors_name_the_http_body_json_as_the_catalog_does(api: Api, path: str, body: dict) -> None:
    answer = api.post(path, json={"name": f"{api.project}-j", **body})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["errors"]
    assert error["field"] == "jsn"
    assert "query, json, body" in error["message"] and "json_body" not in error["message"]
    assert "json_body" not in api.client.get("/openapi.json").text
