"""What the browser tests share: Debian's chromium driven by Playwright (never a downloaded
browser), the console served by uvicorn on a free port, signing in through the form, and
screenshots under tests/artifacts/screenshots/. The fixtures built on it are in conftest.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tasklane.stack.peers._server import free_port
from tests.tasklane.console.conftest import PASSWORD

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


class Served:
    """`tasklane api` (the API app with the console mounted) served by uvicorn in a thread, with
    each role's API token."""

    def __init__(self, app, tokens: dict[str, str]) -> None:
        import uvicorn

        self.app = app
        self.tokens = tokens
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

    def add_task(self, body: dict[str, Any], role: str = "admin") -> None:
        """Create a task through the REST API, as `role`."""
        made = httpx.post(
            f"{self.url}/api/scheduler/tasks",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=30,
        )
        assert made.status_code == 201, made.text


@contextmanager
def launched(chromium: str) -> Iterator[Any]:
    """A headless chromium for the block; closed after it, whatever happened."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, **context_options: Any):
    """A page in a fresh context (its own cookies): en-US, 1360x900 unless `context_options` say."""
    options = {"locale": "en-US", "viewport": {"width": 1360, "height": 900}} | context_options
    page = browser.new_context(**options).new_page()
    page.set_default_timeout(20_000)
    return page


def sign_in(page, user: str) -> None:
    """Fill and send the sign-in form the page shows."""
    page.fill("#name", user)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")


def signed_in(browser, server: Served, user: str, next_path: str = "", **context_options: Any):
    """A new page signed in as `user` through the form (then at `next_path`, if given)."""
    page = new_page(browser, **context_options)
    page.goto(f"{server.url}/console/login" + (f"?next={next_path}" if next_path else ""))
    sign_in(page, user)
    return page


class Screenshots:
    """Takes full-page screenshots named console-<label>.png and remembers them."""

    def __init__(self) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def __call__(self, page, label: str) -> None:
        path = SCREENSHOTS / f"console-{label}.png"
        page.screenshot(path=str(path), full_page=True)
        self.taken.append(path)

    def all_drawn(self, count: int) -> bool:
        """`count` screenshots were taken and none is blank (a blank page is a few KB)."""
        return len(self.taken) == count and all(path.stat().st_size > 5_000 for path in self.taken)
