"""The console in a real browser: Playwright driving Debian's chromium (never a downloaded one)
against `tasklane api` served by uvicorn on a free port, over the session's Prefect server and
worker. Signs in, runs a task and watches its log arrive live, disables it, switches to Chinese,
and finds no control as a viewer; a screenshot of each page lands in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import uuid

from tests.tasklane.console.browser_support import Screenshots, launched, new_page, sign_in, signed_in


def test_the_console_in_a_browser(chromium: str, served, project: str) -> None:
    from playwright.sync_api import expect

    from tasklane.history.runs import run_link

    server = served
    name = f"{project}-echo-{uuid.uuid4().hex[:4]}"
    server.add_task({"name": name, "type": "shell", "command": "echo one; sleep 2; echo two", "group": "g"})
    shot = Screenshots()

    with launched(chromium) as browser:
        page = new_page(browser, viewport={"width": 1360, "height": 820})

        # Signed out, / leads to the sign-in form.
        page.goto(server.url + "/")
        expect(page).to_have_url(f"{server.url}/console/login")
        shot(page, "login")
        sign_in(page, "operator")
        expect(page).to_have_url(f"{server.url}/console/tasks")
        row = page.locator(f'tr[data-task="{name}"]')
        expect(row).to_be_visible()

        # The search filters as it is typed (htmx), without a reload.
        page.evaluate("window.notReloaded = true")
        page.fill("#q", "no-such-task-at-all")
        expect(page.locator("#no-tasks")).to_be_visible()
        page.fill("#q", name[-8:])
        expect(row).to_be_visible()
        shot(page, "tasks")

        # Run now: the row says so and links to the run, whose log arrives live.
        row.locator('[data-action="run"]').click()
        started = row.locator("a[data-started]")
        expect(started).to_be_visible()
        assert page.evaluate("window.notReloaded") is True
        run_id = started.get_attribute("data-started")
        started.click()
        expect(page).to_have_url(f"{server.url}/console/runs/{run_id}")
        page.evaluate("window.notReloaded = true")
        log = page.locator("#log")
        expect(log).to_contain_text("one", timeout=40_000)
        expect(log).to_contain_text("two", timeout=20_000)
        expect(page.locator("#run-state")).to_have_text("Completed", timeout=20_000)
        expect(page.locator("#log-status")).to_have_text("The run has ended.")
        expect(page.locator("#run-end")).not_to_have_text("-")
        assert page.evaluate("window.notReloaded") is True
        assert log.inner_text().index("one") < log.inner_text().index("two")
        expect(page.locator("#prefect-link")).to_have_attribute("href", run_link(run_id))
        shot(page, "run")

        page.click("#nav-runs")
        expect(page.locator(f'tr[data-run="{run_id}"]').first).to_be_visible()
        shot(page, "runs")
        page.goto(f"{server.url}/console/tasks/{name}")
        expect(page.locator("h1")).to_contain_text(name)
        shot(page, "task")

        # Disable: the row is swapped for one marked disabled.
        page.goto(f"{server.url}/console/tasks")
        row.locator('[data-action="disable"]').click()
        expect(row.locator('[data-disabled="true"]')).to_have_text("disabled")
        expect(row.locator('[data-action="enable"]')).to_be_visible()
        shot(page, "tasks-disabled")

        # Chinese, switched in the header; kept on the next page.
        page.click('a[data-lang="zh-CN"]')
        expect(page.locator("h1")).to_have_text("任务")
        expect(row.locator('[data-action="run"]')).to_have_text("立即运行")
        expect(row.locator('[data-disabled="true"]')).to_have_text("已停用")
        page.click("#nav-runs")
        expect(page.locator("h1")).to_have_text("运行记录")
        shot(page, "runs-zh")
        page.click("#nav-tasks")
        shot(page, "tasks-zh")
        page.context.close()

        # A viewer sees the task and no control.
        page = signed_in(browser, server, "viewer", viewport={"width": 1360, "height": 820})
        expect(page.locator(f'tr[data-task="{name}"]')).to_be_visible()
        assert page.locator("[data-action]").count() == 0
        assert page.get_by_role("button", name="Run now").count() == 0
        shot(page, "tasks-viewer")
    assert shot.all_drawn(9)
