"""The report flow on a real Prefect server, publishing to the local fake Confluence and Mattermost."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import load_workbook

from blocks import ConfluenceCredentials, MattermostCredentials
from tasklane.settings.reports import ReportSettings
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.confluence import FakeConfluence
from tasklane.stack.peers.mattermost import FakeMattermost
from tasklane.stack.sandbox import SANDBOX_CHANNEL, seed_mattermost
from tests.conftest import run
from tests.flows.test_jira_export import task_runs_of

PAGE_ID = "4242"
MM_TOKEN = "mm-report-token-1c9f"


@pytest.fixture(scope="module")
def peers(prefect_server: str) -> Iterator[tuple[FakeConfluence, FakeMattermost, dict[str, str], str]]:
    confluence = FakeConfluence()
    confluence.add_page(PAGE_ID, "Task results", "<p>Results of Tasklane's runs.</p>")
    mattermost = FakeMattermost(bot_token=MM_TOKEN)
    channels = seed_mattermost(mattermost)
    suffix = uuid.uuid4().hex[:6]
    with serve(confluence.app) as confluence_url, serve(mattermost.app) as mattermost_url:
        ConfluenceCredentials(url=confluence_url, username="bot", token="bot-password").save(
            f"tl-report-{suffix}", overwrite=True
        )
        MattermostCredentials(
            url=mattermost_url, token=MM_TOKEN, team=mattermost.team_name, channel=SANDBOX_CHANNEL
        ).save(f"tl-report-{suffix}", overwrite=True)
        yield confluence, mattermost, channels, suffix


def settings_for(peers, tmp_path: Path, tag: str) -> ReportSettings:
    suffix = peers[3]
    return ReportSettings(
        name=f"t-{uuid.uuid4().hex[:8]}",
        tags=[tag],
        targets=["confluence", "mattermost", "excel"],
        confluence_block=f"tl-report-{suffix}",
        mattermost_block=f"tl-report-{suffix}",
        page_id=PAGE_ID,
        table_heading=f"Runs {tag}",
        excel_dir=tmp_path,
        settle_seconds=0,
    )


def make(tag: str, states: list[str]) -> list[str]:
    from prefect.client.orchestration import get_client

    from tests.tasklane.history.test_runs import make_deployment, make_runs

    async def go():
        async with get_client() as client:
            deployment_id = await make_deployment(client, f"rep-{tag}", ["tasklane", tag, "group:reports"])
            return [str(i) for i in await make_runs(client, deployment_id, states)]

    return run(go())


def table(confluence: FakeConfluence, heading: str) -> list[dict[str, str]]:
    from integrations.confluence import read_table

    return read_table(confluence.body(PAGE_ID), heading).rows


def bot_posts(mattermost: FakeMattermost, channels: dict[str, str]) -> list[str]:
    return [
        p["message"]
        for p in mattermost.posts_in(channels[SANDBOX_CHANNEL])
        if p["user_id"] == mattermost.bot_id
    ]


def test_each_report_publishes_exactly_the_runs_since_the_last(peers, tmp_path: Path) -> None:
    from flows.report import report_flow

    confluence, mattermost, channels, _ = peers
    tag = f"tl-rep-{uuid.uuid4().hex[:8]}"
    settings = settings_for(peers, tmp_path, tag)
    posts_before = len(bot_posts(mattermost, channels))

    first_runs = make(tag, ["Completed", "Failed", "Completed"])
    first = run(report_flow(settings=settings))
    rows = table(confluence, settings.table_heading)
    assert [r["Run id"] for r in rows] == first_runs == first["windows"][0]["run_ids"]
    assert rows[1]["State"] == "Failed" and rows[1]["Message"] == "boom" and rows[1]["Group"] == "reports"
    assert rows[0]["Link"].endswith(f"/runs/flow-run/{first_runs[0]}") and float(rows[0]["Duration (s)"]) >= 0
    (post,) = bot_posts(mattermost, channels)[posts_before:]
    assert "3 runs" in post and "**Completed** 2" in post and "**Failed** 1" in post and first_runs[1] in post

    # The charts are attached to the page; the next report gives them a new version, not a copy.
    charts = {f"runs-per-day-{settings.name}.png", f"durations-{settings.name}.png"}
    assert charts <= set(confluence.attachments(PAGE_ID))

    second_runs = make(tag, ["TimedOut", "Completed"])
    second = run(report_flow(settings=settings))
    assert [w["run_ids"] for w in second["windows"]] == [second_runs]
    assert [r["Run id"] for r in table(confluence, settings.table_heading)] == first_runs + second_runs
    assert "2 runs" in bot_posts(mattermost, channels)[-1]
    attached = confluence.attachments(PAGE_ID)
    assert all(attached[name].version == 2 for name in charts)

    third = run(report_flow(settings=settings))
    assert third["runs"] == 0 and len(table(confluence, settings.table_heading)) == 5
    assert len(bot_posts(mattermost, channels)) == posts_before + 2

    workbooks = sorted(tmp_path.glob(f"report-{settings.name}-*.xlsx"))
    assert len(workbooks) == 2  # an empty window makes no workbook and no post
    sheet = load_workbook(workbooks[0])["Runs"]
    assert [c.value for c in sheet[1]][:3] == ["Task", "Group", "Run id"]
    assert [row[2].value for row in sheet.iter_rows(min_row=2)] == first_runs
    assert load_workbook(workbooks[0])["Charts"]._images  # the two charts are in the workbook
    assert (tmp_path / f"runs-per-day-{settings.name}.png").exists()


def test_a_report_that_crashes_half_way_is_repeated_without_duplicates(
    peers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.report as report
    from tasklane.reports.watermark import read_watermark

    confluence, mattermost, channels, _ = peers
    tag = f"tl-rep-{uuid.uuid4().hex[:8]}"
    settings = settings_for(peers, tmp_path, tag)
    runs = make(tag, ["Completed", "Crashed"])
    posts_before = len(bot_posts(mattermost, channels))

    attempts: list[str] = []

    def down(block, *args, **kwargs):
        attempts.append(block.url)
        raise ConnectionError("mattermost is down")

    monkeypatch.setattr(MattermostCredentials, "get_client", down)
    # The task's own retries, without their delays.
    monkeypatch.setattr(
        report, "post_to_mattermost", report.post_to_mattermost.with_options(retry_delay_seconds=0)
    )
    state = run(report.report_flow(settings=settings, return_state=True))
    assert state.is_failed()
    assert [r["Run id"] for r in table(confluence, settings.table_heading)] == runs  # confluence went first
    assert len(attempts) == report.TARGET_RETRIES + 1  # mattermost retried alone...
    tasks = {t.name.rsplit("-", 1)[0]: t for t in task_runs_of(state.state_details.flow_run_id)}
    assert tasks["post-to-mattermost"].state.is_failed()
    assert tasks["post-to-mattermost"].run_count == report.TARGET_RETRIES + 1
    for name in ("publish-to-confluence", "write-excel-report"):  # ...the others ran once each
        assert tasks[name].state.is_completed() and tasks[name].run_count == 1
    assert "create-report-artifacts" not in tasks  # after the failed target, nothing more

    async def watermark():
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            return await read_watermark(client, settings.variable_name)

    pending = run(watermark())
    assert pending.pending is not None and sorted(pending.done) == ["confluence", "excel"]

    monkeypatch.undo()
    later = make(tag, ["Failed"])
    outcome = run(report.report_flow(settings=settings))
    first, second = outcome["windows"]
    assert first["run_ids"] == runs and list(first["published"]) == ["mattermost", "prefect"]
    assert second["run_ids"] == later
    assert [r["Run id"] for r in table(confluence, settings.table_heading)] == runs + later
    posts = bot_posts(mattermost, channels)[posts_before:]
    assert len(posts) == 2 and runs[1] in posts[0] and later[0] in posts[1]
    done = run(watermark())
    assert done.pending is None and done.reported is not None

    # The same page written again with the same rows (a crash after the PUT): nothing changes.
    from integrations.report import upsert_results

    version = confluence.version(PAGE_ID)
    pages = ConfluenceCredentials.load(settings.confluence_block).get_pages()
    rows = table(confluence, settings.table_heading)
    result = upsert_results(pages, PAGE_ID, settings.table_heading, list(settings.columns), rows)
    assert result["appended"] == 0 and confluence.version(PAGE_ID) == version
