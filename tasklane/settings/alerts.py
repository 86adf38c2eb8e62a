"""Alert settings and a task's `notify:` spec: what to watch, whom to tell, how often.

The catalog's `notify:` field and settings `alerts:` share these models; `deployments.automations.alerts`
compiles them into Prefect automations. Pure pydantic: this module imports nothing of the project.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

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
