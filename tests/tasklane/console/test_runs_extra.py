"""The rest of the runs pages over HTTP against a real server and worker: history filters by
group and time, a run's timeline / result / artifacts, its log searched and downloaded, Cancel,
and Run again with parameters; a viewer's forged change refused."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console

HTMX = {"HX-Request": "true"}


def _task(project: str) -> str:
    return f"{project}-{uuid.uuid4().hex[:4]}"


def _state(run_id: str) -> str | None:
    run = with_client(lambda client: client.read_flow_run(uuid.UUID(run_id)))
    return run.state.name if run.state else None


def _start(console: Console, name: str) -> str:
    started = console.client("operator").post(
        f"/console/tasks/{name}/run", data={"csrf": console.csrf("operator")}
    )
    assert started.status_code == 200 and started.url.path.startswith("/console/runs/")
    return started.url.path.rsplit("/", 1)[1]


def test_a_finished_run_shows_its_timeline_result_and_its_log_searched_and_downloaded(
    console: Console, worker: str
) -> None:
    name = _task(console.project)
    console.add_shell_task(
        name, "echo alpha-line; sleep 1.5; echo beta-line; sleep 1.5; echo gamma-line", group="etl"
    )
    run_id = _start(console, name)
    wait_for(lambda: _state(run_id) == "Completed", timeout=90)
    viewer = console.client("viewer")

    page = viewer.get(f"/console/runs/{run_id}")
    assert f'hx-get="/console/runs/{run_id}/details"' in page.text and 'id="log-search"' in page.text
    assert 'id="cancel-run"' not in page.text and 'id="run-again"' not in page.text  # a viewer's page
    details = viewer.get(f"/console/runs/{run_id}/details", headers=HTMX)
    assert details.status_code == 200 and "<html" not in details.text
    states = [
        s for s in ("Scheduled", "Pending", "Running", "Completed") if f'data-state="{s}"' in details.text
    ]
    assert states[-2:] == ["Running", "Completed"]
    assert 'id="run-result"' in details.text and "hx-trigger" not in details.text  # ended: no refresh
    assert ">now<" not in details.text  # an ended run's last state does not last "until now"

    found = viewer.get(f"/console/runs/{run_id}/logs/search", params={"q": "BETA"}, headers=HTMX)
    assert found.status_code == 200 and "beta-line" in found.text
    assert "alpha-line" not in found.text and "gamma-line" not in found.text
    assert "1 matching lines." in found.text
    none = viewer.get(f"/console/runs/{run_id}/logs/search", params={"q": "beta", "level": "CRITICAL"})
    assert "<html" in none.text and "beta-line" not in none.text and "0 matching lines." in none.text
    bad = viewer.get(f"/console/runs/{run_id}/logs/search", params={"level": "LOUD"})
    assert bad.status_code == 400 and "LOUD" in bad.text

    download = viewer.get(f"/console/runs/{run_id}/logs/download")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    text = download.text
    assert text.index("alpha-line") < text.index("beta-line") < text.index("gamma-line")
    only = viewer.get(f"/console/runs/{run_id}/logs/download", params={"q": "gamma"}).text
    assert "gamma-line" in only and "alpha-line" not in only

    # History filters: group, and a time window (a duration back, or a date-time in the user's zone).
    runs = viewer.get("/console/runs", params={"group": "etl", "since": "1h"})
    assert run_id in runs.text and 'id="run-since"' in runs.text
    assert run_id not in viewer.get("/console/runs", params={"group": "other"}).text
    assert run_id not in viewer.get("/console/runs", params={"until": "2000-01-01T00:00"}).text
    assert run_id in viewer.get("/console/runs", params={"since": "2000-01-01", "task": name}).text
    wrong = viewer.get("/console/runs", params={"since": "last tuesday"})
    assert wrong.status_code == 400 and "last tuesday" in wrong.text
    # Another group's user finds neither the run nor its log.
    other = console.client("ops-operator")
    assert other.get(f"/console/runs/{run_id}/details").status_code == 404
    assert other.get(f"/console/runs/{run_id}/logs/download").status_code == 404


def test_an_operator_cancels_a_running_run_and_a_viewer_cannot(console: Console, worker: str) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "sleep 30")
    run_id = _start(console, name)
    wait_for(lambda: _state(run_id) == "Running", timeout=90)
    operator = console.client("operator")
    assert 'id="cancel-run"' in operator.get(f"/console/runs/{run_id}").text

    viewer = console.client("viewer")
    forged = viewer.post(f"/console/runs/{run_id}/cancel", data={"csrf": console.csrf("viewer")})
    assert forged.status_code == 403
    no_token = operator.post(f"/console/runs/{run_id}/cancel", data={})
    assert no_token.status_code == 403
    assert _state(run_id) == "Running"

    done = operator.post(f"/console/runs/{run_id}/cancel", data={"csrf": console.csrf("operator")})
    assert done.status_code == 200 and done.url.path == f"/console/runs/{run_id}"
    wait_for(lambda: _state(run_id) == "Cancelled", timeout=60)
    assert 'id="cancel-run"' not in operator.get(f"/console/runs/{run_id}").text

    def audited() -> bool:
        response = console.client("admin").get(
            "/api/scheduler/audit",
            params={"actor": "user:operator"},
            headers={"Authorization": f"Bearer {console.tokens['admin']}"},
        )
        return any(e["task"] == name and e["action"] == "task.cancelled" for e in response.json()["events"])

    wait_for(audited, timeout=30)


def test_run_again_with_parameters(console: Console, worker: str) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "echo as-defined")
    operator = console.client("operator")
    form = operator.get(f"/console/tasks/{name}/run-with")
    assert form.status_code == 200 and "command=echo as-defined" in form.text
    assert f'href="/console/tasks/{name}/run-with"' in operator.get(f"/console/tasks/{name}").text
    assert console.client("viewer").get(f"/console/tasks/{name}/run-with").status_code == 403
    forged = console.client("viewer").post(
        f"/console/tasks/{name}/run-with", data={"csrf": console.csrf("viewer"), "overrides": "command=id"}
    )
    assert forged.status_code == 403

    token = console.csrf("operator")
    broken = operator.post(
        f"/console/tasks/{name}/run-with", data={"csrf": token, "overrides": "no equals sign"}
    )
    assert broken.status_code == 400 and "is not KEY=VALUE" in broken.text
    invalid = operator.post(
        f"/console/tasks/{name}/run-with", data={"csrf": token, "overrides": "no_such_field=1"}
    )
    assert invalid.status_code == 400 and "no_such_field" in invalid.text  # the type's own model said so

    started = operator.post(
        f"/console/tasks/{name}/run-with", data={"csrf": token, "overrides": "command=echo overridden-value"}
    )
    assert started.status_code == 200 and started.url.path.startswith("/console/runs/")
    run_id = started.url.path.rsplit("/", 1)[1]
    run = with_client(lambda client: client.read_flow_run(uuid.UUID(run_id)))
    assert run.parameters["job"]["command"] == "echo overridden-value" and "manual" in run.tags
    wait_for(lambda: _state(run_id) == "Completed", timeout=90)

    def download() -> str:
        return operator.get(f"/console/runs/{run_id}/logs/download").text

    # A run's logs are shipped in batches and can trail its final state by a moment.
    wait_for(lambda: "overridden-value" in download(), timeout=15)
    assert "as-defined" not in download()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("command=echo hi\n\n# a comment\nkwargs.days=7", {"command": "echo hi", "kwargs.days": 7}),
        ("flag=true\nname=", {"flag": True, "name": ""}),
    ],
)
def test_overrides_are_key_value_lines_with_yaml_values(text: str, expected: dict) -> None:
    from tasklane.console.runs_extra import parse_overrides

    assert parse_overrides(text) == expected
    with pytest.raises(ValueError, match="line 2"):
        parse_overrides(text.splitlines()[0] + "\n=nokey")
