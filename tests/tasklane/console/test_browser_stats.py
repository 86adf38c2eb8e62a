"""The stats, upcoming, trash and audit pages in a real browser (Playwright driving Debian's
chromium, as test_browser.py): the stats chart is drawn by Chart.js from real runs (one that
succeeds, one that fails); a task deleted on the tasks page is restored from the trash page; a
screenshot of each page lands in tests/artifacts/screenshots/."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import httpx

from tests.conftest import with_client
from tests.tasklane.console.browser_support import Screenshots, launched, signed_in

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _run_to_the_end(url: str, token: str, name: str) -> str:
    started = httpx.post(
        f"{url}/api/scheduler/tasks/{name}/run", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert started.status_code == 200, started.text
    run_id = uuid.UUID(started.json()["execution_id"])
    deadline = time.monotonic() + 90
    while True:
        run = with_client(lambda client: client.read_flow_run(run_id))
        kind = run.state.type.value if run.state else None
        if kind in FINAL and run.end_time:
            return kind
        assert time.monotonic() < deadline, f"run of {name} did not end: {kind}"
        time.sleep(1)


def test_stats_chart_from_real_runs_and_restore_from_the_trash(chromium: str, served, project: str) -> None:
    from playwright.sync_api import expect

    server, tokens = served, served.tokens
    ok, bad = f"{project}-ok", f"{project}-bad"
    for name, command, schedule in ((ok, "echo fine", "1h"), (bad, "echo broken; exit 3", None)):
        server.add_task(
            {
                "name": name,
                "type": "shell",
                "command": command,
                "group": "g",
                "retry": {"max_retries": 0},
                "schedule": schedule,
            }
        )
    assert _run_to_the_end(server.url, tokens["operator"], ok) == "COMPLETED"
    assert _run_to_the_end(server.url, tokens["operator"], bad) == "FAILED"
    shot = Screenshots()

    with launched(chromium) as browser:
        page = signed_in(browser, server, "admin")
        expect(page).to_have_url(f"{server.url}/console/tasks")

        # Stats: Chart.js drew the runs per day by outcome from the page's JSON.
        page.click("#nav-stats")
        expect(page).to_have_url(f"{server.url}/console/stats")
        canvas = page.locator("canvas#chart-per-day")
        expect(canvas).to_be_visible()
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-per-day')")
        drawn = page.evaluate(
            """() => {
              const chart = Chart.getChart('chart-per-day');
              const today = chart.data.labels.length - 1;
              return {
                day: chart.data.labels[today],
                byState: Object.fromEntries(chart.data.datasets.map((d) => [d.label, d.data[today]])),
                points: chart.getDatasetMeta(0).data.length,
                p95: Chart.getChart('chart-durations').data.datasets[1].data,
                failing: Chart.getChart('chart-failing').data.labels,
              };
            }"""
        )
        assert drawn["day"] == datetime.now(UTC).date().isoformat()
        assert drawn["byState"] == {"Completed": 1, "Failed": 1}
        assert drawn["points"] == 7 and len(drawn["p95"]) == 2 and all(v > 0 for v in drawn["p95"])
        assert drawn["failing"] == [bad]
        assert canvas.bounding_box()["height"] > 100
        shot(page, "stats")

        # Upcoming: the hourly task's next runs, by day.
        page.click("#nav-upcoming")
        expect(page.locator(f'tr[data-task="{ok}"]').first).to_be_visible(timeout=60_000)
        shot(page, "upcoming")

        # Delete on the tasks page (confirmed), restore from the trash page.
        page.click("#nav-tasks")
        row = page.locator(f'tr[data-task="{ok}"]')
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator('[data-action="delete"]').click()
        expect(row).to_have_count(0)
        page.click("#nav-trash")
        trashed = page.locator(f'tr[data-trashed="{ok}"]')
        expect(trashed).to_be_visible()
        shot(page, "trash")
        trashed.locator('[data-action="restore"]').click()
        expect(page.locator("#trash-restored")).to_contain_text(ok)
        expect(trashed).to_have_count(0)
        page.click("#nav-tasks")
        expect(page.locator(f'tr[data-task="{ok}"]')).to_be_visible()

        # Audit: both changes by user:admin, newest first.
        page.goto(f"{server.url}/console/audit?task={ok}&actor=user:admin")
        for _ in range(30):
            if page.locator('tr[data-action="task.restored"]').count():
                break
            time.sleep(1)
            page.reload()
        actions = page.locator("tr[data-action]").evaluate_all("rows => rows.map((r) => r.dataset.action)")
        assert actions[:2] == ["task.restored", "task.deleted"], actions
        page.goto(f"{server.url}/console/audit")
        shot(page, "audit")
        page.click('a[data-lang="zh-CN"]')
        expect(page.locator("h1")).to_have_text("审计日志")
        page.click("#nav-stats")
        expect(page.locator("h1")).to_contain_text("运行统计")
        page.wait_for_function("() => window.Chart && Chart.getChart('chart-per-day')")
        shot(page, "stats-zh")
    assert shot.all_drawn(5)
