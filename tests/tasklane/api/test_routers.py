"""Seed 003's documented requests, replayed; every response checked field by field."""

from __future__ import annotations

from datetime import datetime

from tests.tasklane.api.conftest import Api, wait_for

SUMMARY = {"id", "name", "group", "status", "schedule", "next_run", "last_run", "last_status"}
EXECUTION = set("id task_id status started_at finished_at duration output error exit_code".split())


def test_seed_003_task_lifecycle(api: Api) -> None:
    p = api.project
    # 创建任务: the seed's body as documented (a display name with a space is kept, its slug is the id).
    body = {
        "name": f"Daily Backup {p}",
        "description": "Daily database backup",
        "group": "backup",
        "type": "shell",
        "command": "/usr/bin/backup.sh",
        "schedule": {"type": "daily", "time": "02:00"},
        "enabled": True,
    }
    created = api.post("/api/scheduler/tasks", json=body)
    assert created.status_code == 201, created.text
    task = created.json()
    assert SUMMARY <= set(task)
    task_id = task["id"]
    assert task_id == f"daily-backup-{p}" and task["name"] == f"Daily Backup {p}"
    assert task["schedule"] == "daily 02:00 UTC"  # as the catalog writes it (the seed's shape read)
    assert datetime.fromisoformat(task["next_run"]).strftime("%H:%M") == "02:00"
    assert task["group"] == "backup" and task["status"] == "active"

    # 获取任务列表 with group, status, page, limit.
    api.post(
        "/api/scheduler/tasks", json={"name": f"{p}-other", "type": "http", "url": "https://a.example/x"}
    )
    listed = api.get(
        "/api/scheduler/tasks", params={"group": "backup", "status": "active", "page": 1, "limit": 20}
    )
    assert listed.status_code == 200
    page = listed.json()
    assert set(page) == {"total", "page", "limit", "tasks"}
    assert (page["total"], page["page"], page["limit"]) == (1, 1, 20)
    assert [t["id"] for t in page["tasks"]] == [task_id]
    second = api.get("/api/scheduler/tasks", params={"limit": 1, "page": 2}).json()
    assert second["total"] == 2 and [t["id"] for t in second["tasks"]] == [f"{p}-other"]

    # 更新任务: only the schedule changes; the command stays.
    updated = api.put(
        f"/api/scheduler/tasks/{task_id}", json={"schedule": {"type": "daily", "time": "03:00"}}
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["schedule"] == "daily 03:00 UTC"
    assert api.get(f"/tasks/{task_id}").json()["parameters"]["command"] == "/usr/bin/backup.sh"
    renamed_cmd = api.put(f"/api/scheduler/tasks/{task_id}", json={"command": "/usr/bin/backup.sh --full"})
    assert renamed_cmd.status_code == 200 and renamed_cmd.json()["schedule"] == "daily 03:00 UTC"

    # 启用/禁用任务
    disabled = api.post(f"/api/scheduler/tasks/{task_id}/disable", role="operator")
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert disabled.json()["next_run"] is None
    assert api.get("/api/scheduler/tasks", params={"status": "disabled"}).json()["total"] == 1
    enabled = api.post(f"/api/scheduler/tasks/{task_id}/enable", role="operator")
    assert enabled.status_code == 200 and enabled.json()["status"] == "active"

    # 删除任务
    deleted = api.delete(f"/api/scheduler/tasks/{task_id}")
    # It goes to the trash (`tests/tasklane/api/test_trash.py`); the answer names who depends on it.
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Task deleted successfully", "downstream": []}
    assert api.get(f"/api/scheduler/tasks/{task_id}").status_code == 404


def test_seed_003_run_executions_logs_stats(api: Api, worker: str) -> None:
    p = api.project
    name = f"{p}-hello"
    created = api.post(
        "/api/scheduler/tasks",
        json={"name": name, "type": "shell", "command": "echo hello-api", "group": "g"},
    )
    assert created.status_code == 201, created.text
    # 立即执行任务
    started = api.post(f"/api/scheduler/tasks/{name}/run", role="operator")
    assert started.status_code == 200
    assert set(started.json()) == {"execution_id", "status"}
    assert started.json()["status"] in ("pending", "running")
    execution_id = started.json()["execution_id"]

    def finished():
        found = api.get(f"/api/scheduler/executions/{execution_id}").json()
        return found if found["status"] in ("success", "failed", "cancelled") else None

    detail = wait_for(finished, timeout=90)
    assert set(detail) == EXECUTION
    assert detail["status"] == "success" and detail["exit_code"] == 0 and detail["error"] is None
    assert "hello-api" in detail["output"] and detail["task_id"] == name
    assert detail["duration"] >= 0 and detail["started_at"] and detail["finished_at"]

    history = api.get(f"/api/scheduler/tasks/{name}/executions", params={"page": 1, "limit": 20}).json()
    assert history["total"] == 1 and set(history["executions"][0]) == EXECUTION
    assert (
        history["executions"][0]["id"] == execution_id and "hello-api" in history["executions"][0]["output"]
    )

    def logs_with_output() -> list | None:
        # The worker ships a run's logs in batches; the job's line can trail the final state.
        lines = api.get(f"/api/scheduler/executions/{execution_id}/logs").json()["logs"]
        return lines if any("hello-api" in line["message"] for line in lines) else None

    logs = wait_for(logs_with_output)
    assert {"timestamp", "level", "message"} == set(logs[0])

    stats = api.get(f"/api/scheduler/tasks/{name}/stats", params={"start_date": "2024-01-01"}).json()
    assert set(stats) == {
        "total_executions",
        "success",
        "failed",
        "success_rate",
        "avg_duration",
        "total_duration",
    }
    assert (stats["total_executions"], stats["success"], stats["failed"], stats["success_rate"]) == (
        1,
        1,
        0,
        100.0,
    )
    overall = api.get("/api/scheduler/stats").json()
    assert set(overall) == {"total_tasks", "active_tasks", "total_executions", "success_rate", "by_status"}
    assert overall["total_tasks"] == 1 and overall["by_status"] == {"success": 1}

    # Seed 004 reads the same run.
    done = api.get("/tasks/status/DONE").json()
    assert [t["id"] for t in done["data"]] == [name] and done["data"][0]["execution_result"][
        "state"
    ] == "Completed"
    history = api.get("/task_history").json()
    assert history["total_count"] == 1 and history["data"][0]["status"] == "DONE"
    assert history["data"][0]["task_id"] == name


def test_seed_003_templates_groups_preview(api: Api) -> None:
    p = api.project
    templates = api.get("/api/scheduler/templates", role="viewer").json()["templates"]
    assert templates and set(templates[0]) == {"id", "name", "category", "description"}
    assert "backup-dir" in {t["id"] for t in templates}

    made = api.post(
        "/api/scheduler/tasks/from-template",
        json={
            "template_id": "backup-dir",
            "name": f"{p}-bk",
            "params": {"source": "/srv/data"},
            "group": "bk",
        },
    )
    assert made.status_code == 201, made.text
    assert made.json()["id"] == f"{p}-bk" and made.json()["group"] == "bk"
    api.post(
        "/api/scheduler/tasks",
        json={"name": f"{p}-bk2", "type": "http", "url": "https://a.example", "group": "bk"},
    )
    bad = api.post("/api/scheduler/tasks/from-template", json={"template_id": "backup-dir", "name": f"{p}-x"})
    assert bad.status_code == 422 and any(e["field"] == "params.source" for e in bad.json()["errors"])
    assert (
        api.post("/api/scheduler/tasks/from-template", json={"template_id": "nope", "name": "x"}).status_code
        == 404
    )

    off = api.post("/api/scheduler/groups/bk/disable", role="operator").json()
    assert off == {"group": "bk", "action": "disable", "changed": [f"{p}-bk", f"{p}-bk2"]}
    assert api.get("/api/scheduler/tasks", params={"group": "bk", "status": "disabled"}).json()["total"] == 2
    assert api.post("/api/scheduler/groups/bk/enable", role="operator").json()["changed"] == [
        f"{p}-bk",
        f"{p}-bk2",
    ]
    assert api.delete("/api/scheduler/groups/bk", role="operator").status_code == 403
    gone = api.delete("/api/scheduler/groups/bk").json()
    assert sorted(gone["changed"]) == [f"{p}-bk", f"{p}-bk2"]
    assert api.post("/api/scheduler/groups/bk/enable").status_code == 404

    preview = api.get(
        "/api/scheduler/schedules/preview",
        params={
            "spec": '{weekly: {days: [mon, fri], at: "09:30"}, timezone: Europe/Berlin}',
            "n": 4,
            "from": "2024-03-01T00:00:00+00:00",
        },
    )
    assert preview.status_code == 200, preview.text
    runs = preview.json()["runs"]
    assert preview.json()["timezone"] == "Europe/Berlin" and len(runs) == 4
    assert [r["local"][:16] for r in runs] == [
        "2024-03-01T09:30",
        "2024-03-04T09:30",
        "2024-03-08T09:30",
        "2024-03-11T09:30",
    ]
    assert runs[0]["utc"].startswith("2024-03-01T08:30")
    wrong = api.get("/api/scheduler/schedules/preview", params={"spec": "0 */6 * *"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"].startswith("spec")
    assert "4 fields" in wrong.json()["errors"][0]["message"]
