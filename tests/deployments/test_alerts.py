"""Alerts: the notify spec, the automations it compiles to, and each rule firing on a real server.

Notifications go to a local webhook receiver (Prefect's CustomWebhookNotificationBlock, and
MattermostWebhook, whose apprise client posts to /hooks/<token>) and, for e-mail, to a local
aiosmtpd server. Runs are finished through the client (see test_history.make_runs), which emits
the same prefect.flow-run.* events a worker's run does. The last tests apply catalogs with
`notify:` and check the automations `apply` creates, updates and removes.
"""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from deployments.automations.alerts import alert_automations
from tasklane.settings.alerts import AlertConfigError, AlertRule, AlertSettings, NotifySpec, parse_duration
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.webhook import WebhookReceiver
from tests.conftest import make_pool, run

# --- the spec (no server) -----------------------------------------------------------------------


def test_notify_spec_parses_the_catalog_shape() -> None:
    spec = NotifySpec.model_validate(
        {
            "on": ["failed", "timed_out", "crashed", {"consecutive_failures": 3}, "succeeded", "recovered"],
            "to": ["mattermost", "webhook", "email"],
            "throttle": "30m",
        }
    )
    assert [r.label for r in spec.on] == [
        "failed",
        "timed_out",
        "crashed",
        "consecutive_failures_3",
        "succeeded",
        "recovered",
    ]
    assert spec.throttle == timedelta(minutes=30) and spec.window == timedelta(days=1)
    assert parse_duration("2h") == timedelta(hours=2) and parse_duration(45) == timedelta(seconds=45)
    with pytest.raises(ValidationError):
        NotifySpec.model_validate({"on": ["exploded"], "to": ["webhook"]})
    with pytest.raises(ValidationError):
        NotifySpec.model_validate({"on": [{"consecutive_failures": 1}], "to": ["webhook"]})
    with pytest.raises(ValidationError):
        NotifySpec.model_validate({"on": ["failed"], "to": ["webhook"], "throttle": "soon"})


def test_alert_automations_one_per_rule_with_an_action_per_destination() -> None:
    deployment_id = uuid.uuid4()
    blocks = {"webhook": uuid.uuid4(), "mattermost": uuid.uuid4()}
    spec = NotifySpec(on=["failed", {"consecutive_failures": 3}, "recovered"], to=["webhook", "mattermost"])
    automations = alert_automations("backup", deployment_id, spec, blocks)
    assert [a.tags[0].split(":")[:2] for a in automations] == [
        ["tasklane-alert", "failed"],
        ["tasklane-alert", "consecutive_failures_3"],
        ["tasklane-alert", "recovered"],
    ]
    # What Prefect's UI shows reads as sentences.
    assert [a.name for a in automations] == [
        "alert on backup failure",
        "alert on 3 backup failures within 1d",
        "alert on backup recovery",
    ]
    assert automations[0].description.startswith(
        "Sends webhook and mattermost an alert when a run of backup fails; at most one per 30m."
    )
    assert "tasklane-" not in " ".join(a.name + a.description for a in automations)
    failed, streak, recovered = automations
    assert failed.trigger.expect == {"prefect.flow-run.Failed"} and failed.trigger.within == timedelta(
        minutes=30
    )
    assert failed.trigger.match_related.root == {"prefect.resource.id": f"prefect.deployment.{deployment_id}"}
    assert streak.trigger.threshold == 3 and "prefect.flow-run.TimedOut" in streak.trigger.expect
    assert recovered.trigger.type == "sequence"
    assert [a.block_document_id for a in failed.actions] == [blocks["webhook"], blocks["mattermost"]]
    assert all(a.owner_resource == f"prefect.deployment.{deployment_id}" for a in automations)
    # Same input, same marks (sync_automations leaves them alone); another throttle, other marks.
    again = alert_automations("backup", deployment_id, spec, blocks)
    assert [a.tags for a in again] == [a.tags for a in automations]
    slower = alert_automations(
        "backup", deployment_id, spec.model_copy(update={"throttle": timedelta(hours=1)}), blocks
    )
    assert slower[0].tags != automations[0].tags
    with pytest.raises(AlertConfigError, match="'email'"):
        alert_automations("backup", deployment_id, NotifySpec(on=["failed"], to=["email"]), blocks)
    assert AlertRule.model_validate("timed-out").kind == "timed_out"


# --- on the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver(prefect_server: str) -> Iterator[tuple[WebhookReceiver, str]]:
    fake = WebhookReceiver()
    with serve(fake.app) as url:
        yield fake, url


class Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.content)
        return "250 OK"

    def wait_for(self, text: str, timeout: float = 15) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [m.decode() for m in self.messages if text in m.decode()]
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"no e-mail with {text!r} within {timeout} s")


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    """A local SMTP server (aiosmtpd): its inbox and port."""
    from aiosmtpd.controller import Controller

    from tasklane.stack.peers._server import free_port

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def email_block(port: int):
    from prefect_email import EmailServerCredentials

    from blocks import EmailNotification

    return EmailNotification(
        credentials=EmailServerCredentials(smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=port),
        email_from="scheduler@example.com",
        email_to=["ops@example.com", "oncall@example.com"],
    )


@pytest.fixture(scope="module")
def alert_blocks(receiver, smtp) -> tuple[AlertSettings, dict[str, UUID]]:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, MattermostWebhook

    from deployments.automations.alerts import resolve_alert_blocks

    _, url = receiver
    port = int(url.rsplit(":", 1)[1])
    suffix = uuid.uuid4().hex[:6]
    CustomWebhookNotificationBlock(
        name="tasklane-alerts",
        url=f"{url}/custom",
        json_data={"subject": "{{subject}}", "body": "{{body}}", "source": "{{name}}"},
        allow_private_urls=True,
    ).save(f"tl-webhook-{suffix}", overwrite=True)
    MattermostWebhook(hostname="127.0.0.1", port=port, token="mmhooktoken", secure=False).save(
        f"tl-mm-{suffix}", overwrite=True
    )
    email_block(smtp[1]).save(f"tl-email-{suffix}", overwrite=True)
    settings = AlertSettings(
        blocks={
            "webhook": f"custom-webhook/tl-webhook-{suffix}",
            "mattermost": f"mattermost-webhook/tl-mm-{suffix}",
            "email": f"tasklane-email/tl-email-{suffix}",
        }
    )

    async def resolve():
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            with pytest.raises(AlertConfigError, match="nowhere"):
                await resolve_alert_blocks(client, ["nowhere"], settings)
            return await resolve_alert_blocks(client, ["webhook", "mattermost", "email"], settings)

    return settings, run(resolve())


def install(spec: NotifySpec, blocks: dict[str, UUID]) -> tuple[UUID, str]:
    """A deployment of its own with the spec's automations; returns (deployment id, task name)."""
    from prefect.client.orchestration import get_client

    from tests.tasklane.history.test_runs import make_deployment

    name = f"alert-{uuid.uuid4().hex[:8]}"

    async def go():
        async with get_client() as client:
            deployment_id = await make_deployment(client, name, ["tasklane"])
            for automation in alert_automations(name, deployment_id, spec, blocks):
                await client.create_automation(automation)
            return deployment_id

    deployment_id = run(go())
    time.sleep(1.0)  # the triggers service picks new automations up from the database
    return deployment_id, name


def finish(deployment_id: UUID, states: list[str]) -> list[UUID]:
    from prefect.client.orchestration import get_client

    from tests.tasklane.history.test_runs import make_runs

    async def go():
        async with get_client() as client:
            return await make_runs(client, deployment_id, states)

    return run(go())


def sent(receiver: WebhookReceiver, task: str, path: str = "/custom") -> list[str]:
    return [r.json["subject"] for r in receiver.on(path) if task in (r.json or {}).get("subject", "")]


def settle(receiver: WebhookReceiver, task: str, expected: int, path: str = "/custom") -> list[str]:
    receiver.wait_for(lambda: len(sent(receiver, task, path)) >= expected, timeout=15)
    time.sleep(1.5)  # and nothing more arrives
    return sent(receiver, task, path)


def test_throttle_holds_under_20_failures_in_a_minute(receiver, alert_blocks) -> None:
    fake, _ = receiver
    _, blocks = alert_blocks
    deployment_id, task = install(
        NotifySpec(on=["failed"], to=["webhook", "mattermost"], throttle="30m"), blocks
    )
    started = time.monotonic()
    finish(deployment_id, ["Failed"] * 20)
    assert time.monotonic() - started < 60
    assert settle(fake, task, 1) == [f"[tasklane] {task}: failed"]
    mattermost = [r for r in fake.on("/hooks/mmhooktoken") if task in r.text]
    assert len(mattermost) == 1 and "boom" in mattermost[0].text


def test_without_throttle_every_failure_alerts_and_each_rule_fires_on_its_condition(
    receiver, alert_blocks
) -> None:
    fake, _ = receiver
    _, blocks = alert_blocks
    spec = NotifySpec(on=["failed", "timed_out", "crashed", "succeeded"], to=["webhook"], throttle=0)
    deployment_id, task = install(spec, blocks)
    finish(deployment_id, ["Failed", "Failed", "TimedOut", "Crashed", "Completed", "Cancelled"])
    subjects = settle(fake, task, 5)
    assert sorted(subjects) == sorted(
        [f"[tasklane] {task}: {what}" for what in ("failed", "failed", "timed out", "crashed", "succeeded")]
    )
    body = next(
        r.json["body"]
        for r in fake.on("/custom")
        if "timed out" in r.json["subject"] and task in r.json["subject"]
    )
    assert "TimedOut" in body and "the job timed out" in body and "/runs/flow-run/" in body


def test_consecutive_failures_and_recovered(receiver, alert_blocks) -> None:
    fake, _ = receiver
    _, blocks = alert_blocks
    spec = NotifySpec(on=[{"consecutive_failures": 3}, "recovered"], to=["webhook"], throttle=0)
    deployment_id, task = install(spec, blocks)
    finish(deployment_id, ["Completed", "Failed", "TimedOut"])
    time.sleep(2.0)
    assert sent(fake, task) == []  # two failures; a success before them recovers nothing
    finish(deployment_id, ["Crashed"])
    assert settle(fake, task, 1) == [f"[tasklane] {task}: failed 3 times"]
    finish(deployment_id, ["Completed"])
    assert settle(fake, task, 2)[1:] == [f"[tasklane] {task}: recovered"]
    finish(deployment_id, ["Completed"])
    time.sleep(2.0)
    assert len(sent(fake, task)) == 2  # a success after a success is no recovery


def test_no_failure_alert_while_a_task_retry_is_pending(receiver, alert_blocks) -> None:
    """Task retries happen inside the flow run: one Failed event, after the last attempt."""
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.flow_engine import run_flow

    fake, _ = receiver
    _, blocks = alert_blocks
    deployment_id, name = install(NotifySpec(on=["failed"], to=["webhook"], throttle=0), blocks)
    attempts: list[float] = []

    @task(retries=2, retry_delay_seconds=0.5)
    def flaky() -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 2:
            assert sent(fake, name) == [], "an alert was sent while a retry was pending"
        raise RuntimeError("still broken")

    @flow(name="tl-history-test")
    def job() -> None:
        flaky()

    async def create():
        async with get_client() as client:
            return await client.create_flow_run_from_deployment(deployment_id)

    flow_run = run(create())
    state = run_flow(job, flow_run=flow_run, return_type="state")
    assert state.is_failed() and len(attempts) == 3
    assert settle(fake, name, 1) == [f"[tasklane] {name}: failed"]


def test_email_notification_block_sends_over_smtp(smtp) -> None:
    from blocks import EmailNotification
    from deployments.automations import alerts

    assert alerts.EmailNotification is EmailNotification  # automations/alerts.py takes it from blocks/
    inbox, port = smtp
    block = email_block(port)
    with block.raise_on_failure():
        run(block.notify("Task backup failed: disk full", "[tasklane] backup: failed"))
    (text,) = inbox.wait_for("disk full")
    assert "Subject: [tasklane] backup: failed" in text
    assert "To: ops@example.com, oncall@example.com" in text


# --- `notify:` in the catalog, applied --------------------------------------------------------

ALERT_POOL = "tasklane-alerts-test"  # no worker polls it: the tests finish runs themselves


@pytest.fixture(scope="module")
def alert_pool(prefect_server: str) -> str:
    return make_pool(ALERT_POOL, 1)


def apply_text(tmp_path: Path, text: str, target, *, dry_run: bool = False):
    """Apply (or plan) a catalog written from `text`, with the target's alert settings."""
    from prefect.client.orchestration import get_client

    from deployments.apply import apply, plan
    from deployments.catalog import load_catalog

    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(text))
    catalog = load_catalog([path], alerts=target.alerts)

    async def go():
        async with get_client() as client:
            return await (plan if dry_run else apply)(client, catalog, target)

    return run(go())


def owned(deployment_id: UUID) -> dict[str, Any]:
    """The deployment's Tasklane automations, by kind and rule ("tasklane-alert:failed",
    "tasklane-crash-retries")."""
    from prefect.client.orchestration import get_client

    from deployments.automations.sync import automation_slot, owned_automations

    async def go():
        async with get_client() as client:
            return await owned_automations(client, deployment_id)

    found = {}
    for automation in run(go()):
        key = automation_slot(automation)
        assert key not in found, f"two automations for {key}"
        found[key] = automation
    return found


def deployment_ids(target) -> dict[str, UUID]:
    from prefect.client.orchestration import get_client

    from deployments.apply import read_task_deployments

    async def go():
        async with get_client() as client:
            return await read_task_deployments(client, target)

    return {name: d.id for name, d in run(go()).items()}


NOTIFY_CATALOG = """
tasks:
  - name: {p}-backup
    type: shell
    command: "false"
    retry: {{max_retries: 1}}
    notify: {{on: [failed, {{consecutive_failures: 3}}], to: [webhook], throttle: 10m}}
  - name: {p}-report
    type: shell
    command: "true"
    notify: {{on: [succeeded], to: [mattermost, email]}}
"""


def test_apply_creates_updates_and_removes_alert_automations(
    tmp_path: Path, project: str, alert_pool: str, alert_blocks
) -> None:
    from deployments.apply import Target

    settings, blocks = alert_blocks
    target = Target(alert_pool, "UTC", project, alerts=settings)
    backup, report = f"{project}-backup", f"{project}-report"

    first = apply_text(tmp_path, NOTIFY_CATALOG.format(p=project), target)
    assert [c.action for c in first.changes] == ["create", "create"]
    ids = deployment_ids(target)
    mine = owned(ids[backup])
    assert set(mine) == {
        "tasklane-crash-retries",
        "tasklane-alert:failed",
        "tasklane-alert:consecutive_failures_3",
    }
    failed = mine["tasklane-alert:failed"]
    # Prefect's UI shows names and descriptions that read as sentences.
    assert failed.name == f"alert on {backup} failure"
    assert failed.description.startswith(f"Sends webhook an alert when a run of {backup} fails")
    assert mine["tasklane-crash-retries"].name == f"retry {backup} after a crash"
    assert not any(a.name.startswith("tasklane") or "tasklane-" in a.description for a in mine.values())
    assert failed.trigger.within == timedelta(minutes=10)
    assert [a.block_document_id for a in failed.actions] == [blocks["webhook"]]
    assert set(owned(ids[report])) == {"tasklane-alert:succeeded"}
    assert {a.block_document_id for a in owned(ids[report])["tasklane-alert:succeeded"].actions} == {
        blocks["mattermost"],
        blocks["email"],
    }

    # Unchanged: nothing changes, not even an automation's id.
    again = apply_text(tmp_path, NOTIFY_CATALOG.format(p=project), target)
    assert [c.action for c in again.changes] == ["unchanged", "unchanged"]
    assert {k: a.id for k, a in owned(ids[backup]).items()} == {k: a.id for k, a in mine.items()}

    # Another throttle and a new rule for backup; report's notify removed (the default is none).
    changed = (
        NOTIFY_CATALOG.replace("throttle: 10m", "throttle: 1h")
        .replace("{{consecutive_failures: 3}}]", "{{consecutive_failures: 3}}, recovered]")
        .replace("    notify: {{on: [succeeded], to: [mattermost, email]}}\n", "")
    )
    planned = apply_text(tmp_path, changed.format(p=project), target, dry_run=True)
    assert {c.task: (c.action, c.detail) for c in planned.changes} == {
        backup: ("update", "definition changed, alerts changed"),
        report: ("update", "definition changed, alerts changed"),
    }
    assert set(owned(ids[report])) == {"tasklane-alert:succeeded"}  # a plan changes nothing
    applied = apply_text(tmp_path, changed.format(p=project), target)
    both = "definition changed, alerts changed"
    assert {c.task: c.detail for c in applied.pending} == {backup: both, report: both}
    after = owned(ids[backup])
    assert set(after) == {
        "tasklane-crash-retries",
        "tasklane-alert:failed",
        "tasklane-alert:consecutive_failures_3",
        "tasklane-alert:recovered",
    }
    assert after["tasklane-alert:failed"].id == failed.id  # updated in place
    assert after["tasklane-alert:failed"].trigger.within == timedelta(hours=1)
    assert after["tasklane-crash-retries"].id == mine["tasklane-crash-retries"].id
    assert owned(ids[report]) == {}
    assert [c.action for c in apply_text(tmp_path, changed.format(p=project), target).changes] == [
        "unchanged",
        "unchanged",
    ]

    # The task leaves the catalog: its deployment and every automation of it go.
    final = apply_text(tmp_path, f"tasks:\n  - {{name: {report}, type: shell, command: 'true'}}\n", target)
    assert {c.task: c.action for c in final.changes} == {report: "unchanged", backup: "delete"}
    assert owned(ids[backup]) == {}


LEGACY_CATALOG = """
tasks:
  - name: {p}-up
    type: shell
    command: "true"
  - name: {p}-down
    type: shell
    command: "true"
    depends_on: [{p}-up]
    retry: {{max_retries: 2}}
    notify: {{on: [failed], to: [webhook]}}
"""


def test_automations_made_before_the_tags_are_found_and_updated_in_place(
    tmp_path: Path, project: str, alert_pool: str, alert_blocks
) -> None:
    """Automations applied by an earlier Tasklane carry their marks in the description
    (`tasklane-owned-by:<id> tasklane-alert failed <hash>`) and no tags, under names such as
    `tasklane: retry X after a crash`: the next apply finds them and rewrites them, same ids."""
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    from deployments.apply import Target

    settings, _ = alert_blocks
    target = Target(alert_pool, "UTC", project, alerts=settings)
    down = f"{project}-down"
    apply_text(tmp_path, LEGACY_CATALOG.format(p=project), target)
    deployment_id = deployment_ids(target)[down]
    current = owned(deployment_id)
    assert set(current) == {"tasklane-dependencies", "tasklane-crash-retries", "tasklane-alert:failed"}

    def legacy_description(automation: Any) -> str:
        (mark,) = [t for t in automation.tags if not t.startswith("tasklane-owned-by:")]
        if mark.startswith("tasklane-alert:"):
            mark = "tasklane-alert " + " ".join(mark.split(":")[1:])
        return f"tasklane-owned-by:{deployment_id} {mark}"

    async def make_legacy():
        async with get_client() as client:
            for automation in current.values():
                old = automation.model_dump(exclude={"id", "owner_resource"})
                old |= {"name": f"tasklane: {automation.name}", "tags": []}
                old["description"] = legacy_description(automation)
                await client.update_automation(automation.id, AutomationCore.model_validate(old))

    run(make_legacy())
    legacy = owned(deployment_id)
    assert {k: a.id for k, a in legacy.items()} == {k: a.id for k, a in current.items()}
    assert all(a.tags == [] and a.name.startswith("tasklane: ") for a in legacy.values())

    planned = apply_text(tmp_path, LEGACY_CATALOG.format(p=project), target, dry_run=True)
    assert {c.task: c.detail for c in planned.pending} == {
        down: "alerts changed, crash retries changed, dependencies changed"
    }
    apply_text(tmp_path, LEGACY_CATALOG.format(p=project), target)
    after = owned(deployment_id)
    assert {k: a.id for k, a in after.items()} == {k: a.id for k, a in current.items()}  # no duplicates
    assert {k: (a.name, a.description, sorted(a.tags)) for k, a in after.items()} == {
        k: (a.name, a.description, sorted(a.tags)) for k, a in current.items()
    }
    assert after["tasklane-dependencies"].name == f"run {down} when {project}-up completes"
    again = apply_text(tmp_path, LEGACY_CATALOG.format(p=project), target)
    assert [c.action for c in again.changes] == ["unchanged", "unchanged"]


def test_an_applied_notify_alerts_by_webhook_and_email(
    tmp_path: Path, project: str, alert_pool: str, alert_blocks, receiver, smtp
) -> None:
    """End to end: catalog -> apply -> a failed run -> the server's automation sends both alerts."""
    from deployments.apply import Target

    fake, _ = receiver
    inbox, _ = smtp
    settings, _ = alert_blocks
    target = Target(alert_pool, "UTC", project, alerts=settings)
    task = f"{project}-nightly"
    text = f"""
    tasks:
      - name: {task}
        type: shell
        command: "false"
        notify: {{on: [failed], to: [webhook, email], throttle: 0}}
    """
    apply_text(tmp_path, text, target)
    time.sleep(1.0)  # the triggers service picks new automations up from the database
    finish(deployment_ids(target)[task], ["Completed", "Failed"])
    assert settle(fake, task, 1) == [f"[tasklane] {task}: failed"]
    (mail,) = inbox.wait_for(f"{task}: failed")
    assert "boom" in mail and "To: ops@example.com, oncall@example.com" in mail


def test_a_notify_block_missing_on_the_server_applies_nothing(
    tmp_path: Path, project: str, alert_pool: str, alert_blocks
) -> None:
    from deployments.apply import Target
    from deployments.errors import CatalogError

    settings, _ = alert_blocks
    settings = settings.model_copy(update={"blocks": {**settings.blocks, "pager": "custom-webhook/nowhere"}})
    target = Target(alert_pool, "UTC", project, alerts=settings)
    text = f"""
    tasks:
      - {{name: {project}-ok, type: shell, command: "true"}}
      - {{name: {project}-paged, type: shell, command: "true", notify: {{to: [webhook, pager]}}}}
    """
    with pytest.raises(CatalogError) as caught:
        apply_text(tmp_path, text, target)
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"catalog: task '{project}-paged': field 'notify.to.1': 'pager': ")
    assert "no block 'custom-webhook/nowhere' is saved on the server" in str(problem)
    assert "nothing was applied" in str(caught.value)
    assert deployment_ids(target) == {}
