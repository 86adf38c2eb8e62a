"""Schedule specs: the accepted shapes, parsing, slugs, and the validation messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from deployments.schedules import ScheduleSpec, parse_schedules, parse_spec_text, preview
from tests.deployments.schedules.support import BERLIN, NEW_YORK, NOW, Holder, spec, utc

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


def test_a_bare_end_date_means_the_end_of_that_day() -> None:
    s = spec({"daily": ["23:30"], "end": "2027-01-02"})
    assert s.end == datetime(2027, 1, 2, 23, 59, 59)
    assert [r.day for r in preview(s, 5, after=utc("2027-01-01T00:00"), default_timezone=None)] == [1, 2]


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


@pytest.mark.parametrize(
    ("raw", "slug"),
    [
        ({"every": "10m"}, "every-10m"),
        ({"every": "1h30m", "timezone": BERLIN}, "every-1h30m-europe-berlin"),
        ({"daily": ["02:00"], "timezone": "Asia/Shanghai"}, "daily-0200-asia-shanghai"),
        ({"daily": ["14:30", "02:00"]}, "daily-0200-1430"),
        ({"cron": "0 2 * * *"}, "cron-0-2-x-x-x"),
        ({"cron": "*/30 * * * *", "timezone": NEW_YORK}, "cron-every30-x-x-x-x-america-new-york"),
        ({"cron": "0,30 9-17 * * MON-FRI"}, "cron-0and30-9to17-x-x-montofri"),
        ({"weekly": {"days": ["wed", "mon"], "at": ["09:00"]}}, "weekly-mon-wed-0900"),
        ({"monthly": {"days": [15, "last", 1], "at": ["06:00"]}}, "monthly-1-15-last-0600"),
        ({"once": "2027-12-24T18:00"}, "once-20271224-1800"),
    ],
)
def test_slugs_read_as_the_spec_is_written(raw: Any, slug: str) -> None:
    assert spec(raw).slug() == slug


def test_slugs_are_shared_by_equivalent_shapes_and_kept_short() -> None:
    canonical = spec({"daily": ["02:00"]}).slug()
    for shape in (
        "02:00",
        "2:00",
        {"daily": "02:00"},
        {"type": "daily", "time": "02:00"},
        {"type": "daily", "schedule": "02:00"},
    ):
        assert spec(shape).slug() == canonical
    assert spec("0 */6 * * *").slug() == spec({"type": "cron", "schedule": "0 */6 * * *"}).slug()
    assert spec({"daily": ["14:30", "02:00"]}).slug() == spec({"daily": ["02:00", "14:30", "14:30"]}).slug()
    # A long spec is cut, and a hash of the whole keeps two long ones apart.
    minutes = ",".join(str(m) for m in range(0, 60, 5))
    long_one = spec({"cron": f"{minutes} 1,2,3 * * *", "timezone": "America/Argentina/ComodRivadavia"})
    other = spec({"cron": f"{minutes} 1,2,4 * * *", "timezone": "America/Argentina/ComodRivadavia"})
    for slug in (long_one.slug(), other.slug()):
        assert len(slug) <= 60 and slug.startswith("cron-0and5and10") and slug.replace("-", "").isalnum()
    assert long_one.slug() != other.slug()


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
        ({"every": "5 mins"}, "'5 mins' is not a duration; write 5m"),
        ({"every": "1 hour and 30 minutes"}, "is not a duration; write 1h30m"),
        ({"every": "5 apples"}, "'5 apples' is not a duration (e.g. 30s, 5m, 1h30m, 2d)"),
        ({"daily": "2:30pm"}, '"2:30pm" is not a time (HH:MM, 00:00–23:59); write "14:30"'),
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
            "30",
            '"30" is not a schedule (a duration such as 30s, a time such as "02:00", or a 5-field',
        ),
        (42, "a schedule is a mapping such as {every: 30s}"),
    ],
)
def test_validation_messages(raw: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(raw)
    assert message in str(caught.value)


# Plain English where a cron belongs: what was expected, and the friendly form that means it.
ENGLISH = "is not a cron expression (5 fields: minute hour day-of-month month day-of-week); write "
BARE = (
    'is not a schedule (a bare string is a duration such as 30s, a time such as "02:00", '
    "or a 5-field cron); write "
)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"cron": "every 5 minutes"},
            f'cron "every 5 minutes" {ENGLISH}{{every: 5m}}, or a 5-field cron such as "*/5 * * * *"',
        ),
        (
            "every 5 minutes",
            f'"every 5 minutes" {BARE}{{every: 5m}}, or a 5-field cron such as "*/5 * * * *"',
        ),
        ({"cron": "every 2 hours"}, f'{ENGLISH}{{every: 2h}}, or a 5-field cron such as "0 */2 * * *"'),
        ({"cron": "every minute"}, f'{ENGLISH}{{every: 1m}}, or a 5-field cron such as "* * * * *"'),
        ({"cron": "every 7 minutes"}, f"{ENGLISH}{{every: 7m}}"),  # */7 restarts each hour: no cron
        ({"cron": "every 30 seconds"}, f"{ENGLISH}{{every: 30s}}"),
        ({"cron": "hourly"}, f'{ENGLISH}{{every: 1h}}, or a 5-field cron such as "0 * * * *"'),
        ({"cron": "@daily"}, f'{ENGLISH}{{daily: ["00:00"]}}, or a 5-field cron such as "0 0 * * *"'),
        ({"cron": "daily at 2am"}, f'{ENGLISH}{{daily: ["02:00"]}}, or a 5-field cron such as "0 2 * * *"'),
        (
            {"cron": "every day at 14:30"},
            f'{ENGLISH}{{daily: ["14:30"]}}, or a 5-field cron such as "30 14 * * *"',
        ),
        ("at noon", f'{BARE}{{daily: ["12:00"]}}, or a 5-field cron such as "0 12 * * *"'),
        (
            "every monday at 9:00",
            f'{BARE}{{weekly: {{days: [mon], at: ["09:00"]}}}}, or a 5-field cron such as "0 9 * * 1"',
        ),
        ({"cron": "twice a day"}, f"{ENGLISH}a schedule such as {{every: 5m}}, {{daily: "),
    ],
)
def test_plain_english_gets_the_friendly_form_that_means_it(raw: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(raw)
    assert message in str(caught.value)
    assert "fields, needs 5" not in str(caught.value)


def test_a_cron_with_month_and_weekday_names_is_not_english() -> None:
    assert spec({"cron": "0 9 * jan-mar MON-FRI"}).cron == "0 9 * jan-mar MON-FRI"
    assert spec("0 0 L * sun").cron == "0 0 L * sun"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"evry": "5m"}, "unknown key 'evry' in a schedule (allowed: every, cron, daily, weekly, monthly, "),
        ({"evry": "5m"}, "max_runs); did you mean 'every'?"),
        (
            {"weekly": {"days": ["mon"], "at": ["09:00"], "att": ["10:00"]}},
            "(allowed: days, at); did you mean 'at'?",
        ),
        (
            {"weekly": {"days": ["mnday"], "at": ["09:00"]}},
            "unknown weekday 'mnday' (allowed: mon, tue, wed, thu, fri, sat, sun); did you mean 'mon'?",
        ),
        ({"weekly": {"days": ["thurday"], "at": ["09:00"]}}, "did you mean 'thu'?"),
        (
            {"type": "duraton", "schedule": "5m"},
            "unknown schedule type 'duraton' (allowed: duration, interval, cron, daily); "
            "did you mean 'duration'?",
        ),
        (
            {"every": "1h", "timezone": "Europe/Berln"},
            "unknown timezone 'Europe/Berln' (an IANA name such as Europe/Berlin); "
            "did you mean 'Europe/Berlin'?",
        ),
        ({"every": "1h", "timezone": "asia/shanghai"}, "did you mean 'Asia/Shanghai'?"),
        ({"every": "1h", "timezone": "New York"}, "did you mean 'America/New_York'?"),
    ],
)
def test_misspelled_names_get_the_closest_valid_one(raw: Any, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        spec(raw)
    assert message in str(caught.value)


def test_far_off_names_get_no_guess() -> None:
    for raw in ({"every": "1h", "timezone": "Mars/Olympus"}, {"every": "1h", "colour": "red"}):
        with pytest.raises(ValidationError) as caught:
            spec(raw)
        assert "did you mean" not in str(caught.value)


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
