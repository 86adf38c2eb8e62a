"""Alerts: the notify spec, the automations it compiles to, and each rule firing on a real server.

Notifications go to a local webhook receiver (Prefect's CustomWebhookNotificationBlock, and
MattermostWebhook, whose apprise client posts to /hooks/<token>) and, for e-mail, to a local
aiosmtpd server. Runs are finished through the client (see test_history.make_runs), which emits
the same prefect.flow-run.* events a worker's run does.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from uuid import UUID

import pytest
from pydantic import ValidationError

from deployments.alerts import (
    AlertConfigError,
    AlertRule,
    AlertSettings,
    NotifySpec,
    alert_automations,
    parse_duration,
)
from tests.conftest import run
from tests.fakes._server import serve
from tests.fakes.webhook import WebhookReceiver

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
    assert [a.description.split()[1] for a in automations] == [
        "failed",
        "consecutive_failures_3",
        "recovered",
    ]
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
    assert [a.description for a in again] == [a.description for a in automations]
    slower = alert_automations(
        "backup", deployment_id, spec.model_copy(update={"throttle": timedelta(hours=1)}), blocks
    )
    assert slower[0].description != automations[0].description
    with pytest.raises(AlertConfigError, match="'email'"):
        alert_automations("backup", deployment_id, NotifySpec(on=["failed"], to=["email"]), blocks)
    assert AlertRule.model_validate("timed-out").kind == "timed_out"


# --- on the server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver(prefect_server: str) -> Iterator[tuple[WebhookReceiver, str]]:
    fake = WebhookReceiver()
    with serve(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def alert_blocks(receiver) -> tuple[AlertSettings, dict[str, UUID]]:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock, MattermostWebhook

    from deployments.alerts import resolve_alert_blocks

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
    settings = AlertSettings(
        blocks={
            "webhook": f"custom-webhook/tl-webhook-{suffix}",
            "mattermost": f"mattermost-webhook/tl-mm-{suffix}",
        }
    )

    async def resolve():
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            with pytest.raises(AlertConfigError, match="nowhere"):
                await resolve_alert_blocks(client, ["nowhere"], settings)
            return await resolve_alert_blocks(client, ["webhook", "mattermost"], settings)

    return settings, run(resolve())


def install(spec: NotifySpec, blocks: dict[str, UUID]) -> tuple[UUID, str]:
    """A deployment of its own with the spec's automations; returns (deployment id, task name)."""
    from prefect.client.orchestration import get_client

    from tests.deployments.test_history import make_deployment

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

    from tests.deployments.test_history import make_runs

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


def test_email_notification_block_sends_over_smtp() -> None:
    from aiosmtpd.controller import Controller
    from prefect_email import EmailServerCredentials

    from deployments.alerts import EmailNotification
    from tests.fakes._server import free_port

    class Inbox:
        def __init__(self) -> None:
            self.messages: list[bytes] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.messages.append(envelope.content)
            return "250 OK"

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        block = EmailNotification(
            credentials=EmailServerCredentials(
                smtp_server="127.0.0.1", smtp_type="INSECURE", smtp_port=controller.port
            ),
            email_from="scheduler@example.com",
            email_to=["ops@example.com", "oncall@example.com"],
        )
        with block.raise_on_failure():
            run(block.notify("Task backup failed: disk full", "[tasklane] backup: failed"))
    finally:
        controller.stop()
    (message,) = inbox.messages
    text = message.decode()
    assert "Subject: [tasklane] backup: failed" in text and "disk full" in text
    assert "To: ops@example.com, oncall@example.com" in text
