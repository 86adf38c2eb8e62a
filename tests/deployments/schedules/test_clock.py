"""clock.parse_moment: the one reader of a typed time, shared by `--since`/`--until` and the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from deployments.schedules.clock import parse_moment

NOW = datetime(2026, 11, 8, 12, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("", UTC, None),
        ("  ", SHANGHAI, None),
        ("2026-11-01", UTC, datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:00", SHANGHAI, datetime(2026, 11, 1, 8, 0, tzinfo=SHANGHAI)),
        ("2026-11-01T08:00+01:00", SHANGHAI, datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),  # its own zone wins
        (" 7d ", UTC, NOW - timedelta(days=7)),
        ("12h", SHANGHAI, NOW - timedelta(hours=12)),
    ],
)
def test_a_date_time_in_the_zone_or_a_duration_back_from_now(text, zone, expected) -> None:
    assert parse_moment(text, zone, NOW) == expected


def test_anything_else_says_what_it_expects() -> None:
    with pytest.raises(ValueError, match=r"'soon' is not a date-time \(ISO\) or a duration back from now"):
        parse_moment(" soon ", UTC, NOW)


@pytest.mark.parametrize("text", ["99999999d", "9999999999d"])  # beyond datetime; beyond timedelta
def test_a_duration_beyond_the_calendar_is_a_value_error(text) -> None:
    with pytest.raises(ValueError, match=rf"'{text}' reaches back before the year 1"):
        parse_moment(text, UTC, NOW)
