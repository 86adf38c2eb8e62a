"""The compiler: which Prefect schedules a spec becomes, and the zones whose DST is irregular."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from prefect.server.schemas import schedules as server

from deployments.schedules import preview
from tests.deployments.schedules.support import (
    BERLIN,
    EPOCH,
    NEW_YORK,
    as_utc,
    instants,
    oracle,
    server_get_dates,
    spec,
    utc,
)

# ---------------------------------------------------------------------------------------------
# What the compiler produces.


def test_unbounded_calendar_specs_compile_to_crons_with_indexed_slugs() -> None:
    s = spec({"daily": ["14:30", "02:00", "03:00"], "timezone": BERLIN})
    compiled = s.to_prefect("UTC", active=False)
    assert [c.schedule.cron for c in compiled] == ["0 2,3 * * *", "30 14 * * *"]
    assert [c.slug for c in compiled] == [
        "daily-0200-0300-1430-europe-berlin-1",
        "daily-0200-0300-1430-europe-berlin-2",
    ]
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


def test_a_cron_counting_elapsed_time_adds_the_second_passes_of_repeated_hours() -> None:
    s = spec({"cron": "*/30 * * * *", "timezone": NEW_YORK})
    runs, second = s.to_prefect("UTC", active=True, now=utc("2026-12-01T00:00"))
    assert runs.schedule == CronSchedule(cron="*/30 * * * *", timezone=NEW_YORK)
    assert (runs.slug, second.slug) == (s.slug(), f"{s.slug()}-fall-back")
    # The repeated hour's second pass, 01:00-02:00 EST on the first Sunday of November, in a zone
    # whose clock is EST all year.
    assert second.schedule == RRuleSchedule(
        rrule="DTSTART:20000101T000000\n"
        "RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=SU;BYMONTHDAY=1,2,3,4,5,6,7;BYHOUR=1;BYMINUTE=0,30;BYSECOND=0",
        timezone="Etc/GMT+5",
    )
    # The same schedules whatever day apply compiles them, so re-applying changes nothing.
    later = s.to_prefect("UTC", active=True, now=utc("2027-07-15T12:00"))
    assert [c.schedule for c in later] == [runs.schedule, second.schedule]


@pytest.mark.parametrize(
    ("raw", "kinds"),
    [
        ({"cron": "15 1 * * *", "timezone": NEW_YORK}, [CronSchedule]),  # a fixed hour: once
        ({"cron": "*/30 * * * *"}, [CronSchedule]),  # UTC repeats nothing
        ({"cron": "*/30 9-17 * * *", "timezone": NEW_YORK}, [CronSchedule]),  # never in 01:00-02:00
        ({"cron": "*/30 * * * 1-5", "timezone": NEW_YORK}, [CronSchedule]),  # never on a Sunday
        ({"cron": "0 * * * *", "timezone": NEW_YORK}, [CronSchedule, RRuleSchedule]),
        # Prefect's cron would fire the skipped 02:00 at 03:00, a time `*/2` lacks: the rrule form.
        ({"cron": "0 */2 * * *", "timezone": NEW_YORK}, [RRuleSchedule]),  # NY repeats 01:00-02:00
        ({"cron": "0 */2 * * *", "timezone": BERLIN}, [RRuleSchedule, RRuleSchedule]),  # Berlin 02:00-03:00
    ],
)
def test_which_crons_need_more_than_one_schedule(raw: dict[str, Any], kinds: list[type]) -> None:
    compiled = spec(raw).to_prefect("UTC", active=True, now=utc("2026-12-01T00:00"))
    assert [type(c.schedule) for c in compiled] == kinds


def test_second_passes_off_the_whole_hour_run_on_the_nearest_whole_hour_clock() -> None:
    """Newfoundland falls back to -03:30; no Etc zone has it, so the rrule runs on -04:00's clock,
    its times 30 minutes earlier."""
    raw = {"cron": "*/30 * * * *", "timezone": "America/St_Johns"}
    _, second = spec(raw).to_prefect("UTC", active=True, now=utc("2026-12-01T00:00"))
    assert second.schedule.timezone == "Etc/GMT+4"
    assert "BYHOUR=0;BYMINUTE=30" in second.schedule.rrule and "BYHOUR=1;BYMINUTE=0" in second.schedule.rrule
    after = utc("2027-11-07T02:00")
    assert as_utc(preview(spec(raw), 8, after=after, default_timezone=None)) == oracle(
        raw, raw["timezone"], after, 8
    )


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
        # Crons counting elapsed time: both passes of a repeated hour, none of a skipped one.
        ({"cron": "*/30 * * * *", "timezone": "Australia/Lord_Howe"}, "2027-04-03T12:00"),
        ({"cron": "0 * * * *", "timezone": "Australia/Lord_Howe"}, "2027-10-02T12:00"),
        ({"cron": "*/15 * * * *", "timezone": "Pacific/Chatham"}, "2027-04-03T12:00"),
        ({"cron": "0 */2 * * *", "timezone": "America/Santiago"}, "2027-04-03T00:00"),
        ({"cron": "0 */2 * * *", "timezone": "America/Santiago"}, "2027-09-04T00:00"),
        ({"cron": "*/30 * * * *", "timezone": "Africa/Casablanca"}, "2027-02-06T12:00"),  # no yearly rule
        (
            {"cron": "*/20 * * * *", "timezone": "Europe/Dublin", "end": "2028-12-31T00:00"},
            "2027-10-30T18:00",
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
    assert len(set(as_utc(runs))) == len(runs)


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
