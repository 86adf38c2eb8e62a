"""The console in a real browser: Playwright driving Debian's chromium (never a downloaded one)
against `tasklane api` served by uvicorn on a free port, over the session's Prefect server and
worker. Signs in, runs a task and watches its log arrive live, disables it, switches to Chinese,
and finds no control as a viewer; a screenshot of each page lands in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tasklane.stack.peers._server import free_port
from tests.tasklane.api.conftest import make_api
from tests.tasklane.console.conftest import PASSWORD, add_users

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = Path(__file__).parents[3] / "scripts" / "install-chromium"
SCREENSHOTS = Path(__file__).parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed by scripts/install-chromium when missing; else skip, saying why."""
    # Always: it installs only what is missing (chromium, a Chinese font), in a moment when nothing is.
    done = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=900)
    if not CHROMIUM.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
        pytest.skip(f"no {CHROMIUM}, and scripts/install-chromium could not install it: {tail}")
    pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (uv sync)")
    return str(CHROMIUM)


class Served:
    """`tasklane api` (the API app with the console mounted) served by uvicorn in a thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, name="console-uvicorn", daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def served(tmp_path: Path, project: str, worker: str) -> Iterator[tuple[Served, dict[str, str]]]:
    add_users(tmp_path)
    app, tokens = make_api(tmp_path, project)
    with Served(app) as server:
        yield server, tokens


def test_the_console_in_a_browser(chromium: str, served, project: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tasklane.history.runs import run_link

    server, tokens = served
    name = f"{project}-echo-{uuid.uuid4().hex[:4]}"
    made = httpx.post(
        f"{server.url}/api/scheduler/tasks",
        json={"name": name, "type": "shell", "command": "echo one; sleep 2; echo two", "group": "g"},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shots: list[str] = []

    def shot(page, label: str) -> None:
        path = SCREENSHOTS / f"console-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path.name)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            operator = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 820})
            page = operator.new_page()
            page.set_default_timeout(20_000)

            # Signed out, / leads to the sign-in form.
            page.goto(server.url + "/")
            expect(page).to_have_url(f"{server.url}/console/login")
            shot(page, "login")
            page.fill("#name", "operator")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
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
            operator.close()

            # A viewer sees the task and no control.
            viewer = browser.new_context(locale="en-US", viewport={"width": 1360, "height": 820})
            page = viewer.new_page()
            page.set_default_timeout(20_000)
            page.goto(server.url + "/console/login")
            page.fill("#name", "viewer")
            page.fill("#password", PASSWORD)
            page.click("#sign-in")
            expect(page.locator(f'tr[data-task="{name}"]')).to_be_visible()
            assert page.locator("[data-action]").count() == 0
            assert page.get_by_role("button", name="Run now").count() == 0
            shot(page, "tasks-viewer")
            viewer.close()
        finally:
            browser.close()
    assert len(shots) == 9 and all((SCREENSHOTS / s).stat().st_size > 5_000 for s in shots)
