"""`/api/scheduler/tasks/{id}/executions` (the past, or `upcoming=true`), status words, and one
execution named by run id, run name or task."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import Api

FAR = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture
def runs(api: Api) -> dict[str, str]:
    """A task of the API's project with two finished runs and two still to come (not due before 2099)."""
    from prefect.states import Completed, Failed, Running, Scheduled

    from deployments.apply import Target
    from tasklane.tasks.lookup import find_task

    name = f"{api.project}-runs"
    created = api.post(
        "/api/scheduler/tasks", json={"name": name, "type": "http", "url": "https://a.example/x"}
    )
    assert created.status_code == 201, created.text

    async def make(client) -> dict[str, str]:
        deployment = await find_task(client, name, Target(work_pool="-", timezone="UTC", project=api.project))
        made = {"task": name}
        for key, final in (("ok", Completed()), ("failed", Failed(message="boom"))):
            # Made Running: a worker of the test pool never sees it Scheduled.
            run = await client.create_flow_run_from_deployment(
                deployment.id, name=f"{name}-{key}", state=Running()
            )
            await client.set_flow_run_state(run.id, final, force=True)
            made[key] = str(run.id)
        for key, days in (("later", 2), ("next", 1)):
            state = Scheduled(scheduled_time=FAR + timedelta(days=days))
            made[key] = str((await client.create_flow_run_from_deployment(deployment.id, state=state)).id)
        return made

    return with_client(make)


def ids(page: dict) -> list[str]:
    return [e["id"] for e in page["executions"]]


def test_executions_are_the_past_and_upcoming_the_runs_to_come(api: Api, runs: dict[str, str]) -> None:
    path = f"/api/scheduler/tasks/{runs['task']}/executions"
    past = api.get(path).json()
    assert (past["total"], ids(past)) == (2, [runs["failed"], runs["ok"]])  # newest first, none to come
    to_come = api.get(path, params={"upcoming": "true"}).json()
    assert (to_come["total"], ids(to_come)) == (2, [runs["next"], runs["later"]])  # soonest first
    assert {e["status"] for e in to_come["executions"]} == {"pending"}
    assert ids(api.get(path, params={"upcoming": "true", "limit": 1, "page": 2}).json()) == [runs["later"]]

    parameters = api.client.app.openapi()["paths"]["/api/scheduler/tasks/{task_id}/executions"]["get"]
    documented = {p["name"]: p.get("description", "") for p in parameters["parameters"]}
    assert "still to come" in documented["upcoming"] and "finished (" in documented["status"]


@pytest.mark.parametrize(
    ("status", "wanted"),
    [
        ("failed", ["failed"]),
        ("success", ["ok"]),
        ("DONE", ["ok"]),
        ("finished", ["failed", "ok"]),
        ("Late", []),
    ],
)
def test_executions_status_words(api: Api, runs: dict[str, str], status: str, wanted: list[str]) -> None:
    found = api.get(f"/api/scheduler/tasks/{runs['task']}/executions", params={"status": status}).json()
    assert ids(found) == [runs[key] for key in wanted]


def test_an_unknown_status_word_is_a_422_naming_the_words(api: Api, runs: dict[str, str]) -> None:
    bad = api.get(f"/api/scheduler/tasks/{runs['task']}/executions", params={"status": "faild"})
    assert bad.status_code == 422
    (error,) = bad.json()["errors"]
    assert error["field"] == "status" and "expected one of finished" in error["message"]


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("{ok}", "ok"), ("{task}-ok", "ok"), ("{task}", "failed")],  # a task: its latest started run
    ids=["run-id", "run-name", "task"],
)
def test_an_execution_is_named_by_run_id_run_name_or_task(
    api: Api, runs: dict[str, str], ref: str, expected: str
) -> None:
    found = api.get(f"/api/scheduler/executions/{ref.format(**runs)}")
    assert found.status_code == 200, found.text
    assert found.json()["id"] == runs[expected] and found.json()["task_id"] == runs["task"]
    logs = api.get(f"/api/scheduler/executions/{ref.format(**runs)}/logs")
    assert logs.status_code == 200 and logs.json() == {"logs": []}


def test_an_unknown_execution_is_a_404(api: Api, runs: dict[str, str]) -> None:
    missing = api.get("/api/scheduler/executions/no-such-run-anywhere")
    assert missing.status_code == 404 and "no run or task named 'no-such-run-anywhere'" in missing.text
