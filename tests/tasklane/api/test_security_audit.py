"""Tokens and roles, group grants, the shell gate, the audit trail, and error shapes."""

from __future__ import annotations

import logging
import stat

from fastapi.testclient import TestClient

from tests.tasklane.api.conftest import Api, make_api, wait_for

ERROR = {"code", "message", "errors"}


def test_tokens_roles_and_groups(api: Api, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    p = api.project
    missing = api.client.get("/tasks")
    assert missing.status_code == 401 and set(missing.json()) == ERROR
    assert missing.headers["www-authenticate"] == "Bearer"
    assert api.client.get("/tasks", headers={"Authorization": "Bearer tl_wrong"}).status_code == 401
    assert api.client.get("/tasks", headers={"Authorization": "Basic abc"}).status_code == 401

    task = {"name": f"{p}-t", "type": "http", "url": "https://a.example", "group": "g"}
    assert api.post("/api/scheduler/tasks", json=task, role="viewer").status_code == 403
    assert api.post("/api/scheduler/tasks", json=task, role="operator").status_code == 403
    assert api.post("/api/scheduler/tasks", json=task, role="admin").status_code == 201
    assert api.get(f"/api/scheduler/tasks/{p}-t", role="viewer").status_code == 200
    for action in ("run", "enable", "disable"):
        assert api.post(f"/api/scheduler/tasks/{p}-t/{action}", role="viewer").status_code == 403, action
        assert api.post(f"/api/scheduler/tasks/{p}-t/{action}", role="operator").status_code == 200, action
    assert api.post(f"/tasks/{p}-t/report", role="viewer").status_code == 403
    assert api.post(f"/tasks/{p}-t/report", role="operator").status_code == 200
    assert api.put(f"/api/scheduler/tasks/{p}-t", json={"owner": "bob"}, role="operator").status_code == 403
    assert api.delete(f"/api/scheduler/tasks/{p}-t", role="operator").status_code == 403
    assert api.post("/api/v1/scheduler/start", role="operator").status_code == 403
    assert api.get("/api/scheduler/audit", role="viewer").status_code == 403

    # An admin of group ops only: sees and changes ops, never g.
    assert api.get(f"/api/scheduler/tasks/{p}-t", role="ops-admin").status_code == 404
    assert api.get("/tasks", role="ops-admin").json()["total_count"] == 0
    assert (
        api.post("/api/scheduler/tasks", json=task | {"name": f"{p}-u"}, role="ops-admin").status_code == 403
    )
    ops = task | {"name": f"{p}-o", "group": "ops"}
    assert api.post("/api/scheduler/tasks", json=ops, role="ops-admin").status_code == 201
    assert api.put(f"/api/scheduler/tasks/{p}-o", json={"group": "g"}, role="ops-admin").status_code == 403
    assert [t["id"] for t in api.get("/api/scheduler/tasks", role="ops-admin").json()["tasks"]] == [f"{p}-o"]

    # Tokens are stored hashed, readable by the owner only, and never logged.
    tokens_file = api.home / "tokens.json"
    text = tokens_file.read_text()
    assert all(token not in text for token in api.tokens.values())
    assert stat.S_IMODE(tokens_file.stat().st_mode) == 0o600
    assert all(token not in caplog.text for token in api.tokens.values())
    assert "admin-token" in caplog.text  # the caller's name is what is logged


def test_shell_tasks_need_allow_shell(tmp_path, project: str, work_pool: str) -> None:
    app, tokens = make_api(tmp_path, project, allow_shell=False)
    with TestClient(app) as client:
        api = Api(client, tokens, project, tmp_path)
        shell = {"name": f"{project}-sh", "type": "shell", "command": "rm -rf /tmp/x"}
        refused = api.post("/api/scheduler/tasks", json=shell)
        assert refused.status_code == 403 and "allow_shell" in refused.json()["message"]
        code = {
            "name": f"{project}-py",
            "type": "python",
            "callable": "os:system",
            "kwargs": {"command": "id"},
        }
        assert api.post("/api/scheduler/tasks", json=code).status_code == 403
        assert api.post(
            "/tasks", json={"name": f"{project}-s0", "type": "shell", "parameters": shell}
        ).status_code in (
            403,
            422,
        )
        http = {"name": f"{project}-h", "type": "http", "url": "https://a.example"}
        assert api.post("/api/scheduler/tasks", json=http).status_code == 201
        # An http task cannot be turned into a shell one either.
        turned = api.put(f"/api/scheduler/tasks/{project}-h", json={"type": "shell", "command": "id"})
        assert turned.status_code == 403
        assert api.get("/api/scheduler/tasks").json()["tasks"][0]["type"] == "http"


def test_every_mutating_call_is_audited(api: Api) -> None:
    p = api.project
    calls = [
        (
            "post",
            "/api/scheduler/tasks",
            {"json": {"name": f"{p}-a", "type": "http", "url": "https://a.example"}},
        ),
        ("put", f"/api/scheduler/tasks/{p}-a", {"json": {"owner": "bob"}}),
        ("post", f"/api/scheduler/tasks/{p}-a/disable", {}),
        ("post", f"/api/scheduler/tasks/{p}-a/enable", {}),
        ("post", f"/api/scheduler/tasks/{p}-a/run", {}),
        ("post", f"/tasks/{p}-a/report", {"params": {"type": "json"}}),
        ("post", "/api/scheduler/groups/default/disable", {}),
        ("post", "/api/scheduler/groups/default/enable", {}),
        (
            "post",
            "/tasks",
            {"json": {"name": f"{p}-b", "type": "http", "parameters": {"url": "https://b.example"}}},
        ),
        ("put", f"/tasks/{p}-b", {"json": {"priority": "LOW"}}),
        ("delete", f"/tasks/{p}-b", {}),
        (
            "post",
            "/api/scheduler/tasks/from-template",
            {
                "json": {
                    "template_id": "http-health-check",
                    "name": f"{p}-c",
                    "params": {"url": "https://c.example"},
                }
            },
        ),
        ("delete", f"/api/scheduler/tasks/{p}-a", {}),
        ("delete", "/api/scheduler/groups/monitoring", {}),
        ("put", f"/api/scheduler/tasks/{p}-zzz", {"json": {"owner": "x"}}),  # 404: no change, no event
    ]
    expected = []
    for method, path, kwargs in calls:
        response = getattr(api, method)(path, **kwargs)
        if response.status_code < 300:
            expected.append(path)
        else:
            assert response.status_code == 404 and path.endswith("-zzz"), (path, response.text)
    assert len(expected) == len(calls) - 1

    def events():
        found = api.get("/api/scheduler/audit", params={"limit": 100}).json()
        return found if found["total"] >= len(expected) else None

    audit = wait_for(events, timeout=60, interval=1)["events"]
    names = sorted(e["event"] for e in audit)
    assert names == sorted(
        ["tasklane.task.created"] * 3
        + ["tasklane.task.updated"] * 2
        + [
            "tasklane.task.disabled",
            "tasklane.task.enabled",
            "tasklane.task.run",
            "tasklane.report.generated",
        ]
        + ["tasklane.group.disabled", "tasklane.group.enabled", "tasklane.group.deleted"]
        + ["tasklane.task.deleted"] * 2
    )
    for event in audit:
        assert event["caller"] == "admin-token" and event["role"] == "admin"
        assert event["result"].startswith("ok") and event["change"] is not None
        assert all(token not in str(event) for token in api.tokens.values())
    updated = next(e for e in audit if e["event"] == "tasklane.task.updated" and e["resource"].endswith("-a"))
    assert updated["change"] == {"owner": "bob"} and updated["resource"] == f"tasklane.task.{p}-a"
    mine = api.get("/api/scheduler/audit", params={"task": f"{p}-b"}).json()
    assert {e["event"] for e in mine["events"]} == {
        "tasklane.task.created",
        "tasklane.task.updated",
        "tasklane.task.deleted",
    }


def test_error_shapes(api: Api) -> None:
    p = api.project
    for path in (
        f"/tasks/{p}-none",
        f"/api/scheduler/tasks/{p}-none",
        f"/api/scheduler/tasks/{p}-none/stats",
        "/api/scheduler/executions/exec-001",
        "/api/scheduler/executions/00000000-0000-0000-0000-000000000000/logs",
        "/api/scheduler/tasks/00000000-0000-0000-0000-000000000000",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert set(response.json()) == ERROR and response.json()["code"] == 404
    bad = api.post(
        "/api/scheduler/tasks",
        json={"name": f"{p}-bad", "type": "http", "schedule": {"cron": "0 */6 * *"}, "priority": "URGENT"},
    )
    assert bad.status_code == 422
    errors = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert "url" in errors and errors["url"] == "is required"
    assert any(f.startswith("schedule") and "4 fields" in m for f, m in errors.items())
    assert "priority" in errors
    typed = api.post("/tasks", json={"name": f"{p}-x", "timeout_seconds": "soon"})
    assert typed.status_code == 422 and typed.json()["errors"][0]["field"] == "timeout_seconds"
    paging = api.get("/api/scheduler/tasks", params={"page": 0, "limit": 9999})
    assert paging.status_code == 422 and {e["field"] for e in paging.json()["errors"]} == {"page", "limit"}
    dates = api.get("/api/scheduler/stats", params={"start_date": "2024-02-01", "end_date": "2024-01-01"})
    assert dates.status_code == 422 and dates.json()["errors"][0]["field"] == "end_date"
    api.post("/api/scheduler/tasks", json={"name": f"{p}-dup", "type": "http", "url": "https://a.example"})
    again = api.post(
        "/api/scheduler/tasks", json={"name": f"{p}-dup", "type": "http", "url": "https://a.example"}
    )
    assert again.status_code == 409 and set(again.json()) == ERROR
    cycle = api.put(f"/api/scheduler/tasks/{p}-dup", json={"depends_on": [f"{p}-dup"]})
    assert cycle.status_code == 422 and cycle.json()["errors"][0]["field"] == "depends_on"
