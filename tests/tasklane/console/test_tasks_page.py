"""The tasks page over HTTP against a real Prefect server: its filters (type, last outcome, owner,
group), its 7-day success rate (task_stats' figure), batch actions on selected tasks (audited per
task, role- and group-checked, CSRF), the export download, a group's page, and times shown in
the zone of the browser's `tasklane_tz` cookie."""

from __future__ import annotations

import re
import uuid

import pytest
import yaml

from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console
from tests.tasklane.history.test_runs import make_runs

HTMX = {"HX-Request": "true", "HX-Target": "task-rows"}


def _name(console: Console, label: str) -> str:
    return f"{console.project}-{label}-{uuid.uuid4().hex[:4]}"


def _deployment(name: str):
    from tasklane.tasks.lookup import find_task

    return with_client(lambda client: find_task(client, name))


def _rows(html: str) -> set[str]:
    return set(re.findall(r'<tr data-task="([^"]+)"', html))


def _make_file_owned(name: str) -> None:
    from prefect.client.schemas.actions import DeploymentUpdate

    from deployments.ownership import home_tag

    deployment = _deployment(name)
    tags = [t for t in deployment.tags if not t.startswith("tasklane-home:")] + [
        home_tag("file:tasks/ops.yaml")
    ]
    with_client(lambda c: c.update_deployment(deployment.id, DeploymentUpdate(tags=tags)))


def _batch(console: Console, user: str, action: str, names: list[str], **extra):
    data = {"csrf": console.csrf(user), "action": action, "task": names, **extra}
    return console.client(user).post("/console/tasks/batch", data=data, follow_redirects=False)


def test_filters_by_type_outcome_owner_and_group(console: Console) -> None:
    shell, http, owned = (_name(console, label) for label in ("shell", "http", "owned"))
    console.add_shell_task(shell, "echo 1", group="alpha")
    body = {"name": http, "type": "http", "url": "https://example.com/", "group": "beta"}
    assert console.api_post("/api/scheduler/tasks", json=body).status_code == 201
    console.add_shell_task(owned, "echo 3", group="alpha")
    _make_file_owned(owned)
    deployment_id = _deployment(shell).id
    with_client(lambda client: make_runs(client, deployment_id, ["Failed"]))
    viewer = console.client("viewer")
    mine = {shell, http, owned}

    def shown(**params) -> set[str]:
        page = viewer.get("/console/tasks", params=params, headers=HTMX)
        assert page.status_code == 200 and "<html" not in page.text
        return _rows(page.text) & mine

    assert shown() == mine
    assert shown(type="http") == {http}
    assert shown(group="alpha") == {shell, owned}
    assert shown(outcome="Failed") == {shell}
    assert shown(outcome="never") == {http, owned}
    assert shown(owner="file:tasks/ops.yaml") == {owned}
    assert shown(owner="api") == {shell, http}
    assert shown(group="alpha", owner="api") == {shell}
    full = viewer.get("/console/tasks").text
    # The file-owned task is marked with its file; the owner filter offers the file.
    assert 'data-home="file:tasks/ops.yaml"' in full and "file tasks/ops.yaml" in full
    assert '<option value="file:tasks/ops.yaml"' in full and '<option value="http"' in full


def test_the_success_rate_is_task_stats_figure(console: Console) -> None:
    from integrations.report import day_window
    from tasklane.history.stats import task_stats
    from tasklane.settings.reports import TASKLANE_TAG

    name, idle = _name(console, "rate"), _name(console, "idle")
    console.add_shell_task(name, "echo rate")
    console.add_shell_task(idle, "echo idle")
    states = ["Completed", "Completed", "Failed"]
    deployment_id = _deployment(name).id
    with_client(lambda client: make_runs(client, deployment_id, states))
    since, until = day_window(7)
    tags = (TASKLANE_TAG, console.app.state.tasklane.target.project_tag)
    stats = with_client(lambda client: task_stats(client, since, until, tags=tags))
    expected = stats.per_task[name].success_rate
    assert expected == pytest.approx(66.67)
    page = console.client("viewer").get("/console/tasks").text
    rate = re.search(rf'<tr data-task="{name}".*?data-rate="([^"]*)"', page, re.S)
    assert rate and float(rate.group(1)) == expected
    assert "66.7%" in page
    idle_rate = re.search(rf'<tr data-task="{idle}".*?data-rate="([^"]*)"', page, re.S)
    assert idle_rate and idle_rate.group(1) == ""


def _audited(console: Console, actor: str, action: str, names: set[str]):
    def check():
        response = console.client("admin").get(
            "/api/scheduler/audit",
            params={"actor": actor},
            headers={"Authorization": f"Bearer {console.tokens['admin']}"},
        )
        assert response.status_code == 200, response.text
        return names <= {e["task"] for e in response.json()["events"] if e["action"] == action}

    wait_for(check, timeout=30)


def test_batch_disable_enable_and_delete_audited_per_task(console: Console) -> None:
    from tasklane.tasks.trash import list_trash

    first, second, other = (_name(console, label) for label in ("one", "two", "other"))
    for name in (first, second, other):
        console.add_shell_task(name, f"echo {name}")
    back = "/console/tasks?group=g&q=x&batch=run&done=9"

    disabled = _batch(console, "operator", "disable", [first, second], next=back)
    assert disabled.status_code == 303
    location = disabled.headers["location"]
    assert location.startswith("/console/tasks?") and "group=g" in location and "done=9" not in location
    assert _deployment(first).paused and _deployment(second).paused and not _deployment(other).paused
    flash = console.client("operator").get(location).text
    assert "Disabled 2 task(s); 0 already were." in flash
    _audited(console, "user:operator", "task.disabled", {first, second})

    again = _batch(console, "operator", "disable", [first])
    assert "done=0" in again.headers["location"] and "same=1" in again.headers["location"]

    enabled = _batch(console, "operator", "enable", [first, second])
    assert enabled.status_code == 303
    assert not _deployment(first).paused and not _deployment(second).paused
    _audited(console, "user:operator", "task.enabled", {first, second})

    deleted = _batch(console, "admin", "delete", [first, second])
    assert deleted.status_code == 303
    trashed = {entry.name for entry in with_client(lambda client: list_trash(client, None))}
    assert {first, second} <= trashed and other not in trashed
    _audited(console, "user:admin", "task.deleted", {first, second})
    assert _rows(console.client("admin").get("/console/tasks").text) & {first, second} == set()


def test_a_forged_batch_is_refused(console: Console) -> None:
    name = _name(console, "kept")
    console.add_shell_task(name, "echo kept")
    # A viewer may export, not change: a forged disable is 403.
    forged = _batch(console, "viewer", "disable", [name])
    assert forged.status_code == 403
    assert not _deployment(name).paused
    viewer_page = console.client("viewer").get("/console/tasks").text
    assert 'data-batch="export"' in viewer_page and 'data-batch="disable"' not in viewer_page
    # An operator may not delete.
    assert _batch(console, "operator", "delete", [name]).status_code == 403
    assert 'data-batch="delete"' not in console.client("operator").get("/console/tasks").text
    # A user of another group does not see the task, so cannot act on it.
    assert _batch(console, "ops-operator", "disable", [name]).status_code == 404
    # Without the session's CSRF token.
    refused = console.client("operator").post(
        "/console/tasks/batch", data={"action": "disable", "task": [name]}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert _batch(console, "operator", "explode", [name]).status_code == 400
    assert not _deployment(name).paused


def test_export_downloads_the_selected_tasks_as_tasklane_export_does(console: Console) -> None:
    from tasklane.tasks.manage import export_tasks

    first, second, left = (_name(console, label) for label in ("a", "b", "left"))
    for name in (first, second, left):
        console.add_shell_task(name, f"echo {name}")
    download = _batch(console, "viewer", "export", [second, first])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/yaml")
    assert "attachment" in download.headers["content-disposition"]
    assert ".yaml" in download.headers["content-disposition"]
    document = yaml.safe_load(download.text)
    target = console.app.state.tasklane.target
    whole = with_client(lambda client: export_tasks(client, target))
    assert document["tasks"] == [task for task in whole["tasks"] if task["name"] in {first, second}]
    assert [task["name"] for task in document["tasks"]] == sorted([first, second])


def test_a_group_page_shows_its_tasks_and_its_stats(console: Console) -> None:
    from integrations.report import day_window
    from tasklane.history.stats import task_stats
    from tasklane.settings.reports import TASKLANE_TAG

    group = f"grp{uuid.uuid4().hex[:6]}"
    inside, outside = _name(console, "in"), _name(console, "out")
    console.add_shell_task(inside, "echo in", group=group)
    console.add_shell_task(outside, "echo out", group="elsewhere")
    deployment_id = _deployment(inside).id
    with_client(lambda client: make_runs(client, deployment_id, ["Completed", "Failed"]))
    page = console.client("viewer").get(f"/console/groups/{group}")
    assert page.status_code == 200
    assert inside in _rows(page.text) and outside not in _rows(page.text)
    since, until = day_window(7)
    tags = (TASKLANE_TAG, console.app.state.tasklane.target.project_tag)
    stats = with_client(lambda client: task_stats(client, since, until, group=group, tags=tags))
    assert stats.overall.runs == 2
    assert f'data-stat="runs">{stats.overall.runs}<' in page.text
    assert f'data-stat="rate">{stats.overall.success_rate:.1f}%<' in page.text
    # The tasks page links each group to its page.
    assert f'href="/console/groups/{group}"' in console.client("viewer").get("/console/tasks").text
    assert console.client("viewer").get("/console/groups/no-such-group").status_code == 404
    assert console.client("ops-operator").get(f"/console/groups/{group}").status_code == 404


def test_times_are_shown_in_the_zone_of_the_tasklane_tz_cookie(console: Console) -> None:
    from tasklane.console.pages import TZ_COOKIE

    name = _name(console, "hourly")
    body = {
        "name": name,
        "type": "shell",
        "command": "echo tz",
        "group": "g",
        "schedule": {"type": "daily", "time": "09:00"},
    }
    assert console.api_post("/api/scheduler/tasks", json=body).status_code == 201
    viewer = console.client("viewer")

    def next_run() -> tuple[str, str]:
        page = viewer.get("/console/tasks").text
        cell = re.search(rf'<tr data-task="{name}".*?<td data-next-run>([^<]*)</td>', page, re.S)
        zone = re.search(r'id="zone" data-zone="([^"]+)"', page)
        assert cell and zone
        return cell.group(1), zone.group(1)

    try:
        viewer.cookies.set(TZ_COOKIE, "Asia/Tokyo")
        tokyo, zone = next_run()
        assert zone == "Asia/Tokyo" and tokyo.endswith("18:00:00 JST")
        viewer.cookies.set(TZ_COOKIE, "America/Sao_Paulo")
        brazil, zone = next_run()
        assert zone == "America/Sao_Paulo" and brazil.endswith("06:00:00 -03")
        # Not a zone: the project's.
        viewer.cookies.set(TZ_COOKIE, "Not/AZone")
        _, zone = next_run()
        assert zone == (console.app.state.tasklane.target.timezone or "UTC")
        # The Upcoming page reads the same zone.
        viewer.cookies.set(TZ_COOKIE, "Asia/Tokyo")
        assert "Asia/Tokyo" in viewer.get("/console/upcoming").text
    finally:
        viewer.cookies.delete(TZ_COOKIE)
