"""Schedule specs of the catalog: the friendly language, its validation, its compiler, and preview.

This module is the one place a schedule's meaning is defined: the catalog validates with
`parse_schedules`, `apply` compiles with `ScheduleSpec.to_prefect`, and `preview` expands the
compiled schedules with the Prefect server's own expansion code, so it shows exactly the runs
the server creates.

Time rules:

- Wall-clock times (`daily`, `weekly`, `monthly`, `cron`, `once`, `start`, `end`) are in the
  schedule's zone. A time missing on a spring-forward day fires once, at the instant the offset
  before the change maps it to (02:30 in Europe/Berlin on the jump day fires at 03:30 CEST); a
  time that occurs twice fires once, at its first occurrence.
- `every` is elapsed time, anchored at `start`, or without one at the Unix epoch (so `every: 1h`
  fires on the UTC hour and re-applying never shifts it).
- `start` and `end` bound the runs' instants (both inclusive); `max_runs` keeps the first runs
  at or after `start`.

How each spec compiles, and why (Prefect 3.9, `prefect/server/schemas/schedules.py`):

- `CronSchedule` localizes each wall time with fold=0 through `whenever` ("compatible"), which
  is exactly the rule above, and seeks in O(1); but it cannot be bounded. Unbounded calendar
  specs compile to disjoint crons (times grouped by hour set; a whole-hour DST shift keeps the
  minute, so a missing time and the time it lands on share a cron, which dedupes them).
  Prefect's vendored croniter mishandles days 29-31 in day-of-month lists, so those days get
  crons of their own (or, in a user's cron, the rrule form).
- `RRuleSchedule` is the only kind with bounds (DTSTART/UNTIL/COUNT), but it localizes with
  dateutil, which gives a missing time the offset *after* the change (02:30 fires at 01:30 CET,
  an hour early). Bounded calendar specs therefore compile to one rrule set whose gap days are
  corrected: an EXRULE drops the missing times and an RRULE adds them at their true instant,
  derived from the zone's yearly DST rule (EXDATE/RDATE lists for zones without one). dateutil
  also knows no DST change after 2037 (it reads only 32-bit tz data) and misreads negative DST
  (Europe/Dublin: an offset-identical zone is used instead; Africa/Casablanca: refused when a
  run would be misplaced), so rrule forms are exact through 2036 or 2037 depending on the zone.
- `IntervalSchedule` in UTC is exact elapsed time in O(1) but unbounded and fires before its
  anchor; bounded `every` specs compile to a UTC rrule (`FREQ=SECONDLY`, COUNT for `max_runs`).
  `once` is a one-run UTC rrule.
- `max_runs` is never DeploymentScheduleCreate.max_scheduled_runs, which caps *pending* runs.

Specs whose `start` has passed by compile time take the cheaper unbounded form: the server only
ever schedules from "now", so both forms create the same runs.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import dateutil.tz
import yaml
from prefect._internal.schemas.validators import MAX_RRULE_LENGTH
from prefect._vendor.croniter import croniter
from prefect._vendor.croniter.croniter import CroniterBadDateError
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
KINDS = ("every", "cron", "daily", "weekly", "monthly", "once")
FIELDS = (*KINDS, "timezone", "start", "end", "max_runs")
# The seeds' `{type: ..., schedule: ...}` (gocron) and `{type: daily, time: ...}` (requirements).
SEED_TYPES = {"duration": "every", "interval": "every", "cron": "cron", "daily": "daily"}
# Anchor of `every` without a start: runs fall on whole multiples of the interval since it.
EVERY_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Zones are examined for DST changes up to this year.
HORIZON_YEAR = 2100
DAY = 86400
# Zones with the same clocks as one whose negative DST dateutil misreads (checked before use).
SAME_CLOCKS = {"Europe/Dublin": ("Europe/London",), "Eire": ("Europe/London",)}
# Runs asked of Prefect's expansion at a time; it stops after 1000 candidates per call anyway.
EXPANSION_CHUNK = 500


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


@functools.cache
def _known_timezones() -> frozenset[str]:
    # The names every Prefect schedule kind accepts (prefect.types.TimeZone leaves out localtime).
    return frozenset(available_timezones()) - {"localtime"}


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA timezone Prefect accepts; raise ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown timezone {name!r} (an IANA name such as Europe/Berlin)") from None
    if name not in _known_timezones():
        raise ValueError(f"unknown timezone {name!r} (an IANA name such as Europe/Berlin)")
    return name


def parse_time(value: Any) -> str:
    """'2:00', '14:30' -> 'HH:MM'; raises ValueError naming the allowed range."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        # YAML 1.1 reads an unquoted 14:30 as the base-60 number 870.
        hour, minute = divmod(value, 60)
        raise ValueError(
            f"{value} is not a time (HH:MM, 00:00–23:59): YAML reads an unquoted {hour}:{minute:02d} "
            f'as the number {value}; quote it ("{hour:02d}:{minute:02d}")'
        )
    match = TIME.match(value.strip()) if isinstance(value, str) else None
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f'"{value}" is not a time (HH:MM, 00:00–23:59)')
    return f"{int(match[1]):02d}:{match[2]}"


def parse_local_datetime(value: Any, what: str, *, end_of_day: bool = False) -> datetime:
    """A local date-time of the catalog ('2026-12-01T09:00', a YAML date or datetime) -> naive datetime.

    Args:
        value: the raw value.
        what: the field's name, for messages.
        end_of_day: a bare date means its last second (for `end`) instead of its midnight.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f'{what} "{text}" is not a date-time (YYYY-MM-DDTHH:MM, in the schedule\'s timezone)'
            ) from None
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime.combine(value, time(23, 59, 59) if end_of_day else time())
    if not isinstance(value, datetime):
        raise ValueError(
            f"{what} {value!r} is not a date-time (YYYY-MM-DDTHH:MM, in the schedule's timezone)"
        )
    if value.tzinfo is not None:
        raise ValueError(
            f"{what} {value.isoformat()} has a UTC offset; write the local date-time without one "
            "(the zone comes from `timezone`)"
        )
    if value.microsecond:
        raise ValueError(f"{what} {value.isoformat()} has fractions of a second; give whole seconds")
    return value


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _times(value: Any, what: str) -> list[str]:
    items = _as_list(value)
    if not items:
        raise ValueError(f'an empty list of times in {what}; give at least one, e.g. ["02:00"]')
    return sorted({parse_time(item) for item in items})


def _seconds(times: Iterable[str]) -> tuple[int, ...]:
    return tuple(sorted(int(t[:2]) * 3600 + int(t[3:]) * 60 for t in times))


def _reject_unknown_keys(data: Any, allowed: tuple[str, ...], what: str) -> None:
    if isinstance(data, dict):
        unknown = [str(key) for key in data if key not in allowed]
        if unknown:
            raise ValueError(
                f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in {what} "
                f"(allowed: {', '.join(allowed)})"
            )


class WeeklySpec(BaseModel):
    """`{days: [mon, wed, fri], at: ["09:00", "18:00"]}`."""

    model_config = ConfigDict(extra="forbid")

    days: list[str] = Field(..., description="Weekdays: mon, tue, wed, thu, fri, sat, sun.")
    at: list[str] = Field(..., description='Times of day, "HH:MM".')

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, dict | BaseModel):
            raise ValueError(f'weekly is a mapping {{days: [mon, ...], at: ["09:00"]}}; found {data!r}')
        _reject_unknown_keys(data, ("days", "at"), "weekly")
        return data

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> list[str]:
        items = _as_list(value)
        if not items:
            raise ValueError(
                "an empty list of weekdays; give at least one (mon, tue, wed, thu, fri, sat, sun)"
            )
        days = set()
        for item in items:
            key = item.strip().lower() if isinstance(item, str) else None
            if key in WEEKDAY_NAMES:
                key = WEEKDAYS[WEEKDAY_NAMES.index(key)]
            if key not in WEEKDAYS:
                raise ValueError(f"unknown weekday {item!r} (allowed: {', '.join(WEEKDAYS)})")
            days.add(key)
        return sorted(days, key=WEEKDAYS.index)

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> list[str]:
        return _times(value, "weekly.at")


class MonthlySpec(BaseModel):
    """`{days: [1, 15, last], at: ["06:00"]}`; a day a month lacks is skipped, `last` never is."""

    model_config = ConfigDict(extra="forbid")

    days: list[int | Literal["last"]] = Field(..., description="Days of the month 1..31, or last.")
    at: list[str] = Field(..., description='Times of day, "HH:MM".')

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, dict | BaseModel):
            raise ValueError(f'monthly is a mapping {{days: [1, 15, last], at: ["06:00"]}}; found {data!r}')
        _reject_unknown_keys(data, ("days", "at"), "monthly")
        return data

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> list[int | str]:
        items = _as_list(value)
        if not items:
            raise ValueError('an empty list of days; give at least one (1..31 or "last")')
        days: set[int] = set()
        last = False
        for item in items:
            if isinstance(item, str) and item.strip().lower() == "last":
                last = True
            elif isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= 31:
                days.add(item)
            else:
                raise ValueError(
                    f'monthly day {item!r} is outside 1..31 (or "last", the last day of the month)'
                )
        return [*sorted(days), *(["last"] if last else [])]

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> list[str]:
        return _times(value, "monthly.at")


def _spec_from_text(text: str) -> dict[str, Any]:
    """A bare string: '30s' -> every, 'HH:MM' -> daily, anything with spaces -> cron."""
    stripped = text.strip()
    if DURATION.match(stripped) and stripped:
        return {"every": stripped}
    if TIME.match(stripped):
        return {"daily": [stripped]}
    if len(stripped.split()) > 1:
        return {"cron": stripped}
    raise ValueError(
        f'"{text}" is not a schedule (a duration such as 30s, a time such as "02:00", or a 5-field cron)'
    )


def _spec_from_seed(data: dict[str, Any]) -> dict[str, Any]:
    """The seeds' `{type: duration|cron|daily, schedule: ...}` and `{type: daily, time: ...}`."""
    data = dict(data)
    kind = data.pop("type")
    if kind not in SEED_TYPES:
        raise ValueError(f"unknown schedule type {kind!r} (allowed: {', '.join(SEED_TYPES)})")
    values = [data.pop(key) for key in ("schedule", "time") if key in data]
    if len(values) != 1:
        raise ValueError(f"a schedule of type {kind!r} needs exactly one of: schedule, time")
    return {SEED_TYPES[kind]: values[0], **data}


@dataclass(frozen=True)
class _Clause:
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


class ScheduleSpec(BaseModel):
    """One schedule of a task: exactly one of every, cron, daily, weekly, monthly, once, plus bounds.

    Also accepted, and normalized to the above: a bare string ("30s", "02:00", "0 */6 * * *"), the
    gocron seed's `{type: duration|cron|daily, schedule: ...}` and the requirements document's
    `{type: daily, time: "02:00"}`. `once` in the past is rejected; validate with
    `context={"now": ..., "default_timezone": ...}` to fix the clock and zone of that check.
    """

    model_config = ConfigDict(extra="forbid")

    every: str | None = Field(None, description="Elapsed interval such as 30s, 5m, 1h30m, 2d.")
    cron: str | None = Field(None, description="5-field cron expression, in the schedule's timezone.")
    daily: list[str] | None = Field(None, description='Times of day, "HH:MM".')
    weekly: WeeklySpec | None = Field(None, description="Weekdays and times of day.")
    monthly: MonthlySpec | None = Field(None, description="Days of the month (or last) and times of day.")
    once: datetime | None = Field(None, description="A single run at this local date-time.")
    timezone: str | None = Field(None, description="IANA timezone; default from settings, else UTC.")
    start: datetime | None = Field(None, description="No run before this local date-time.")
    end: datetime | None = Field(None, description="No run after this local date-time.")
    max_runs: int | None = Field(None, description="Stop after this many runs from start.")

    @model_validator(mode="before")
    @classmethod
    def _shapes(cls, data: Any) -> Any:
        if isinstance(data, BaseModel):
            return data
        if isinstance(data, str):
            return _spec_from_text(data)
        if not isinstance(data, dict):
            raise ValueError(
                'a schedule is a mapping such as {every: 30s} or a string such as "30s"; '
                f"found {type(data).__name__}"
            )
        if "type" in data:
            data = _spec_from_seed(data)
        _reject_unknown_keys(data, FIELDS, "a schedule")
        return data

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(f'cron "{value}" has {len(fields)} fields, needs 5')
        if "#" in value:
            raise ValueError(
                f'cron "{value}" uses "#" (nth weekday), which is not supported; use numbers, names, '
                "*, ranges, steps, lists, ? and L (last day of the month)"
            )
        try:
            CronSchedule(cron=value)
            expanded = croniter(value).expanded
        except ValueError:
            raise ValueError(
                f'cron "{value}" is not a valid cron expression (minute hour day-of-month month day-of-week)'
            ) from None
        # Bounded specs compile the expanded fields to an rrule: only numbers, * and L translate.
        for position, items in enumerate(expanded):
            for item in items:
                if not (isinstance(item, int) or item == "*" or (item == "l" and position == 2)):
                    raise ValueError(
                        f'cron "{value}" uses {str(item).upper()!r}, which is not supported; use numbers, '
                        "names, *, ranges, steps, lists, ? and L (last day of the month)"
                    )
        try:
            # Prefect's scheduler raises on a cron that never matches (e.g. 30 February).
            croniter(value, datetime(2000, 1, 1)).get_next(datetime)
        except CroniterBadDateError:
            raise ValueError(
                f'cron "{value}" never fires: no date matches its day and month fields'
            ) from None
        return value

    @field_validator("daily", mode="before")
    @classmethod
    def _daily(cls, value: Any) -> Any:
        return None if value is None else _times(value, "daily")

    @field_validator("once", "start", mode="before")
    @classmethod
    def _local(cls, value: Any, info: ValidationInfo) -> Any:
        return None if value is None else parse_local_datetime(value, str(info.field_name))

    @field_validator("end", mode="before")
    @classmethod
    def _end(cls, value: Any) -> Any:
        return None if value is None else parse_local_datetime(value, "end", end_of_day=True)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return check_timezone(value) if value is not None else None

    @field_validator("max_runs", mode="before")
    @classmethod
    def _max_runs(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"max_runs must be a whole number of at least 1; found {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ScheduleSpec:
        kinds = [k for k in KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = f"found {', '.join(kinds)}" if kinds else "found none"
            raise ValueError(f"a schedule needs exactly one of: {', '.join(KINDS)}; {found}")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end.isoformat()} is before start {self.start.isoformat()}")
        if self.once is not None:
            bounds = [k for k in ("start", "end", "max_runs") if getattr(self, k) is not None]
            if bounds:
                raise ValueError(f"once is a single run; {', '.join(bounds)} do not apply to it")
            context = info.context or {}
            now = context.get("now") or datetime.now(UTC)
            zone = ZoneInfo(self.timezone or context.get("default_timezone") or "UTC")
            if _instant(self.once, zone) < now:
                raise ValueError(
                    f"once {self.once.isoformat()} ({zone.key}) is in the past "
                    f"(now is {now.astimezone(zone).replace(microsecond=0).isoformat()})"
                )
        if self.max_runs is not None and self.start is None:
            raise ValueError(
                "max_runs needs a start: runs are counted from start, so re-applying keeps the count"
            )
        return self

    def zone(self, default_timezone: str | None) -> str:
        """The schedule's IANA timezone: its own, else `default_timezone`, else UTC."""
        return check_timezone(self.timezone or default_timezone or "UTC")

    def slug(self) -> str:
        """Stable identifier: re-applying the same spec never duplicates its schedules."""
        canonical = json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True)
        return "tasklane-" + hashlib.sha256(canonical.encode()).hexdigest()[:12]

    def to_prefect(
        self, default_timezone: str | None, *, active: bool, now: datetime | None = None
    ) -> list[DeploymentScheduleCreate]:
        """Compile to Prefect deployment schedules that fire exactly at this spec's runs from `now` on.

        Args:
            default_timezone: the zone of a spec without `timezone` (settings), else UTC.
            active: whether the schedules are active (a disabled task's are not).
            now: the compile time; runs before it are never scheduled by the server, so some
                specs pick a cheaper equivalent form once their start has passed.

        Returns:
            One schedule, or several (slugs suffixed -0, -1, ...) when a spec needs several crons.
        """
        now = (now or datetime.now(UTC)).astimezone(UTC)
        zone = self.zone(default_timezone)
        if self.once is not None:
            # In UTC: the instant is known, and no zone's DST can be misread on the way.
            instant = _instant(self.once, ZoneInfo(zone)).replace(tzinfo=None)
            schedules: list[Any] = [
                RRuleSchedule(rrule=f"DTSTART:{_stamp(instant)}\nRRULE:FREQ=DAILY;COUNT=1")
            ]
        elif self.every is not None:
            schedules = [self._every_schedule(zone, now)]
        else:
            schedules = self._calendar_schedules(zone, now)
        slug = self.slug()
        slugs = [slug] if len(schedules) == 1 else [f"{slug}-{i}" for i in range(len(schedules))]
        return [
            DeploymentScheduleCreate(schedule=schedule, active=active, slug=name)
            for schedule, name in zip(schedules, slugs, strict=True)
        ]

    def _bounds(self, tz: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        start = _instant(self.start, tz) if self.start is not None else None
        end = _instant(self.end, tz) if self.end is not None else None
        return start, end

    def _every_schedule(self, zone: str, now: datetime) -> IntervalSchedule | RRuleSchedule:
        interval = parse_duration(self.every or "")
        step = int(interval.total_seconds())
        start, end = self._bounds(ZoneInfo(zone))
        if end is None and self.max_runs is None and (start is None or start <= now):
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
        if self.max_runs is not None:
            count = self.max_runs
            if end is not None:
                count = min(count, int((end - first).total_seconds()) // step + 1)
            parts.append(f"COUNT={count}")
        elif end is not None:
            parts.append(f"UNTIL={_stamp(end.replace(tzinfo=None))}")
        return RRuleSchedule(rrule=f"DTSTART:{_stamp(first.replace(tzinfo=None))}\nRRULE:{';'.join(parts)}")

    def _clauses(self) -> list[_Clause]:
        if self.daily is not None:
            return [_Clause(_seconds(self.daily))]
        if self.weekly is not None:
            weekdays = frozenset(WEEKDAYS.index(d) for d in self.weekly.days)
            return [_Clause(_seconds(self.weekly.at), weekdays=weekdays)]
        if self.monthly is not None:
            monthdays = frozenset(-1 if d == "last" else d for d in self.monthly.days)
            return [_Clause(_seconds(self.monthly.at), monthdays=monthdays)]
        minutes, hours, monthdays, months, weekdays = croniter(self.cron or "").expanded
        times = tuple(
            sorted(
                h * 3600 + m * 60
                for h in (range(24) if hours == ["*"] else hours)
                for m in (range(60) if minutes == ["*"] else minutes)
            )
        )
        month_set = None if months == ["*"] else frozenset(months)
        day_set = None if monthdays == ["*"] else frozenset(-1 if d == "l" else d for d in monthdays)
        # croniter counts Sunday as 0; Python as 6.
        weekday_set = None if weekdays == ["*"] else frozenset((d - 1) % 7 for d in weekdays)
        if day_set is not None and weekday_set is not None:
            # Cron ORs a restricted day of month with a restricted day of week; an rrule ANDs them.
            return [_Clause(times, month_set, day_set, None), _Clause(times, month_set, None, weekday_set)]
        return [_Clause(times, month_set, day_set, weekday_set)]

    def _crons(self) -> list[str] | None:
        """Disjoint crons Prefect expands exactly like this spec, or None if its croniter cannot."""
        clause = self._clauses()[0]
        if self.cron is not None:
            # Prefect's vendored croniter (prefect/_vendor/croniter) mis-steps after a month that
            # lacks a listed day: "1,30" skips 1 March, "*/10" skips the 1st after a 30-day month,
            # "31,L" never fires in February. One day, or days up to 28 with L, are safe.
            days = clause.monthdays
            return None if days and len(days) > 1 and max(days) >= 29 else [self.cron]
        dow = "*" if clause.weekdays is None else _join(sorted((d + 1) % 7 for d in clause.weekdays))
        return [
            f"{_join(minutes)} {_join(hours)} {dom} {months} {dow}"
            for dom, months in _cron_days(clause.monthdays)
            for hours, minutes in _time_groups(clause.times)
        ]

    def _calendar_schedules(self, zone: str, now: datetime) -> list[Any]:
        tz = ZoneInfo(zone)
        start, end = self._bounds(tz)
        if end is None and self.max_runs is None and (start is None or start <= now):
            crons = self._crons()
            # A 30-minute DST shift can move a missing time onto one of another cron (Lord Howe);
            # several schedules would then both fire, so such specs take the single-rrule form.
            if crons is not None and (len(crons) == 1 or not _has_partial_hour_shift(zone, now.year)):
                return [CronSchedule(cron=cron, timezone=zone) for cron in crons]
        lower = (
            start if start is not None else _instant(datetime.combine(now.astimezone(tz).date(), time()), tz)
        )
        clauses = self._clauses()
        if self.max_runs is not None:
            runs = _rrule_runs(*_calendar_rrule(clauses, zone, lower, end), self.max_runs)
            if len(runs) == self.max_runs:
                end = runs[-1] if end is None else min(end, runs[-1])
        text, rrule_zone = _calendar_rrule(clauses, zone, lower, end)
        return [RRuleSchedule(rrule=text, timezone=rrule_zone)]


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
            fields.append((str(day), _join(months)))
    return fields


def _instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a local wall time: fold=0 maps a missing time with the offset before the
    change and a repeated time to its first occurrence (PEP 495)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _stamp(wall: datetime) -> str:
    return wall.strftime("%Y%m%dT%H%M%S")


def _join(numbers: Iterable[int]) -> str:
    return ",".join(str(n) for n in numbers)


def _time_groups(times: Iterable[int]) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
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


def _rule_line(
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
        days.append(f"BYMONTH={_join(sorted(months))}")
    if weekdays is not None:
        days.append(f"BYDAY={','.join(RRULE_DAYS[d] for d in sorted(weekdays))}")
    if monthdays is not None:
        days.append(f"BYMONTHDAY={_join(sorted(monthdays))}")
    tail = [f"UNTIL={_stamp(until)}"] if until is not None else []
    return [
        f"{prefix}:"
        + ";".join([*days, f"BYHOUR={_join(hours)}", f"BYMINUTE={_join(minutes)}", "BYSECOND=0", *tail])
        for hours, minutes in _time_groups(times)
    ]


@dataclass(frozen=True)
class _Gap:
    """A spring-forward gap: wall times [begin, end) seconds after `day`'s midnight do not exist."""

    day: date
    begin: int
    end: int
    shift: int


@functools.cache
def _year_changes(zone: str, year: int) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
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
def _year_gaps(zone: str, year: int) -> tuple[_Gap, ...]:
    """The zone's spring-forward gaps starting in `year`."""
    gaps = []
    for wall, before, after in _year_changes(zone, year):
        if after > before:
            shift = int((after - before).total_seconds())
            begin = int((wall - datetime.combine(wall.date(), time())).total_seconds())
            gaps.append(_Gap(wall.date(), begin, begin + shift, shift))
    return tuple(gaps)


@functools.cache
def _dateutil_knows(zone: str, year: int) -> bool:
    """Whether dateutil, which localizes Prefect's rrules, has the zone's offsets of `year` right.

    It reads only the 32-bit part of tz files, so it knows no DST change after early 2038 (nor,
    south of the equator, the one of October 2037): rrules there run on the last known offset.
    """
    tz, dateutil_tz = ZoneInfo(zone), dateutil.tz.gettz(zone)
    moments = [datetime(year, 1, 1, tzinfo=UTC), datetime(year, 7, 1, tzinfo=UTC)]
    # A day either side of each change: at the change itself dateutil may misread (see _misplaced).
    for wall, before, _after in _year_changes(zone, year):
        change = (wall - before).replace(tzinfo=UTC)
        moments += [change - timedelta(days=1), change + timedelta(days=1)]
    return all(m.astimezone(dateutil_tz).utcoffset() == m.astimezone(tz).utcoffset() for m in moments)


@functools.cache
def _misplaced(zone: str, year: int) -> frozenset[datetime]:
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
        return wall.replace(tzinfo=dateutil_tz).astimezone(UTC) != _instant(wall, tz)

    found: set[datetime] = set()
    for wall, before, after in _year_changes(zone, year):
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


def _has_partial_hour_shift(zone: str, from_year: int) -> bool:
    return any(g.shift % 3600 for y in range(from_year, HORIZON_YEAR + 1) for g in _year_gaps(zone, y))


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


def _gap_rules(gaps: list[_Gap], first_year: int, last_year: int) -> list[_GapRule] | None:
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


def _rule_corrections(clauses: list[_Clause], rules: list[_GapRule], until: datetime) -> list[str] | None:
    """EXRULE lines dropping the missing times and RRULE lines adding them at their true instant."""
    lines = []
    for rule in rules:
        if rule.month == 2 and any(c.monthdays is not None for c in clauses):
            return None  # February's length varies, so its days cannot be intersected once for all
        missing = sorted({t for c in clauses for t in c.times if rule.begin <= t < rule.end})
        if not missing:
            continue
        lines += _rule_line(
            "EXRULE",
            "YEARLY",
            missing,
            months=[rule.month],
            weekdays=[rule.weekday],
            monthdays=rule.monthdays,
            until=until,
        )
        length = calendar.monthrange(2001, rule.month)[1]
        for clause in clauses:
            if clause.months is not None and rule.month not in clause.months:
                continue
            if clause.weekdays is not None and rule.weekday not in clause.weekdays:
                continue
            monthdays: Iterable[int] = rule.monthdays
            if clause.monthdays is not None:
                window = {d if d > 0 else length + 1 + d for d in rule.monthdays}
                monthdays = window & {d if d > 0 else length + 1 + d for d in clause.monthdays}
                if not monthdays:
                    continue
            moved = [t + rule.shift for t in clause.times if rule.begin <= t < rule.end]
            if moved:
                lines += _rule_line(
                    "RRULE",
                    "YEARLY",
                    moved,
                    months=[rule.month],
                    weekdays=[rule.weekday],
                    monthdays=monthdays,
                    until=until,
                )
    return lines


def _listed_corrections(
    clauses: list[_Clause], gaps: list[_Gap], low: datetime, high: datetime | None
) -> list[str]:
    """EXDATE/RDATE lines for each missing run of the given gaps (zones without a yearly rule)."""
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
                        if low <= moved and (high is None or moved <= high):
                            added.add(moved)
    lines = []
    if dropped:
        lines.append("EXDATE:" + ",".join(_stamp(d) for d in sorted(dropped)))
    if added:
        lines.append("RDATE:" + ",".join(_stamp(d) for d in sorted(added)))
    return lines


def _rrule_zone(clauses: list[_Clause], zone: str, low: datetime, high: datetime | None, years: range) -> str:
    """The zone the rrule is localized in: `zone`, or a zone with the very same offsets that
    dateutil reads right, when a run of `zone` would land on a wall time dateutil misplaces."""
    misplaced = sorted(
        wall
        for year in years
        for wall in _misplaced(zone, year)
        if low <= wall
        and (high is None or wall <= high)
        and any(c.matches(wall.date()) and wall.hour * 3600 + wall.minute * 60 in c.times for c in clauses)
    )
    if not misplaced:
        return zone
    for twin in SAME_CLOCKS.get(zone, ()):
        if all(_year_changes(twin, y) == _year_changes(zone, y) and not _misplaced(twin, y) for y in years):
            return twin
    raise ValueError(
        f"Prefect's rrule schedules (dateutil) place runs an hour early in {zone} around its DST change, "
        f"e.g. {misplaced[0].isoformat()}; this schedule compiles to one (for its start, end or max_runs, "
        "or days 29-31 in a list), so drop those or choose times outside that hour"
    )


def _calendar_rrule(
    clauses: list[_Clause], zone: str, lower: datetime, upper: datetime | None
) -> tuple[str, str]:
    """One rrule set for the clauses' runs with instants in [lower, upper], DST gaps corrected.

    Prefect compares DTSTART and UNTIL with the runs as wall times, so both are written as the
    wall time of the bound's instant, which orders like the instants for every existing time.

    Returns:
        The rrule text and the zone to localize it in.
    """
    tz = ZoneInfo(zone)
    low = _wall(lower, tz)
    high = _wall(upper, tz) if upper is not None else None
    lines = [f"DTSTART:{_stamp(low)}"]
    for clause in clauses:
        lines += _rule_line(
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
    while last_year < (high.year if high is not None else HORIZON_YEAR) and _dateutil_knows(
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
        for gap in _year_gaps(zone, year)
        if any(gap.begin <= t + k * DAY < gap.end for t in all_times for k in range(gap.end // DAY + 1))
    ]
    rules = _gap_rules(gaps, first_year, last_year)
    corrections = _rule_corrections(clauses, rules, corrected_until) if rules is not None else None
    lines += corrections if corrections is not None else _listed_corrections(clauses, gaps, low, high)
    text = "\n".join(lines)
    if len(text) > MAX_RRULE_LENGTH:
        raise ValueError(
            f"this schedule needs an rrule of {len(text)} characters in {zone} (Prefect allows "
            f"{MAX_RRULE_LENGTH}); give an end, or fewer times inside the zone's DST change"
        )
    return text, _rrule_zone(clauses, zone, low, high, range(first_year, last_year + 1))


def _rrule_runs(text: str, zone: str, n: int) -> list[datetime]:
    """The first `n` distinct run instants of an rrule set, localized the way Prefect's server does."""
    from prefect.server.schemas.schedules import RRuleSchedule as ServerRRule

    runs: list[datetime] = []
    for occurrence in ServerRRule(rrule=text, timezone=zone).to_rrule():
        instant = occurrence.astimezone(UTC)
        if not runs or instant != runs[-1]:
            runs.append(instant)
        if len(runs) == n:
            break
    return runs


def _server_dates(schedules: list[Any], n: int, after: datetime) -> list[datetime]:
    """The first `n` distinct instants at or after `after` that Prefect's server schedules for these.

    It calls the very generator `prefect.server.models.deployments._generate_scheduled_flow_runs`
    calls, on the server's model of each schedule (rebuilt from its JSON, as the database stores it).
    """
    from prefect.server.schemas import schedules as server

    server_kind = {
        CronSchedule: server.CronSchedule,
        IntervalSchedule: server.IntervalSchedule,
        RRuleSchedule: server.RRuleSchedule,
    }
    found: set[datetime] = set()
    for schedule in schedules:
        expander = server_kind[type(schedule)].model_validate(schedule.model_dump(mode="json"))
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
    moment = (_instant(after, tz) if after.tzinfo is None else after).astimezone(UTC)
    compiled = spec.to_prefect(default_timezone, active=True, now=moment)
    return [d.astimezone(tz) for d in _server_dates([c.schedule for c in compiled], n, moment)]


def parse_schedules(raw: Any, *, now: datetime | None = None) -> list[ScheduleSpec]:
    """The catalog's `schedule:` value (one spec, a list of specs, or nothing)."""
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, list) and not raw:
        raise ValueError("an empty list of schedules; leave 'schedule' out for none")
    context = {"now": now} if now is not None else None
    return [ScheduleSpec.model_validate(item, context=context) for item in items]


def parse_spec_text(text: str, *, now: datetime | None = None) -> ScheduleSpec:
    """One spec written inline, as YAML or JSON: '{daily: ["02:30"], timezone: Europe/Berlin}' or '30s'."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{text!r} is not a YAML or JSON schedule: {exc}") from None
    context = {"now": now} if now is not None else None
    return ScheduleSpec.model_validate(raw, context=context)
