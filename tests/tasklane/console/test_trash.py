"""The console's trash over a real Prefect server: a task deleted on the tasks page is listed
with when it was deleted; an admin's Restore brings back the same task (its deployment id),
audited as `user:admin`; a viewer sees no Restore, and a forged one is 403."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console

HTMX = {"HX-Request": "true"}


def _deployment_id(name: str):
    from tasklane.tasks.lookup import find_task

    return with_client(lambda client: find_task(client, name)).id


def _delete(console: Console, name: str) -> None:
    gone = console.client("admin").post(
        f"/console/tasks/{name}/delete", headers={**HTMX, "X-CSRF-Token": console.csrf("admin")}
    )
    assert gone.status_code == 200 and gone.text == ""


def test_delete_then_restore_from_the_trash_page_is_the_same_task(console: Console) -> None:
    name = f"{console.project}-{uuid.uuid4().hex[:4]}"
    console.add_shell_task(name, "echo back")
    before = _deployment_id(name)
    _delete(console, name)

    admin = console.client("admin")
    trash = admin.get("/console/trash")
    assert trash.status_code == 200
    row = re.search(rf'<tr data-trashed="{name}" data-deployment="{before}">(.*?)</tr>', trash.text, re.S)
    assert row, trash.text
    assert re.search(r"<td>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \w+</td>", row.group(1))  # deleted at
    assert 'data-action="restore"' in row.group(1)
    assert f'data-task="{name}"' not in admin.get("/console/tasks").text

    restored = admin.post(f"/console/trash/{name}/restore", data={"csrf": console.csrf("admin")})
    assert restored.status_code == 200 and restored.url.path == "/console/trash"
    assert 'id="trash-restored"' in restored.text and name in restored.text
    assert f'data-trashed="{name}"' not in restored.text
    assert _deployment_id(name) == before
    assert f'data-task="{name}"' in admin.get("/console/tasks").text

    from tasklane.tasks.audit import read_audit

    def audited() -> list[dict] | None:
        events = with_client(
            lambda client: read_audit(client, console.project, task=name, actor="user:admin")
        )
        return events if len(events) >= 2 else None

    events = wait_for(audited, timeout=30)
    assert [e["action"] for e in events] == ["task.restored", "task.deleted"]
    assert all(e["result"].startswith("ok") for e in events)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_restores_and_a_forged_restore_is_403(console: Console, role: str) -> None:
    name = f"{console.project}-{uuid.uuid4().hex[:4]}"
    console.add_shell_task(name, "echo stays")
    _delete(console, name)
    client = console.client(role)
    page = client.get("/console/trash")
    assert page.status_code == 200 and f'data-trashed="{name}"' in page.text
    assert 'data-action="restore"' not in page.text
    forged = client.post(f"/console/trash/{name}/restore", data={"csrf": console.csrf(role)})
    assert forged.status_code == 403
    no_token = console.client("admin").post(f"/console/trash/{name}/restore", data={})
    assert no_token.status_code == 403
    assert f'data-trashed="{name}"' in console.client("admin").get("/console/trash").text


def test_another_groups_trash_is_not_shown_nor_restored(console: Console) -> None:
    name = f"{console.project}-{uuid.uuid4().hex[:4]}"
    console.add_shell_task(name, "echo g", group="g")
    _delete(console, name)
    ops = console.client("ops-operator")
    assert f'data-trashed="{name}"' not in ops.get("/console/trash").text
    missing = console.client("admin").post(
        "/console/trash/no-such-task/restore", data={"csrf": console.csrf("admin")}
    )
    assert missing.status_code == 404 and "no-such-task" in missing.text
