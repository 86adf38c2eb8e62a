"""What the CLI can do, over HTTP: run with parameters, cancel, clone, export, delete a list,
logs by text and level, history by time, stats by group (routers/tasks.py, executions.py,
stats.py, compat.py's /task_history)."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import with_client
from tests.tasklane.api.conftest import Api


def make(api: Api, name: str, group: str, **fields) -> str:
    body = {"name": name, "group": group} | (fields or {"type": "http", "url": "https://a.example/x"})
    created = api.post("/api/scheduler/tasks", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


def test_run_cancel_clone_export_and_delete_a_list(api: Api) -> None:
    p = api.project
    first, second = make(api, f"{p}-a", "g1"), make(api, f"{p}-b", "g2")
    shell = make(api, f"{p}-sh", "g2", type="shell", command="true")

    # Run with parameters: for this run only (no worker polls the pool: the run waits).
    started = api.post(
        f"/api/scheduler/tasks/{first}/run",
        role="operator",
        json={"parameters": {"url": "https://b.example/y"}},
    )
    assert started.status_code == 200, started.text
    run_id = started.json()["execution_id"]
    flow_run = with_client(lambda client: client.read_flow_run(run_id))
    assert flow_run.parameters["job"]["url"] == "https://b.example/y"
    assert api.get(f"/tasks/{first}").json()["parameters"]["url"] == "https://a.example/x"
    # New commands for a task that runs code are an admin's write, not an operator's run.
    refused = api.post(
        f"/api/scheduler/tasks/{shell}/run", role="operator", json={"parameters": {"command": "id"}}
    )
    assert refused.status_code == 403, refused.text
    assert api.post(f"/api/scheduler/tasks/{first}/run", json={"parameters": 3}).status_code == 422

    # Cancel: the task's due runs, then one execution (already cancelled: nothing more to do).
    cancelled = api.post(f"/api/scheduler/tasks/{first}/cancel", role="operator")
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] == [run_id], cancelled.text
    again = api.post(f"/api/scheduler/executions/{run_id}/cancel", role="operator")
    assert again.status_code == 200 and again.json()["cancelled"] == [], again.text
    assert api.post(f"/api/scheduler/tasks/{first}/cancel", role="viewer").status_code == 403

    # History by time: the cancelled run ended; none is expected to start in 2099.
    history = api.get("/task_history", params={"task": first}).json()
    assert [e["id"] for e in history["data"]] == [run_id]
    later = api.get("/task_history", params={"task": first, "since": "2099-01-01T00:00:00Z"}).json()
    assert later == {"total_count": 0, "data": []}
    empty = api.get(
        "/task_history",
        params={"task": first, "since": "2030-01-02T00:00:00Z", "until": "2000-01-01T00:00:00Z"},
    )
    assert empty.status_code == 200 and empty.json() == {"total_count": 0, "data": []}

    # Clone, then export (one group).
    copy = api.post(f"/api/scheduler/tasks/{first}/clone", json={"name": f"{p}-copy"})
    assert copy.status_code == 201 and copy.json()["id"] == f"{p}-copy" and copy.json()["group"] == "g1"
    assert api.post(f"/api/scheduler/tasks/{first}/clone", json={"name": second}).status_code == 409
    exported = api.get("/api/scheduler/export", params={"group": "g1"}, role="viewer").json()
    assert sorted(t["name"] for t in exported["tasks"]) == [first, f"{p}-copy"]
    assert {t["url"] for t in exported["tasks"]} == {"https://a.example/x"}

    # Stats by group.
    stats = api.get("/api/scheduler/stats", params={"group": "g2"}).json()
    assert stats["total_tasks"] == 2

    # Delete a list: an unknown id deletes nothing; then both go to the trash.
    unknown = api.post("/api/scheduler/batch/delete", json={"ids": [second, f"{p}-nope"]})
    assert unknown.status_code == 404 and api.get(f"/api/scheduler/tasks/{second}").status_code == 200
    deleted = api.post("/api/scheduler/batch/delete", json={"ids": [second, f"{p}-copy", second]})
    assert deleted.status_code == 200 and sorted(deleted.json()["deleted"]) == sorted([second, f"{p}-copy"])
    assert {t["id"] for t in api.get("/api/scheduler/trash").json()["tasks"]} >= {second, f"{p}-copy"}
    assert api.post("/api/scheduler/batch/delete", json={"ids": []}).status_code == 422


def test_logs_by_text_and_level(api: Api) -> None:
    from prefect.client.schemas.actions import LogCreate

    task = make(api, f"{api.project}-logs", "default")
    run_id = api.post(f"/api/scheduler/tasks/{task}/run", role="operator").json()["execution_id"]
    now = datetime.now(UTC)
    lines = [(20, "copying files"), (30, "disk almost full"), (40, "copy failed"), (20, "done")]
    logs = [
        LogCreate(name="test", level=level, message=message, timestamp=now, flow_run_id=run_id)
        for level, message in lines
    ]
    with_client(lambda client: client.create_logs(logs))

    def messages(**params) -> list[str]:
        answer = api.get(f"/api/scheduler/executions/{run_id}/logs", role="viewer", params=params)
        assert answer.status_code == 200, answer.text
        return [line["message"] for line in answer.json()["logs"]]

    assert sorted(messages()) == sorted(m for _, m in lines)
    assert sorted(messages(level="WARNING")) == ["copy failed", "disk almost full"]
    assert sorted(messages(grep="cop")) == ["copy failed", "copying files"]
    assert messages(grep="cop", level="ERROR") == ["copy failed"]
    bad = api.get(f"/api/scheduler/executions/{run_id}/logs", params={"level": "LOUD"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "level"
