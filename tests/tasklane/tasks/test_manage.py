"""Task management from the CLI: enable/disable, clone, export, delete, cancel, explain."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from deployments.catalog import load_catalog
from tests.tasklane.stack.test_processes import alive

TASKLANE = str(Path(sys.executable).with_name("tasklane"))

CATALOG = """
tasks:
  - name: {p}-a
    type: shell
    group: g1
    command: echo a
    priority: HIGH
    schedule: {{cron: "0 3 * * *", timezone: Europe/Berlin}}
    retry: {{max_retries: 2, retry_delay: 4, backoff_factor: 3}}
    timeout_seconds: 60
    tags: [nightly]
  - name: {p}-b
    type: http
    group: g1
    url: https://status.example.com/ping
    schedule: {{every: 1h30m}}
    max_concurrent: 2
  - name: {p}-long
    type: shell
    group: g2
    command: |
      sleep 300 & echo $! > {pidfile}
      sleep 300
"""


def tasklane(*args: str, project: str, pool: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TASKLANE_PROJECT": project}
    if pool:
        env["TASKLANE_POOL__NAME"] = pool
    return subprocess.run([TASKLANE, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def applied(tmp_path: Path, project: str, worker: str) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(CATALOG.format(p=project, pidfile=tmp_path / "job.pid")))
    result = tasklane("apply", str(path), project=project)
    assert result.returncode == 0, result.stderr
    return path


def test_enable_disable_clone_export_delete(applied: Path, project: str, tmp_path: Path) -> None:
    disabled = tasklane("disable", "--group", "g1", project=project)
    assert (
        disabled.returncode == 0 and f"{project}-a" in disabled.stdout and f"{project}-b" in disabled.stdout
    )
    listed = tasklane("list", project=project).stdout
    assert f"{project}-a (disabled)" in listed and f"{project}-long (disabled)" not in listed
    assert f"{project}-b" in tasklane("enable", f"{project}-b", project=project).stdout

    cloned = tasklane("clone", f"{project}-b", f"{project}-b2", project=project)
    assert cloned.returncode == 0, cloned.stderr
    shown = tasklane("show", f"{project}-b2", project=project).stdout
    assert "https://status.example.com/ping" in shown

    exported = tasklane("export", "--group", "g1", "-o", str(tmp_path / "out.yaml"), project=project)
    assert exported.returncode == 0, exported.stderr
    document = yaml.safe_load((tmp_path / "out.yaml").read_text())
    assert [t["name"] for t in document["tasks"]] == [f"{project}-a", f"{project}-b", f"{project}-b2"]
    original = load_catalog([applied]).by_name()
    again = load_catalog([tmp_path / "out.yaml"]).by_name()
    for name in (f"{project}-a", f"{project}-b"):
        mine, theirs = original[name], again[name]
        assert theirs.job == mine.job and theirs.priority == mine.priority and theirs.group == mine.group
        assert theirs.retry == mine.retry and theirs.timeout_seconds == mine.timeout_seconds
        assert theirs.tags == mine.tags and theirs.max_concurrent == mine.max_concurrent
    assert again[f"{project}-a"].enabled is False  # as the server holds it
    assert again[f"{project}-a"].schedule[0].model_dump(exclude_none=True) == {
        "cron": "0 3 * * *",
        "timezone": "Europe/Berlin",
    }

    refused = subprocess.run(
        [TASKLANE, "delete", "--group", "g1"],
        input="n\n",
        capture_output=True,
        text=True,
        env={**os.environ, "TASKLANE_PROJECT": project},
        timeout=60,
    )
    assert refused.returncode == 1
    deleted = tasklane("delete", "--group", "g1", "--yes", project=project)
    assert deleted.returncode == 0 and f"{project}-a" in deleted.stdout
    assert f"{project}-a" not in tasklane("list", project=project).stdout


def test_cancel_stops_a_running_shell_job_and_its_children(
    applied: Path, project: str, tmp_path: Path
) -> None:
    assert tasklane("run", f"{project}-long", project=project).returncode == 0
    pidfile = tmp_path / "job.pid"
    deadline = time.monotonic() + 90
    while not pidfile.exists():
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.3)
    child = int(pidfile.read_text())
    assert alive(child)
    cancelled = tasklane("cancel", f"{project}-long", project=project)
    assert cancelled.returncode == 0 and "cancelling 1 run" in cancelled.stdout
    deadline = time.monotonic() + 60
    while alive(child):
        assert time.monotonic() < deadline, "the job's child survived the cancel"
        time.sleep(0.3)
    shown = ""
    while "Cancelled" not in shown:
        assert time.monotonic() < deadline + 30, shown
        shown = tasklane("show", f"{project}-long", project=project).stdout
        time.sleep(1)


def test_explain_names_the_missing_worker(applied: Path, project: str, tmp_path: Path) -> None:
    # A pool nobody polls: the run waits, and explain says why.
    taken = tasklane("apply", str(applied), project=project + "-idle", pool="tasklane-idle")
    assert taken.returncode == 2 and f"already used on the server by project '{project}'" in taken.stderr
    idle_catalog = tmp_path / "idle.yaml"
    idle_catalog.write_text(f"tasks:\n  - {{name: {project}-idle, type: shell, command: 'true'}}\n")
    idle = tasklane("apply", str(idle_catalog), project=project + "-idle", pool="tasklane-idle")
    assert idle.returncode == 0, idle.stderr
    name = f"{project}-idle"
    tasklane("run", name, project=project + "-idle", pool="tasklane-idle")
    explained = tasklane("explain", name, project=project + "-idle", pool="tasklane-idle")
    assert explained.returncode == 0
    assert "no worker is polling pool 'tasklane-idle'" in explained.stdout
    nothing = tasklane("explain", f"{project}-b", project=project)
    assert "has no run waiting" in nothing.stdout


NOTIFY_CATALOG = """
tasks:
  - name: {p}-own
    type: shell
    command: "true"
    notify: {{on: [succeeded, {{consecutive_failures: 3}}], to: [webhook], throttle: 10m}}
  - name: {p}-quiet
    type: shell
    command: "true"
    notify: off
  - name: {p}-usual
    type: shell
    command: "true"
"""


class NotifyProject:
    """A project whose alert settings name a saved webhook block and default to `on: [failed]`."""

    def __init__(self, project: str, pool: str, tmp_path: Path) -> None:
        from prefect.blocks.notifications import CustomWebhookNotificationBlock

        from deployments.apply import Target
        from tasklane.settings.alerts import AlertSettings, NotifySpec

        block = f"tl-notify-{project}"
        CustomWebhookNotificationBlock(
            name="tasklane", url="http://127.0.0.1:9/hook", allow_private_urls=True
        ).save(block, overwrite=True)
        self.settings = AlertSettings(
            blocks={"webhook": f"custom-webhook/{block}"},
            default_notify=NotifySpec(on=["failed"], to=["webhook"]),
        )
        self.target = Target(pool, "UTC", project, alerts=self.settings)
        self.tmp_path = tmp_path

    def write(self, text: str, name: str = "tasks.yaml") -> Path:
        path = self.tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    def call(self, operation, *args):
        from prefect.client.orchestration import get_client

        from tests.conftest import run

        async def go():
            async with get_client() as client:
                return await operation(client, *args)

        return run(go())

    def apply(self, path: Path):
        from deployments.apply import apply

        return self.call(apply, load_catalog([path], alerts=self.settings), self.target)

    def export(self) -> dict[str, dict]:
        from tasklane.tasks.manage import export_tasks

        return {t["name"]: t for t in self.call(export_tasks, self.target)["tasks"]}

    def deployments(self):
        from deployments.apply import read_task_deployments

        return self.call(read_task_deployments, self.target)


def test_notify_as_written_survives_export_and_reapply(tmp_path: Path, project: str, work_pool: str) -> None:
    """`notify:` is kept on the deployment (a label), so an export gives it back as written: a task's
    own spec, `notify: off`, and no `notify:` for a task that follows the settings' default."""
    from deployments.tags import NOTIFY_LABEL
    from tasklane.tasks.save import task_mapping

    server = NotifyProject(project, work_pool, tmp_path)
    own, quiet, usual = (f"{project}-{n}" for n in ("own", "quiet", "usual"))
    path = server.write(NOTIFY_CATALOG.format(p=project))
    assert [c.action for c in server.apply(path).changes] == ["create"] * 3
    written = {n: t.to_mapping() for n, t in load_catalog([path], alerts=server.settings).by_name().items()}

    exported = server.export()
    assert exported[own]["notify"] == written[own]["notify"]
    assert exported[own]["notify"]["on"] == ["succeeded", {"consecutive_failures": 3}]
    assert exported[own]["notify"]["throttle"] == "10m"
    assert "notify" in exported[quiet] and exported[quiet]["notify"] is None  # `notify: off` kept
    assert "notify" not in exported[usual]  # follows the default: an export does not pin it
    deployments = server.deployments()
    assert NOTIFY_LABEL not in deployments[usual].labels
    assert task_mapping(deployments[own])["notify"] == written[own]["notify"]  # what an API edit merges into

    # The export is the same catalog: written over the file that owns the tasks and applied, nothing
    # changes, alert automations included (another file would be a second home for the same names).
    again = server.write(yaml.safe_dump({"tasks": list(exported.values())}, sort_keys=False))
    reloaded = load_catalog([again], alerts=server.settings).by_name()
    assert {n: t.to_mapping().get("notify", "-") for n, t in reloaded.items()} == {
        n: m.get("notify", "-") for n, m in written.items()
    }
    assert reloaded[quiet].notify is None and reloaded[usual].notify == server.settings.default_notify
    assert [c.action for c in server.apply(again).changes] == ["unchanged"] * 3

    # An upsert replaces the label: a changed spec is a changed definition, a dropped one goes.
    changed = NOTIFY_CATALOG.replace("throttle: 10m", "throttle: 1h").replace("    notify: off\n", "")
    result = server.apply(server.write(changed.format(p=project)))
    assert {c.task: c.detail.split(", ")[0] for c in result.pending} == {
        own: "definition changed",
        quiet: "definition changed",
    }
    exported = server.export()
    assert exported[own]["notify"]["throttle"] == "1h" and "notify" not in exported[quiet]
    assert NOTIFY_LABEL not in server.deployments()[quiet].labels


def test_a_clone_keeps_notify_as_written(tmp_path: Path, project: str, work_pool: str) -> None:
    from tasklane.tasks.manage import clone_task

    server = NotifyProject(project, work_pool, tmp_path)
    server.apply(server.write(NOTIFY_CATALOG.format(p=project)))
    for name in ("own", "quiet"):
        server.call(clone_task, f"{project}-{name}", f"{project}-{name}-2", server.target)
    exported = server.export()
    assert exported[f"{project}-own-2"]["notify"] == exported[f"{project}-own"]["notify"]
    assert "notify" in exported[f"{project}-quiet-2"] and exported[f"{project}-quiet-2"]["notify"] is None
