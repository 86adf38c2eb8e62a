"""An offline Jira, Confluence and Mattermost for `make up` when no real servers are configured.

`start_sandbox(home)` starts the local fakes of `tests/fakes/` (real HTTP servers on loopback
that the real client libraries talk to) in ONE background process, `python -m tasklane.stack.sandbox`,
seeded with:

- Jira (Server flavour): the demo project DEMO (epics, stories, sub-tasks, "blocks" links) and
  OPS, as `tasklane.stack.peers.jira.demo_issues` describes them;
- Confluence: page `SANDBOX_PAGE_ID` "Tasklane results" with a "Task results" table
  (Task | Status | Last run | Details);
- Mattermost: team `tasklane`, channels `town-square` and `tasklane-reports`, the bot
  `tasklane-bot` and a user `alice`.

It then saves Prefect blocks named `SANDBOX_BLOCK` (`sandbox`) of each credentials type pointing
at them, so catalog tasks with `block: sandbox` run the whole pipeline offline. The credentials
are random per start, handed to the child through its environment (not its command line), and
exist only in the child's memory and in the Prefect blocks.

The fakes are imported from `tests.fakes`, lazily and in the child only: `make up` runs from the
repository checkout, whose root the child gets as its working directory and on `PYTHONPATH`. An
installed wheel has no `tests` package; the child then exits at once and `start_sandbox` raises
`SandboxError` saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tasklane.stack.processes import Managed, stop_process_tree

if TYPE_CHECKING:
    from tasklane.stack.peers.confluence import FakeConfluence
    from tasklane.stack.peers.mattermost import FakeMattermost

SANDBOX_BLOCK = "sandbox"
SANDBOX_PAGE_ID = "1001"
SANDBOX_TABLE_HEADING = "Task results"
SANDBOX_TEAM = "tasklane"
SANDBOX_CHANNEL = "tasklane-reports"
SANDBOX_BOT = "tasklane-bot"
SANDBOX_JIRA_USER = "tasklane-bot"
SANDBOX_CONFLUENCE_USER = "tasklane-bot"
READY_SECONDS = 30.0
# Environment variables carrying the random credentials to the child.
_ENV_JIRA = "TASKLANE_SANDBOX_JIRA_SECRET"
_ENV_CONFLUENCE = "TASKLANE_SANDBOX_CONFLUENCE_SECRET"
_ENV_MATTERMOST = "TASKLANE_SANDBOX_MATTERMOST_TOKEN"
_ENV_ALICE = "TASKLANE_SANDBOX_ALICE_TOKEN"

RESULTS_PAGE_BODY = (
    "<p>Results of the Tasklane example catalog, kept up to date by the <code>confluence_table</code> "
    "task type.</p>"
    f"<h2>{SANDBOX_TABLE_HEADING}</h2>"
    "<table><tbody>"
    "<tr><th>Task</th><th>Status</th><th>Last run</th><th>Details</th></tr>"
    "<tr><td>demo-jira-export</td><td>not run yet</td><td></td><td></td></tr>"
    "</tbody></table>"
)


class SandboxError(Exception):
    """The sandbox process did not start, or its blocks could not be saved."""


@dataclass
class Sandbox:
    """The running sandbox: its process and where each fake listens.

    Attributes:
        managed: the child process, as `tasklane.stack.processes` manages processes (own session; log file).
        jira_url / confluence_url / mattermost_url: base URLs on 127.0.0.1.
        block_name: name of the saved jira-credentials, confluence-credentials and
            mattermost-credentials blocks.
    """

    managed: Managed
    jira_url: str
    confluence_url: str
    mattermost_url: str
    block_name: str = SANDBOX_BLOCK

    @property
    def pid(self) -> int:
        return self.managed.pid

    @property
    def urls(self) -> dict[str, str]:
        return {"jira": self.jira_url, "confluence": self.confluence_url, "mattermost": self.mattermost_url}

    def alive(self) -> bool:
        return self.managed.process.poll() is None

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after a grace period)."""
        if self.alive():
            stop_process_tree(self.pid)
        self.managed.process.wait(timeout=10)


# --- seeding (used by the child and by tests) -----------------------------------------------------


def seed_confluence(fake: FakeConfluence) -> None:
    """The results page the example catalog's `confluence_table` task writes to."""
    fake.add_page(SANDBOX_PAGE_ID, "Tasklane results", RESULTS_PAGE_BODY)


def seed_mattermost(fake: FakeMattermost, *, alice_token: str | None = None) -> dict[str, str]:
    """Channels `town-square` and `tasklane-reports` (everyone a member) and a user `alice`.

    Returns:
        channel name -> channel id.
    """
    fake.add_user("alice", token=alice_token)
    return {
        name: fake.add_channel(name, display_name=name.replace("-", " ").title())
        for name in ("town-square", SANDBOX_CHANNEL)
    }


# --- the parent side ------------------------------------------------------------------------------


def start_sandbox(
    home: Path,
    *,
    api_url: str | None = None,
    block_name: str = SANDBOX_BLOCK,
    timeout: float = READY_SECONDS,
) -> Sandbox:
    """Start the fakes in one background process and save Prefect blocks pointing at them.

    Args:
        home: Tasklane's state directory; the child logs to `<home>/logs/sandbox.log` and announces
            its URLs in `<home>/run/sandbox.json`.
        api_url: the Prefect API the blocks are saved to; Prefect's configured one when None.
        block_name: name of the three credentials blocks.
        timeout: seconds to wait for the fakes to answer.

    Returns:
        The running sandbox; stop it with `Sandbox.stop()` (or `tasklane.stack.processes.stop_process_tree`).

    Raises:
        SandboxError: the child exited or did not announce its URLs in time (its log tail is in
            the message), or the blocks could not be saved (the child is stopped again).

    Examples:
        >>> sandbox = start_sandbox(Path(".tasklane"), api_url="http://127.0.0.1:4200/api")  # doctest: +SKIP
        >>> stack.processes.append(sandbox.managed)  # doctest: +SKIP
    """
    home = Path(home)
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "run").mkdir(parents=True, exist_ok=True)
    port_file = (home / "run" / "sandbox.json").resolve()
    port_file.unlink(missing_ok=True)
    log_path = home / "logs" / "sandbox.log"
    credentials = {
        _ENV_JIRA: secrets.token_urlsafe(18),
        _ENV_CONFLUENCE: secrets.token_urlsafe(18),
        _ENV_MATTERMOST: secrets.token_urlsafe(18),
        _ENV_ALICE: secrets.token_urlsafe(18),
    }
    env = {**os.environ, **credentials}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tasklane.stack.sandbox", "--port-file", str(port_file)],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stopping it stops its threads' sockets too
        )
    managed = Managed("sandbox", process, log_path)
    try:
        urls = _wait_for_urls(managed, port_file, timeout)
        sandbox = Sandbox(managed, urls["jira"], urls["confluence"], urls["mattermost"], block_name)
        save_sandbox_blocks(sandbox, credentials, api_url=api_url)
    except BaseException:
        if process.poll() is None:
            stop_process_tree(process.pid)
        raise
    return sandbox


def _wait_for_urls(managed: Managed, port_file: Path, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if managed.process.poll() is not None:
            tail = managed.log.read_text(errors="replace")[-2000:]
            raise SandboxError(
                f"the sandbox process exited with {managed.process.returncode} before its fakes were up "
                f"(it needs the repository checkout's tests/fakes; log {managed.log}):\n{tail}"
            )
        if port_file.exists():
            try:
                return json.loads(port_file.read_text())
            except ValueError:
                pass  # written atomically, but be lenient with a half-visible file on odd filesystems
        time.sleep(0.1)
    raise SandboxError(
        f"the sandbox process (pid {managed.pid}) did not announce its URLs in {port_file} within "
        f"{timeout:g} s; see {managed.log}"
    )


def save_sandbox_blocks(sandbox: Sandbox, credentials: dict[str, str], *, api_url: str | None = None) -> None:
    """Save the three credentials blocks named `sandbox.block_name` (overwriting earlier ones)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from blocks import ConfluenceCredentials, JiraCredentials, MattermostCredentials

    blocks = [
        JiraCredentials(
            url=sandbox.jira_url, username=SANDBOX_JIRA_USER, token=credentials[_ENV_JIRA], cloud=False
        ),
        ConfluenceCredentials(
            url=sandbox.confluence_url, username=SANDBOX_CONFLUENCE_USER, token=credentials[_ENV_CONFLUENCE]
        ),
        MattermostCredentials(
            url=sandbox.mattermost_url,
            token=credentials[_ENV_MATTERMOST],
            team=SANDBOX_TEAM,
            channel=SANDBOX_CHANNEL,
        ),
    ]
    updates: dict[Any, Any] = {PREFECT_API_URL: api_url} if api_url else {}
    with temporary_settings(updates=updates):
        for block in blocks:
            try:
                block.save(sandbox.block_name, overwrite=True)
            except Exception as exc:
                raise SandboxError(
                    f"saving the {block.get_block_type_slug()} block {sandbox.block_name!r} to "
                    f"{api_url or 'the configured Prefect API'} failed: {exc}"
                ) from exc


# --- the child side -------------------------------------------------------------------------------


def serve_fakes(port_file: Path) -> None:
    """Run the three seeded fakes until SIGTERM/SIGINT; announce their URLs in `port_file`."""
    from contextlib import ExitStack

    from tasklane.stack.peers._server import serve
    from tasklane.stack.peers.confluence import FakeConfluence
    from tasklane.stack.peers.jira import demo_issues, make_fake_jira
    from tasklane.stack.peers.mattermost import FakeMattermost

    jira = make_fake_jira(
        cloud=False, users={SANDBOX_JIRA_USER: os.environ[_ENV_JIRA]}, issues=demo_issues(cloud=False)
    )
    confluence = FakeConfluence(users={SANDBOX_CONFLUENCE_USER: os.environ[_ENV_CONFLUENCE]}, tokens={})
    seed_confluence(confluence)
    mattermost = FakeMattermost(
        team_name=SANDBOX_TEAM,
        bot_username=SANDBOX_BOT,
        bot_token=os.environ[_ENV_MATTERMOST],
        bot_password=secrets.token_urlsafe(18),
    )
    seed_mattermost(mattermost, alice_token=os.environ.get(_ENV_ALICE))

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with ExitStack() as servers:
        urls = {
            "jira": servers.enter_context(serve(jira)),
            "confluence": servers.enter_context(serve(confluence.app)),
            "mattermost": servers.enter_context(serve(mattermost.app)),
        }
        temporary = port_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({**urls, "pid": os.getpid()}))
        os.replace(temporary, port_file)  # the parent never reads half a file
        print(f"sandbox up: {json.dumps(urls)}", flush=True)
        while not stop.wait(1.0):
            pass
    port_file.unlink(missing_ok=True)
    print("sandbox stopped", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", type=Path, required=True, help="where to announce the URLs (JSON)")
    args = parser.parse_args(argv)
    serve_fakes(args.port_file)


if __name__ == "__main__":
    main()
