"""Expanding compiled schedules with the Prefect server's own code, so a preview shows exactly the
runs the server creates; the compiler counts `max_runs` the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

from deployments.schedules.clock import instant

if TYPE_CHECKING:
    from prefect.server.schemas import schedules as server

    from deployments.schedules.spec import ScheduleSpec

# Runs asked of Prefect's expansion at a time; it stops after 1000 candidates per call anyway.
EXPANSION_CHUNK = 500


def rrule_runs(text: str, zone: str, n: int) -> list[datetime]:
    """The first `n` distinct run instants of an rrule set, localized the way Prefect's server does."""
    from prefect.server.schemas.schedules import RRuleSchedule as ServerRRule

    runs: list[datetime] = []
    for occurrence in ServerRRule(rrule=text, timezone=zone).to_rrule():
        moment = occurrence.astimezone(UTC)
        if not runs or moment != runs[-1]:
            runs.append(moment)
        if len(runs) == n:
            break
    return runs


def _server_schedule(schedule: Any) -> server.CronSchedule | server.IntervalSchedule | server.RRuleSchedule:
    """The server's model of a compiled schedule, rebuilt from its JSON as the database stores it."""
    from prefect.server.schemas import schedules as server

    server_kinds: dict[
        type, type[server.CronSchedule] | type[server.IntervalSchedule] | type[server.RRuleSchedule]
    ] = {
        CronSchedule: server.CronSchedule,
        IntervalSchedule: server.IntervalSchedule,
        RRuleSchedule: server.RRuleSchedule,
    }
    return server_kinds[type(schedule)].model_validate(schedule.model_dump(mode="json"))


def server_dates(schedules: list[Any], n: int, after: datetime) -> list[datetime]:
    """The first `n` distinct instants at or after `after` that Prefect's server schedules for these.

    It calls the very generator `prefect.server.models.deployments._generate_scheduled_flow_runs`
    calls, on the server's model of each schedule.
    """
    found: set[datetime] = set()
    for schedule in schedules:
        expander = _server_schedule(schedule)
        cursor, wanted = after, n
        while wanted > 0:
            generator = expander._get_dates_generator(n=min(wanted, EXPANSION_CHUNK), start=cursor)
            # Plain datetimes: the server hands out pendulum DateTimes on Python < 3.13.
            batch = sorted({datetime.fromtimestamp(d.timestamp(), UTC) for d in generator})
            if not batch:
                break
            found.update(batch)
            wanted -= len(batch)
            cursor = batch[-1] + timedelta(seconds=1)
    return sorted(found)[:n]


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
