"""The task editor in a real browser (Debian's chromium through Playwright): an admin signs in,
New task -> shell, types a command into the CodeMirror editor (line numbers, shell highlighting),
saves and lands on the task's page; the task holds what was typed. Screenshots of the editor's
pages land in tests/artifacts/screenshots/."""

from __future__ import annotations

from tests.conftest import with_client
from tests.tasklane.console.browser_support import Screenshots, launched, signed_in


def test_a_shell_task_written_in_the_code_editor(chromium: str, served_idle, project: str) -> None:
    from playwright.sync_api import expect

    from tasklane.tasks.lookup import find_task

    server = served_idle
    name = f"{project}-typed"
    shot = Screenshots()

    with launched(chromium) as browser:
        page = signed_in(browser, server, "admin")
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

    target = server.app.state.tasklane.target
    deployment = with_client(lambda client: find_task(client, name, target))
    assert deployment.parameters["job"]["command"] == "echo typed in the browser\nls -l /tmp | wc -l"
    assert "group:browser" in deployment.tags
    assert shot.all_drawn(3)
