"""The console's audit log over a real Prefect server: the console's own changes by `user:admin`
newest first with the definition before -> after; filters by task, actor and since; operators
and up (a viewer is refused, as by the API); a mistaken `since` explained."""

from __future__ import annotations

import re
import uuid

import pytest

from tasklane.console.audit import diff_rows, parse_since
from tasklane.console.pages import ConsoleError
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console

HTMX = {"HX-Request": "true"}


def test_the_audit_log_shows_the_consoles_changes_newest_first(console: Console) -> None:
    name = f"{console.project}-{uuid.uuid4().hex[:4]}"
    console.add_shell_task(name, "echo audited")
    admin = console.client("admin")
    headers = {**HTMX, "X-CSRF-Token": console.csrf("admin")}
    assert admin.post(f"/console/tasks/{name}/disable", headers=headers).status_code == 200
    assert admin.post(f"/console/tasks/{name}/delete", headers=headers).status_code == 200
    assert (
        admin.post(f"/console/trash/{name}/restore", data={"csrf": console.csrf("admin")}).status_code == 200
    )

    def actions() -> list[str] | None:
        page = admin.get("/console/audit", params={"task": name, "actor": "user:admin"})
        assert page.status_code == 200
        found = re.findall(r'data-action="(task\.[a-z]+)" data-actor="user:admin"', page.text)
        return found if len(found) >= 3 else None

    assert wait_for(actions, timeout=30) == ["task.restored", "task.deleted", "task.disabled"]
    page = admin.get("/console/audit", params={"task": name}).text
    assert f'data-task="{name}"' in page and "token:admin" in page  # created through the API
    # The disable's definition before -> after (an enabled task writes no `enabled`).
    disabled = re.search(r'data-action="task.disabled".*?</tr>', page, re.S).group(0)
    assert re.search(r'<li data-field="enabled">enabled: - → false</li>', disabled), disabled

    # Filters: another actor, a since after the changes.
    assert (
        f'data-task="{name}"' not in admin.get("/console/audit", params={"task": name, "actor": "os:*"}).text
    )
    later = admin.get("/console/audit", params={"task": name, "since": "2999-01-01"})
    assert 'id="audit-none"' in later.text
    # An operator reads it; a viewer is refused, as the API refuses its token.
    assert console.client("operator").get("/console/audit").status_code == 200
    assert console.client("viewer").get("/console/audit").status_code == 403
    assert 'id="nav-audit"' not in console.client("viewer").get("/console/tasks").text
    assert admin.get("/console/audit", params={"since": "last tuesday"}).status_code == 400


def test_since_and_diff_are_read_as_the_cli_reads_them() -> None:
    assert parse_since("") is None
    assert parse_since("2025-01-02").isoformat() == "2025-01-02T00:00:00+00:00"
    with pytest.raises(ConsoleError):
        parse_since("soon")
    assert diff_rows({"enabled": {"before": True, "after": False}}) == [("enabled", "true", "false")]
    assert diff_rows({"command": {"before": None, "after": "echo"}}) == [("command", "-", '"echo"')]
