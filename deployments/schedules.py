"""Schedule specs of the catalog and their compilation to Prefect schedules.

This module is the one place a schedule's meaning is defined: the catalog validates with
`parse_schedules`, `apply` compiles with `ScheduleSpec.to_prefect`, and preview reads the
same objects.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(text: str) -> timedelta:
    """'30s', '5m', '1h30m', '2d' -> timedelta; raises ValueError naming what is allowed."""
    match = DURATION.match(text.strip()) if isinstance(text, str) else None
    if not text or not match or not any(match.groups()):
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 5m, 1h30m, 2d)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delta.total_seconds() <= 0:
        raise ValueError(f"{text!r} is zero; an interval must be positive")
    return delta


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (an IANA name such as Europe/Berlin)") from None
    return name


class ScheduleSpec(BaseModel):
    """One schedule: `{cron: "0 */6 * * *"}` or `{every: 30s}`, with an optional timezone."""

    model_config = ConfigDict(extra="forbid")

    cron: str | None = Field(None, description="5-field cron expression.")
    every: str | None = Field(None, description="Interval such as 30s, 5m, 1h30m, 2d.")
    timezone: str | None = Field(None, description="IANA timezone; default from settings.")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(f"cron {value!r} has {len(fields)} fields, needs 5")
        CronSchedule(cron=value)  # raises ValueError naming the bad expression
        return value

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value) if value is not None else None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> ScheduleSpec:
        kinds = [k for k in ("cron", "every") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a schedule needs exactly one of: cron, every")
        return self

    def slug(self) -> str:
        """Stable identifier: re-applying the same spec never duplicates its schedule."""
        canonical = json.dumps(self.model_dump(exclude_none=True), sort_keys=True)
        return "tasklane-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def to_prefect(self, default_timezone: str, *, active: bool) -> DeploymentScheduleCreate:
        tz = self.timezone or default_timezone
        if self.cron is not None:
            schedule: Any = CronSchedule(cron=self.cron, timezone=tz)
        else:
            schedule = IntervalSchedule(interval=parse_duration(self.every or ""), timezone=tz)
        return DeploymentScheduleCreate(schedule=schedule, active=active, slug=self.slug())


def parse_schedules(raw: Any) -> list[ScheduleSpec]:
    """The catalog's `schedule:` value (one spec, a list of specs, or nothing)."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, list) and not raw:
        raise ValueError("an empty list of schedules; leave 'schedule' out for none")
    return [ScheduleSpec.model_validate(item) for item in items]
