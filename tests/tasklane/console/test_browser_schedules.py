"""The schedule builder in a real browser: build a weekly schedule by clicking days and times,
see the preview change after each click, and find its UTC times equal to `tasklane preview`'s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.tasklane.api.conftest import make_api
from tests.tasklane.console.conftest import PASSWORD, add_users
from tests.tasklane.console.test_browser import CHROMIUM_ARGS, SCREENSHOTS, Served, chromium  # noqa: F401

FROM = "2027-01-01T00:00"


@pytest.fixture
def builder_server(tmp_path: Path, project: str, work_pool: str) -> Iterator[Served]:
    """The console served by uvicorn; no worker (the builder runs nothing)."""
    add_users(tmp_path)
    app, _tokens = make_api(tmp_path, project)
    with Served(app) as server:
        yield server


def cli_preview(spec: str) -> list[str]:
    from tasklane.cli import app

    result = CliRunner().invoke(app, ["preview", "--spec", spec, "--from", FROM, "-n", "10", "--json"])
    assert result.exit_code == 0, result.output
    return [run["utc"] for run in json.loads(result.stdout)["runs"]]


def test_building_a_weekly_schedule_by_clicking(chromium: str, builder_server: Served) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    server = builder_server
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                locale="en-US", timezone_id="Europe/Berlin", viewport={"width": 1360, "height": 900}
            )
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(server.url + "/console/login")
            page.fill("#name", "viewer")  # a viewer may build: the builder changes nothing
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
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
            page.screenshot(path=str(SCREENSHOTS / "console-schedules.png"), full_page=True)

            # A mistake is explained next to its field.
            page.locator('input[name="s0.timezone"]').fill("Asia/Shangai")
            expect(page.locator("#sb-err-0-timezone")).to_contain_text("did you mean 'Asia/Shanghai'?")
            expect(page.locator("#sb-invalid")).to_be_visible()
            page.screenshot(path=str(SCREENSHOTS / "console-schedules-error.png"), full_page=True)
            context.close()
        finally:
            browser.close()
    assert (SCREENSHOTS / "console-schedules.png").stat().st_size > 5_000
