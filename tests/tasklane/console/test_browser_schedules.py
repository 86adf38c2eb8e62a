"""The schedule builder in a real browser: build a weekly schedule by clicking days and times,
see the preview change after each click, and find its UTC times equal to `tasklane preview`'s."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.tasklane.console.browser_support import Screenshots, Served, launched, signed_in

FROM = "2027-01-01T00:00"


def cli_preview(spec: str) -> list[str]:
    from tasklane.cli import app

    result = CliRunner().invoke(app, ["preview", "--spec", spec, "--from", FROM, "-n", "10", "--json"])
    assert result.exit_code == 0, result.output
    return [run["utc"] for run in json.loads(result.stdout)["runs"]]


def test_building_a_weekly_schedule_by_clicking(chromium: str, served_idle: Served) -> None:
    from playwright.sync_api import expect

    server = served_idle  # no worker: the builder runs nothing
    shot = Screenshots()
    with launched(chromium) as browser:
        # A viewer may build: the builder changes nothing.
        page = signed_in(browser, server, "viewer", timezone_id="Europe/Berlin")
        page.click("#nav-schedules")
        expect(page.locator("h1")).to_have_text("Schedule builder")
        runs = page.locator("#sb-runs tr.sb-run")
        expect(runs).to_have_count(10)
        one = page.locator('.sb-one[data-key="0"]')

        def utc_times() -> list[str]:
            return [r.get_attribute("data-utc") or "" for r in runs.all()]

        def changes(action) -> list[str]:
            """Do `action`; wait until the preview differs from before; the new UTC times."""
            before = page.locator("#sb-preview").inner_html()
            action()
            expect(page.locator("#sb-preview")).not_to_have_js_property("innerHTML", before)
            page.wait_for_load_state("networkidle")
            return utc_times()

        changes(lambda: page.fill("#sb-from", FROM))
        changes(lambda: one.locator(".sb-kind").select_option("weekly"))
        expect(page.locator("#sb-err-0-days")).to_contain_text("an empty list of weekdays")
        changes(lambda: one.get_by_text("Mon", exact=True).click())
        mondays = changes(lambda: one.locator('input[name="s0.at"]').first.fill("02:00"))
        both = changes(lambda: one.get_by_text("Thu", exact=True).click())
        assert set(mondays) < set(both) or mondays != both
        one.locator(".sb-time-add").click()
        changes(lambda: one.locator('input[name="s0.at"]').nth(1).fill("14:30"))
        shown = changes(lambda: one.locator('input[name="s0.timezone"]').fill("Asia/Shanghai"))
        expect(page.locator("#sb-yaml")).to_contain_text("Asia/Shanghai")
        expect(page.locator("#sb-crons")).to_contain_text("0 2 * * 1,4")

        spec = '{weekly: {days: [mon, thu], at: ["02:00", "14:30"]}, timezone: Asia/Shanghai}'
        assert shown == cli_preview(spec)
        # The viewer's own zone (the browser's) beside UTC.
        expect(page.locator("#sb-runs")).to_contain_text("Europe/Berlin")
        shot(page, "schedules")

        # A mistake is explained next to its field.
        page.locator('input[name="s0.timezone"]').fill("Asia/Shangai")
        expect(page.locator("#sb-err-0-timezone")).to_contain_text("did you mean 'Asia/Shanghai'?")
        expect(page.locator("#sb-invalid")).to_be_visible()
        shot(page, "schedules-error")
    assert shot.all_drawn(2)
