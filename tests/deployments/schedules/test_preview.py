"""`preview`: the next runs of a spec, exactly as Prefect's server schedules them.

`preview` is checked three ways: against literal instants around DST changes, against an
independent oracle (`support.oracle`: wall times from dateutil.rrule or croniter, made instants
with zoneinfo's fold=0, which is the time rule itself; every instant of a wall time for a cron
counting elapsed time), and against Prefect's own server-side expansion (`get_dates` of
`prefect.server.schemas.schedules`) of the compiled schedules. Crons counting elapsed time are
also checked against Vixie/Debian cron's behaviour as cronsim computes it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from deployments.schedules import preview
from tests.deployments.schedules.support import (
    BERLIN,
    NEW_YORK,
    NOW,
    SYDNEY,
    WEEKDAYS,
    as_utc,
    cronsim_runs,
    instants,
    localize,
    oracle,
    server_get_dates,
    spec,
    utc,
)

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
        # 01:00, 02:00 CEST, 02:00 CET (the repeated hour's second pass), 03:00 CET: elapsed time.
        ["2027-10-30T23:00Z", "2027-10-31T00:00Z", "2027-10-31T01:00Z", "2027-10-31T02:00Z"],
        id="berlin-hourly-cron-fires-in-both-passes",
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


# America/New_York, 2026: clocks go back 02:00 EDT -> 01:00 EST on 11-01 (05:00Z-06:00Z is
# 01:00-02:00 EDT, 06:00Z-07:00Z 01:00-02:00 EST), and jump 02:00 EST -> 03:00 EDT on 03-08.
# A cron whose minute or hour starts with * counts elapsed time (Vixie/Debian cron: both passes of
# the repeated hour, none of the skipped one); a fixed-hour cron keeps the time rule.
NEW_YORK_DST = [
    pytest.param(
        "*/30 * * * *",
        "2026-11-01T04:00",
        [
            "2026-11-01T04:00Z",  # 00:00 EDT
            "2026-11-01T04:30Z",
            "2026-11-01T05:00Z",  # 01:00 EDT
            "2026-11-01T05:30Z",  # 01:30 EDT
            "2026-11-01T06:00Z",  # 01:00 EST: the repeated hour's second pass
            "2026-11-01T06:30Z",  # 01:30 EST
            "2026-11-01T07:00Z",  # 02:00 EST
            "2026-11-01T07:30Z",
        ],
        True,
        id="half-hourly-fall-back",
    ),
    pytest.param(
        "0 * * * *",
        "2026-11-01T04:00",
        ["2026-11-01T04:00Z", "2026-11-01T05:00Z", "2026-11-01T06:00Z", "2026-11-01T07:00Z"],
        True,
        id="hourly-fall-back",
    ),
    pytest.param(
        "15 1 * * *",
        "2026-11-01T04:00",
        ["2026-11-01T05:15Z", "2026-11-02T06:15Z"],  # 01:15 EDT, once; then 01:15 EST
        True,
        id="fixed-hour-fall-back-once",
    ),
    pytest.param(
        "30 2 * * *",
        "2026-11-01T04:00",
        ["2026-11-01T07:30Z", "2026-11-02T07:30Z"],  # 02:30 EST: 02:00-03:00 occurs once
        True,
        id="fixed-hour-after-fall-back",
    ),
    pytest.param(
        "*/30 * * * *",
        "2026-03-08T05:00",
        [
            "2026-03-08T05:00Z",  # 00:00 EST
            "2026-03-08T05:30Z",
            "2026-03-08T06:00Z",  # 01:00 EST
            "2026-03-08T06:30Z",  # 01:30 EST; 02:00 and 02:30 do not exist
            "2026-03-08T07:00Z",  # 03:00 EDT
            "2026-03-08T07:30Z",
        ],
        True,
        id="half-hourly-spring-forward",
    ),
    pytest.param(
        "0 * * * *",
        "2026-03-08T05:00",
        ["2026-03-08T05:00Z", "2026-03-08T06:00Z", "2026-03-08T07:00Z", "2026-03-08T08:00Z"],
        True,
        id="hourly-spring-forward",
    ),
    pytest.param(
        "15 1 * * *",
        "2026-03-08T05:00",
        ["2026-03-08T06:15Z", "2026-03-09T05:15Z"],  # 01:15 EST, then 01:15 EDT
        True,
        id="fixed-hour-before-spring-forward",
    ),
    pytest.param(
        "30 2 * * *",
        "2026-03-08T05:00",
        # 02:30 does not exist: it runs once, shifted forward by the change (the time rule), at
        # 03:30 EDT. Vixie/Debian cron (and cronsim) run it once at 03:00 EDT, when cron notices
        # the jump; the time rule keeps `cron: "30 2 * * *"` and `daily: ["02:30"]` alike.
        ["2026-03-08T07:30Z", "2026-03-09T06:30Z"],
        False,
        id="fixed-hour-in-gap-once",
    ),
]


@pytest.mark.parametrize(("cron", "after", "expected", "as_vixie"), NEW_YORK_DST)
def test_new_york_dst_days(cron: str, after: str, expected: list[str], as_vixie: bool) -> None:
    raw = {"cron": cron, "timezone": NEW_YORK}
    runs = preview(spec(raw), len(expected), after=utc(after), default_timezone="UTC")
    assert instants(runs) == expected
    assert instants(oracle(raw, NEW_YORK, utc(after), len(expected))) == expected
    if as_vixie:
        assert instants(cronsim_runs(cron, NEW_YORK, utc(after), len(expected))) == expected
    # The server's own expansion of the schedules apply compiles (before the DST day).
    compiled = spec(raw).to_prefect("UTC", active=True, now=utc("2026-01-15T00:00"))
    assert instants(server_get_dates(compiled, len(expected), utc(after))) == expected


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


def test_preview_of_zero_runs_and_negative_counts() -> None:
    assert preview(spec("30s"), 0, after=NOW, default_timezone=None) == []
    with pytest.raises(ValueError, match="n must be at least 0"):
        preview(spec("30s"), -1, after=NOW, default_timezone=None)


def test_a_long_preview_crosses_prefects_per_call_limit() -> None:
    runs = preview(spec({"every": "1m"}), 2500, after=utc("2027-01-01T00:00"), default_timezone=None)
    assert len(runs) == 2500 and runs[-1] == utc("2027-01-01T00:00") + timedelta(minutes=2499)


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


def test_every_is_anchored_at_start() -> None:
    s = spec({"every": "90m", "start": "2027-01-01T00:10", "timezone": BERLIN})
    runs = preview(s, 3, after=utc("2027-02-01T00:00"), default_timezone=None)
    anchor = localize(datetime(2027, 1, 1, 0, 10), BERLIN)
    assert all((r - anchor).total_seconds() % 5400 == 0 for r in runs)
    # Before start: nothing earlier than start, whatever the compile time.
    early = preview(s, 2, after=utc("2026-12-01T00:00"), default_timezone=None)
    assert early[0] == anchor


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


# Fields of crons counting elapsed time. No `*/N` day field: cronsim, like Debian cron, ANDs a
# day-of-month starting with * with a restricted weekday, where Prefect's croniter ORs them.
ELAPSED_FIELDS = (
    ["*", "*/15", "*/20", "0", "30", "5-10/5"],
    ["*", "*/2", "*/3", "1-3", "2", "0,2,23"],
    ["*", "1", "L", "15,L"],
    ["*", "3,10", "4,11", "1-6"],
    ["*", "0", "1-5", "sun,sat"],
)


@settings(max_examples=80, deadline=None, derandomize=True, database=None)
@given(data=st.data())
def test_crons_counting_elapsed_time_fire_as_vixie_cron_does(data: Any) -> None:
    """preview == Vixie/Debian cron's runs as cronsim computes them, around DST changes (the hours
    next to a change, where both passes and skipped times are); and == the oracle and the server."""
    zone = data.draw(st.sampled_from(sorted(TRANSITIONS)))
    day = datetime.fromisoformat(data.draw(st.sampled_from(TRANSITIONS[zone])))
    local_after = day + timedelta(minutes=data.draw(st.integers(-6 * 60, 6 * 60)))
    fields = [data.draw(st.sampled_from(options)) for options in ELAPSED_FIELDS]
    assume(fields[0].startswith("*") or fields[1].startswith("*"))
    raw = {"cron": " ".join(fields), "timezone": zone}
    assume(is_valid(raw))
    after, n = localize(local_after, zone), data.draw(st.integers(1, 12))
    assert as_utc(preview(spec(raw), n, after=after, default_timezone=None)) == cronsim_runs(
        raw["cron"], zone, after, n
    )
    check_against_oracle(data, raw, zone, after, n)


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
