"""Shared by the schedule tests: spec construction, the oracle and Prefect's server-side expansion.

The oracle computes a spec's runs without the compiler: wall times from dateutil.rrule or
croniter, made instants with zoneinfo's fold=0, which is the time rule itself; for a cron
counting elapsed time (minute or hour field starting with `*`), every instant whose local wall
time is one of the cron's (none for a skipped time, both passes of a repeated one).
`cronsim_runs` is Vixie/Debian cron's behaviour as cronsim computes it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from cronsim import CronSim
from dateutil import rrule
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from prefect.server.schemas import schedules as server
from pydantic import BaseModel

from deployments.schedules import ScheduleSpec, parse_duration

NOW = datetime(2026, 6, 1, tzinfo=UTC)  # the validation clock: `once` must be after it
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BERLIN, NEW_YORK, SYDNEY = "Europe/Berlin", "America/New_York", "Australia/Sydney"
RRULE_DAYS = (rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Holder(BaseModel):
    """How the catalog holds schedules: a list field of specs."""

    schedule: list[ScheduleSpec]


def spec(raw: Any) -> ScheduleSpec:
    return ScheduleSpec.model_validate(raw, context={"now": NOW})


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def instants(times: list[datetime]) -> list[str]:
    return [t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ") for t in times]


def as_utc(times: list[datetime]) -> list[datetime]:
    """Comparable instants: aware datetimes inside a DST repeat never equal those of another
    zone (PEP 495), so runs are compared in UTC."""
    return [t.astimezone(UTC) for t in times]


# ---------------------------------------------------------------------------------------------
# The oracle: the spec's meaning computed without the compiler.


def localize(wall: datetime, zone: str) -> datetime:
    """The time rule: fold=0 maps a missing time with the offset before the change, and a
    repeated time to its first occurrence."""
    return wall.replace(tzinfo=ZoneInfo(zone), fold=0).astimezone(UTC)


def counts_elapsed_time(raw: dict[str, Any]) -> bool:
    """A cron whose minute or hour field starts with `*` (Vixie's wildcard jobs)."""
    return "cron" in raw and any(f.startswith("*") for f in raw["cron"].split()[:2])


def instants_of(wall: datetime, zone: str) -> list[datetime]:
    """Every instant whose wall time in `zone` is `wall`: none in a gap, two in a repeat."""
    tz = ZoneInfo(zone)
    found = {wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)}
    return sorted(t for t in found if t.astimezone(tz).replace(tzinfo=None) == wall)


def cronsim_runs(cron: str, zone: str, after: datetime, n: int) -> list[datetime]:
    """The first `n` runs at or after `after` as Vixie/Debian cron fires them (cronsim)."""
    runs = CronSim(cron, (after - timedelta(seconds=1)).astimezone(ZoneInfo(zone)))
    return [next(runs).astimezone(UTC) for _ in range(n)]


def walls(raw: dict[str, Any], begin: datetime) -> Iterator[datetime]:
    """Naive wall times of a calendar spec from `begin` on, in order."""
    if "cron" in raw:
        cron = croniter(raw["cron"], begin - timedelta(seconds=1))
        while True:
            yield cron.get_next(datetime)
    if "daily" in raw:
        days: dict[str, Any] = {"freq": rrule.DAILY}
        at = raw["daily"]
    elif "weekly" in raw:
        days = {
            "freq": rrule.WEEKLY,
            "byweekday": [RRULE_DAYS[WEEKDAYS.index(d)] for d in raw["weekly"]["days"]],
        }
        at = raw["weekly"]["at"]
    else:
        monthdays = [-1 if d == "last" else d for d in raw["monthly"]["days"]]
        days = {"freq": rrule.MONTHLY, "bymonthday": monthdays}
        at = raw["monthly"]["at"]
    rules = rrule.rruleset()
    for text in at if isinstance(at, list) else [at]:
        hour, minute = map(int, text.split(":"))
        rules.rrule(rrule.rrule(dtstart=begin, byhour=hour, byminute=minute, bysecond=0, **days))
    yield from rules


def oracle(raw: dict[str, Any], zone: str, after: datetime, n: int) -> list[datetime]:
    """The first `n` runs at or after `after` by the spec's definition."""
    start = localize(datetime.fromisoformat(raw["start"]), zone) if "start" in raw else None
    end = localize(datetime.fromisoformat(raw["end"]), zone) if "end" in raw else None
    max_runs = raw.get("max_runs")
    if "once" in raw:
        runs = [localize(datetime.fromisoformat(raw["once"]), zone)]
    elif "every" in raw:
        step = parse_duration(raw["every"]).total_seconds()
        anchor = start or EPOCH
        first = math.ceil(max((after - anchor).total_seconds(), 0) / step)
        last = first + n if max_runs is None else min(first + n, max_runs)
        runs = [anchor + timedelta(seconds=step * k) for k in range(first, last)]
    else:
        runs = calendar_runs(raw, zone, after, n, start, end, max_runs)
    return sorted(t for t in set(runs) if t >= after and (end is None or t <= end))[:n]


def calendar_runs(
    raw: dict[str, Any],
    zone: str,
    after: datetime,
    n: int,
    start: datetime | None,
    end: datetime | None,
    max_runs: int | None,
) -> list[datetime]:
    tz = ZoneInfo(zone)
    # Counting max_runs needs every run from start; otherwise the runs from `after` suffice.
    origin = start if max_runs is not None and start is not None else after
    if start is not None:
        origin = min(origin, max(start, after))
    # A missing time runs up to the DST shift later than its wall time, so look back two days.
    begin = origin.astimezone(tz).replace(tzinfo=None) - timedelta(days=2)
    end_wall = end.astimezone(tz).replace(tzinfo=None) if end is not None else None
    enough = n if max_runs is None else max(n, max_runs)
    found: set[datetime] = set()
    settled_after: datetime | None = None
    for count, wall in enumerate(walls(raw, begin)):
        assert count < 200_000, "oracle ran away"
        if end_wall is not None and wall > end_wall + timedelta(days=1):
            break
        if settled_after is not None and wall > settled_after:
            break
        for instant in instants_of(wall, zone) if counts_elapsed_time(raw) else [localize(wall, zone)]:
            if start is None or instant >= start:
                found.add(instant)
        if settled_after is None and len([t for t in found if t >= origin]) >= enough:
            # No later wall time maps more than a day earlier than itself.
            settled_after = wall + timedelta(days=1)
    runs = sorted(found)
    return runs[:max_runs] if max_runs is not None else runs


# ---------------------------------------------------------------------------------------------
# Prefect's server-side expansion, called directly on the compiled schedules.


SERVER_KIND = {
    CronSchedule: server.CronSchedule,
    IntervalSchedule: server.IntervalSchedule,
    RRuleSchedule: server.RRuleSchedule,
}


def server_get_dates(
    compiled: list[Any], n: int, start: datetime, end: datetime | None = None
) -> list[datetime]:
    """Union of `get_dates` of the server's model of each compiled schedule (as stored: JSON)."""

    async def expand() -> set[datetime]:
        found: set[datetime] = set()
        for item in compiled:
            schedule = SERVER_KIND[type(item.schedule)].model_validate(item.schedule.model_dump(mode="json"))
            found.update(d.astimezone(UTC) for d in await schedule.get_dates(n=n, start=start, end=end))
        return found

    return sorted(asyncio.run(expand()))[:n]
