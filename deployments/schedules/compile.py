"""Compiling a schedule spec into Prefect deployment schedules that fire exactly at its runs.

How each spec compiles, and why (Prefect 3.9, `prefect/server/schemas/schedules.py`):

- `CronSchedule` localizes each wall time with fold=0 through `whenever` ("compatible"), which
  is exactly the time rule, and seeks in O(1); but it cannot be bounded. Unbounded calendar
  specs compile to disjoint crons (times grouped by hour set; a whole-hour DST shift keeps the
  minute, so a missing time and the time it lands on share a cron, which dedupes them).
  Prefect's vendored croniter mishandles days 29-31 in day-of-month lists, so those days get
  crons of their own (or, in a user's cron, the rrule form).
- `RRuleSchedule` is the only kind with bounds (DTSTART/UNTIL/COUNT); bounded calendar specs
  compile to one rrule set whose DST gaps are corrected (`rrules`).
- `IntervalSchedule` in UTC is exact elapsed time in O(1) but unbounded and fires before its
  anchor; bounded `every` specs compile to a UTC rrule (`FREQ=SECONDLY`, COUNT for `max_runs`).
  `once` is a one-run UTC rrule.
- `max_runs` is never DeploymentScheduleCreate.max_scheduled_runs, which caps *pending* runs.
- A cron whose minute or hour field starts with `*` counts elapsed time, as Vixie/Debian cron
  (and cronsim) do: a time a spring-forward gap skips does not run, and a time a fall-back
  repeats runs in both passes. Prefect fires a repeated wall time once, so the second passes
  are a schedule of their own (`rrules.repeat_rrules`, slug suffix `-fall-back`); where
  Prefect's cron would fire a skipped time shifted onto a time the cron lacks (`0 */2 * * *`:
  02:00 -> 03:00), the runs take the rrule form, which drops it.

Specs whose `start` has passed by compile time take the cheaper unbounded form: the server only
ever schedules from "now", so both forms create the same runs.
"""

from __future__ import annotations

import calendar
import math
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule

from deployments.schedules.clock import instant, parse_duration, stamp
from deployments.schedules.dst import has_partial_hour_shift
from deployments.schedules.expansion import rrule_runs
from deployments.schedules.rrules import (
    Clause,
    calendar_rrule,
    gap_moves_off_the_times,
    join_numbers,
    repeat_rrules,
    time_groups,
)


class CompilableSpec(Protocol):
    """What the compiler reads of a schedule spec (`spec.ScheduleSpec`); declared here so that the
    compiler, which the spec calls, imports nothing of the spec."""

    every: str | None
    cron: str | None
    once: datetime | None
    start: datetime | None
    end: datetime | None
    max_runs: int | None

    @property
    def counts_elapsed_time(self) -> bool: ...

    def zone(self, default_timezone: str | None) -> str: ...

    def slug(self) -> str: ...

    def clauses(self) -> list[Clause]: ...


# Anchor of `every` without a start: runs fall on whole multiples of the interval since it.
EVERY_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def compile_spec(
    spec: CompilableSpec, default_timezone: str | None, *, active: bool, now: datetime | None = None
) -> list[DeploymentScheduleCreate]:
    """Compile to Prefect deployment schedules that fire exactly at this spec's runs from `now` on.

    Args:
        spec: the schedule.
        default_timezone: the zone of a spec without `timezone` (settings), else UTC.
        active: whether the schedules are active (a disabled task's are not).
        now: the compile time; runs before it are never scheduled by the server, so some
            specs pick a cheaper equivalent form once their start has passed.

    Returns:
        One schedule, or several when a spec needs several crons (slugs suffixed -1, -2, ...),
        plus, for a cron counting elapsed time, the second passes of repeated hours (suffixed
        -fall-back).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    zone = spec.zone(default_timezone)
    second_passes: list[Any] = []
    if spec.once is not None:
        # In UTC: the instant is known, and no zone's DST can be misread on the way.
        once = instant(spec.once, ZoneInfo(zone)).replace(tzinfo=None)
        schedules: list[Any] = [RRuleSchedule(rrule=f"DTSTART:{stamp(once)}\nRRULE:FREQ=DAILY;COUNT=1")]
    elif spec.every is not None:
        schedules = [_every_schedule(spec, zone, now)]
    else:
        schedules, second_passes = _calendar_schedules(spec, zone, now)
    slug = spec.slug()
    slugs = [slug] if len(schedules) == 1 else [f"{slug}-{i}" for i in range(1, len(schedules) + 1)]
    suffixes = (
        ["fall-back"]
        if len(second_passes) == 1
        else [f"fall-back-{i}" for i in range(1, len(second_passes) + 1)]
    )
    slugs += [f"{slug}-{suffix}" for suffix in suffixes]
    return [
        DeploymentScheduleCreate(schedule=schedule, active=active, slug=name)
        for schedule, name in zip([*schedules, *second_passes], slugs, strict=True)
    ]


def _bounds(
    spec: CompilableSpec, tz: ZoneInfo, now: datetime
) -> tuple[datetime | None, datetime | None, bool]:
    """The instants of `start` and `end`, and whether the spec may take its unbounded form.

    Unbounded: no end, no max_runs, and no start or one already passed (the server only ever
    schedules from now, so a passed start bounds nothing).
    """
    start = instant(spec.start, tz) if spec.start is not None else None
    end = instant(spec.end, tz) if spec.end is not None else None
    unbounded = end is None and spec.max_runs is None and (start is None or start <= now)
    return start, end, unbounded


def _every_schedule(spec: CompilableSpec, zone: str, now: datetime) -> IntervalSchedule | RRuleSchedule:
    interval = parse_duration(spec.every or "")
    step = int(interval.total_seconds())
    start, end, unbounded = _bounds(spec, ZoneInfo(zone), now)
    if unbounded:
        # UTC, because Prefect adds whole days of an interval as calendar days in a DST zone.
        return IntervalSchedule(interval=interval, anchor_date=start or EVERY_EPOCH, timezone="UTC")
    if start is None:
        # Any anchored run before now will do as DTSTART; today's first keeps expansion short.
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        first = EVERY_EPOCH + timedelta(
            seconds=step * math.ceil((today - EVERY_EPOCH).total_seconds() / step)
        )
    else:
        first = start
    parts = ["FREQ=SECONDLY", f"INTERVAL={step}"]
    if spec.max_runs is not None:
        count = spec.max_runs
        if end is not None:
            count = min(count, int((end - first).total_seconds()) // step + 1)
        parts.append(f"COUNT={count}")
    elif end is not None:
        parts.append(f"UNTIL={stamp(end.replace(tzinfo=None))}")
    return RRuleSchedule(rrule=f"DTSTART:{stamp(first.replace(tzinfo=None))}\nRRULE:{';'.join(parts)}")


def _calendar_schedules(spec: CompilableSpec, zone: str, now: datetime) -> tuple[list[Any], list[Any]]:
    """The schedules of a calendar spec: its runs, and the second passes of repeated hours (a
    cron counting elapsed time)."""
    tz = ZoneInfo(zone)
    start, end, unbounded = _bounds(spec, tz, now)
    clauses = spec.clauses()
    elapsed = spec.counts_elapsed_time
    if unbounded:
        year = now.astimezone(tz).year
        crons = _crons(spec)
        # A 30-minute DST shift can move a missing time onto one of another cron (Lord Howe);
        # several schedules would then both fire, so such specs take the single-rrule form.
        exact = crons is not None and (len(crons) == 1 or not has_partial_hour_shift(zone, now.year))
        if exact and elapsed:
            exact = not gap_moves_off_the_times(tuple(clauses), zone, year)
        if crons is not None and exact:
            second = repeat_rrules(clauses, zone, year, None, None) if elapsed else []
            return (
                [CronSchedule(cron=cron, timezone=zone) for cron in crons],
                [RRuleSchedule(rrule=text, timezone=z) for text, z in second],
            )
    lower = start if start is not None else instant(datetime.combine(now.astimezone(tz).date(), time()), tz)
    first_year = lower.astimezone(tz).year
    if spec.max_runs is not None:
        runs = rrule_runs(*calendar_rrule(clauses, zone, lower, end, skip_missing=elapsed), spec.max_runs)
        if elapsed:
            for text, rrule_zone in repeat_rrules(clauses, zone, first_year, lower, end):
                runs = sorted({*runs, *rrule_runs(text, rrule_zone, spec.max_runs)})[: spec.max_runs]
        if len(runs) == spec.max_runs:
            end = runs[-1] if end is None else min(end, runs[-1])
    text, rrule_zone = calendar_rrule(clauses, zone, lower, end, skip_missing=elapsed)
    second = repeat_rrules(clauses, zone, first_year, lower, end) if elapsed else []
    return (
        [RRuleSchedule(rrule=text, timezone=rrule_zone)],
        [RRuleSchedule(rrule=t, timezone=z) for t, z in second],
    )


def _crons(spec: CompilableSpec) -> list[str] | None:
    """Disjoint crons Prefect expands exactly like this spec, or None if its croniter cannot."""
    clause = spec.clauses()[0]
    if spec.cron is not None:
        # Prefect's vendored croniter (prefect/_vendor/croniter) mis-steps after a month that
        # lacks a listed day: "1,30" skips 1 March, "*/10" skips the 1st after a 30-day month,
        # "31,L" never fires in February. One day, or days up to 28 with L, are safe.
        days = clause.monthdays
        return None if days and len(days) > 1 and max(days) >= 29 else [spec.cron]
    dow = "*" if clause.weekdays is None else join_numbers(sorted((d + 1) % 7 for d in clause.weekdays))
    return [
        f"{join_numbers(minutes)} {join_numbers(hours)} {dom} {months} {dow}"
        for dom, months in _cron_days(clause.monthdays)
        for hours, minutes in time_groups(clause.times)
    ]


def _cron_days(monthdays: frozenset[int] | None) -> list[tuple[str, str]]:
    """(day-of-month, month) cron fields whose days are exactly `monthdays`, none shared.

    Days 29-31 each get a cron of their own, since Prefect's croniter mishandles them in lists;
    with `last` listed, a day only runs in the months where it is never the last (L covers it).
    """
    if monthdays is None:
        return [("*", "*")]
    last = -1 in monthdays
    early = [str(d) for d in sorted(monthdays) if 1 <= d <= 28] + (["L"] if last else [])
    fields = [(",".join(early), "*")] if early else []
    for day in sorted(d for d in monthdays if d >= 29):
        if not last:
            fields.append((str(day), "*"))
            continue
        months = [m for m in range(1, 13) if day < calendar.monthrange(2000, m)[1]]
        if months:
            fields.append((str(day), join_numbers(months)))
    return fields
