"""Calendar specs as one rrule set (the only Prefect schedule kind with bounds), its DST gaps corrected.

dateutil, which localizes Prefect's rrules, gives a missing wall time the offset *after* the
change (02:30 on Europe/Berlin's jump day fires at 01:30 CET, an hour early), so an EXRULE drops
the missing times and an RRULE adds them at their true instant, derived from the zone's yearly
DST rule (EXDATE/RDATE lists for zones without one). Past the years dateutil knows (it reads only
32-bit tz data) nothing is corrected; zones whose negative DST it misreads get an
offset-identical twin, or are refused when a run would be misplaced.

A cron counting elapsed time (`*/30 * * * *`: Vixie's wildcard jobs) skips the missing times
instead, and fires a repeated time twice: `repeat_rrules` adds the second passes, as rrules in a
zone of the second pass's fixed UTC offset, where those wall times are unambiguous.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from prefect._internal.schemas.validators import MAX_RRULE_LENGTH

from deployments.schedules.clock import DAY, stamp, wall_time
from deployments.schedules.dst import (
    HORIZON_YEAR,
    Gap,
    Repeat,
    dateutil_knows,
    misplaced_walls,
    whole_hour_zone,
    year_changes,
    year_gaps,
    year_repeats,
)

RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Zones with the same clocks as one whose negative DST dateutil misreads (checked before use).
SAME_CLOCKS = {"Europe/Dublin": ("Europe/London",), "Eire": ("Europe/London",)}
# DTSTART of an unbounded `repeat_rrules` set: fixed, so its text never changes with the day it
# is compiled; yearly rules make expanding from it cheap.
REPEAT_ANCHOR = datetime(2000, 1, 1)


@dataclass(frozen=True)
class Clause:
    """Wall-clock times on the days matching every given constraint (None: any)."""

    times: tuple[int, ...]  # seconds after midnight
    months: frozenset[int] | None = None
    monthdays: frozenset[int] | None = None  # 1..31; -1 is the last day
    weekdays: frozenset[int] | None = None  # 0 is Monday

    def matches(self, day: date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        if self.weekdays is not None and day.weekday() not in self.weekdays:
            return False
        if self.monthdays is not None:
            last = calendar.monthrange(day.year, day.month)[1]
            return day.day in self.monthdays or (day.day == last and -1 in self.monthdays)
        return True


def join_numbers(numbers: Iterable[int]) -> str:
    """'1,2,3': a cron or rrule list."""
    return ",".join(str(n) for n in numbers)


def time_groups(times: Iterable[int]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(hours, minutes) products whose union is exactly `times`: minutes grouped by their hour set.

    A whole-hour DST shift keeps a time's minute, so a missing time and the time it moves to
    always land in the same group (one cron dedupes them; two crons would both fire).
    """
    hours_by_minute: dict[int, set[int]] = {}
    for seconds in times:
        hour, minute = divmod(seconds // 60, 60)
        hours_by_minute.setdefault(minute, set()).add(hour)
    minutes_by_hours: dict[tuple[int, ...], list[int]] = {}
    for minute, hours in sorted(hours_by_minute.items()):
        minutes_by_hours.setdefault(tuple(sorted(hours)), []).append(minute)
    return [(hours, tuple(minutes)) for hours, minutes in minutes_by_hours.items()]


def _rule_lines(
    prefix: str,
    freq: str,
    times: Iterable[int],
    *,
    months: Iterable[int] | None = None,
    monthdays: Iterable[int] | None = None,
    weekdays: Iterable[int] | None = None,
    until: datetime | None = None,
) -> list[str]:
    """RRULE/EXRULE lines for the given day constraints at `times` (one line per time group)."""
    days = [f"FREQ={freq}"]
    if months is not None:
        days.append(f"BYMONTH={join_numbers(sorted(months))}")
    if weekdays is not None:
        days.append(f"BYDAY={','.join(RRULE_DAYS[d] for d in sorted(weekdays))}")
    if monthdays is not None:
        days.append(f"BYMONTHDAY={join_numbers(sorted(monthdays))}")
    tail = [f"UNTIL={stamp(until)}"] if until is not None else []
    return [
        f"{prefix}:"
        + ";".join(
            [*days, f"BYHOUR={join_numbers(hours)}", f"BYMINUTE={join_numbers(minutes)}", "BYSECOND=0", *tail]
        )
        for hours, minutes in time_groups(times)
    ]


@dataclass(frozen=True)
class _GapRule:
    """Gaps recurring yearly on the `weekday` whose day of `month` is in `monthdays` (7 in a row)."""

    month: int
    weekday: int
    monthdays: tuple[int, ...]  # all positive, or all negative (-1 is the last day)
    begin: int
    end: int
    shift: int

    def days(self, first_year: int, last_year: int) -> set[date]:
        found = set()
        for year in range(first_year, last_year + 1):
            length = calendar.monthrange(year, self.month)[1]
            for monthday in self.monthdays:
                day = monthday if monthday > 0 else length + 1 + monthday
                if 1 <= day <= length and date(year, self.month, day).weekday() == self.weekday:
                    found.add(date(year, self.month, day))
        return found

    def lines(
        self, prefix: str, times: Iterable[int], monthdays: Iterable[int], until: datetime | None
    ) -> list[str]:
        """`prefix` (EXRULE or RRULE) lines for `times` on this rule's gap days among `monthdays`."""
        return _rule_lines(
            prefix,
            "YEARLY",
            times,
            months=[self.month],
            weekdays=[self.weekday],
            monthdays=monthdays,
            until=until,
        )


def _gap_rules(gaps: list[Gap], first_year: int, last_year: int) -> list[_GapRule] | None:
    """Yearly rules that predict exactly these gaps over the years, or None if some gap fits none."""
    by_key: dict[tuple[int, int, int, int, int], set[date]] = {}
    for gap in gaps:
        if gap.end + gap.shift > DAY:
            return None  # a missing time would move to the next day: no same-day rule expresses it
        by_key.setdefault((gap.day.month, gap.day.weekday(), gap.begin, gap.end, gap.shift), set()).add(
            gap.day
        )
    rules = []
    for (month, weekday, begin, end, shift), days in by_key.items():
        from_start = [d.day for d in days]
        from_end = [d.day - calendar.monthrange(d.year, d.month)[1] - 1 for d in days]
        # Seven days in a row hold each weekday once; the window is clipped to days that exist.
        candidates = []
        if max(from_start) - min(from_start) <= 6:
            candidates.append(tuple(d for d in range(min(from_start), min(from_start) + 7) if d <= 31))
        if max(from_end) - min(from_end) <= 6:
            candidates.append(tuple(d for d in range(max(from_end) - 6, max(from_end) + 1) if d >= -31))
        for monthdays in candidates:
            rule = _GapRule(month, weekday, monthdays, begin, end, shift)
            if rule.days(first_year, last_year) == days:
                rules.append(rule)
                break
        else:
            return None
    return rules


def _days_on_rule(rule: _GapRule, clause: Clause) -> Iterable[int] | None:
    """The days of `rule`'s window (BYMONTHDAY values) on which `clause` runs, or None if none."""
    if clause.months is not None and rule.month not in clause.months:
        return None
    if clause.weekdays is not None and rule.weekday not in clause.weekdays:
        return None
    if clause.monthdays is None:
        return rule.monthdays
    length = calendar.monthrange(2001, rule.month)[1]
    window = {d if d > 0 else length + 1 + d for d in rule.monthdays}
    return window & {d if d > 0 else length + 1 + d for d in clause.monthdays} or None


def _rule_corrections(
    clauses: list[Clause], rules: list[_GapRule], until: datetime, *, skip_missing: bool
) -> list[str] | None:
    """EXRULE lines dropping the missing times and (unless `skip_missing`) RRULE lines adding
    them at their true instant."""
    lines = []
    for rule in rules:
        if rule.month == 2 and any(c.monthdays is not None for c in clauses):
            return None  # February's length varies, so its days cannot be intersected once for all
        missing = sorted({t for c in clauses for t in c.times if rule.begin <= t < rule.end})
        if not missing:
            continue
        lines += rule.lines("EXRULE", missing, rule.monthdays, until)
        if skip_missing:
            continue
        for clause in clauses:
            monthdays = _days_on_rule(rule, clause)
            moved = [t + rule.shift for t in clause.times if rule.begin <= t < rule.end]
            if monthdays is not None and moved:
                lines += rule.lines("RRULE", moved, monthdays, until)
    return lines


def _listed_corrections(
    clauses: list[Clause], gaps: list[Gap], low: datetime, high: datetime | None, *, skip_missing: bool
) -> list[str]:
    """EXDATE lines for each missing run of the given gaps (zones without a yearly rule) and
    (unless `skip_missing`) RDATE lines adding them at their true instant."""
    dropped, added = set(), set()
    for gap in gaps:
        midnight = datetime.combine(gap.day, time())
        for days_later in range(gap.end // DAY + 1):
            day = gap.day + timedelta(days=days_later)
            for clause in clauses:
                if not clause.matches(day):
                    continue
                for seconds in clause.times:
                    since_midnight = seconds + days_later * DAY
                    if gap.begin <= since_midnight < gap.end:
                        dropped.add(midnight + timedelta(seconds=since_midnight))
                        moved = midnight + timedelta(seconds=since_midnight + gap.shift)
                        if not skip_missing and low <= moved and (high is None or moved <= high):
                            added.add(moved)
    lines = []
    if dropped:
        lines.append("EXDATE:" + ",".join(stamp(d) for d in sorted(dropped)))
    if added:
        lines.append("RDATE:" + ",".join(stamp(d) for d in sorted(added)))
    return lines


def _rrule_zone(clauses: list[Clause], zone: str, low: datetime, high: datetime | None, years: range) -> str:
    """The zone the rrule is localized in: `zone`, or a zone with the very same offsets that
    dateutil reads right, when a run of `zone` would land on a wall time dateutil misplaces."""
    misplaced = sorted(
        wall
        for year in years
        for wall in misplaced_walls(zone, year)
        if low <= wall
        and (high is None or wall <= high)
        and any(c.matches(wall.date()) and wall.hour * 3600 + wall.minute * 60 in c.times for c in clauses)
    )
    if not misplaced:
        return zone
    for twin in SAME_CLOCKS.get(zone, ()):
        if all(
            year_changes(twin, y) == year_changes(zone, y) and not misplaced_walls(twin, y) for y in years
        ):
            return twin
    raise ValueError(
        f"Prefect's rrule schedules (dateutil) place runs an hour early in {zone} around its DST change, "
        f"e.g. {misplaced[0].isoformat()}; this schedule compiles to one (for its start, end or max_runs, "
        "or days 29-31 in a list), so drop those or choose times outside that hour"
    )


def calendar_rrule(
    clauses: list[Clause], zone: str, lower: datetime, upper: datetime | None, *, skip_missing: bool = False
) -> tuple[str, str]:
    """One rrule set for the clauses' runs with instants in [lower, upper], DST gaps corrected.

    Prefect compares DTSTART and UNTIL with the runs as wall times, so both are written as the
    wall time of the bound's instant, which orders like the instants for every existing time.

    Args:
        skip_missing: a time a spring-forward gap skips does not run (elapsed time), instead of
            running shifted forward by the gap (the time rule).

    Returns:
        The rrule text and the zone to localize it in.
    """
    tz = ZoneInfo(zone)
    low = wall_time(lower, tz)
    high = wall_time(upper, tz) if upper is not None else None
    lines = [f"DTSTART:{stamp(low)}"]
    for clause in clauses:
        lines += _rule_lines(
            "RRULE",
            "DAILY",
            clause.times,
            months=clause.months,
            monthdays=clause.monthdays,
            weekdays=clause.weekdays,
            until=high,
        )
    # Corrections and checks stop where dateutil stops knowing the zone's changes: past that,
    # Prefect's rrule is what it is.
    first_year, last_year = low.year, low.year - 1
    while last_year < (high.year if high is not None else HORIZON_YEAR) and dateutil_knows(
        zone, last_year + 1
    ):
        last_year += 1
    corrected_until = datetime(last_year, 12, 31, 23, 59, 59)
    if high is not None:
        corrected_until = min(high, corrected_until)
    all_times = {t for c in clauses for t in c.times}
    gaps = [
        gap
        for year in range(first_year, last_year + 1)
        for gap in year_gaps(zone, year)
        if any(gap.begin <= t + k * DAY < gap.end for t in all_times for k in range(gap.end // DAY + 1))
    ]
    rules = _gap_rules(gaps, first_year, last_year)
    corrections = (
        _rule_corrections(clauses, rules, corrected_until, skip_missing=skip_missing)
        if rules is not None
        else None
    )
    if corrections is None:
        corrections = _listed_corrections(clauses, gaps, low, high, skip_missing=skip_missing)
    lines += corrections
    text = "\n".join(lines)
    if len(text) > MAX_RRULE_LENGTH:
        raise ValueError(
            f"this schedule needs an rrule of {len(text)} characters in {zone} (Prefect allows "
            f"{MAX_RRULE_LENGTH}); give an end, or fewer times inside the zone's DST change"
        )
    return text, _rrule_zone(clauses, zone, low, high, range(first_year, last_year + 1))


@functools.cache
def gap_moves_off_the_times(clauses: tuple[Clause, ...], zone: str, from_year: int) -> bool:
    """Whether a time of the clauses that a spring-forward gap skips, moved forward by the gap (as
    Prefect's cron schedules fire it), lands on a time the clauses do not have (`0 */2 * * *`:
    02:00 -> 03:00), from `from_year` through HORIZON_YEAR."""
    for year in range(from_year, HORIZON_YEAR + 1):
        for gap in year_gaps(zone, year):
            for days_later in range(gap.end // DAY + 1):
                day = gap.day + timedelta(days=days_later)
                for clause in clauses:
                    if not clause.matches(day):
                        continue
                    for seconds in clause.times:
                        since_midnight = seconds + days_later * DAY
                        if not gap.begin <= since_midnight < gap.end:
                            continue
                        moved_day, moved_time = divmod(since_midnight + gap.shift, DAY)
                        landing = gap.day + timedelta(days=moved_day)
                        if not any(c.matches(landing) and moved_time in c.times for c in clauses):
                            return True
    return False


def _second_passes(clauses: list[Clause], repeat: Repeat) -> list[datetime]:
    """The clauses' wall times inside a repeat (naive, local): each runs a second time."""
    midnight = datetime.combine(repeat.day, time())
    walls: set[datetime] = set()
    for days_later in range(repeat.end // DAY + 1):
        day = repeat.day + timedelta(days=days_later)
        for clause in clauses:
            if clause.matches(day):
                walls.update(
                    midnight + timedelta(seconds=t + days_later * DAY)
                    for t in clause.times
                    if repeat.begin <= t + days_later * DAY < repeat.end
                )
    return sorted(walls)


def _repeat_lines(
    clauses: list[Clause],
    repeats: list[Repeat],
    first_year: int,
    last_year: int,
    delta: int,
    until: datetime | None,
) -> list[str] | None:
    """Yearly RRULE lines for the clauses' times in these repeats, written `delta` seconds earlier
    than their local wall time; None if no yearly rule predicts the repeats, or a time would move
    to another day."""
    spans = [Gap(r.day, r.begin, r.end, 0) for r in repeats]
    rules = _gap_rules(spans, first_year, last_year)
    if rules is None:
        return None
    lines = []
    for rule in rules:
        if rule.month == 2 and any(c.monthdays is not None for c in clauses):
            return None  # February's length varies, so its days cannot be intersected once for all
        for clause in clauses:
            monthdays = _days_on_rule(rule, clause)
            times = [t - delta for t in clause.times if rule.begin <= t < rule.end]
            if any(not 0 <= t < DAY for t in times):
                return None
            if monthdays is not None and times:
                lines += rule.lines("RRULE", times, monthdays, until)
    return lines


def _fixed_zones(offset: int) -> list[tuple[str, int]]:
    """Zones of a fixed whole-hour offset near `offset` (seconds), and how many seconds their wall
    clocks run behind a clock at `offset`: the floor hour's first, then the ceiling's."""
    hours = offset // 3600
    found = []
    for whole in (hours, hours + 1) if offset % 3600 else (hours,):
        zone = whole_hour_zone(whole)
        if zone is not None:
            found.append((zone, offset - whole * 3600))
    return found or [("UTC", offset)]


def repeat_rrules(
    clauses: list[Clause], zone: str, first_year: int, lower: datetime | None, upper: datetime | None
) -> list[tuple[str, str]]:
    """Rrule sets firing the clauses' times a second time in each fall-back repeat (the second
    pass), instants in [lower, upper]: one (text, zone) per UTC offset of the second passes.

    Prefect's crons and rrules fire a repeated wall time once, at its first occurrence; a cron
    counting elapsed time fires it in both passes. Each set is localized in an Etc zone of a
    fixed whole-hour offset, where no wall time is ambiguous: the second pass's offset, or the
    nearest (Newfoundland's -03:30 runs on Etc/GMT+4's clock, its times 30 minutes earlier).

    Args:
        first_year: the first year whose repeats count.
        lower: the earliest instant; None: unbounded (DTSTART is REPEAT_ANCHOR, so the text is
            the same whatever day it is compiled).
        upper: the latest instant; None: unbounded.
    """
    last_year = min(upper.year + 1, HORIZON_YEAR) if upper is not None else HORIZON_YEAR
    all_times = {t for c in clauses for t in c.times}
    by_offset: dict[int, list[Repeat]] = {}
    for year in range(first_year, last_year + 1):
        for repeat in year_repeats(zone, year):
            days = range(repeat.end // DAY + 1)
            if any(repeat.begin <= t + k * DAY < repeat.end for t in all_times for k in days):
                by_offset.setdefault(repeat.offset, []).append(repeat)
    found = []
    for offset, repeats in by_offset.items():
        candidates = _fixed_zones(offset)
        for rrule_zone, delta in candidates:
            high = wall_time(upper, ZoneInfo(rrule_zone)) if upper is not None else None
            lines = _repeat_lines(clauses, repeats, first_year, last_year, delta, high)
            if lines is not None:
                break
        else:
            rrule_zone, delta = candidates[0]
            lines = _listed_repeats(clauses, repeats, zone, ZoneInfo(rrule_zone), delta, lower, upper)
        if not lines:
            continue
        low = wall_time(lower, ZoneInfo(rrule_zone)) if lower is not None else REPEAT_ANCHOR
        text = "\n".join([f"DTSTART:{stamp(low)}", *lines])
        if len(text) > MAX_RRULE_LENGTH:
            raise ValueError(
                f"this cron counts elapsed time, so it runs twice in {zone}'s repeated hour when clocks "
                f"go back, which needs an rrule of {len(text)} characters (Prefect allows "
                f"{MAX_RRULE_LENGTH}); give hours without a * (a fixed-hour cron runs once)"
            )
        found.append((text, rrule_zone))
    return found


def _listed_repeats(
    clauses: list[Clause],
    repeats: list[Repeat],
    zone: str,
    tz: ZoneInfo,
    delta: int,
    lower: datetime | None,
    upper: datetime | None,
) -> list[str]:
    """An RDATE line of each second pass in [lower, upper], on the clock of `tz` (`delta` seconds
    behind the second pass's), for repeats no yearly rule predicts (Morocco's, around Ramadan).

    Only as many years as Prefect's rrule length allows: past them a repeated time runs once, as
    Prefect's own crons fire it, until an apply compiles the schedule again.
    """
    walls = [w - timedelta(seconds=delta) for r in repeats for w in _second_passes(clauses, r)]
    low = wall_time(lower, tz) if lower is not None else None
    high = wall_time(upper, tz) if upper is not None else None
    listed = [w for w in walls if (low is None or low <= w) and (high is None or w <= high)]
    if not listed:
        return []
    room = MAX_RRULE_LENGTH - len("DTSTART:20000101T000000\nRDATE:")
    years = sorted({w.year for w in listed})
    fitting = [y for y in years if len(",".join(stamp(w) for w in listed if w.year <= y)) <= room]
    if not fitting:
        raise ValueError(
            f"this cron counts elapsed time, so it runs twice in {zone}'s repeated hour when clocks go "
            f"back, and {zone}'s changes follow no yearly rule: listing one year of them exceeds "
            f"Prefect's rrule length ({MAX_RRULE_LENGTH}); give hours without a * (a fixed-hour cron "
            "runs once)"
        )
    return ["RDATE:" + ",".join(stamp(w) for w in listed if w.year <= fitting[-1])]
