"""Expanding compiled schedules with the Prefect server's own code: `preview` shows exactly the runs
the server creates, and the compiler counts `max_runs` the way the server does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

if TYPE_CHECKING:
    from prefect.server.schemas import schedules as server

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
