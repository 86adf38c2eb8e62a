"""The audit trail from every path: the CLI's changes (apply, enable, disable, run, cancel, clone,
delete, detach, tokens) as `os:<user>` with their before -> after, `tasklane audit` filtering them,
and the API's `GET /api/scheduler/audit` reading the same events beside its own."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import textwrap
from pathlib import Path

from fastapi.testclient import TestClient

from tests.conftest import with_client
from tests.tasklane.api.conftest import Api, make_api, wait_for
from tests.tasklane.test_cli import TASKLANE

CATALOG = """
tasks:
  - name: {p}-a
    type: shell
    command: echo a
    priority: {priority}
  - name: {p}-c
    type: shell
    command: echo c
{extra}"""
EXTRA = """  - name: {p}-b
    type: shell
    command: echo b
"""


def cli(*args: str, project: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "TASKLANE_PROJECT": project, "COLUMNS": "200", **env}
    result = subprocess.run([TASKLANE, *args], env=environ, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def audit_rows(project: str, **filters) -> list[dict]:
    from tasklane.tasks.audit import read_audit

    return with_client(lambda client: read_audit(client, project, **filters))


def wait_for_events(project: str, count: int, **filters) -> list[dict]:
    """Prefect events reach the server's store asynchronously: poll until `count` are there."""

    def enough():
        rows = audit_rows(project, **filters)
        return rows if len(rows) >= count else None

    return wait_for(enough, timeout=60, interval=1)


def by_action(rows: list[dict], action: str, task: str) -> dict:
    return next(r for r in rows if r["action"] == action and r["task"] == task)


def test_cli_changes_are_audited_and_read_by_cli_and_api(
    tmp_path: Path, project: str, work_pool: str
) -> None:
    p, me = project, f"os:{getpass.getuser()}"
    catalog = tmp_path / "tasks.yaml"
    catalog.write_text(textwrap.dedent(CATALOG.format(p=p, priority="HIGH", extra=EXTRA.format(p=p))))
    cli("apply", str(catalog), project=p)  # + a, b, c
    catalog.write_text(textwrap.dedent(CATALOG.format(p=p, priority="LOW", extra="")))
    cli("apply", str(catalog), project=p)  # ~ a (priority), - b
    cli("disable", f"{p}-a", project=p)
    cli("enable", f"{p}-a", project=p)
    cli("run", f"{p}-a", project=p)
    cli("cancel", f"{p}-a", project=p)
    cli("clone", f"{p}-a", f"{p}-copy", project=p)
    cli("delete", f"{p}-copy", "--yes", project=p)
    cli("detach", f"{p}-c", project=p)
    home = {"TASKLANE_HOME": str(tmp_path)}  # the tokens file of this test
    assert (
        "shown only now" in cli("token", "create", f"{p}-bot", "--role", "viewer", project=p, **home).stdout
    )
    cli("token", "revoke", f"{p}-bot", project=p, **home)

    rows = wait_for_events(p, 14)
    assert len(rows) == 14 and {r["actor"] for r in rows} == {me}
    assert all(r["result"].startswith("ok") for r in rows), rows
    actions = sorted((r["action"], r["task"]) for r in rows)
    assert actions == sorted(
        [
            ("task.created", f"{p}-a"),
            ("task.created", f"{p}-b"),
            ("task.created", f"{p}-c"),
            ("task.updated", f"{p}-a"),
            ("task.deleted", f"{p}-b"),
            ("task.disabled", f"{p}-a"),
            ("task.enabled", f"{p}-a"),
            ("task.run", f"{p}-a"),
            ("task.cancelled", f"{p}-a"),
            ("task.cloned", f"{p}-copy"),
            ("task.deleted", f"{p}-copy"),
            ("task.detached", f"{p}-c"),
            ("token.created", None),
            ("token.revoked", None),
        ]
    )
    # Each change with the definition's before -> after.
    assert by_action(rows, "task.updated", f"{p}-a")["diff"] == {
        "priority": {"before": "HIGH", "after": "LOW"}
    }
    created = by_action(rows, "task.created", f"{p}-b")["diff"]
    assert created["command"] == {"before": None, "after": "echo b"} and created["name"]["after"] == f"{p}-b"
    deleted = by_action(rows, "task.deleted", f"{p}-b")["diff"]
    assert deleted["command"] == {"before": "echo b", "after": None}
    assert by_action(rows, "task.disabled", f"{p}-a")["diff"] == {"enabled": {"before": None, "after": False}}
    assert by_action(rows, "task.enabled", f"{p}-a")["diff"] == {"enabled": {"before": False, "after": None}}
    assert by_action(rows, "task.cloned", f"{p}-copy")["diff"]["name"] == {
        "before": None,
        "after": f"{p}-copy",
    }
    assert by_action(rows, "task.deleted", f"{p}-copy")["diff"]["command"]["before"] == "echo a"
    run = by_action(rows, "task.run", f"{p}-a")
    assert run["diff"] == {} and run["result"].startswith("ok; run ")
    detached = by_action(rows, "task.detached", f"{p}-c")
    assert detached["change"]["home"]["after"] == "api" and detached["change"]["home"]["before"].startswith(
        "file:"
    )
    token = next(r for r in rows if r["action"] == "token.created")
    assert token["resource"] == f"tasklane.token.{p}-bot" and token["change"] == {
        "role": "viewer",
        "groups": [],
    }
    assert "tl_" not in json.dumps(rows, default=str)  # never a token

    # `tasklane audit` filters by task and actor, and prints the diff.
    shown = cli("audit", "--task", f"{p}-a", "--actor", me, "--json", project=p)
    mine = json.loads(shown.stdout)
    assert {e["task"] for e in mine} == {f"{p}-a"} and {e["actor"] for e in mine} == {me}
    assert sorted(e["action"] for e in mine) == sorted(
        ["task.created", "task.updated", "task.disabled", "task.enabled", "task.run", "task.cancelled"]
    )
    text = cli("audit", "--task", f"{p}-a", "--since", "1h", project=p).stdout
    assert f"{me}  task.updated  {p}-a  ok" in text and "priority: 'HIGH' -> 'LOW'" in text
    assert "no audit events" in cli("audit", "--actor", "token:nobody", project=p).stdout
    assert len(json.loads(cli("audit", "--actor", "os:*", "--json", project=p).stdout)) == 14

    # The API reads the CLI's events, and its own ones carry `token:<name>` and their diff too.
    app, tokens = make_api(tmp_path / "api", p)
    with TestClient(app) as client:
        api = Api(client, tokens, p, tmp_path / "api")
        found = api.get("/api/scheduler/audit", params={"task": f"{p}-a", "actor": me}).json()
        assert found["total"] == 6 and {e["actor"] for e in found["events"]} == {me}
        updated = next(e for e in found["events"] if e["action"] == "task.updated")
        assert updated["diff"] == {"priority": {"before": "HIGH", "after": "LOW"}}
        assert api.put(f"/api/scheduler/tasks/{p}-c", json={"owner": "bob"}).status_code == 200

        def api_events():
            got = api.get("/api/scheduler/audit", params={"actor": "token:*"}).json()
            return got if got["total"] >= 1 else None

        (event,) = wait_for(api_events, timeout=60, interval=1)["events"]
        assert event["actor"] == "token:admin-token" and event["caller"] == "admin-token"
        assert event["action"] == "task.updated" and event["task"] == f"{p}-c"
        assert event["diff"] == {"owner": {"before": None, "after": "bob"}}
        everyone = api.get("/api/scheduler/audit", params={"limit": 100}).json()
        assert everyone["total"] == 15
        spec = api.client.get("/openapi.json").json()["paths"]["/api/scheduler/audit"]["get"]
        actor = next(q for q in spec["parameters"] if q["name"] == "actor")
        assert actor["in"] == "query" and not actor["required"]
        assert {"type": "string", "maxLength": 200} in actor["schema"]["anyOf"]
