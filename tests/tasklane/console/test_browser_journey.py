"""One person's whole journey through the console in a real browser (Playwright driving Debian's
chromium against `tasklane api` and a polling worker), by clicking only: sign in as admin; New
task -> shell; type a command into the code editor; build a weekly schedule by clicking days and
times and see its preview; save; Run now and watch the output arrive in the live log tail; then
disable the task, delete it to the trash, restore it and find it back in the tasks list. The
saved deployment has the schedule that was built. A screenshot of each step."""

from __future__ import annotations

import re
import uuid

from tests.conftest import with_client
from tests.tasklane.console.browser_support import Screenshots, Served, launched, signed_in

COMMAND = "echo first; sleep 2; echo second"
ZONE = "Asia/Shanghai"
BUILT = [{"weekly": {"days": ["mon", "thu"], "at": ["07:00", "18:30"]}, "timezone": ZONE}]
CRONS = {"0 7 * * 1,4", "30 18 * * 1,4"}


def test_a_task_from_new_to_run_to_trash_and_back(chromium: str, served: Served, project: str) -> None:
    from playwright.sync_api import expect

    from tasklane.tasks.lookup import find_task
    from tasklane.tasks.save import task_mapping

    server = served
    name = f"{project}-journey-{uuid.uuid4().hex[:4]}"
    shot = Screenshots()

    with launched(chromium) as browser:
        page = signed_in(browser, server, "admin", viewport={"width": 1360, "height": 860})
        expect(page).to_have_url(f"{server.url}/console/tasks")
        shot(page, "journey-1-signed-in")

        # New task -> shell; the command typed into the code editor.
        page.click("#new-task")
        page.click('a[data-type="shell"]')
        expect(page.locator('label[for="f-job.command"]')).to_have_text("Command")
        page.fill("#f-name", name)
        page.fill("#f-group", "journey")
        editor = page.locator('.CodeMirror[data-for="job.command"]')
        editor.click()
        page.keyboard.type(COMMAND)
        expect(editor).to_contain_text(COMMAND)

        # The schedule, built by clicking: a weekly one on Mon and Thu at two times.
        page.click("#sb-add")
        one = page.locator("#sb-schedules .sb-one").first
        one.locator(".sb-kind").select_option("weekly")
        one.get_by_text("Mon", exact=True).click()
        one.get_by_text("Thu", exact=True).click()
        one.locator('input[name$=".at"]').first.fill("07:00")
        one.locator(".sb-time-add").click()
        one.locator('input[name$=".at"]').nth(1).fill("18:30")
        one.locator('input[name$=".timezone"]').fill(ZONE)
        expect(page.locator("#sb-crons")).to_contain_text("0 7 * * 1,4")
        expect(page.locator("#sb-crons")).to_contain_text(f"30 18 * * 1,4 ({ZONE})")
        runs = page.locator("#sb-runs tr.sb-run")
        expect(runs).to_have_count(10)
        zone_times = runs.locator(".sb-zone-time").all_inner_texts()
        assert all("07:00" in text or "18:30" in text for text in zone_times), zone_times
        # The last preview answered: the hidden spec the form sends is the schedule built.
        expect(page.locator("#schedule-spec")).to_have_value(re.compile(r"weekly(.|\n)*18:30(.|\n)*Shanghai"))
        shot(page, "journey-2-editor")

        page.click("#save")
        expect(page).to_have_url(f"{server.url}/console/tasks/{name}")
        expect(page.locator("h1")).to_contain_text(name)
        shot(page, "journey-3-task")

        # Run now, from the task's page: the output arrives in the live log tail, in order.
        page.locator('button[data-action="run"]').click()
        expect(page).to_have_url(re.compile(rf"{server.url}/console/runs/[0-9a-f-]+$"))
        page.evaluate("window.notReloaded = true")
        log = page.locator("#log")
        expect(log).to_contain_text("first", timeout=40_000)
        expect(log).to_contain_text("second", timeout=20_000)
        assert log.inner_text().index("first") < log.inner_text().index("second")
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator("#run-state")).to_have_text("Completed", timeout=20_000)
        # The ended run's page follows at once: its timeline ends Completed and Cancel is gone.
        expect(page.locator('#run-timeline tr[data-state="Completed"]')).to_be_visible(timeout=3_000)
        expect(page.locator("#cancel-run")).to_have_count(0)
        assert page.evaluate("window.notReloaded") is True
        shot(page, "journey-4-run")

        # Back to the tasks: disable, delete (to the trash, confirmed), restore, back in the list.
        page.click("#nav-tasks")
        row = page.locator(f'tr[data-task="{name}"]')
        row.locator('[data-action="disable"]').click()
        expect(row.locator('[data-disabled="true"]')).to_be_visible()
        shot(page, "journey-5-disabled")
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator('[data-action="delete"]').click()
        expect(row).to_have_count(0)
        page.click("#nav-trash")
        trashed = page.locator(f'tr[data-trashed="{name}"]')
        expect(trashed).to_be_visible()
        shot(page, "journey-6-trash")
        trashed.locator('[data-action="restore"]').click()
        expect(page.locator("#trash-restored")).to_contain_text(name)
        expect(page.locator(f'tr[data-trashed="{name}"]')).to_have_count(0)
        page.click("#nav-tasks")
        expect(row).to_be_visible()
        expect(row.locator('[data-disabled="true"]')).to_be_visible()  # restored as it was: disabled
        shot(page, "journey-7-restored")

    deployment = with_client(lambda client: find_task(client, name, server.app.state.tasklane.target))
    assert task_mapping(deployment)["schedule"] == BUILT
    assert deployment.parameters["job"]["command"] == COMMAND
    assert {s.schedule.cron for s in deployment.schedules} == CRONS
    assert {s.schedule.timezone for s in deployment.schedules} == {ZONE}
    assert shot.all_drawn(7)
