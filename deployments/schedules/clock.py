"""The schedule language's scalars and the time rule: durations, times of day, weekdays, local
date-times, timezones, and how a local wall time becomes an instant."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from deployments.errors import closest, did_you_mean

DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY = 86400
# A duration in words: "5 minutes", "1 hour 30 min", "2 days".
_WORDS_UNIT = {"d": "d", "day": "d", "h": "h", "hr": "h", "hour": "h", "m": "m", "min": "m", "minute": "m"}
_WORDS_UNIT |= {"s": "s", "sec": "s", "second": "s"}
_DURATION_WORDS = re.compile(r"(\d+)\s*([a-z]+?)s?\b")


def duration_from_words(text: str) -> str | None:
    """The compact duration ('1h30m') that words such as '1 hour 30 minutes' mean, or None."""
    words = re.sub(r"^(?:every|each) ", "", text.strip().lower()).replace(",", " ").replace(" and ", " ")
    parts = _DURATION_WORDS.findall(words)
    if not parts or _DURATION_WORDS.sub("", words).strip():
        return None
    amounts: dict[str, int] = {}
    for amount, unit in parts:
        key = _WORDS_UNIT.get(unit)
        if key is None or key in amounts:
            return None
        amounts[key] = int(amount)
    compact = "".join(f"{amounts[k]}{k}" for k in "dhms" if k in amounts)
    return compact if any(amounts.values()) else None


def parse_duration(text: str) -> timedelta:
    """'30s', '5m', '1h30m', '2d' -> timedelta; raises ValueError naming what is allowed."""
    match = DURATION.match(text.strip()) if isinstance(text, str) else None
    if not text or not match or not any(match.groups()):
        compact = duration_from_words(text) if isinstance(text, str) else None
        if compact is not None and compact != text.strip():
            raise ValueError(f"{text!r} is not a duration; write {compact}")
        raise ValueError(f"{text!r} is not a duration (e.g. 30s, 5m, 1h30m, 2d)")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    if delta.total_seconds() <= 0:
        raise ValueError(f"{text!r} is zero; an interval must be positive")
    return delta


def parse_moment(text: str, zone: tzinfo = UTC, now: datetime | None = None) -> datetime | None:
    """A time a user typed, as `--since`/`--until` and the console's filters read it: an ISO date
    or date-time ('2026-11-01', '2026-11-01T08:00', in `zone` unless it names one), or a duration
    back from `now` ('7d', '12h'); None for nothing typed. Raises ValueError saying what it expects."""
    text = text.strip()
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=zone)
    except ValueError:
        pass
    try:
        return (now or datetime.now(UTC)) - parse_duration(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date-time (ISO) or a duration back from now (7d, 12h)") from None
    except OverflowError:  # more days than timedelta or datetime holds
        raise ValueError(f"{text!r} reaches back before the year 1") from None


@functools.cache
def known_timezones() -> frozenset[str]:
    # The names every Prefect schedule kind accepts (prefect.types.TimeZone leaves out localtime).
    return frozenset(available_timezones()) - {"localtime"}


def check_timezone(name: str) -> str:
    """Return `name` if it is an IANA timezone Prefect accepts; raise ValueError otherwise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        pass
    else:
        if name in known_timezones():
            return name
    hint = ""
    if isinstance(name, str):
        # The whole name ("Europe/Berln"), else its city ("New York", "shanghai").
        hint = did_you_mean(name, known_timezones())
        cities = {zone.rsplit("/", 1)[-1].replace("_", " "): zone for zone in sorted(known_timezones())}
        city = closest(name.replace("_", " "), cities, cutoff=0.75)
        if not hint and city is not None:
            hint = f"; did you mean {cities[city]!r}?"
    raise ValueError(f"unknown timezone {name!r} (an IANA name such as Europe/Berlin){hint}")


_TIME_WORDS = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\.?|(\d{1,2}):(\d{2})")


def time_from_words(text: str) -> str | None:
    """'HH:MM' of a time written as '2am', '2:30 pm', '14:30', 'noon' or 'midnight'; else None."""
    words = text.strip().lower()
    if words in ("noon", "midday"):
        return "12:00"
    if words == "midnight":
        return "00:00"
    match = _TIME_WORDS.fullmatch(words)
    if match is None:
        return None
    if match[4] is not None:
        hour, minute = int(match[4]), int(match[5])
    else:
        hour, minute = int(match[1]), int(match[2] or 0)
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if match[3] == "p" else 0)
    return f"{hour:02d}:{minute:02d}" if hour < 24 and minute < 60 else None


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
        meant = time_from_words(value) if isinstance(value, str) else None
        hint = f'; write "{meant}"' if meant is not None else ""
        raise ValueError(f'"{value}" is not a time (HH:MM, 00:00–23:59){hint}')
    return f"{int(match[1]):02d}:{match[2]}"


def seconds_of_day(times: Iterable[str]) -> tuple[int, ...]:
    """'HH:MM' times -> seconds after midnight, sorted."""
    return tuple(sorted(int(t[:2]) * 3600 + int(t[3:]) * 60 for t in times))


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


def instant(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant of a local wall time: fold=0 maps a missing time with the offset before the
    change and a repeated time to its first occurrence (PEP 495)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def wall_time(moment: datetime, tz: ZoneInfo) -> datetime:
    """The naive local wall time of an instant in `tz`."""
    return moment.astimezone(tz).replace(tzinfo=None)


def stamp(wall: datetime) -> str:
    """A naive date-time as an rrule writes it (DTSTART, UNTIL, EXDATE, RDATE)."""
    return wall.strftime("%Y%m%dT%H%M%S")
