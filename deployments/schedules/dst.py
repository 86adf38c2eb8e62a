"""The zones' UTC-offset changes, as Python's zoneinfo knows them and as dateutil (which localizes
Prefect's rrules) reads them: spring-forward gaps, fall-back repeats, the years dateutil knows,
the wall times it misplaces, and the zones of a fixed offset."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import dateutil.tz

from deployments.schedules.clock import DAY, instant

# Zones are examined for DST changes up to this year.
HORIZON_YEAR = 2100


@dataclass(frozen=True)
class Gap:
    """A spring-forward gap: wall times [begin, end) seconds after `day`'s midnight do not exist
    (`shift` seconds long). `year_repeats` uses it for a fall-back's repeated wall times too."""

    day: date
    begin: int
    end: int
    shift: int


@dataclass(frozen=True)
class Repeat:
    """A fall-back: wall times [begin, end) seconds after `day`'s midnight occur twice; the second
    time at UTC offset `offset` (seconds)."""

    day: date
    begin: int
    end: int
    offset: int


@functools.cache
def year_changes(zone: str, year: int) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """The zone's UTC-offset changes in `year`: (wall time of the change on the old offset, old, new)."""
    tz = ZoneInfo(zone)

    def offset(timestamp: int) -> timedelta:
        return datetime.fromtimestamp(timestamp, tz).utcoffset() or timedelta(0)

    changes = []
    moment = int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) - 2 * DAY
    stop = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp()) + 2 * DAY
    current = offset(moment)
    while moment < stop:
        after = offset(moment + DAY)
        if after != current:
            low, high = moment, moment + DAY
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            wall = datetime.fromtimestamp(high, UTC).replace(tzinfo=None) + current
            if wall.year == year:
                changes.append((wall, current, after))
            current = after
        moment += DAY
    return tuple(changes)


@functools.cache
def year_gaps(zone: str, year: int) -> tuple[Gap, ...]:
    """The zone's spring-forward gaps starting in `year`."""
    gaps = []
    for wall, before, after in year_changes(zone, year):
        if after > before:
            shift = int((after - before).total_seconds())
            begin = int((wall - datetime.combine(wall.date(), time())).total_seconds())
            gaps.append(Gap(wall.date(), begin, begin + shift, shift))
    return tuple(gaps)


@functools.cache
def year_repeats(zone: str, year: int) -> tuple[Repeat, ...]:
    """The zone's fall-back repeats whose change happens in `year`."""
    repeats = []
    for wall, before, after in year_changes(zone, year):
        if after < before:
            first = wall - (before - after)  # the repeated wall times are [first, wall)
            begin = int((first - datetime.combine(first.date(), time())).total_seconds())
            span = int((before - after).total_seconds())
            repeats.append(Repeat(first.date(), begin, begin + span, int(after.total_seconds())))
    return tuple(repeats)


def whole_hour_zone(hours: int) -> str | None:
    """The IANA zone of this fixed UTC offset in whole hours (Etc/GMT+5 for -05:00; POSIX signs),
    or None beyond the offsets the Etc zones have (-12..+14)."""
    if not -12 <= hours <= 14:
        return None
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


@functools.cache
def dateutil_knows(zone: str, year: int) -> bool:
    """Whether dateutil, which localizes Prefect's rrules, has the zone's offsets of `year` right.

    It reads only the 32-bit part of tz files, so it knows no DST change after early 2038 (nor,
    south of the equator, the one of October 2037): rrules there run on the last known offset.
    """
    tz, dateutil_tz = ZoneInfo(zone), dateutil.tz.gettz(zone)
    moments = [datetime(year, 1, 1, tzinfo=UTC), datetime(year, 7, 1, tzinfo=UTC)]
    # A day either side of each change: at the change itself dateutil may misread (see misplaced_walls).
    for wall, before, _after in year_changes(zone, year):
        change = (wall - before).replace(tzinfo=UTC)
        moments += [change - timedelta(days=1), change + timedelta(days=1)]
    return all(m.astimezone(dateutil_tz).utcoffset() == m.astimezone(tz).utcoffset() for m in moments)


@functools.cache
def misplaced_walls(zone: str, year: int) -> frozenset[datetime]:
    """Existing wall times (whole minutes) near the zone's changes in `year` that dateutil, which
    localizes Prefect's rrules, maps to another instant than the time rule does.

    dateutil reads tz data with a negative DST (Europe/Dublin, Africa/Casablanca) as if the
    repeated hour came an hour late: the hour after it resolves an hour early. No wall time maps
    to those instants in dateutil, so unlike gaps they cannot be corrected inside the rrule.
    """
    tz, dateutil_tz = ZoneInfo(zone), dateutil.tz.gettz(zone)

    def misplaced(wall: datetime, gaps: list[tuple[datetime, datetime]]) -> bool:
        if any(begin <= wall < end for begin, end in gaps):
            return False  # a missing time: corrected by the gap rules
        return wall.replace(tzinfo=dateutil_tz).astimezone(UTC) != instant(wall, tz)

    found: set[datetime] = set()
    for wall, before, after in year_changes(zone, year):
        span = abs(after - before)
        gaps = [(wall, wall + span)] if after > before else []
        first = (wall - span - timedelta(hours=1)).replace(second=0)
        minutes = int((3 * span + timedelta(hours=2)).total_seconds() // 60)
        # A coarse look first: dateutil agrees around almost every zone's changes.
        if any(misplaced(first + timedelta(minutes=m), gaps) for m in range(0, minutes, 15)):
            found.update(
                first + timedelta(minutes=m)
                for m in range(minutes)
                if misplaced(first + timedelta(minutes=m), gaps)
            )
    return frozenset(found)


def has_partial_hour_shift(zone: str, from_year: int) -> bool:
    """Whether the zone has a DST change that is not whole hours (Lord Howe's 30 minutes) from `from_year`."""
    return any(g.shift % 3600 for y in range(from_year, HORIZON_YEAR + 1) for g in year_gaps(zone, y))
