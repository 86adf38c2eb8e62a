"""Schedule specs: the friendly language, its validation, its compilation, and `preview`.

`preview` is checked three ways: against literal instants around DST changes, against an
independent oracle (wall times from dateutil.rrule or croniter, made instants with zoneinfo's
fold=0, which is the time rule itself), and against Prefect's own server-side expansion
(`get_dates` of `prefect.server.schemas.schedules`) of the compiled schedules.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from dateutil import rrule
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from prefect.server.schemas import schedules as server
from pydantic import BaseModel, ValidationError

from deployments.schedules import (
    ScheduleSpec,
    parse_duration,
    parse_schedules,
    parse_spec_text,
    preview,
)

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
        instant = localize(wall, zone)
        if start is not None and instant < start:
            continue
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


# ---------------------------------------------------------------------------------------------
# Literal runs around DST changes (spring gap and autumn repeat) in three zones.

DST_CASES = [
    # Europe/Berlin: 2027-03-28 02:00 -> 03:00, 2027-10-31 03:00 -> 02:00.
    pytest.param(
        {"daily": ["02:30"], "timezone": BERLIN},
        "2027-03-27T00:00",
        ["2027-03-27T01:30Z", "2027-03-28T01:30Z", "2027-03-29T00:30Z"],
        id="berlin-gap-fires-at-0330-cest",
    ),
    pytest.param(
        {"daily": ["02:30"], "timezone": BERLIN},
        "2027-10-30T00:00",
        ["2027-10-30T00:30Z", "2027-10-31T00:30Z", "2027-11-01T01:30Z"],
        id="berlin-repeat-fires-once-first",
    ),
    pytest.param(
        {"daily": ["02:30", "03:30"], "timezone": BERLIN, "end": "2027-12-31T00:00"},
        "2027-03-27T12:00",
        ["2027-03-28T01:30Z", "2027-03-29T00:30Z", "2027-03-29T01:30Z"],
        id="berlin-bounded-gap-time-meets-0330-once",
    ),
    pytest.param(
        {"cron": "0 * * * *", "timezone": BERLIN, "start": "2027-10-30T00:00"},
        "2027-10-30T22:30",
        ["2027-10-30T23:00Z", "2027-10-31T00:00Z", "2027-10-31T02:00Z", "2027-10-31T03:00Z"],
        id="berlin-hourly-cron-skips-repeated-hour",
    ),
    # America/New_York: 2027-03-14 02:00 -> 03:00, 2027-11-07 02:00 -> 01:00.
    pytest.param(
        {"daily": ["02:30"], "timezone": NEW_YORK},
        "2027-03-13T00:00",
        ["2027-03-13T07:30Z", "2027-03-14T07:30Z", "2027-03-15T06:30Z"],
        id="new-york-gap",
    ),
    pytest.param(
        {"weekly": {"days": ["sun"], "at": ["01:30"]}, "timezone": NEW_YORK, "end": "2027-12-31T00:00"},
        "2027-10-31T00:00",
        ["2027-10-31T05:30Z", "2027-11-07T05:30Z", "2027-11-14T06:30Z"],
        id="new-york-repeat-bounded",
    ),
    # Australia/Sydney: 2027-10-03 02:00 -> 03:00, 2027-04-04 03:00 -> 02:00.
    pytest.param(
        {"daily": ["02:30"], "timezone": SYDNEY, "start": "2027-09-01T00:00", "max_runs": 100},
        "2027-10-02T00:00",
        ["2027-10-02T16:30Z", "2027-10-03T15:30Z", "2027-10-04T15:30Z"],
        id="sydney-gap-bounded",
    ),
    pytest.param(
        {"daily": ["02:30"], "timezone": SYDNEY},
        "2027-04-02T00:00",
        ["2027-04-02T15:30Z", "2027-04-03T15:30Z", "2027-04-04T16:30Z"],
        id="sydney-repeat",
    ),
    pytest.param(
        {"once": "2027-03-28T02:30", "timezone": BERLIN},
        "2027-01-01T00:00",
        ["2027-03-28T01:30Z"],
        id="once-in-gap",
    ),
    pytest.param(
        {"every": "1h", "timezone": BERLIN},
        "2027-10-30T23:30",
        ["2027-10-31T00:00Z", "2027-10-31T01:00Z", "2027-10-31T02:00Z"],
        id="every-is-elapsed-through-repeat",
    ),
    pytest.param(
        {"every": "1d", "timezone": BERLIN, "start": "2027-03-27T10:00", "end": "2027-04-30T00:00"},
        "2027-03-27T00:00",
        ["2027-03-27T09:00Z", "2027-03-28T09:00Z", "2027-03-29T09:00Z"],
        id="every-day-is-24-hours-across-gap",
    ),
]


@pytest.mark.parametrize(("raw", "after", "expected"), DST_CASES)
def test_preview_around_dst_changes(raw: dict[str, Any], after: str, expected: list[str]) -> None:
    runs = preview(spec(raw), len(expected), after=utc(after), default_timezone="UTC")
    assert instants(runs) == expected
    assert instants(oracle(raw, raw.get("timezone", "UTC"), utc(after), len(expected))) == expected
    assert all(str(r.tzinfo) == raw.get("timezone", "UTC") for r in runs)


def test_preview_returns_aware_times_in_the_schedules_zone() -> None:
    runs = preview(
        spec({"daily": "02:30", "timezone": BERLIN}), 3, after=utc("2027-03-27T00:00"), default_timezone=None
    )
    assert [r.isoformat() for r in runs] == [
        "2027-03-27T02:30:00+01:00",
        "2027-03-28T03:30:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]


def test_default_timezone_applies_only_without_a_timezone() -> None:
    after = utc("2027-01-01T00:00")
    assert instants(preview(spec({"daily": "09:00"}), 1, after=after, default_timezone=NEW_YORK)) == [
        "2027-01-01T14:00Z"
    ]
    assert instants(preview(spec({"daily": "09:00"}), 1, after=after, default_timezone=None)) == [
        "2027-01-01T09:00Z"
    ]
    own = spec({"daily": "09:00", "timezone": BERLIN})
    assert instants(preview(own, 1, after=after, default_timezone=NEW_YORK)) == ["2027-01-01T08:00Z"]


def test_naive_after_is_a_wall_time_in_the_schedules_zone() -> None:
    runs = preview(
        spec({"daily": "09:00", "timezone": BERLIN}),
        1,
        after=datetime(2027, 1, 1, 9, 0),
        default_timezone=None,
    )
    assert instants(runs) == ["2027-01-01T08:00Z"]


# ---------------------------------------------------------------------------------------------
# Month ends, leap years, weekly multi-day, bounds.


def test_monthly_skips_missing_days_and_never_skips_last() -> None:
    raw = {"monthly": {"days": [29, 31, "last"], "at": "06:00"}}
    runs = preview(spec(raw), 12, after=utc("2027-01-01T00:00"), default_timezone=None)
    assert [r.strftime("%Y-%m-%d") for r in runs] == [
        "2027-01-29",
        "2027-01-31",  # 31 and last: one run
        "2027-02-28",  # no 29th in 2027; last still runs
        "2027-03-29",
        "2027-03-31",
        "2027-04-29",
        "2027-04-30",  # no 31st; last runs
        "2027-05-29",
        "2027-05-31",
        "2027-06-29",
        "2027-06-30",
        "2027-07-29",
    ]
    leap = preview(spec(raw), 3, after=utc("2028-02-01T00:00"), default_timezone=None)
    assert [r.strftime("%Y-%m-%d") for r in leap] == ["2028-02-29", "2028-03-29", "2028-03-31"]


def test_monthly_day_31_only_in_long_months_and_feb_29_only_in_leap_years() -> None:
    runs = preview(
        spec({"monthly": {"days": [31], "at": ["00:00"]}}),
        7,
        after=utc("2027-01-01T00:00"),
        default_timezone=None,
    )
    assert [r.month for r in runs] == [1, 3, 5, 7, 8, 10, 12]
    feb29 = spec({"cron": "0 12 29 2 *", "end": "2040-01-01T00:00"})
    assert [r.year for r in preview(feb29, 3, after=utc("2026-07-01T00:00"), default_timezone=None)] == [
        2028,
        2032,
        2036,
    ]


def test_weekly_several_days_and_times() -> None:
    raw = {"weekly": {"days": ["fri", "mon", "wed"], "at": ["18:00", "09:00"]}, "timezone": NEW_YORK}
    runs = preview(spec(raw), 6, after=utc("2027-01-04T00:00"), default_timezone=None)  # a Monday
    assert [r.strftime("%a %H:%M") for r in runs] == [
        "Mon 09:00",
        "Mon 18:00",
        "Wed 09:00",
        "Wed 18:00",
        "Fri 09:00",
        "Fri 18:00",
    ]


def test_start_end_and_max_runs_bound_the_runs() -> None:
    raw = {"daily": ["09:00"], "start": "2027-01-10T09:00", "end": "2027-01-14T09:00"}
    runs = preview(spec(raw), 10, after=utc("2027-01-01T00:00"), default_timezone=None)
    assert [r.day for r in runs] == [10, 11, 12, 13, 14]  # both ends inclusive
    counted = {"daily": ["09:00"], "start": "2027-01-10T00:00", "max_runs": 5}
    # max_runs counts from start, not from the preview's `after`.
    later = preview(spec(counted), 10, after=utc("2027-01-12T00:00"), default_timezone=None)
    assert [r.day for r in later] == [12, 13, 14]
    every = {"every": "30m", "start": "2027-01-10T00:00", "max_runs": 3}
    assert instants(preview(spec(every), 10, after=utc("2027-01-01T00:00"), default_timezone=None)) == [
        "2027-01-10T00:00Z",
        "2027-01-10T00:30Z",
        "2027-01-10T01:00Z",
    ]


def test_a_bare_end_date_means_the_end_of_that_day() -> None:
    s = spec({"daily": ["23:30"], "end": "2027-01-02"})
    assert s.end == datetime(2027, 1, 2, 23, 59, 59)
    assert [r.day for r in preview(s, 5, after=utc("2027-01-01T00:00"), default_timezone=None)] == [1, 2]


def test_every_without_start_is_anchored_at_the_unix_epoch() -> None:
    s = spec({"every": "7m"})
    runs = preview(s, 5, after=utc("2027-05-05T05:05"), default_timezone=None)
    assert all((r - EPOCH).total_seconds() % 420 == 0 for r in runs)
    assert runs[0] - utc("2027-05-05T05:05") < timedelta(minutes=7)
    # Re-applying later compiles the same anchor: runs never shift.
    first = s.to_prefect("UTC", active=True, now=utc("2027-01-01T00:00"))
    second = s.to_prefect("UTC", active=True, now=utc("2028-01-01T00:00"))
    assert first == second
    assert first[0].schedule.anchor_date == EPOCH


def test_every_is_anchored_at_start() -> None:
    s = spec({"every": "90m", "start": "2027-01-01T00:10", "timezone": BERLIN})
    runs = preview(s, 3, after=utc("2027-02-01T00:00"), default_timezone=None)
    anchor = localize(datetime(2027, 1, 1, 0, 10), BERLIN)
    assert all((r - anchor).total_seconds() % 5400 == 0 for r in runs)
    # Before start: nothing earlier than start, whatever the compile time.
    early = preview(s, 2, after=utc("2026-12-01T00:00"), default_timezone=None)
    assert early[0] == anchor


# ---------------------------------------------------------------------------------------------
# Zones whose DST is not a plain yearly whole-hour rule.


@pytest.mark.parametrize(
    ("raw", "after"),
    [
        # A 30-minute shift: 02:10 is missing on 2027-10-03 and moves onto 02:40.
        ({"daily": ["02:10", "02:40"], "timezone": "Australia/Lord_Howe"}, "2027-10-01T00:00"),
        (
            {"daily": ["02:10", "02:40"], "timezone": "Australia/Lord_Howe", "end": "2028-12-31T00:00"},
            "2027-10-01T00:00",
        ),
        # Nuuk's gap is 23:00-24:00 on a Saturday: missing times move to the next day.
        ({"daily": ["23:30"], "timezone": "America/Nuuk", "end": "2029-12-31T00:00"}, "2027-03-25T00:00"),
        ({"daily": ["23:30"], "timezone": "America/Nuuk", "start": "2027-03-01T00:00"}, "2028-03-23T00:00"),
        # Casablanca's shifts follow Ramadan, not a yearly rule.
        (
            {"daily": ["02:30"], "timezone": "Africa/Casablanca", "end": "2028-12-31T00:00"},
            "2027-02-05T00:00",
        ),
        # Troll jumps two hours, 01:00 -> 03:00.
        ({"daily": ["01:30", "02:30", "03:30"], "timezone": "Antarctica/Troll"}, "2027-03-26T00:00"),
        (
            {"daily": ["01:30", "02:30", "03:30"], "timezone": "Antarctica/Troll", "end": "2028-12-31T00:00"},
            "2027-03-26T00:00",
        ),
        # Santiago jumps at midnight.
        ({"daily": ["00:30"], "timezone": "America/Santiago", "end": "2028-12-31T00:00"}, "2027-09-01T00:00"),
        (
            {"daily": ["00:30"], "timezone": "America/Santiago", "start": "2027-08-01T00:00"},
            "2027-09-01T00:00",
        ),
    ],
)
def test_irregular_zones_match_the_oracle(raw: dict[str, Any], after: str) -> None:
    runs = preview(spec(raw), 40, after=utc(after), default_timezone=None)
    assert as_utc(runs) == oracle(raw, raw["timezone"], utc(after), 40)
    assert len(runs) == len(set(runs))


def test_lord_howe_missing_time_fires_once_where_it_meets_another() -> None:
    s = spec({"daily": ["02:10", "02:40"], "timezone": "Australia/Lord_Howe"})
    runs = preview(s, 6, after=utc("2027-10-01T12:00"), default_timezone=None)
    assert [r.strftime("%m-%d %H:%M") for r in runs] == [
        "10-02 02:10",
        "10-02 02:40",
        "10-03 02:40",  # 02:10 did not exist: it fires at 02:40, once
        "10-04 02:10",
        "10-04 02:40",
        "10-05 02:10",
    ]
    # One schedule, so the server cannot create two runs at that instant.
    assert len(s.to_prefect("UTC", active=True, now=utc("2027-10-01T00:00"))) == 1


def test_dublin_rrules_are_localized_in_london_whose_clocks_are_the_same() -> None:
    """dateutil misreads Dublin's negative DST (the hour after the repeat resolves an hour early)."""
    raw = {"daily": ["02:30"], "timezone": "Europe/Dublin", "end": "2028-12-31T00:00"}
    (compiled,) = spec(raw).to_prefect("UTC", active=True, now=utc("2027-10-01T00:00"))
    assert compiled.schedule.timezone == "Europe/London"
    after = utc("2027-10-29T00:00")
    runs = preview(spec(raw), 5, after=after, default_timezone=None)
    assert as_utc(runs) == oracle(raw, "Europe/Dublin", after, 5)
    assert all(str(r.tzinfo) == "Europe/Dublin" for r in runs)


def test_an_rrule_prefect_would_misplace_is_refused() -> None:
    bounded = {"daily": ["03:30"], "timezone": "Africa/Casablanca", "end": "2027-12-31T00:00"}
    with pytest.raises(ValueError, match="place runs an hour early in Africa/Casablanca .* 2027-02-07T03:30"):
        spec(bounded).to_prefect("UTC", active=True, now=utc("2027-01-01T00:00"))
    # Unbounded, the same times are a cron, which Prefect places right.
    unbounded = {"daily": ["03:30"], "timezone": "Africa/Casablanca"}
    after = utc("2027-02-05T00:00")
    runs = preview(spec(unbounded), 5, after=after, default_timezone=None)
    assert as_utc(runs) == oracle(unbounded, "Africa/Casablanca", after, 5)


def test_from_2038_prefects_rrules_know_no_dst_and_preview_shows_it() -> None:
    """dateutil reads only 32-bit tz data: preview shows the server's runs, on standard time."""
    bounded = spec({"daily": ["12:00"], "timezone": BERLIN, "start": "2038-06-01T00:00", "max_runs": 2})
    after = utc("2038-01-01T00:00")
    runs = preview(bounded, 2, after=after, default_timezone=None)
    assert instants(runs) == ["2038-06-01T11:00Z", "2038-06-02T11:00Z"]  # 12:00 CET, not CEST
    assert server_get_dates(bounded.to_prefect("UTC", active=True, now=after), 2, after) == as_utc(runs)
    # Unbounded specs compile to crons, which know 2038's DST.
    cron = preview(
        spec({"daily": ["12:00"], "timezone": BERLIN}),
        1,
        after=utc("2038-06-01T00:00"),
        default_timezone=None,
    )
    assert instants(cron) == ["2038-06-01T10:00Z"]


def test_a_cron_prefects_croniter_gets_wrong_takes_the_rrule_form() -> None:
    prefect_cron = server.CronSchedule(cron="0 1 1,30 * *", timezone="UTC")
    skipped = asyncio.run(prefect_cron.get_dates(n=5, start=utc("2027-01-15T00:00")))
    assert "03-01" not in [d.strftime("%m-%d") for d in skipped]  # Prefect's croniter skips 1 March
    s = spec({"cron": "0 1 1,30 * *"})
    (compiled,) = s.to_prefect("UTC", active=True, now=utc("2027-01-01T00:00"))
    assert isinstance(compiled.schedule, RRuleSchedule)
    runs = preview(s, 5, after=utc("2027-01-15T00:00"), default_timezone=None)
    assert [r.strftime("%m-%d") for r in runs] == ["01-30", "02-01", "03-01", "03-30", "04-01"]


# ---------------------------------------------------------------------------------------------
# Property tests against the oracle, around DST changes and month ends.

TRANSITIONS = {
    BERLIN: ["2027-03-28", "2027-10-31", "2028-03-26", "2028-10-29"],
    NEW_YORK: ["2027-03-14", "2027-11-07", "2028-03-12", "2028-11-05"],
    SYDNEY: ["2027-04-04", "2027-10-03", "2028-04-02", "2028-10-01"],
}


@st.composite
def times_of_day(draw: Any) -> list[str]:
    # Mostly the hours of DST changes, where gaps and repeats are.
    hours = st.one_of(st.integers(1, 3), st.integers(0, 23))
    minutes = st.sampled_from([0, 15, 30, 45, 59])
    picked = draw(st.lists(st.tuples(hours, minutes), min_size=1, max_size=3))
    return [f"{h:02d}:{m:02d}" for h, m in picked]


CRON_FIELDS = (
    ["0", "30", "*/15", "0,45", "5-10/5", "59"],
    ["*", "2", "1-3", "*/6", "0,2,23", "3"],
    ["*", "1", "L", "15,L", "29-31", "*/10", "1,30", "30,L"],
    ["*", "3,10", "1-6", "*/2", "4,11"],
    ["*", "0", "1-5", "sun,sat", "6"],
)


@st.composite
def calendar_kinds(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["daily", "weekly", "monthly", "cron"]))
    if kind == "daily":
        return {"daily": draw(times_of_day())}
    if kind == "weekly":
        days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=3, unique=True))
        return {"weekly": {"days": days, "at": draw(times_of_day())}}
    if kind == "monthly":
        days = draw(
            st.lists(st.one_of(st.integers(1, 31), st.just("last")), min_size=1, max_size=3, unique=True)
        )
        return {"monthly": {"days": days, "at": draw(times_of_day())}}
    return {"cron": " ".join(draw(st.sampled_from(options)) for options in CRON_FIELDS)}


def wall_text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


@st.composite
def bounded(draw: Any, base: dict[str, Any], after: datetime) -> dict[str, Any]:
    """`base` with optional start/end/max_runs placed around `after` (wall times)."""
    raw = dict(base)
    if draw(st.booleans()):
        start = after + timedelta(minutes=draw(st.integers(-20 * 1440, 3 * 1440)))
        raw["start"] = wall_text(start)
        if draw(st.booleans()):
            raw["max_runs"] = draw(st.integers(1, 12))
        if draw(st.booleans()):
            raw["end"] = wall_text(start + timedelta(minutes=draw(st.integers(0, 40 * 1440))))
    elif draw(st.booleans()):
        raw["end"] = wall_text(after + timedelta(minutes=draw(st.integers(-1440, 40 * 1440))))
    return raw


def check_against_oracle(data: Any, raw: dict[str, Any], zone: str, after: datetime, n: int) -> None:
    """preview == oracle, and so is the server's expansion at `after` of schedules compiled
    earlier (apply runs once; the scheduler expands from "now" on every loop)."""
    expected = oracle(raw, zone, after, n)
    assert as_utc(preview(spec(raw), n, after=after, default_timezone=None)) == expected
    applied_at = after - timedelta(
        minutes=data.draw(st.integers(0, 30 * 1440), label="applied minutes before")
    )
    compiled = spec(raw).to_prefect(None, active=True, now=applied_at)
    assert server_get_dates(compiled, n, after) == expected


def is_valid(raw: dict[str, Any]) -> bool:
    try:
        spec(raw)
    except ValidationError:
        return False
    return True


@settings(max_examples=250, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_preview_matches_the_oracle_around_dst_changes(data: Any) -> None:
    zone = data.draw(st.sampled_from(sorted(TRANSITIONS)))
    day = datetime.fromisoformat(data.draw(st.sampled_from(TRANSITIONS[zone])))
    local_after = day + timedelta(minutes=data.draw(st.integers(-3 * 1440, 1440)))
    raw = data.draw(bounded({**data.draw(calendar_kinds()), "timezone": zone}, local_after))
    assume(is_valid(raw))
    check_against_oracle(data, raw, zone, localize(local_after, zone), data.draw(st.integers(1, 8)))


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_preview_matches_the_oracle_at_month_ends(data: Any) -> None:
    zone = data.draw(st.sampled_from([BERLIN, NEW_YORK, SYDNEY, "UTC"]))
    month_start = datetime(data.draw(st.integers(2027, 2029)), data.draw(st.integers(1, 12)), 1)
    local_after = month_start + timedelta(minutes=data.draw(st.integers(-4 * 1440, 1440)))
    days = data.draw(
        st.lists(st.sampled_from([1, 28, 29, 30, 31, "last"]), min_size=1, max_size=3, unique=True)
    )
    base = {"monthly": {"days": days, "at": data.draw(times_of_day())}, "timezone": zone}
    raw = data.draw(bounded(base, local_after))
    assume(is_valid(raw))
    check_against_oracle(data, raw, zone, localize(local_after, zone), 6)


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_every_matches_the_oracle(data: Any) -> None:
    zone = data.draw(st.sampled_from(sorted(TRANSITIONS)))
    day = datetime.fromisoformat(data.draw(st.sampled_from(TRANSITIONS[zone])))
    local_after = day + timedelta(minutes=data.draw(st.integers(-2 * 1440, 1440)))
    every = data.draw(st.sampled_from(["30s", "7m", "1h", "1h30m", "1d", "2d", "1d1h"]))
    raw = data.draw(bounded({"every": every, "timezone": zone}, local_after))
    assume(is_valid(raw))
    check_against_oracle(data, raw, zone, localize(local_after, zone), 5)


# ---------------------------------------------------------------------------------------------
# The server fires exactly as previewed: Prefect's own expansion of the compiled schedules.

SERVER_CASES = [
    ({"daily": ["02:30", "14:00"], "timezone": BERLIN}, "2027-03-26T00:00"),
    ({"daily": ["02:30", "14:00"], "timezone": BERLIN, "end": "2027-11-30T00:00"}, "2027-10-29T00:00"),
    (
        {"weekly": {"days": ["sun", "wed"], "at": ["02:15", "09:00"]}, "timezone": NEW_YORK},
        "2027-03-10T00:00",
    ),
    (
        {"weekly": {"days": ["sun"], "at": ["02:15"]}, "timezone": NEW_YORK, "start": "2027-03-01T00:00"},
        "2027-02-20T00:00",
    ),
    ({"monthly": {"days": [1, 15, "last"], "at": ["02:30"]}, "timezone": SYDNEY}, "2027-09-20T00:00"),
    (
        {
            "monthly": {"days": [3, 31], "at": ["02:30"]},
            "timezone": SYDNEY,
            "start": "2027-01-01T00:00",
            "max_runs": 20,
        },
        "2027-09-20T00:00",
    ),
    ({"cron": "*/20 1-3 * * *", "timezone": BERLIN}, "2027-10-30T00:00"),
    ({"cron": "*/20 1-3 * * *", "timezone": BERLIN, "end": "2028-01-01T00:00"}, "2027-10-30T00:00"),
    ({"cron": "30 2 1,15 * 0", "timezone": NEW_YORK, "end": "2029-01-01T00:00"}, "2027-03-01T00:00"),
    ({"every": "45m", "timezone": BERLIN}, "2027-10-30T22:00"),
    ({"every": "1d", "timezone": BERLIN, "start": "2027-03-20T02:30"}, "2027-03-01T00:00"),
    ({"every": "5m", "end": "2027-01-01T03:00"}, "2027-01-01T00:00"),
    ({"once": "2027-11-07T01:30", "timezone": NEW_YORK}, "2027-01-01T00:00"),
    ("02:30", "2027-03-27T00:00"),
    ({"type": "duration", "schedule": "30s"}, "2027-03-27T00:00"),
]


@pytest.mark.parametrize(("raw", "after"), SERVER_CASES)
def test_preview_equals_prefects_server_expansion(raw: Any, after: str) -> None:
    s = spec(raw)
    moment = utc(after)
    compiled = s.to_prefect(SYDNEY, active=True, now=moment)
    runs = preview(s, 30, after=moment, default_timezone=SYDNEY)
    assert as_utc(runs) == server_get_dates(compiled, 30, moment)
    # The scheduler's own call: up to 100 runs from now, no later than 100 days ahead.
    horizon = moment + timedelta(days=100)
    scheduled = server_get_dates(compiled, 100, moment, horizon)
    assert scheduled == [
        r for r in as_utc(preview(s, 100, after=moment, default_timezone=SYDNEY)) if r <= horizon
    ]


def test_server_expansion_does_not_depend_on_where_it_starts() -> None:
    """The scheduler expands from "now" on every loop; every start must see the same runs."""
    s = spec({"daily": ["02:00", "02:30", "03:00"], "timezone": BERLIN, "end": "2027-04-30T00:00"})
    moment = utc("2027-03-26T00:00")
    compiled = s.to_prefect("UTC", active=True, now=moment)
    full = as_utc(preview(s, 20, after=moment, default_timezone=None))
    for minutes in range(0, 4 * 1440, 17):
        start = moment + timedelta(minutes=minutes)
        assert server_get_dates(compiled, 5, start) == [r for r in full if r >= start][:5]


# ---------------------------------------------------------------------------------------------
# What the compiler produces.


def test_unbounded_calendar_specs_compile_to_crons_with_indexed_slugs() -> None:
    s = spec({"daily": ["14:30", "02:00", "03:00"], "timezone": BERLIN})
    compiled = s.to_prefect("UTC", active=False)
    assert [c.schedule.cron for c in compiled] == ["0 2,3 * * *", "30 14 * * *"]
    assert [c.slug for c in compiled] == [f"{s.slug()}-0", f"{s.slug()}-1"]
    assert all(c.schedule.timezone == BERLIN and not c.active for c in compiled)
    monthly = spec({"monthly": {"days": ["last", 15, 1], "at": "06:00"}})
    assert [c.schedule.cron for c in monthly.to_prefect("UTC", active=True)] == ["0 6 1,15,L * *"]
    # Prefect's croniter mishandles days 29-31 in lists, so they get disjoint crons of their own.
    split = spec({"monthly": {"days": [1, 29, 30, 31, "last"], "at": "06:00"}})
    assert [c.schedule.cron for c in split.to_prefect("UTC", active=True)] == [
        "0 6 1,L * *",
        "0 6 29 1,3,4,5,6,7,8,9,10,11,12 *",
        "0 6 30 1,3,5,7,8,10,12 *",
    ]
    no_last = spec({"monthly": {"days": [30, 1], "at": "06:00"}})
    assert [c.schedule.cron for c in no_last.to_prefect("UTC", active=True)] == ["0 6 1 * *", "0 6 30 * *"]
    weekly = spec({"weekly": {"days": ["sun", "mon"], "at": "06:00"}})
    assert [c.schedule.cron for c in weekly.to_prefect("UTC", active=True)] == ["0 6 * * 0,1"]


def test_bounded_specs_compile_to_one_rrule_with_dst_corrections() -> None:
    s = spec({"daily": ["02:30"], "timezone": BERLIN, "start": "2027-01-01T00:00", "end": "2027-12-31T00:00"})
    (compiled,) = s.to_prefect("UTC", active=True)
    assert isinstance(compiled.schedule, RRuleSchedule)
    assert compiled.slug == s.slug() and compiled.schedule.timezone == BERLIN
    lines = compiled.schedule.rrule.splitlines()
    assert lines[0] == "DTSTART:20270101T000000"
    assert lines[1] == "RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0;UNTIL=20271231T000000"
    assert any(line.startswith("EXRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=SU") for line in lines)
    assert any("BYHOUR=3;BYMINUTE=30" in line and line.startswith("RRULE:FREQ=YEARLY") for line in lines)


def test_max_runs_uses_the_rrule_not_max_scheduled_runs() -> None:
    every = spec({"every": "1h", "start": "2027-01-01T00:00", "max_runs": 10})
    (compiled,) = every.to_prefect("UTC", active=True)
    assert compiled.max_scheduled_runs is None
    assert compiled.schedule.rrule == "DTSTART:20270101T000000\nRRULE:FREQ=SECONDLY;INTERVAL=3600;COUNT=10"
    daily = spec({"daily": "09:00", "start": "2027-01-01T00:00", "max_runs": 3})
    (compiled,) = daily.to_prefect("UTC", active=True)
    assert compiled.max_scheduled_runs is None
    assert "UNTIL=20270103T090000" in compiled.schedule.rrule  # the third run


def test_every_compiles_to_a_utc_interval_or_rrule() -> None:
    (plain,) = spec({"every": "2d", "timezone": BERLIN}).to_prefect("UTC", active=True)
    assert isinstance(plain.schedule, IntervalSchedule)
    assert plain.schedule.timezone == "UTC" and plain.schedule.interval == timedelta(days=2)
    started = spec({"every": "2d", "start": "2026-01-01T10:00", "timezone": BERLIN})
    (past,) = started.to_prefect("UTC", active=True, now=utc("2026-06-01T00:00"))
    assert past.schedule.anchor_date == utc("2026-01-01T09:00")
    (future,) = started.to_prefect("UTC", active=True, now=utc("2025-06-01T00:00"))
    assert future.schedule.rrule == "DTSTART:20260101T090000\nRRULE:FREQ=SECONDLY;INTERVAL=172800"


def test_slug_is_stable_and_shared_by_equivalent_shapes() -> None:
    # The same value as before friendly specs existed, so applied schedules keep their slug.
    assert spec({"cron": "0 */6 * * *"}).slug() == "tasklane-48323e069c52"
    assert spec({"every": "30s"}).slug() == "tasklane-845ecc2fd0fa"
    assert spec("0 */6 * * *").slug() == spec({"type": "cron", "schedule": "0 */6 * * *"}).slug()
    canonical = spec({"daily": ["02:00"]}).slug()
    for shape in (
        "02:00",
        "2:00",
        {"daily": "02:00"},
        {"type": "daily", "time": "02:00"},
        {"type": "daily", "schedule": "02:00"},
    ):
        assert spec(shape).slug() == canonical
    assert spec({"daily": ["14:30", "02:00"]}).slug() == spec({"daily": ["02:00", "14:30", "14:30"]}).slug()


def test_specs_round_trip_through_their_dump() -> None:
    raws = [
        {"weekly": {"days": ["Monday", "wed"], "at": "9:00"}, "timezone": BERLIN, "start": "2027-01-01"},
        {
            "monthly": {"days": [1, "LAST"], "at": ["06:00"]},
            "end": "2027-06-30T23:59",
            "start": "2027-01-01T00:00",
            "max_runs": 3,
        },
        {"once": "2027-12-01T09:00"},
        "30s",
    ]
    for raw in raws:
        original = spec(raw)
        again = spec(original.model_dump(mode="json", exclude_none=True))
        assert again == original and again.slug() == original.slug()


# ---------------------------------------------------------------------------------------------
# Accepted shapes.


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("30s", {"every": "30s"}),
        ("1h30m", {"every": "1h30m"}),
        ("02:00", {"daily": ["02:00"]}),
        ("0 */6 * * *", {"cron": "0 */6 * * *"}),
        ({"type": "duration", "schedule": "5m"}, {"every": "5m"}),
        ({"type": "cron", "schedule": "0 */6 * * *"}, {"cron": "0 */6 * * *"}),
        ({"type": "daily", "schedule": "02:00"}, {"daily": ["02:00"]}),
        ({"type": "daily", "time": "02:00"}, {"daily": ["02:00"]}),
        ({"type": "daily", "time": "02:00", "timezone": BERLIN}, {"daily": ["02:00"], "timezone": BERLIN}),
        ({"daily": "02:00"}, {"daily": ["02:00"]}),
        ({"weekly": {"days": "fri", "at": "18:00"}}, {"weekly": {"days": ["fri"], "at": ["18:00"]}}),
        (
            {"monthly": {"days": ["last", 1], "at": "6:00"}},
            {"monthly": {"days": [1, "last"], "at": ["06:00"]}},
        ),
        ({"once": "2027-12-01 09:00"}, {"once": "2027-12-01T09:00:00"}),
        ({"cron": "0 0 ? * MON"}, {"cron": "0 0 ? * MON"}),
    ],
)
def test_accepted_shapes(raw: Any, expected: dict[str, Any]) -> None:
    assert spec(raw).model_dump(mode="json", exclude_none=True) == expected


def test_catalog_field_and_parse_schedules() -> None:
    holder = Holder.model_validate(
        {"schedule": ["30s", {"daily": "02:00"}, {"type": "daily", "time": "03:00"}]}
    )
    assert [s.daily or s.every for s in holder.schedule] == ["30s", ["02:00"], ["03:00"]]
    assert parse_schedules(None) == []
    assert parse_schedules({"every": "5m"}) == [spec({"every": "5m"})]
    with pytest.raises(ValueError, match="an empty list of schedules"):
        parse_schedules([])
    with pytest.raises(ValueError, match="is in the past"):
        parse_schedules({"once": "2026-05-01T00:00"}, now=NOW)


def test_parse_spec_text() -> None:
    parsed = parse_spec_text('{daily: ["02:30"], timezone: Europe/Berlin}')
    assert parsed == spec({"daily": ["02:30"], "timezone": BERLIN})
    assert parse_spec_text('{"every": "30s"}') == spec({"every": "30s"})
    assert parse_spec_text("{weekly: {days: [mon, wed], at: ['09:00']}, start: 2027-01-01T00:00}").weekly
    assert parse_spec_text("5m") == spec({"every": "5m"})
    with pytest.raises(ValueError, match="not a YAML or JSON schedule"):
        parse_spec_text("{daily: [")
    with pytest.raises(ValueError, match="is in the past"):
        parse_spec_text("{once: 2020-01-01T00:00}", now=NOW)


# ---------------------------------------------------------------------------------------------
# Validation messages: what is wrong, and what is allowed.


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"daily": ["25:00"]}, '"25:00" is not a time (HH:MM, 00:00–23:59)'),
        ({"daily": ["12:60"]}, '"12:60" is not a time (HH:MM, 00:00–23:59)'),
        ({"daily": "noon"}, '"noon" is not a time (HH:MM, 00:00–23:59)'),
        ({"daily": 870}, 'YAML reads an unquoted 14:30 as the number 870; quote it ("14:30")'),
        ({"weekly": {"days": ["mon"], "at": ["24:00"]}}, '"24:00" is not a time'),
        ({"cron": "0 */6 * *"}, 'cron "0 */6 * *" has 4 fields, needs 5'),
        ({"cron": "0 0 */6 * * *"}, 'cron "0 0 */6 * * *" has 6 fields, needs 5'),
        ({"cron": "0 61 * * *"}, 'cron "0 61 * * *" is not a valid cron expression'),
        ({"cron": "0 0 30 2 *"}, 'cron "0 0 30 2 *" never fires'),
        ({"cron": "0 0 * * 5#2"}, 'uses "#" (nth weekday), which is not supported'),
        (
            {"weekly": {"days": ["mon", "funday"], "at": ["09:00"]}},
            "unknown weekday 'funday' (allowed: mon, tue, wed",
        ),
        (
            {"every": "1h", "timezone": "Mars/Olympus"},
            "unknown timezone 'Mars/Olympus' (an IANA name such as",
        ),
        ({"every": "1h", "timezone": "localtime"}, "unknown timezone 'localtime'"),
        (
            {"daily": "02:00", "start": "2027-02-01T00:00", "end": "2027-01-01T00:00"},
            "end 2027-01-01T00:00:00 is before start 2027-02-01T00:00:00",
        ),
        ({"daily": []}, 'an empty list of times in daily; give at least one, e.g. ["02:00"]'),
        ({"weekly": {"days": ["mon"], "at": []}}, "an empty list of times in weekly.at"),
        ({"weekly": {"days": [], "at": ["09:00"]}}, "an empty list of weekdays"),
        ({"monthly": {"days": [], "at": ["09:00"]}}, "an empty list of days"),
        ({"monthly": {"days": [0], "at": ["06:00"]}}, 'monthly day 0 is outside 1..31 (or "last"'),
        ({"monthly": {"days": [32], "at": ["06:00"]}}, "monthly day 32 is outside 1..31"),
        ({"monthly": {"days": ["first"], "at": ["06:00"]}}, "monthly day 'first' is outside 1..31"),
        ({"every": "1h", "color": "red"}, "unknown key 'color' in a schedule (allowed: every, cron, daily"),
        (
            {"weekly": {"days": ["mon"], "at": ["09:00"], "hour": 3}},
            "unknown key 'hour' in weekly (allowed: days, at)",
        ),
        ({"monthly": {"day": [1], "at": ["09:00"]}}, "unknown key 'day' in monthly (allowed: days, at)"),
        ({"weekly": "mon"}, "weekly is a mapping"),
        (
            {"daily": "02:00", "every": "1h"},
            "a schedule needs exactly one of: every, cron, daily, weekly, monthly, once; found every, daily",
        ),
        ({"timezone": BERLIN}, "found none"),
        ({"every": "0s"}, "'0s' is zero; an interval must be positive"),
        ({"every": "5 minutes"}, "'5 minutes' is not a duration (e.g. 30s, 5m, 1h30m, 2d)"),
        (
            {"once": "2026-05-31T09:00"},
            "once 2026-05-31T09:00:00 (UTC) is in the past (now is 2026-06-01T00:00:00+00:00)",
        ),
        (
            {"once": "2027-01-01T09:00", "end": "2027-02-01T00:00"},
            "once is a single run; end do not apply to it",
        ),
        ({"every": "1h", "max_runs": 3}, "max_runs needs a start"),
        (
            {"every": "1h", "start": "2027-01-01T00:00", "max_runs": 0},
            "max_runs must be a whole number of at least 1; found 0",
        ),
        (
            {"every": "1h", "start": "2027-13-01T00:00"},
            'start "2027-13-01T00:00" is not a date-time (YYYY-MM-DDTHH:MM',
        ),
        (
            {"every": "1h", "start": "2027-01-01T00:00+01:00"},
            "has a UTC offset; write the local date-time without one",
        ),
        (
            {"type": "weekly", "schedule": "mon"},
            "unknown schedule type 'weekly' (allowed: duration, interval, cron, daily)",
        ),
        ({"type": "daily"}, "a schedule of type 'daily' needs exactly one of: schedule, time"),
        (
            "tomorrow",
            '"tomorrow" is not a schedule (a duration such as 30s, a time such as "02:00", or a 5-field',
        ),
        (42, "a schedule is a mapping such as {every: 30s}"),
    ],
)
def test_validation_messages(raw: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(raw)
    assert message in str(caught.value)


def test_errors_point_at_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Holder.model_validate({"schedule": [{"cron": "0 */6 * *"}]})
    (error,) = caught.value.errors()
    assert error["loc"] == ("schedule", 0, "cron") and error["type"] == "value_error"
    with pytest.raises(ValidationError) as caught:
        Holder.model_validate(
            {"schedule": [{"daily": "02:00"}, {"weekly": {"days": ["xyz"], "at": "09:00"}}]}
        )
    assert caught.value.errors()[0]["loc"] == ("schedule", 1, "weekly", "days")


def test_once_in_the_past_is_judged_in_its_own_zone() -> None:
    # 2026-06-01T01:00 in Tokyo is 2026-05-31T16:00Z: before NOW.
    with pytest.raises(ValidationError, match="is in the past"):
        spec({"once": "2026-06-01T01:00", "timezone": "Asia/Tokyo"})
    # The same wall time in New York is 2026-06-01T05:00Z: after NOW.
    assert spec({"once": "2026-06-01T01:00", "timezone": NEW_YORK}).once == datetime(2026, 6, 1, 1, 0)
    with pytest.raises(ValidationError, match="is in the past"):
        ScheduleSpec.model_validate(
            {"once": "2026-06-01T01:00"}, context={"now": NOW, "default_timezone": "Asia/Tokyo"}
        )


def test_preview_of_zero_runs_and_negative_counts() -> None:
    assert preview(spec("30s"), 0, after=NOW, default_timezone=None) == []
    with pytest.raises(ValueError, match="n must be at least 0"):
        preview(spec("30s"), -1, after=NOW, default_timezone=None)


def test_a_long_preview_crosses_prefects_per_call_limit() -> None:
    runs = preview(spec({"every": "1m"}), 2500, after=utc("2027-01-01T00:00"), default_timezone=None)
    assert len(runs) == 2500 and runs[-1] == utc("2027-01-01T00:00") + timedelta(minutes=2499)
