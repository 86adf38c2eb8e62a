"""A finished run and the alerts inbox in a real browser (Playwright driving Debian's chromium):
the run's state timeline and result appear, its log is searched in place; the inbox shows the
alert its failure fired, with the unread badge in the header. Screenshots of each page."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from deployments.apply import Target
from tests.conftest import TEST_POOL, with_client
from tests.tasklane.console.browser_support import Screenshots, launched, signed_in
from tests.tasklane.history.test_alerts_fired import apply_notify_tasks, save_dead_webhook


def test_a_run_timeline_log_search_and_the_inbox_in_a_browser(
    chromium: str,
    served,
    project: str,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    from tasklane.tasks.lookup import run_task

    server = served
    name = f"{project}-failing-{uuid.uuid4().hex[:4]}"
    command = "echo first-step; sleep 1.5; echo second-step; exit 3"
    apply_notify_tasks(
        tmp_path / "catalog", Target(TEST_POOL, "UTC", project), save_dead_webhook(), [(name, "g", command)]
    )
    run = with_client(lambda client: run_task(client, name))
    deadline = time.monotonic() + 90
    while True:
        state = with_client(lambda client: client.read_flow_run(run.id)).state
        if state is not None and state.is_final():
            break
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(1)
    shot = Screenshots()

    with launched(chromium) as browser:
        page = signed_in(browser, server, "operator", next_path=f"/console/runs/{run.id}")
        expect(page).to_have_url(f"{server.url}/console/runs/{run.id}")

        # The timeline and result arrive in the page (htmx); the run has ended: no Cancel.
        timeline = page.locator("#run-timeline")
        expect(timeline.locator('tr[data-state="Running"]')).to_be_visible()
        expect(timeline.locator('tr[data-state="Failed"]')).to_be_visible()
        expect(page.locator("#run-result")).to_be_visible()
        expect(page.locator("#cancel-run")).to_have_count(0)
        expect(page.locator("#run-again")).to_be_visible()
        expect(page.locator("#log")).to_contain_text("second-step")

        # The log searched in place, without reloading.
        page.evaluate("window.notReloaded = true")
        page.fill("#log-q", "second")
        page.click("#log-search-go")
        expect(page.locator("#log-count")).to_contain_text("matching lines.")
        expect(page.locator("#log-matches")).to_contain_text("second-step")
        # Every line shown has the text (a failed run's messages repeat its output's tail).
        matches = page.locator("#log-matches").inner_text().strip().split("\n2")
        assert matches and all("second" in line for line in matches), matches
        assert page.evaluate("window.notReloaded") is True
        shot(page, "run-detail")

        # The inbox: the alert its failure fired, the unread badge in the header; mark it read.
        deadline = time.monotonic() + 45
        page.goto(f"{server.url}/console/inbox")
        while page.locator(f'tr[data-task="{name}"]').count() == 0:
            assert time.monotonic() < deadline, "no alert reached the inbox"
            time.sleep(1.5)
            page.reload()
        expect(page.locator("#inbox-count")).to_have_text("1", timeout=20_000)
        row = page.locator(f'tr[data-task="{name}"]')
        expect(row).to_have_attribute("data-read", "false")
        shot(page, "inbox")
        row.locator('[data-action="mark-read"]').click()
        expect(page.locator(f'tr[data-task="{name}"]')).to_have_attribute("data-read", "true")
        page.click('a[data-lang="zh-CN"]')
        expect(page.locator("h1")).to_have_text("告警通知")
        shot(page, "inbox-zh")
    assert shot.all_drawn(3)
