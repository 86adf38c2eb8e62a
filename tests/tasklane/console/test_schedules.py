"""The schedule builder's server side: its fields become catalog specs, its preview is the
server's own (`deployments.schedules.preview`), the catalog's messages land next to the field
they name, DST days are marked, and its POSTs need the page's CSRF token (any role may use it)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
import yaml

from deployments.schedules import ScheduleSpec, preview
from tasklane.console.schedules import Draft, draft_from_spec, drafts_from_form, slot_of
from tests.tasklane.console.conftest import Console

UTC_CELLS = re.compile(r'data-utc="([^"]+)"')
FROM = "2027-01-01T00:00"


def weekly_fields(**extra: str | list[str]) -> dict[str, str | list[str]]:
    fields: dict[str, str | list[str]] = {
        "s0.kind": "weekly",
        "s0.days": ["mon", "thu"],
        "s0.at": ["02:00", "14:30"],
        "s0.timezone": "Asia/Shanghai",
        "sb.from": FROM,
        "sb.viewer_tz": "Europe/Berlin",
    }
    fields.update(extra)
    return fields


def post_preview(console: Console, role: str, fields: dict) -> str:
    client = console.client(role)
    response = client.post(
        "/console/schedules/preview",
        data=fields,
        headers={"X-CSRF-Token": console.csrf(role), "HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    return response.text


def hidden_spec(html: str) -> list:
    found = re.search(r'<input type="hidden" name="schedule_spec" id="schedule-spec" value="([^"]*)"', html)
    assert found, "no schedule_spec in the answer"
    return yaml.safe_load(unescape(found.group(1)))


def test_a_weekly_preview_is_the_servers_preview(console: Console) -> None:
    html = post_preview(console, "viewer", weekly_fields())  # a viewer may: it changes nothing
    spec = ScheduleSpec.model_validate(
        {"weekly": {"days": ["mon", "thu"], "at": ["02:00", "14:30"]}, "timezone": "Asia/Shanghai"}
    )
    expected = preview(spec, 10, after=datetime.fromisoformat(FROM), default_timezone="UTC")
    assert UTC_CELLS.findall(html) == [run.astimezone(UTC).isoformat() for run in expected]
    # The spec as the catalog writes it, kept for the enclosing form; its crons shown.
    assert hidden_spec(html) == [spec.model_dump(mode="json", exclude_none=True)]
    assert "0 2 * * 1,4" in html and "30 14 * * 1,4" in html
    # The viewer's zone is shown beside UTC (Berlin is UTC+1 in January: 2027-01-03 18:00 UTC).
    assert "2027-01-03 Sun 19:00 CET" in html


def test_a_bad_cron_is_explained_next_to_its_field(console: Console) -> None:
    fields = {"s0.kind": "cron", "s0.cron": "61 * * * *", "s0.timezone": "UTC"}
    html = post_preview(console, "operator", fields)
    slot = re.search(r'id="sb-err-0-cron"[^>]*>([^<]*)<', html)
    assert slot and 'cron "61 * * * *" is not a valid cron expression' in unescape(slot.group(1))
    assert re.search(r'id="sb-err-0-timezone"[^>]*></span>', html)  # the other fields' are cleared
    assert 'id="sb-invalid"' in html and "data-utc" not in html


def test_a_mistake_of_a_second_schedule_lands_on_that_schedule(console: Console) -> None:
    fields = weekly_fields(**{"s3.kind": "daily", "s3.at": "25:00", "s3.timezone": "Asia/Shangai"})
    html = post_preview(console, "viewer", fields)
    assert '"25:00" is not a time' in unescape(re.search(r'id="sb-err-3-at"[^>]*>([^<]*)<', html).group(1))
    zone = unescape(re.search(r'id="sb-err-3-timezone"[^>]*>([^<]*)<', html).group(1))
    assert "did you mean 'Asia/Shanghai'?" in zone
    assert re.search(r'id="sb-err-0-at"[^>]*></span>', html)


@pytest.mark.parametrize(
    ("fields", "marked", "marks"),
    [
        # 02:30 does not exist on 2027-03-14 in New York: it runs at 03:30 EDT, on the new offset.
        (
            {"s0.kind": "daily", "s0.at": "02:30", "sb.from": "2027-03-12T00:00"},
            ["2027-03-14T07:30:00+00:00"],
            ["02:30 does not exist this day", "runs at 03:30", "UTC offset changes: -05:00 → -04:00"],
        ),
        # A cron counting elapsed time loses the times of the gap: none is moved.
        (
            {"s0.kind": "cron", "s0.cron": "*/30 * * * *", "sb.from": "2027-03-14T01:00"},
            ["2027-03-14T07:00:00+00:00"],
            ["Clocks jump from 02:00 to 03:00: the times between are skipped", "-05:00 → -04:00"],
        ),
        # 01:30 happens twice on 2027-11-07: it runs the first time (EDT); the day after is on EST.
        (
            {"s0.kind": "daily", "s0.at": "01:30", "sb.from": "2027-11-05T00:00"},
            ["2027-11-07T05:30:00+00:00", "2027-11-08T06:30:00+00:00"],
            ["01:30 happens twice this day (clocks go back): runs the first time", "-04:00 → -05:00"],
        ),
    ],
)
def test_a_dst_day_in_new_york_is_marked(console: Console, fields: dict, marked: list, marks: list) -> None:
    html = unescape(post_preview(console, "viewer", {**fields, "s0.timezone": "America/New_York"}))
    assert re.findall(r'<tr class="sb-run sb-dst" data-utc="([^"]+)">', html) == marked
    for mark in marks:
        assert mark in html


def test_a_preview_without_the_csrf_token_is_refused(console: Console) -> None:
    client = console.client("viewer")
    response = client.post("/console/schedules/preview", data=weekly_fields())
    assert response.status_code == 403


def test_the_page_and_the_editors_partial(console: Console) -> None:
    client = console.client("viewer")
    page = client.get("/console/schedules")
    assert page.status_code == 200
    assert 'id="nav-schedules"' in page.text and 'name="schedule_spec"' in page.text
    assert 'hx-post="/console/schedules/preview"' in page.text and "data-utc" in page.text
    # The editor's partial loads its fields from the task's schedule_spec.
    text = '[{weekly: {days: [mon], at: ["09:00"]}, timezone: Asia/Tokyo}, {every: 90m}]'
    loaded = client.post(
        "/console/schedules/fields",
        data={"schedule_spec": text},
        headers={"X-CSRF-Token": console.csrf("viewer")},
    )
    assert loaded.status_code == 200
    assert re.search(r'name="s0.days" value="mon" checked', loaded.text)
    assert 'name="s0.timezone" value="Asia/Tokyo"' in loaded.text
    assert 'name="s1.every_amount" value="90"' in loaded.text
    chinese = client.get("/console/schedules", headers={"Accept-Language": "zh-CN"})
    assert "调度构建器" in chinese.text


@pytest.mark.parametrize(
    "raw",
    [
        {"weekly": {"days": ["mon", "thu"], "at": ["02:00", "14:30"]}, "timezone": "Asia/Shanghai"},
        {
            "monthly": {"days": [1, 15, "last"], "at": ["06:00"]},
            "start": "2027-01-01T00:00:00",
            "max_runs": 3,
        },
        {"every": "90m"},
        {"every": "2d", "start": "2027-01-01T00:00:00"},
        {"cron": "*/15 9-17 * * 1-5", "end": "2030-01-01T00:00:00"},
        {"daily": ["02:00", "14:30"]},
        {"once": "2030-05-01T10:00:00"},
    ],
)
def test_a_spec_makes_fields_that_make_the_same_spec(raw: dict) -> None:
    draft = draft_from_spec("0", raw, "UTC")
    fields: dict[str, list[str]] = {}
    for name, value in vars(draft).items():
        if name != "key":
            fields[f"s0.{name}"] = value if isinstance(value, list) else [value]
    (again,) = drafts_from_form(fields)
    assert ScheduleSpec.model_validate(again.spec()) == ScheduleSpec.model_validate(raw)


def test_an_interval_becomes_a_number_and_its_largest_whole_unit() -> None:
    drafts = [draft_from_spec("0", {"every": every}, "UTC") for every in ("1h30m", "2h", "45s")]
    assert [(d.every_amount, d.every_unit) for d in drafts] == [("90", "m"), ("2", "h"), ("45", "s")]


def test_a_blank_draft_makes_a_spec_the_catalog_rejects_with_its_own_words() -> None:
    assert Draft("0", kind="weekly").spec() == {"weekly": {"days": [], "at": []}}
    assert slot_of("weekly.days") == "days" and slot_of("monthly.days") == "monthdays"
    assert slot_of("daily.0") == "at" and slot_of(None) == "kind" and slot_of("cron") == "cron"


def test_the_partial_renders_inside_another_form_from_schedule_spec_alone() -> None:
    """The task editor includes the partial with only `schedule_spec`: it keeps the spec in the
    hidden field and loads its fields from the server."""
    from fastapi.templating import Jinja2Templates

    from tasklane.console.i18n import translator
    from tasklane.console.pages import HERE

    template = Jinja2Templates(directory=HERE / "templates").get_template("_schedule_builder.html")
    text = '- {daily: ["02:00"], timezone: "Asia/Shanghai"}\n'
    html = template.render(t=translator("en"), base="/console", static="/static/console", schedule_spec=text)
    assert f'name="schedule_spec" id="schedule-spec" value="{text.replace(chr(34), "&#34;")}"' in html
    assert 'hx-post="/console/schedules/fields" hx-trigger="load"' in html
    assert "schedule_builder.js" in html


def test_every_key_the_builder_makes_from_a_value_is_in_both_catalogs() -> None:
    from deployments.schedules.clock import WEEKDAYS
    from tasklane.console.i18n import catalog
    from tasklane.console.schedules import KINDS, UNITS

    marks = ("shift", "skipped", "gap", "repeated_first", "repeated_second")
    made = {
        *(f"schedules.kind.{kind}" for kind in KINDS),
        *(f"schedules.unit.{unit}" for unit in UNITS),
        *(f"schedules.day.{day}" for day in WEEKDAYS),
        *(f"schedules.mark.{mark}" for mark in marks),
    }
    for language in ("en", "zh-CN"):
        assert made - set(catalog(language)) == set()
    assert {key for key in catalog("en") if key.startswith("schedules.")} == {
        key for key in catalog("zh-CN") if key.startswith("schedules.")
    }
