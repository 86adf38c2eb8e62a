"""The task editor in a real browser (Debian's chromium through Playwright): an admin signs in,
New task -> shell, types a command into the CodeMirror editor (line numbers, shell highlighting),
saves and lands on the task's page; the task holds what was typed. Screenshots of the editor's
pages land in tests/artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import make_api
from tests.tasklane.console.conftest import PASSWORD, add_users
from tests.tasklane.console.test_browser import CHROMIUM_ARGS, SCREENSHOTS, Served, chromium  # noqa: F401


@pytest.fixture
def served_api(tmp_path: Path, project: str, work_pool: str) -> Iterator[tuple[Served, object]]:
    """The API with the console, served; no worker: nothing here runs."""
    add_users(tmp_path)
    app, _tokens = make_api(tmp_path, project)
    with Served(app) as server:
        yield server, app


def test_a_shell_task_written_in_the_code_editor(chromium: str, served_api, project: str) -> None:  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    from tasklane.tasks.lookup import find_task

    server, app = served_api
    name = f"{project}-typed"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []

    def shot(page, label: str) -> None:
        path = SCREENSHOTS / f"console-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 900})
            page = context.new_page()
            page.set_default_timeout(20_000)
            page.goto(server.url + "/console/login")
            page.fill("#name", "admin")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page).to_have_url(f"{server.url}/console/tasks")

            page.click("#new-task")
            expect(page.locator('a[data-type="shell"]')).to_be_visible()
            shot(page, "editor-new")
            page.click('a[data-type="shell"]')
            editor = page.locator('.CodeMirror[data-for="job.command"]')
            expect(editor).to_be_visible()
            expect(editor.locator(".CodeMirror-linenumber").first).to_be_visible()
            page.fill("#f-name", name)
            page.fill("#f-group", "browser")
            editor.click()
            page.keyboard.type("echo typed in the browser")
            page.keyboard.press("Enter")
            page.keyboard.type("ls -l /tmp | wc -l")
            expect(editor.locator(".cm-builtin, .cm-keyword, .cm-operator").first).to_be_visible()
            expect(editor.locator(".CodeMirror-linenumber", has_text="2")).to_be_visible()
            shot(page, "editor")

            page.click("#save")
            expect(page).to_have_url(f"{server.url}/console/tasks/{name}")
            expect(page.locator("h1")).to_contain_text(name)
            expect(page.locator("#edit-task")).to_be_visible()
            page.click("#edit-task")
            expect(page.locator('.CodeMirror[data-for="job.command"]')).to_contain_text("ls -l /tmp")
            shot(page, "editor-edit")
            context.close()
        finally:
            browser.close()

    target = app.state.tasklane.target
    deployment = with_client(lambda client: find_task(client, name, target))
    assert deployment.parameters["job"]["command"] == "echo typed in the browser\nls -l /tmp | wc -l"
    assert "group:browser" in deployment.tags
    assert all(path.stat().st_size > 5_000 for path in shots)
