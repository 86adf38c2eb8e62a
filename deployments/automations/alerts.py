"""Alerts of a task: the catalog's `notify:` compiled to Prefect automations with notification blocks.

```yaml
notify:
  on: [failed, timed_out, crashed, {consecutive_failures: 3}, succeeded, recovered]
  to: [mattermost, webhook, email]        # channel names (settings `alerts.blocks`) or "slug/name"
  throttle: 30m                           # at most one alert per task and rule per 30 minutes
```

Each rule becomes one automation owned by the task's deployment, whose actions are one
`SendNotification` per destination (a notification block document: Prefect's
`MattermostWebhook` and `CustomWebhookNotificationBlock`, or Tasklane's `EmailNotification` in
`blocks/email.py`, an SMTP sender over prefect-email's `EmailServerCredentials`).

The catalog's `TaskSpec.notify` holds the spec (settings `alerts.default_notify` is the default of
a task that writes none); `deployments.automations.sync.sync_automations` creates, updates and
deletes the automations when the catalog is applied.

How each rule maps onto Prefect (all verified on a real server in tests/deployments/test_alerts.py):

- failed / timed_out / crashed / succeeded: a reactive `EventTrigger` on the deployment's
  `prefect.flow-run.Failed` / `TimedOut` / `Crashed` / `Completed` events, threshold 1, `within`
  = throttle. A reactive trigger fires on the event that reaches its threshold, then ignores
  matching events until its window ends: that is the throttle. TimedOut is a Failed state of its
  own name, so `failed` does not fire for a time-out (ask for both to hear of both).
- consecutive_failures N: N final failures (Failed, TimedOut, Crashed) within `window` (default
  1 day), reactive, threshold N. Prefect's triggers count events in a window; they have no
  notion of "a success in between resets the count", so this is "N failures within the window".
- recovered: a `SequenceTrigger`: a final failure, then a Completed, within `window`. The
  compound trigger resets after firing, so a success after a success does not fire again.
- retries: a task's retries happen inside its flow run (Prefect task retries), and a flow run
  that is retried goes AwaitingRetry, not Failed; a Failed event, and thus an alert, comes only
  once the last attempt failed.

`alert_automations` is pure (no server calls); `resolve_alert_blocks` turns destination names
into block document ids, and `check_alert_blocks` those of a whole catalog once per plan.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture, SequenceTrigger

from blocks.email import EmailNotification
from deployments.catalog import Catalog, current_alert_settings
from deployments.errors import CatalogError, Problem
from deployments.tags import ALERT_MARK
from tasklane.settings.alerts import (
    DEFAULT_BODY,
    DEFAULT_SUBJECT,
    SIMPLE_RULES,
    AlertConfigError,
    AlertRule,
    AlertSettings,
    NotifySpec,
    format_duration,
    parse_duration,
)

FAILURE_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.TimedOut", "prefect.flow-run.Crashed"}

# --- the automations ----------------------------------------------------------------------------


def _trigger(rule: AlertRule, resource: str, notify: NotifySpec) -> EventTrigger | SequenceTrigger:
    related = {"prefect.resource.id": resource}
    if rule.kind in SIMPLE_RULES:
        return EventTrigger(
            expect={SIMPLE_RULES[rule.kind][0]},
            match_related=related,
            posture=Posture.Reactive,
            threshold=1,
            within=notify.throttle,
        )
    if rule.kind == "consecutive_failures":
        return EventTrigger(
            expect=set(FAILURE_EVENTS),
            match_related=related,
            posture=Posture.Reactive,
            threshold=rule.count,
            within=max(notify.window, notify.throttle),
        )
    return SequenceTrigger(
        triggers=[
            EventTrigger(
                expect=set(FAILURE_EVENTS),
                match_related=related,
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
            ),
            EventTrigger(
                expect={"prefect.flow-run.Completed"},
                match_related=related,
                posture=Posture.Reactive,
                threshold=1,
                within=timedelta(0),
            ),
        ],
        within=notify.window,
    )


def _what(rule: AlertRule) -> str:
    if rule.kind in SIMPLE_RULES:
        return SIMPLE_RULES[rule.kind][1]
    if rule.kind == "consecutive_failures":
        return f"failed {rule.count} times"
    return "recovered"


# rule -> (the automation's name, what happens, in words); {task}, {count} and {window} filled in.
_RULE_WORDS = {
    "failed": ("alert on {task} failure", "a run of {task} fails"),
    "timed_out": ("alert on {task} time-out", "a run of {task} times out"),
    "crashed": ("alert on {task} crash", "a run of {task} crashes"),
    "succeeded": ("alert on {task} success", "a run of {task} succeeds"),
    "consecutive_failures": (
        "alert on {count} {task} failures within {window}",
        "{task} fails {count} times within {window} (failed, timed out or crashed)",
    ),
    "recovered": ("alert on {task} recovery", "{task} succeeds after a failure (within {window})"),
}


def _words(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _name_and_description(task_name: str, rule: AlertRule, notify: NotifySpec) -> tuple[str, str]:
    """What Prefect's UI shows of a rule's automation: `alert on backup failure`, and a sentence."""
    name, when = _RULE_WORDS[rule.kind]
    fill = {"task": task_name, "count": rule.count, "window": format_duration(notify.window)}
    description = f"Sends {_words(list(notify.to))} an alert when {when.format(**fill)}"
    if rule.kind in SIMPLE_RULES and notify.throttle:
        description += f"; at most one per {format_duration(notify.throttle)}"
    description += ". Kept by Tasklane from the task's definition: change the task, not this automation."
    return name.format(**fill), description


def alert_automations(
    task_name: str, deployment_id: UUID, notify: NotifySpec, blocks: Mapping[str, UUID]
) -> list[AutomationCore]:
    """One automation per rule of `notify`, each notifying every destination of `notify.to`.

    Args:
        blocks: destination (as written in `notify.to`) -> notification block document id; see
            `resolve_alert_blocks`.

    Raises:
        AlertConfigError: a destination of `notify.to` has no block in `blocks`.

    Each automation is tagged "tasklane-alert:<rule>:<hash>" (the hash covers everything it
    encodes), so `sync_automations` leaves unchanged ones alone; its name and description say
    what it does in words.
    """
    missing = [name for name in notify.to if name not in blocks]
    if missing:
        raise AlertConfigError(
            f"task {task_name!r}: notify.to names {', '.join(map(repr, missing))}, which "
            f"{'is' if len(missing) == 1 else 'are'} not a notification block "
            f"(known: {', '.join(sorted(blocks))})"
        )
    resource = f"prefect.deployment.{deployment_id}"
    automations = []
    for rule in notify.on:
        what = _what(rule)
        subject = (notify.subject or DEFAULT_SUBJECT).replace("{task}", task_name).replace("{what}", what)
        body = (notify.body or DEFAULT_BODY).replace("{task}", task_name).replace("{what}", what)
        actions = [
            SendNotification(block_document_id=blocks[name], subject=subject, body=body) for name in notify.to
        ]
        trigger = _trigger(rule, resource, notify)
        fingerprint = hashlib.sha256(
            json.dumps(
                {
                    "trigger": trigger.model_dump(mode="json", exclude={"id"}),
                    "actions": [a.model_dump(mode="json") for a in actions],
                },
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()[:16]
        name, description = _name_and_description(task_name, rule, notify)
        automations.append(
            AutomationCore(
                name=name,
                description=description,
                tags=[f"{ALERT_MARK}{rule.label}:{fingerprint}"],
                trigger=trigger,
                actions=actions,
                owner_resource=resource,
            )
        )
    return automations


async def resolve_alert_blocks(
    client: PrefectClient, destinations: Iterable[str], settings: AlertSettings | None = None
) -> dict[str, UUID]:
    """Destination names -> block document ids: a name of `settings.blocks`, or a "slug/name".

    Raises:
        AlertConfigError: an unknown name, or a block that is not saved on the server.
    """
    found, problems = await find_alert_blocks(client, destinations, settings)
    if problems:
        raise AlertConfigError("notify.to: " + "; ".join(problems.values()))
    return found


async def find_alert_blocks(
    client: PrefectClient, destinations: Iterable[str], settings: AlertSettings | None = None
) -> tuple[dict[str, UUID], dict[str, str]]:
    """Like `resolve_alert_blocks`, but returns (found, {destination: problem}) instead of raising."""
    from prefect.exceptions import ObjectNotFound

    settings = settings or AlertSettings()
    found: dict[str, UUID] = {}
    problems: dict[str, str] = {}
    for destination in dict.fromkeys(destinations):
        reference = settings.blocks.get(destination, destination)
        if "/" not in reference:
            problems[destination] = (
                f"{destination!r} is neither a destination of alerts.blocks "
                f"({', '.join(sorted(settings.blocks))}) nor a block reference 'slug/name'"
            )
            continue
        slug, name = reference.split("/", 1)
        try:
            document = await client.read_block_document_by_name(name, block_type_slug=slug)
        except ObjectNotFound:
            problems[destination] = (
                f"{destination!r}: no block {reference!r} is saved on the server "
                f"(save one, e.g. `.save({name!r})`, or set alerts.blocks.{destination})"
            )
            continue
        found[destination] = document.id
    return found, problems


async def check_alert_blocks(
    client: PrefectClient, catalog: Catalog, settings: AlertSettings | None = None
) -> dict[str, UUID]:
    """The notification blocks of every `notify.to` of the catalog; a CatalogError naming each task
    whose destination is unknown or not saved on the server (before anything is applied).

    Args:
        settings: the destination names; None: settings `alerts`.
    """
    destinations = sorted({name for task in catalog.tasks if task.notify for name in task.notify.to})
    if not destinations:
        return {}
    found, missing = await find_alert_blocks(client, destinations, settings or current_alert_settings())
    problems = [
        Problem("catalog", task.name, f"notify.to.{index}", missing[name])
        for task in catalog.tasks
        if task.notify
        for index, name in enumerate(task.notify.to)
        if name in missing
    ]
    if problems:
        raise CatalogError(problems)
    return found


__all__ = [
    "ALERT_MARK",
    "AlertConfigError",
    "AlertRule",
    "AlertSettings",
    "EmailNotification",
    "NotifySpec",
    "alert_automations",
    "check_alert_blocks",
    "find_alert_blocks",
    "format_duration",
    "parse_duration",
    "resolve_alert_blocks",
]
