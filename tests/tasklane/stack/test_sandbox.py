"""`make up`'s offline sandbox: one process with the three fakes, blocks saved, the example pipeline runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
import pytest
from openpyxl import load_workbook

from blocks import ConfluenceCredentials, JiraCredentials, MattermostCredentials
from deployments.catalog import load_catalog
from flows.confluence_table import confluence_table_flow
from flows.jira_export import jira_export_flow
from flows.mattermost_notify import mattermost_notify_flow
from integrations.jira import fetch_issue_tree
from tasklane.stack.processes import _alive
from tasklane.stack.sandbox import (
    SANDBOX_CHANNEL,
    SANDBOX_PAGE_ID,
    SANDBOX_TABLE_HEADING,
    SANDBOX_TEAM,
    start_sandbox,
)
from tests.conftest import API_URL

# The example catalog handed over for tasks/integrations.yaml (README: the whole pipeline offline).
EXAMPLE_CATALOG = """
tasks:
  - name: demo-jira-export
    description: Export the DEMO-1 issue tree (sub-tasks, epic children, "blocks" links) to Excel.
    type: jira_export
    group: integrations
    block: sandbox
    root_key: DEMO-1
    link_types: [blocks, relates to]
    output: ../exports/{task}-{date}.xlsx
    schedule: {cron: "0 * * * *"}
    retry: {max_retries: 2, retry_delay: 10, backoff_factor: 2}
    timeout_seconds: 300

  - name: demo-results-page
    description: Record the export in the results table of the Confluence page.
    type: confluence_table
    group: integrations
    block: sandbox
    page_id: "1001"
    table_heading: Task results
    key_column: Task
    rows:
      - {Task: demo-jira-export, Status: "exported {date}"}
    run_columns: {Last run: "{datetime}", Details: "{flow_run_url}"}
    schedule: {cron: "5 * * * *"}
    retry: {max_retries: 2, retry_delay: 10, backoff_factor: 2}

  - name: demo-notify
    description: Tell the team channel that the export and the results page are fresh.
    type: mattermost_notify
    group: integrations
    block: sandbox
    message: "**{task}**: the DEMO-1 Jira export and the Confluence results page were updated at {datetime}."
    schedule: {cron: "10 * * * *"}
    retry: {max_retries: 3, retry_delay: 5, backoff_factor: 2}
"""


@pytest.fixture(scope="module")
def sandbox(prefect_server: str, tmp_path_factory: pytest.TempPathFactory):
    """One sandbox for the module (the last test stops it itself)."""
    running = start_sandbox(tmp_path_factory.mktemp("sandbox-home"), api_url=API_URL)
    yield running
    running.stop()


def test_sandbox_serves_seeded_fakes_and_saves_working_blocks(sandbox) -> None:
    assert sandbox.alive() and set(sandbox.urls) == {"jira", "confluence", "mattermost"}
    jira = JiraCredentials.load("sandbox")
    assert jira.url == sandbox.jira_url
    tree = fetch_issue_tree(jira.get_client(), root_key="DEMO-1", source=jira.label)
    assert tree.roots[0].summary == "Checkout revamp" and tree.children

    pages = ConfluenceCredentials.load("sandbox").get_pages()
    assert pages.read_table(SANDBOX_PAGE_ID, SANDBOX_TABLE_HEADING).headers == [
        "Task",
        "Status",
        "Last run",
        "Details",
    ]
    mattermost_block = MattermostCredentials.load("sandbox")
    assert (mattermost_block.team, mattermost_block.channel) == (SANDBOX_TEAM, SANDBOX_CHANNEL)
    mattermost = mattermost_block.get_client()
    assert mattermost.login()["username"] == "tasklane-bot"
    assert mattermost.channel_id(SANDBOX_TEAM, SANDBOX_CHANNEL)


def test_example_catalog_runs_the_whole_pipeline_offline(
    sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_file = tmp_path / "tasks" / "integrations.yaml"
    catalog_file.parent.mkdir()
    catalog_file.write_text(textwrap.dedent(EXAMPLE_CATALOG))
    tasks = load_catalog([catalog_file]).by_name()

    export = jira_export_flow(job=tasks["demo-jira-export"].job, return_state=True)
    assert export.is_completed(), export.message
    path = Path(export.result()["path"])
    assert path.parent == tmp_path / "exports"  # relative to the catalog file (tasks/ → the repo)
    assert load_workbook(path, read_only=True)["Root Issues"]["A2"].value == "DEMO-1"

    page = confluence_table_flow(job=tasks["demo-results-page"].job, return_state=True)
    assert page.is_completed(), page.message
    pages = ConfluenceCredentials.load("sandbox").get_pages()
    (row,) = pages.read_rows(SANDBOX_PAGE_ID, SANDBOX_TABLE_HEADING)
    assert row["Task"] == "demo-jira-export" and row["Status"].startswith("exported 20") and row["Last run"]

    notify = mattermost_notify_flow(job=tasks["demo-notify"].job, return_state=True)
    assert notify.is_completed(), notify.message
    assert "DEMO-1 Jira export" in notify.result()["message"]


def test_stop_ends_the_process_and_frees_the_ports(sandbox) -> None:
    assert httpx.get(f"{sandbox.mattermost_url}/api/v4/users/me").status_code == 401
    port_file = sandbox.managed.log.parent.parent / "run" / "sandbox.json"
    assert port_file.exists()
    sandbox.stop()
    assert not sandbox.alive() and not _alive(sandbox.pid)
    for url in sandbox.urls.values():
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
    assert not port_file.exists()
    assert "sandbox stopped" in sandbox.managed.log.read_text()
    sandbox.stop()  # stopping twice is harmless


def test_a_child_that_dies_is_reported_with_its_exit_code(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E.g. an installed wheel without tests/fakes: the child exits, start_sandbox says so at once."""
    from tasklane.stack import sandbox as sandbox_mod
    monkeypatch.setattr(sandbox_mod.sys, "executable", "/bin/false")
    with pytest.raises(sandbox_mod.SandboxError, match="exited with 1 before its fakes were up"):
        start_sandbox(tmp_path / "home", api_url=API_URL, timeout=20)
