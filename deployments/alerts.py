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
a task that writes none); `deployments.apply.sync_automations` creates, updates and deletes the
automations when the catalog is applied.

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
into block document ids once per apply.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.events.actions import SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture, SequenceTrigger
from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from blocks.email import EmailNotification

ALERT_MARK = "tasklane-alert "
FAILURE_EVENTS = {"prefect.flow-run.Failed", "prefect.flow-run.TimedOut", "prefect.flow-run.Crashed"}
SIMPLE_RULES: dict[str, tuple[str, str]] = {
    # rule -> (event, words of the subject)
    "failed": ("prefect.flow-run.Failed", "failed"),
    "timed_out": ("prefect.flow-run.TimedOut", "timed out"),
    "crashed": ("prefect.flow-run.Crashed", "crashed"),
    "succeeded": ("prefect.flow-run.Completed", "succeeded"),
}
RULE_NAMES = [*SIMPLE_RULES, "consecutive_failures", "recovered"]
OFF = {"off", "none", "no", "false"}  # `notify: off`: no alerts, not even the settings' default
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}

# `{task}` and `{what}` are filled in here; the rest is Prefect's automation Jinja, rendered on the server.
DEFAULT_SUBJECT = "[tasklane] {task}: {what}"
DEFAULT_BODY = (
    "Task **{task}** {what}: run {{ flow_run.name }} is {{ flow_run.state.name }}"
    "{% if flow_run.state.message %}: {{ flow_run.state.message }}{% endif %}\n"
    "{{ flow_run|ui_url }}"
)


class AlertConfigError(ValueError):
    """A notify spec that cannot be compiled: unknown destination, missing block."""


def parse_duration(value: Any) -> timedelta:
    """`30m`, `1h`, `45s`, `2d`, a number of seconds, or a timedelta.

    Examples:
        >>> parse_duration("30m")
        datetime.timedelta(seconds=1800)
        >>> parse_duration(90)
        datetime.timedelta(seconds=90)
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            unit = match.group(2).lower() if match.group(2) else None
            return timedelta(seconds=float(match.group(1)) * _UNITS[unit])
    raise ValueError(f"{value!r} is not a duration (e.g. 45s, 30m, 2h, 1d, or seconds)")


def format_duration(value: timedelta) -> str | int:
    """The shortest catalog form of a duration, read back by `parse_duration`.

    Examples:
        >>> format_duration(timedelta(minutes=30))
        '30m'
        >>> format_duration(timedelta(seconds=90))
        '90s'
        >>> format_duration(timedelta(0))
        0
    """
    seconds = value.total_seconds()
    if seconds == 0:
        return 0
    for unit in ("w", "d", "h", "m", "s"):
        if seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


class AlertRule(BaseModel):
    """One condition of `notify.on`: a name, and N for consecutive_failures."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["failed", "timed_out", "crashed", "succeeded", "consecutive_failures", "recovered"]
    count: int = Field(1, ge=1, le=1000)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value.strip().lower().replace("-", "_")}
        if isinstance(value, dict) and "kind" not in value and len(value) == 1:
            ((key, count),) = value.items()
            return {"kind": str(key).lower().replace("-", "_"), "count": count}
        return value

    @model_validator(mode="after")
    def _count(self) -> AlertRule:
        if self.kind == "consecutive_failures" and self.count < 2:
            raise ValueError("consecutive_failures needs a count of at least 2 (use 'failed' for 1)")
        return self

    @property
    def label(self) -> str:
        return f"consecutive_failures_{self.count}" if self.kind == "consecutive_failures" else self.kind


class NotifySpec(BaseModel):
    """The catalog's `notify:` of a task.

    Attributes:
        on: failed, timed_out, crashed, succeeded, recovered, {consecutive_failures: N}.
        to: destinations: names in settings `alerts.blocks` (mattermost, webhook, email, ...) or
            block references "slug/name" (e.g. "custom-webhook/oncall").
        throttle: at most one alert per task and rule per this long (0: every time).
        window: how far back consecutive_failures and recovered look.
        subject / body: override the message (Prefect automation Jinja: flow_run, deployment, ...).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    on: list[AlertRule] = Field(default_factory=lambda: [AlertRule(kind="failed")], min_length=1)
    to: list[str] = Field(..., min_length=1)
    throttle: timedelta = Field(timedelta(minutes=30))
    window: timedelta = Field(timedelta(days=1))
    subject: str | None = None
    body: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, value: Any) -> Any:
        # YAML 1.1 (PyYAML) reads an unquoted `on:` key as the boolean true.
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if key is True else key): item for key, item in value.items()}
        return value

    @field_validator("throttle", "window", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("to")
    @classmethod
    def _to(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v.strip() for v in value if v.strip()))

    @field_validator("on")
    @classmethod
    def _unique(cls, value: list[AlertRule]) -> list[AlertRule]:
        return list(dict.fromkeys(value))

    # The catalog's own shapes when written out (`tasklane export`), so a dump loads again.
    @field_serializer("throttle", "window", when_used="json")
    def _dump_duration(self, value: timedelta) -> str | int:
        return format_duration(value)

    @field_serializer("on", when_used="json")
    def _dump_rules(self, value: list[AlertRule]) -> list[str | dict[str, int]]:
        return [
            {rule.kind: rule.count} if rule.kind == "consecutive_failures" else rule.kind for rule in value
        ]


class AlertSettings(BaseModel):
    """Defaults of alerts (settings `alerts:`): what the destination names mean, default throttle."""

    blocks: dict[str, str] = Field(
        default_factory=lambda: {
            "mattermost": "mattermost-webhook/tasklane-alerts",
            "webhook": "custom-webhook/tasklane-alerts",
            "email": "tasklane-email/tasklane-alerts",
        },
        description="Destination name -> notification block 'slug/name'.",
    )
    throttle: str = Field("30m", description="Throttle of a notify spec that sets none.")
    window: str = Field("1d", description="Window of consecutive_failures and recovered.")
    default_notify: NotifySpec | None = Field(
        None,
        description="The notify spec of a task that writes no `notify:` (none: no alerts). A task's "
        "own `notify:` is laid over it key by key; `notify: null` (or false) turns alerts off.",
    )

    @field_validator("throttle", "window")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("blocks")
    @classmethod
    def _references(cls, value: dict[str, str]) -> dict[str, str]:
        for name, reference in value.items():
            if "/" not in reference:
                raise ValueError(f"alerts.blocks.{name}: {reference!r} is not a block reference 'slug/name'")
        return value

    def notify_for(self, written: Any, *, present: bool) -> Any:
        """The raw `notify` of a task (as written, or absent) with the defaults laid under it.

        Returns None (no alerts) for an absent `notify` without a default and for `null`/`false`/
        `off`; otherwise a mapping for `NotifySpec` to validate, or `written` itself when it is not
        a mapping (so validation names what is wrong with it).
        """
        if not present:
            written = {}
            if self.default_notify is None:
                return None
        if written is None or written is False or (isinstance(written, str) and written.lower() in OFF):
            return None
        if not isinstance(written, dict):
            return written
        base: dict[str, Any] = {"throttle": self.throttle, "window": self.window}
        if self.default_notify is not None:
            base.update(self.default_notify.model_dump(exclude_unset=True))
        return {**base, **{("on" if key is True else key): item for key, item in written.items()}}

    def unknown_destinations(self, notify: NotifySpec) -> list[tuple[int, str]]:
        """(index, message) of each destination of `notify.to` that names no block (checked offline)."""
        return [
            (
                index,
                f"{name!r} is neither a destination of settings alerts.blocks "
                f"(known: {', '.join(sorted(self.blocks)) or 'none'}) nor a block reference 'slug/name'",
            )
            for index, name in enumerate(notify.to)
            if name not in self.blocks and "/" not in name
        ]


def current_alert_settings() -> AlertSettings:
    """Settings `alerts` (config.yaml, TASKLANE_ALERTS__*)."""
    from tasklane.settings import get_settings

    return get_settings().alerts


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


def alert_automations(
    task_name: str, deployment_id: UUID, notify: NotifySpec, blocks: Mapping[str, UUID]
) -> list[AutomationCore]:
    """One automation per rule of `notify`, each notifying every destination of `notify.to`.

    Args:
        blocks: destination (as written in `notify.to`) -> notification block document id; see
            `resolve_alert_blocks`.

    Raises:
        AlertConfigError: a destination of `notify.to` has no block in `blocks`.

    Each automation's description starts with "tasklane-alert <rule> <hash>" (the hash covers
    everything it encodes), so `sync_automations` leaves unchanged ones alone.
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
        automations.append(
            AutomationCore(
                name=f"tasklane: alert {task_name} {rule.label} -> {', '.join(notify.to)}",
                description=f"{ALERT_MARK}{rule.label} {fingerprint}",
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


__all__ = [
    "ALERT_MARK",
    "AlertConfigError",
    "AlertRule",
    "AlertSettings",
    "EmailNotification",
    "NotifySpec",
    "alert_automations",
    "current_alert_settings",
    "find_alert_blocks",
    "format_duration",
    "parse_duration",
    "resolve_alert_blocks",
]
