"""Previewing a schedule: its next runs, exactly as Prefect's server schedules them."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from deployments.schedules.clock import instant
from deployments.schedules.expansion import server_dates
from deployments.schedules.spec import ScheduleSpec


def preview(spec: ScheduleSpec, n: int, *, after: datetime, default_timezone: str | None) -> list[datetime]:
    """The next `n` runs of `spec` at or after `after`, exactly as Prefect's server schedules them.

    Args:
        spec: the schedule.
        n: how many runs.
        after: the earliest run; a naive value is a wall time in the schedule's zone.
        default_timezone: the zone of a spec without `timezone`, else UTC.

    Returns:
        Aware datetimes in the schedule's zone, sorted, without duplicates, within start/end/max_runs.
    """
    if n < 0:
        raise ValueError(f"n must be at least 0; found {n}")
    tz = ZoneInfo(spec.zone(default_timezone))
    moment = (instant(after, tz) if after.tzinfo is None else after).astimezone(UTC)
    compiled = spec.to_prefect(default_timezone, active=True, now=moment)
    return [d.astimezone(tz) for d in server_dates([c.schedule for c in compiled], n, moment)]
