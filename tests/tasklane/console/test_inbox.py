"""The alerts inbox over HTTP against a real server and worker: a failing task with `notify:`
fires; its alert reaches the inbox of the users who may see the task, with an unread count in
the header; mark read; each user's choice of rules; another group's user sees nothing."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from deployments.apply import Target
from tests.conftest import TEST_POOL, with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console
from tests.tasklane.history.test_alerts_fired import apply_notify_tasks, save_dead_webhook

HTMX = {"HX-Request": "true"}


def _count(console: Console, user: str) -> int:
    from tasklane.console import inbox

    inbox._counts.clear()  # the count is cached a few seconds: read it afresh
    badge = console.client(user).get("/console/inbox/count", headers=HTMX)
    assert badge.status_code == 200 and "<html" not in badge.text
    return int(re.search(r'data-count="(\d+)"', badge.text).group(1))


def test_a_fired_alert_reaches_the_inbox_of_who_may_see_the_task(
    console: Console, worker: str, tmp_path: Path
) -> None:
    from tasklane.console.inbox import INBOX_FILE
    from tasklane.tasks.lookup import run_task

    name = f"{console.project}-{uuid.uuid4().hex[:4]}"
    apply_notify_tasks(
        tmp_path / "catalog",
        Target(TEST_POOL, "UTC", console.project),
        save_dead_webhook(),
        [(name, "g", "exit 3")],
    )
    assert _count(console, "operator") == 0
    run = with_client(lambda client: run_task(client, name))
    wait_for(lambda: _count(console, "operator") == 1, timeout=120)

    operator = console.client("operator")
    page = operator.get("/console/inbox")
    assert page.status_code == 200 and 'id="nav-inbox"' in page.text
    row = re.search(rf'<tr data-alert="([^"]+)" data-task="{name}" data-read="false"', page.text)
    assert row and f'href="/console/runs/{run.id}"' in page.text and "failed" in page.text
    assert 'hx-get="/console/inbox/count"' in operator.get("/console/tasks").text  # the header's badge
    # The viewer sees it too (reads are their own); another group's operator does not.
    assert _count(console, "viewer") == 1
    assert _count(console, "ops-operator") == 0
    assert name not in console.client("ops-operator").get("/console/inbox").text

    # A forged mark (no CSRF token) changes nothing; a real one marks it read for this user only.
    assert operator.post("/console/inbox/read", data={"id": row.group(1)}).status_code == 403
    assert _count(console, "operator") == 1
    token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    marked = operator.post("/console/inbox/read", data={"csrf": token, "id": row.group(1)})
    assert marked.status_code == 200 and marked.url.path == "/console/inbox"
    assert f'data-task="{name}" data-read="true"' in marked.text
    assert _count(console, "operator") == 0 and _count(console, "viewer") == 1

    # The viewer chooses not to hear of failures: gone from their inbox and count; then all read.
    viewer = console.client("viewer")
    vtoken = console.csrf("viewer")
    chosen = viewer.post("/console/inbox/rules", data={"csrf": vtoken, "rule": ["recovered", "timed_out"]})
    assert chosen.status_code == 200 and name not in chosen.text
    assert _count(console, "viewer") == 0
    viewer.post("/console/inbox/rules", data={"csrf": vtoken, "rule": ["failed"]})
    assert _count(console, "viewer") == 1
    viewer.post("/console/inbox/read", data={"csrf": vtoken, "all": "1"})
    assert _count(console, "viewer") == 0

    store = console.home / INBOX_FILE
    assert store.stat().st_mode & 0o777 == 0o600
    zh = viewer.get("/console/inbox", cookies={"tasklane_lang": "zh-CN"})
    assert "告警通知" in zh.text
