"""Schedule specs: the models of the friendly forms, parsing them, and their validation messages.

Also accepted, and normalized: a bare string ("30s", "02:00", "0 */6 * * *"), the gocron seed's
`{type: duration|cron|daily, schedule: ...}` and the requirements document's
`{type: daily, time: "02:00"}`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import yaml
from prefect._vendor.croniter import croniter
from prefect._vendor.croniter.croniter import CroniterBadDateError
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.schedules import CronSchedule
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from deployments.errors import closest, did_you_mean
from deployments.schedules.clock import (
    DURATION,
    TIME,
    WEEKDAY_NAMES,
    WEEKDAYS,
    check_timezone,
    duration_from_words,
    instant,
    parse_duration,
    parse_local_datetime,
    parse_time,
    seconds_of_day,
    time_from_words,
)
from deployments.schedules.compile import compile_spec
from deployments.schedules.rrules import Clause

KINDS = ("every", "cron", "daily", "weekly", "monthly", "once")
FIELDS = (*KINDS, "timezone", "start", "end", "max_runs")
# The seeds' `{type: ..., schedule: ...}` (gocron) and `{type: daily, time: ...}` (requirements).
SEED_TYPES = {"duration": "every", "interval": "every", "cron": "cron", "daily": "daily"}
# Words a cron may hold (month and weekday names, L, LW), and the long names people write in one
# (`mon-friday`: a cron mistake, not English); any other word makes a would-be cron English.
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
CRON_WORDS = {*MONTHS, *WEEKDAYS, *WEEKDAY_NAMES, "l", "lw", "january", "february", "march", "april"}
CRON_WORDS |= {"june", "july", "august", "september", "october", "november", "december"}
CRON_POSITIONS = "minute hour day-of-month month day-of-week"
# A slug longer than this is cut, and a hash of the whole keeps it distinct.
SLUG_LENGTH = 60


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _times(value: Any, what: str) -> list[str]:
    items = _as_list(value)
    if not items:
        raise ValueError(f'an empty list of times in {what}; give at least one, e.g. ["02:00"]')
    return sorted({parse_time(item) for item in items})


def _reject_unknown_keys(data: Any, allowed: tuple[str, ...], what: str) -> None:
    if isinstance(data, dict):
        unknown = [str(key) for key in data if key not in allowed]
        if unknown:
            raise ValueError(
                f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in {what} "
                f"(allowed: {', '.join(allowed)})" + did_you_mean(unknown[0], allowed)
            )


def _is_english(text: str) -> bool:
    """Whether a would-be cron holds words no cron has ("every 5 minutes", "daily at 2am")."""
    return any(word not in CRON_WORDS for word in re.findall(r"[a-z]{2,}", text.lower()))


def _cron_time(hhmm: str) -> str:
    hour, minute = hhmm.split(":")
    return f"{int(minute)} {int(hour)}"


def _friendly_form(text: str) -> tuple[str, str | None] | None:
    """The friendly spec (and a cron) that English such as "every 5 minutes" means, or None."""
    words = " ".join(text.strip().lower().lstrip("@").split())
    named = {
        "hourly": ("{every: 1h}", "0 * * * *"),
        "daily": ('{daily: ["00:00"]}', "0 0 * * *"),
        "midnight": ('{daily: ["00:00"]}', "0 0 * * *"),
        "every day": ('{daily: ["00:00"]}', "0 0 * * *"),
        "weekly": ('{weekly: {days: [sun], at: ["00:00"]}}', "0 0 * * 0"),
        "monthly": ('{monthly: {days: [1], at: ["00:00"]}}', "0 0 1 * *"),
    }
    if words in named:
        return named[words]
    match = re.fullmatch(r"(?:every|each) (second|minute|hour)", words)
    compact = f"1{match[1][0]}" if match else duration_from_words(re.sub(r"^(?:every|each) ", "", words))
    if compact is not None and re.match(r"^(?:every|each) ", words):
        amount, unit = int(compact[:-1] or 0), compact[-1]
        # A cron step restarts each hour (day), so only steps dividing 60 minutes (24 hours) are even.
        step = "*" if amount == 1 else f"*/{amount}"
        cron = None
        if unit == "m" and amount < 60 and 60 % amount == 0:
            cron = f"{step} * * * *"
        elif unit == "h" and amount < 24 and 24 % amount == 0:
            cron = f"0 {step} * * *"
        return f"{{every: {compact}}}", cron
    at = r"at (.+)"
    match = re.fullmatch(rf"(?:(?:every|each) day|daily) {at}|{at}(?: (?:every|each) day| daily)?", words)
    when = time_from_words(match[1] or match[2]) if match else None
    if when is not None:
        return f'{{daily: ["{when}"]}}', f"{_cron_time(when)} * * *"
    match = re.fullmatch(rf"(?:(?:every|each|on) )?([a-z]+?)s? {at}", words)
    if match and (day := _weekday(match[1])) is not None and (when := time_from_words(match[2])):
        return (
            f'{{weekly: {{days: [{day}], at: ["{when}"]}}}}',
            f"{_cron_time(when)} * * {(WEEKDAYS.index(day) + 1) % 7}",
        )
    return None


def _weekday(word: str) -> str | None:
    """'monday', 'mon' -> 'mon'; anything else -> None."""
    if word in WEEKDAYS:
        return word
    return WEEKDAYS[WEEKDAY_NAMES.index(word)] if word in WEEKDAY_NAMES else None


def _english_hint(text: str) -> str:
    """What to write instead of English in a schedule: the friendly form it means, or examples."""
    friendly = _friendly_form(text)
    if friendly is None:
        return (
            'write a schedule such as {every: 5m}, {daily: ["02:00"]} or '
            '{weekly: {days: [mon], at: ["09:00"]}}, or a 5-field cron such as "0 2 * * *"'
        )
    spec, cron = friendly
    return f"write {spec}" + (f', or a 5-field cron such as "{cron}"' if cron else "")


class _DaysAtTimes(BaseModel):
    """What weekly and monthly share: a mapping of `days` and `at` (times of day).

    The subclasses declare both fields themselves, so `days` stays first.
    """

    model_config = ConfigDict(extra="forbid")

    KIND: ClassVar[str]  # the spec's key, for messages
    EXAMPLE: ClassVar[str]  # the mapping's shape, for messages

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if not isinstance(data, dict | BaseModel):
            raise ValueError(f"{cls.KIND} is a mapping {cls.EXAMPLE}; found {data!r}")
        _reject_unknown_keys(data, ("days", "at"), cls.KIND)
        return data

    @field_validator("at", mode="before", check_fields=False)
    @classmethod
    def _at(cls, value: Any) -> list[str]:
        return _times(value, f"{cls.KIND}.at")


class WeeklySpec(_DaysAtTimes):
    """`{days: [mon, wed, fri], at: ["09:00", "18:00"]}`."""

    KIND = "weekly"
    EXAMPLE = '{days: [mon, ...], at: ["09:00"]}'

    days: list[str] = Field(..., description="Weekdays: mon, tue, wed, thu, fri, sat, sun.")
    at: list[str] = Field(..., description='Times of day, "HH:MM".')

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
                meant = closest(str(item), [*WEEKDAYS, *WEEKDAY_NAMES])
                hint = f"; did you mean {_weekday(meant)!r}?" if meant is not None else ""
                raise ValueError(f"unknown weekday {item!r} (allowed: {', '.join(WEEKDAYS)}){hint}")
            days.add(key)
        return sorted(days, key=WEEKDAYS.index)


class MonthlySpec(_DaysAtTimes):
    """`{days: [1, 15, last], at: ["06:00"]}`; a day a month lacks is skipped, `last` never is."""

    KIND = "monthly"
    EXAMPLE = '{days: [1, 15, last], at: ["06:00"]}'

    days: list[int | Literal["last"]] = Field(..., description="Days of the month 1..31, or last.")
    at: list[str] = Field(..., description='Times of day, "HH:MM".')

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


def _spec_from_text(text: str) -> dict[str, Any]:
    """A bare string: '30s' -> every, 'HH:MM' -> daily, anything with spaces -> cron."""
    stripped = text.strip()
    if DURATION.match(stripped) and stripped:
        return {"every": stripped}
    if TIME.match(stripped):
        return {"daily": [stripped]}
    if _is_english(stripped):
        raise ValueError(
            f'"{text}" is not a schedule (a bare string is a duration such as 30s, a time such as '
            f'"02:00", or a 5-field cron); {_english_hint(stripped)}'
        )
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
        raise ValueError(
            f"unknown schedule type {kind!r} (allowed: {', '.join(SEED_TYPES)})"
            + did_you_mean(str(kind), list(SEED_TYPES))
        )
    values = [data.pop(key) for key in ("schedule", "time") if key in data]
    if len(values) != 1:
        raise ValueError(f"a schedule of type {kind!r} needs exactly one of: schedule, time")
    return {SEED_TYPES[kind]: values[0], **data}


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
        if _is_english(value):
            raise ValueError(
                f'cron "{value}" is not a cron expression (5 fields: {CRON_POSITIONS}); '
                + _english_hint(value)
            )
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(f'cron "{value}" has {len(fields)} fields, needs 5 ({CRON_POSITIONS})')
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
            if instant(self.once, zone) < now:
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

    @property
    def counts_elapsed_time(self) -> bool:
        """Whether this is a cron whose minute or hour field starts with `*` (`*/30 * * * *`,
        `0 */2 * * *`): like Vixie/Debian cron's "wildcard" jobs it counts elapsed time across a
        DST change (a skipped time does not run, a repeated one runs twice); any other cron, and
        every other kind of calendar spec, follows the wall-clock time rule."""
        if self.cron is None:
            return False
        minute, hour = self.cron.split()[:2]
        return minute.startswith("*") or hour.startswith("*")

    def slug(self) -> str:
        """A readable, stable name for the schedule in Prefect's UI, derived from the spec as
        written: `every-10m`, `daily-0200-asia-shanghai`, `cron-0-2-x-x-x`; apply makes a task's
        slugs unique (a numeric suffix)."""
        if self.every is not None:
            words = ["every", self.every]
        elif self.cron is not None:
            words = ["cron", *(_cron_field_words(field) for field in self.cron.split())]
        elif self.daily is not None:
            words = ["daily", *(t.replace(":", "") for t in self.daily)]
        elif self.weekly is not None:
            words = ["weekly", *self.weekly.days, *(t.replace(":", "") for t in self.weekly.at)]
        elif self.monthly is not None:
            words = ["monthly", *map(str, self.monthly.days), *(t.replace(":", "") for t in self.monthly.at)]
        else:
            words = ["once", self.once.strftime("%Y%m%d-%H%M") if self.once else ""]
        if self.timezone:
            words.append(self.timezone)
        text = re.sub(r"[^a-z0-9]+", "-", "-".join(words).lower()).strip("-")
        if len(text) > SLUG_LENGTH:
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            text = f"{text[: SLUG_LENGTH - 9].rstrip('-')}-{digest}"
        return text

    def clauses(self) -> list[Clause]:
        """The spec's runs as wall-clock times on the days matching each clause (calendar specs)."""
        if self.daily is not None:
            return [Clause(seconds_of_day(self.daily))]
        if self.weekly is not None:
            weekdays = frozenset(WEEKDAYS.index(d) for d in self.weekly.days)
            return [Clause(seconds_of_day(self.weekly.at), weekdays=weekdays)]
        if self.monthly is not None:
            monthdays = frozenset(-1 if d == "last" else d for d in self.monthly.days)
            return [Clause(seconds_of_day(self.monthly.at), monthdays=monthdays)]
        minutes, hours, days_of_month, months, days_of_week = croniter(self.cron or "").expanded
        times = tuple(
            sorted(
                h * 3600 + m * 60
                for h in (range(24) if hours == ["*"] else hours)
                for m in (range(60) if minutes == ["*"] else minutes)
            )
        )
        month_set = None if months == ["*"] else frozenset(months)
        day_set = None if days_of_month == ["*"] else frozenset(-1 if d == "l" else d for d in days_of_month)
        # croniter counts Sunday as 0; Python as 6.
        weekday_set = None if days_of_week == ["*"] else frozenset((d - 1) % 7 for d in days_of_week)
        if day_set is not None and weekday_set is not None:
            # Cron ORs a restricted day of month with a restricted day of week; an rrule ANDs them.
            return [Clause(times, month_set, day_set, None), Clause(times, month_set, None, weekday_set)]
        return [Clause(times, month_set, day_set, weekday_set)]

    def to_prefect(
        self, default_timezone: str | None, *, active: bool, now: datetime | None = None
    ) -> list[DeploymentScheduleCreate]:
        """Compile to Prefect deployment schedules that fire exactly at this spec's runs from `now` on
        (see `deployments.schedules.compile.compile_spec`)."""
        return compile_spec(self, default_timezone, active=active, now=now)


def _cron_field_words(field: str) -> str:
    """A cron field in slug words: `*` -> x, `*/5` -> every5, `1-5` -> 1to5, `0,30` -> 0and30."""
    text = field.lower().replace("*/", "every").replace("/", "every").replace("*", "x").replace("?", "x")
    return text.replace("-", "to").replace(",", "and")


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
