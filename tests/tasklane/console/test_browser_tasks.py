"""The tasks page in a real browser (Playwright driving Debian's chromium, as test_browser.py):
two tasks selected with their checkboxes are disabled in one go; the selection exported
downloads catalog YAML; the group page opens from a row; a screenshot of each page lands in
tests/artifacts/screenshots/."""

from __future__ import annotations

import uuid

import yaml

from tests.tasklane.console.browser_support import Screenshots, launched, signed_in


def test_select_two_tasks_disable_them_and_export(chromium: str, served, project: str) -> None:
    from playwright.sync_api import expect

    server = served
    group = f"batch{uuid.uuid4().hex[:4]}"
    names = [f"{project}-{label}-{uuid.uuid4().hex[:4]}" for label in ("one", "two", "three")]
    for name in names:
        server.add_task(
            {"name": name, "type": "shell", "command": f"echo {name}", "group": group, "schedule": "1h"}
        )
    first, second, third = names
    shot = Screenshots()

    with launched(chromium) as browser:
        page = signed_in(
            browser,
            server,
            "operator",
            timezone_id="Asia/Tokyo",
            viewport={"width": 1500, "height": 900},
            accept_downloads=True,
        )
        expect(page).to_have_url(f"{server.url}/console/tasks")
        # console.js sent the browser's zone: the next page shows times in it.
        page.goto(f"{server.url}/console/tasks?group={group}")
        expect(page.locator("#zone")).to_have_attribute("data-zone", "Asia/Tokyo")
        expect(page.locator(f'tr[data-task="{first}"] td[data-next-run]')).to_contain_text("JST")

        for name in (first, second):
            page.locator(f'tr[data-task="{name}"] input[name="task"]').check()
        page.click('[data-batch="disable"]')
        expect(page.locator("#flash")).to_contain_text("Disabled 2 task(s)")
        for name in (first, second):
            expect(page.locator(f'tr[data-task="{name}"] [data-disabled]')).to_be_visible()
        expect(page.locator(f'tr[data-task="{third}"] [data-disabled]')).to_have_count(0)
        shot(page, "tasks-batch")

        # Select all shown, then Export YAML: a download of those tasks' catalog.
        page.locator("#select-all").check()
        expect(page.locator('#task-rows input[name="task"]:checked')).to_have_count(3)
        with page.expect_download() as downloading:
            page.click('[data-batch="export"]')
        download = downloading.value
        assert download.suggested_filename.endswith(".yaml")
        document = yaml.safe_load(open(download.path(), encoding="utf-8").read())
        assert sorted(task["name"] for task in document["tasks"]) == sorted(names)

        # The group's page, from a row's group.
        page.locator(f'tr[data-task="{third}"] a[data-group-link]').click()
        expect(page).to_have_url(f"{server.url}/console/groups/{group}")
        expect(page.locator("#group-stats")).to_be_visible()
        shot(page, "group")
    assert shot.all_drawn(2)
