"""The trash over the REST API: DELETE moves tasks there (naming the tasks that depend on them),
`GET /api/scheduler/trash` lists them (viewer, the token's groups), `POST .../restore` (admin)
brings one back as the same task; a trashed name cannot be taken by a new task."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.tasklane.api.conftest import Api


def make(api: Api, name: str, **fields) -> dict:
    body = {"name": name, "type": "http", "url": "https://a.example/x", **fields}
    created = api.post("/api/scheduler/tasks", json=body)
    assert created.status_code == 201, created.text
    return created.json()


def test_delete_list_restore(api: Api) -> None:
    p = api.project
    up, down = f"{p}-up", f"{p}-down"
    make(api, up, group="ops", schedule={"cron": "0 3 * * *"})
    make(api, down, depends_on=[up])
    before = api.get(f"/tasks/{up}").json()

    deleted = api.delete(f"/api/scheduler/tasks/{up}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"message": "Task deleted successfully", "downstream": [down]}
    assert api.get(f"/api/scheduler/tasks/{up}").status_code == 404
    assert up not in [t["id"] for t in api.get("/api/scheduler/tasks").json()["tasks"]]
    assert up not in [t["id"] for t in api.get("/tasks").json()["data"]]

    listed = api.get("/api/scheduler/trash", role="viewer")
    assert listed.status_code == 200, listed.text
    trash = listed.json()
    assert trash["total"] == 1 and trash["retention_days"] == 30
    (entry,) = trash["tasks"]
    assert (entry["id"], entry["group"], entry["home"], entry["was_enabled"], entry["downstream"]) == (
        up,
        "ops",
        "api",
        True,
        [down],
    )
    assert entry["deployment_id"] == before["metadata"]["deployment_id"]
    deleted_at = datetime.fromisoformat(entry["deleted_at"])
    assert datetime.fromisoformat(entry["purge_after"]) - deleted_at == timedelta(days=30)
    # A group grant covers only its groups' deleted tasks.
    assert api.get("/api/scheduler/trash", role="ops-admin").json()["total"] == 1
    make(api, f"{p}-solo", group="misc")
    api.delete(f"/api/scheduler/tasks/{p}-solo")
    assert api.get("/api/scheduler/trash").json()["total"] == 2
    assert [t["id"] for t in api.get("/api/scheduler/trash", role="ops-admin").json()["tasks"]] == [up]

    # A trashed name is not free.
    taken = api.post("/api/scheduler/tasks", json={"name": up, "type": "http", "url": "https://b.example"})
    assert taken.status_code == 409 and "is in the trash" in taken.json()["message"]
    assert f"tasklane trash restore {up}" in taken.json()["message"]

    for role in ("viewer", "operator"):
        assert api.post(f"/api/scheduler/trash/{up}/restore", role=role).status_code == 403
    assert api.post(f"/api/scheduler/trash/{p}-solo/restore", role="ops-admin").status_code == 404
    assert api.post(f"/api/scheduler/trash/{p}-nope/restore").status_code == 404
    restored = api.post(f"/api/scheduler/trash/{up}/restore")
    assert restored.status_code == 200, restored.text
    body = restored.json()
    assert body["message"] == "Task restored" and body["missing_upstream"] == []
    assert body["task"]["id"] == up and body["task"]["status"] == "active"
    after = api.get(f"/tasks/{up}").json()
    assert after["metadata"]["deployment_id"] == before["metadata"]["deployment_id"]
    assert after["metadata"]["next_run"] == before["metadata"]["next_run"]
    assert after["cron_expr"] == "0 3 * * *" and after["parameters"] == before["parameters"]
    assert api.post(f"/api/scheduler/trash/{up}/restore").status_code == 404  # not in the trash now
    assert [t["id"] for t in api.get("/api/scheduler/trash").json()["tasks"]] == [f"{p}-solo"]

    def events() -> list[str]:
        found = api.get("/api/scheduler/audit", params={"task": up}).json()["events"]
        return [e["event"] for e in found]

    from tests.tasklane.api.conftest import wait_for

    wait_for(lambda: "tasklane.task.restored" in events() and "tasklane.task.deleted" in events(), timeout=60)


def test_group_delete_and_the_old_apis_delete_name_the_tasks_depending_on_them(api: Api) -> None:
    p = api.project
    make(api, f"{p}-a", group="bk")
    make(api, f"{p}-b", group="bk", depends_on=[f"{p}-a"])
    make(api, f"{p}-c", depends_on=[f"{p}-b"])
    gone = api.delete("/api/scheduler/groups/bk")
    assert gone.status_code == 200, gone.text
    assert gone.json() == {
        "group": "bk",
        "action": "delete",
        "changed": [f"{p}-a", f"{p}-b"],
        "downstream": [f"{p}-c"],  # b depends on a, but goes with it
    }
    assert {t["id"] for t in api.get("/api/scheduler/trash").json()["tasks"]} == {f"{p}-a", f"{p}-b"}

    make(api, f"{p}-d")
    make(api, f"{p}-e", depends_on=[f"{p}-d"])
    old = api.delete(f"/tasks/{p}-d")
    assert old.status_code == 200 and set(old.json()) == {"message"}
    assert old.json()["message"] == (
        f"Task deleted successfully (moved to the trash; tasks depending on it: {p}-e)"
    )
    assert api.delete(f"/tasks/{p}-e").json() == {"message": "Task deleted successfully"}
