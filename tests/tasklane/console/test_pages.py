"""The console over HTTP against a real Prefect server: sign-in, CSRF, roles, the task actions,
the runs pages and the live log stream; the REST API's own token auth untouched beside it."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import PASSWORD, Console, csrf_of, sign_in

HTMX = {"HX-Request": "true"}


def _task(project: str) -> str:
    return f"{project}-{uuid.uuid4().hex[:4]}"


def _paused(name: str, project: str) -> bool:
    from tasklane.tasks.lookup import find_task

    return bool(with_client(lambda client: find_task(client, name)).paused)


def test_signing_in_and_out(console: Console) -> None:
    browser = console.anonymous()
    first = browser.get("/", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/console/login"
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    asked = browser.get("/console/runs?state=failed", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == "/console/login?next=%2Fconsole%2Fruns%3Fstate%3Dfailed"
    form = browser.get(asked.headers["location"])
    signed = browser.post(
        "/console/login",
        data={
            "name": "viewer",
            "password": PASSWORD,
            "csrf": csrf_of(form.text),
            "next": "/console/runs?state=failed",
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/console/runs?state=failed"
    # Signing in makes a new session: the CSRF token of the sign-in form is not the session's.
    page = browser.get("/console/tasks")
    assert page.status_code == 200 and 'id="who"' in page.text
    assert csrf_of(page.text) != csrf_of(form.text)
    out = browser.post("/console/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert browser.get("/console/tasks", follow_redirects=False).status_code == 303


def test_a_session_ends_with_a_new_password_or_the_user_removed(console: Console) -> None:
    from tasklane.console.users import UserStore, users_path

    store = UserStore(users_path(console.home))
    browser = console.client("operator")
    assert browser.get("/console/tasks", follow_redirects=False).status_code == 200
    store.set_password("operator", "a brand new password")
    assert browser.get("/console/tasks", follow_redirects=False).status_code == 303
    assert sign_in(browser, "operator", "a brand new password").url.path == "/console/tasks"
    store.remove("operator")
    assert browser.get("/console/tasks", follow_redirects=False).status_code == 303


def test_wrong_passwords_are_slowed_down_per_name_and_address(console: Console) -> None:
    now = [5000.0]
    console.app.state.console.throttle.clock = lambda: now[0]
    browser = console.anonymous()
    for _ in range(4):
        wrong = sign_in(browser, "admin", "not the password")
        assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    # Locked now: even the right password is refused, without being checked.
    locked = sign_in(browser, "admin", PASSWORD)
    assert locked.status_code == 429 and "try again in 1 s" in locked.text
    assert sign_in(console.anonymous(), "viewer").status_code == 200  # another name is not locked
    now[0] += 1.5
    assert sign_in(browser, "admin").url.path == "/console/tasks"
    # A success forgets the failures.
    assert sign_in(console.anonymous(), "admin", "wrong again").status_code == 401
    assert sign_in(console.anonymous(), "admin").status_code == 200


@pytest.mark.parametrize("sent", [None, "forged-token"])
def test_a_change_without_the_session_csrf_token_is_403(console: Console, sent: str | None) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "echo hi")
    browser = console.client("admin")
    data = {"csrf": sent} if sent else {}
    for action in ("run", "disable", "delete"):
        refused = browser.post(f"/console/tasks/{name}/{action}", data=data, headers=HTMX)
        assert refused.status_code == 403, action
        assert "CSRF" in refused.text
    assert browser.post("/console/logout", data=data).status_code == 403
    anonymous = console.anonymous()
    anonymous.get("/console/login")
    assert (
        anonymous.post("/console/login", data={"name": "admin", "password": PASSWORD, **data}).status_code
        == 403
    )
    assert not _paused(name, console.project)
    page = browser.get("/console/tasks")
    assert name in page.text and "never ran" in page.text


def test_a_viewer_sees_no_control_and_a_forged_change_is_403(console: Console) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "echo hi")
    viewer = console.client("viewer")
    page = viewer.get("/console/tasks")
    assert name in page.text
    assert "data-action" not in page.text and "Run now" not in page.text
    assert "data-action" not in viewer.get(f"/console/tasks/{name}").text
    token = csrf_of(page.text)
    for action in ("run", "enable", "disable", "delete"):
        forged = viewer.post(f"/console/tasks/{name}/{action}", data={"csrf": token})
        assert forged.status_code == 403, action
        assert "Your role is viewer" in forged.text
    # An operator may not delete (admins only); an operator limited to group ops does not see group g.
    operator = console.client("operator")
    assert 'data-action="delete"' not in operator.get("/console/tasks").text
    refused = operator.post(f"/console/tasks/{name}/delete", data={"csrf": console.csrf("operator")})
    assert refused.status_code == 403
    outsider = console.client("ops-operator")
    assert name not in outsider.get("/console/tasks").text
    hidden = outsider.post(f"/console/tasks/{name}/disable", data={"csrf": console.csrf("ops-operator")})
    assert hidden.status_code == 404
    assert outsider.get(f"/console/tasks/{name}").status_code == 404
    assert not _paused(name, console.project)


def test_an_operator_disables_enables_and_runs_a_task_in_its_row(console: Console, worker: str) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "echo from-the-console")
    operator = console.client("operator")
    token = console.csrf("operator")
    headers = {**HTMX, "X-CSRF-Token": token}

    row = operator.post(f"/console/tasks/{name}/disable", headers=headers)
    assert row.status_code == 200 and row.text.lstrip().startswith("<tr")
    assert 'data-disabled="true"' in row.text and 'data-action="enable"' in row.text
    assert _paused(name, console.project)

    row = operator.post(f"/console/tasks/{name}/enable", headers=headers)
    assert 'data-disabled="true"' not in row.text and 'data-action="disable"' in row.text
    assert not _paused(name, console.project)

    row = operator.post(f"/console/tasks/{name}/run", headers=headers)
    run_id = re.search(r'data-started="([0-9a-f-]+)"', row.text).group(1)
    run = with_client(lambda client: client.read_flow_run(uuid.UUID(run_id)))
    assert run.deployment_id is not None and "manual" in run.tags

    # Audited as the console's user, through the same trail as the CLI and the API.
    def audited() -> list[str]:
        response = console.client("admin").get(
            "/api/scheduler/audit",
            params={"actor": "user:operator"},
            headers={"Authorization": f"Bearer {console.tokens['admin']}"},
        )
        assert response.status_code == 200, response.text
        mine = [event for event in response.json()["events"] if event["task"] == name]
        assert all(event["role"] == "operator" for event in mine)
        actions = {event["action"] for event in mine}
        return actions >= {"task.disabled", "task.enabled", "task.run"} and sorted(actions)

    wait_for(audited, timeout=30)


def test_an_admin_deletes_a_task_to_the_trash(console: Console) -> None:
    from tasklane.tasks.trash import list_trash

    name = _task(console.project)
    console.add_shell_task(name, "echo bye")
    gone = console.client("admin").post(
        f"/console/tasks/{name}/delete", headers={**HTMX, "X-CSRF-Token": console.csrf("admin")}
    )
    assert gone.status_code == 200 and gone.text == ""
    trashed = with_client(lambda client: list_trash(client, None))
    assert name in [entry.name for entry in trashed]
    assert name not in console.client("admin").get("/console/tasks").text


def test_search_and_group_filter_answer_rows_for_htmx(console: Console) -> None:
    first, second = _task(console.project), _task(console.project)
    console.add_shell_task(first, "echo 1", group="alpha")
    console.add_shell_task(second, "echo 2", group="beta")
    viewer = console.client("viewer")
    partial = viewer.get(
        "/console/tasks", params={"q": first[-6:]}, headers={**HTMX, "HX-Target": "task-rows"}
    )
    assert "<html" not in partial.text and first in partial.text and second not in partial.text
    by_group = viewer.get("/console/tasks", params={"group": "beta"})
    assert (
        "<html" in by_group.text and second in by_group.text and f'data-task="{first}"' not in by_group.text
    )
    assert "No tasks match." in viewer.get("/console/tasks", params={"q": "no-such-task-anywhere"}).text


def test_run_now_opens_the_run_whose_log_streams_until_it_ends(console: Console, worker: str) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "echo line-one; sleep 1; echo line-two")
    operator = console.client("operator")
    started = operator.post(f"/console/tasks/{name}/run", data={"csrf": console.csrf("operator")})
    assert started.status_code == 200 and started.url.path.startswith("/console/runs/")
    run_id = started.url.path.rsplit("/", 1)[1]
    assert f'data-stream="/console/runs/{run_id}/logs/stream"' in started.text
    assert "/runs/flow-run/" + run_id in started.text  # the link to Prefect's UI

    with operator.stream("GET", f"/console/runs/{run_id}/logs/stream") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    events = [block for block in body.split("\n\n") if block.startswith("event:")]
    lines = [e for e in events if e.startswith("event: line")]
    assert any("line-one" in e for e in lines) and any("line-two" in e for e in lines)
    assert body.index("line-one") < body.index("line-two")
    assert events[-1].startswith("event: end\ndata: ")
    ended = json.loads(events[-1].split("data: ", 1)[1])
    assert ended["state"] == "Completed" and ended["start"] <= ended["end"] != "-"

    # The runs page lists it, newest first; filters by task and state.
    runs = operator.get("/console/runs", params={"task": name})
    assert run_id in runs.text
    assert run_id not in operator.get("/console/runs", params={"task": name, "state": "failed"}).text
    assert run_id in operator.get("/console/runs", params={"task": name, "state": "success"}).text
    detail = operator.get(f"/console/tasks/{name}")
    assert run_id in detail.text and "Completed" in detail.text
    # Another group's user does not see it.
    assert console.client("ops-operator").get(f"/console/runs/{run_id}").status_code == 404


def test_the_api_keeps_its_own_token_auth_beside_the_console(console: Console) -> None:
    browser = console.client("admin")  # signed in to the console: no use to the API
    assert browser.get("/api/scheduler/tasks").status_code == 401
    assert (
        browser.get(
            "/api/scheduler/tasks", headers={"Authorization": f"Bearer {console.tokens['viewer']}"}
        ).status_code
        == 200
    )
    assert browser.get("/health").status_code == 200
    assert browser.get("/docs").status_code == 200
    assert (
        browser.get("/openapi.json")
        .json()["paths"]
        .keys()
        .isdisjoint({"/", "/console/tasks", "/console/login"})
    )
    assert browser.get("/static/console/vendor/htmx/htmx.min.js").status_code == 200


def test_pages_speak_chinese_from_the_browser_or_the_switch(console: Console) -> None:
    browser = console.anonymous()
    assert "用户名" in browser.get("/console/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).text
    assert "User name" in browser.get("/console/login", headers={"Accept-Language": "en-US"}).text
    switched = browser.get("/console/lang/zh-CN", params={"next": "/console/login"}, follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/console/login"
    assert "用户名" in browser.get("/console/login", headers={"Accept-Language": "en-US"}).text
    # Never off to another site.
    away = browser.get("/console/lang/en", params={"next": "https://example.com/"}, follow_redirects=False)
    assert away.headers["location"] == "/console/tasks"
