"""The confluence_table task type on a real Prefect server, against the local fake Confluence over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from blocks import ConfluenceCredentials
from deployments.integration_jobs import ConfluenceTableJob
from deployments.policy import RunPolicy
from flows.confluence_table import confluence_table_flow
from integrations.confluence import read_table
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.confluence import FakeConfluence
from tasklane.stack.sandbox import SANDBOX_PAGE_ID, SANDBOX_TABLE_HEADING, seed_confluence
from tests.flows.conftest import artifacts_of, task_runs_of

PASSWORD = "conf-pa55-7c2e91"
BLOCK = "tl-test-confluence"
BAD_BLOCK = "tl-test-confluence-bad"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeConfluence, str]]:
    fake = FakeConfluence(users={"bot": PASSWORD}, tokens={})
    with serve(fake.app) as url:
        ConfluenceCredentials(url=url, username="bot", token=PASSWORD).save(BLOCK, overwrite=True)
        ConfluenceCredentials(url=url, username="bot", token="nope").save(BAD_BLOCK, overwrite=True)
        yield fake, url


@pytest.fixture
def fake(served: tuple[FakeConfluence, str]) -> FakeConfluence:
    """The fake with a fresh results page and clean counters."""
    fake = served[0]
    seed_confluence(fake)
    with fake.lock:
        fake.requests.clear()
        fake.statuses.clear()
        fake._faults.clear()
        fake.read_only_users.clear()
    return fake


def rows(fake: FakeConfluence) -> list[dict[str, str]]:
    return read_table(fake.body(SANDBOX_PAGE_ID), SANDBOX_TABLE_HEADING).rows


def job(**overrides) -> ConfluenceTableJob:
    fields = {
        "block": BLOCK,
        "page_id": SANDBOX_PAGE_ID,
        "table_heading": SANDBOX_TABLE_HEADING,
        "key_column": "Task",
        "rows": [
            {"Task": "demo-jira-export", "Status": "exported on {date}"},
            {"Task": "nightly", "Status": "FAILED {not-a-placeholder}"},
        ],
        "run_columns": {"Last run": "{flow_run}"},
    }
    return ConfluenceTableJob(**{**fields, **overrides})


def test_upsert_updates_and_appends_with_artifacts(fake: FakeConfluence, served) -> None:
    state = confluence_table_flow(job=job(), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert (result["updated"], result["appended"], result["version"]) == (1, 1, 2)
    table = {row["Task"]: row for row in rows(fake)}
    assert set(table) == {"demo-jira-export", "nightly"}
    assert table["demo-jira-export"]["Status"].startswith("exported on 20")
    assert table["nightly"]["Status"] == "FAILED {not-a-placeholder}"
    assert table["nightly"]["Last run"] and "{" not in table["nightly"]["Last run"]
    assert fake.pages[SANDBOX_PAGE_ID].history[-1][1] == "bot"

    artifacts = {a.key: a for a in artifacts_of(state.state_details.flow_run_id)}
    assert set(artifacts) == {
        "confluence-rows-confluence-table",
        "confluence-page-confluence-table",
        "confluence-table",  # the run's result, under the task's key
    }
    assert '"appended": 1' in artifacts["confluence-table"].data
    assert "nightly" in str(artifacts["confluence-rows-confluence-table"].data)
    link = artifacts["confluence-page-confluence-table"].data  # Prefect keeps a link as markdown
    assert link == f"[Confluence page 1001]({served[1]}/pages/viewpage.action?pageId=1001)"

    again = confluence_table_flow(job=job(run_columns={}), return_state=True)
    assert again.is_completed() and again.result()["changed"] is False  # same rows: no new version
    assert fake.version(SANDBOX_PAGE_ID) == 2


def test_append_by_header_cells_with_run_columns_only(fake: FakeConfluence) -> None:
    append = job(
        mode="append",
        key_column=None,
        table_heading=None,
        table_headers=["Task", "Status"],
        rows=[],
        run_columns={"Task": "{task}", "Status": "ran {date}"},
    )
    state = confluence_table_flow(job=append, return_state=True)
    assert state.is_completed(), state.message
    assert [r["Task"] for r in rows(fake)] == ["demo-jira-export", "confluence_table"]


def test_refused_credentials_fail_at_once(fake: FakeConfluence) -> None:
    started = time.monotonic()
    state = confluence_table_flow(
        job=job(block=BAD_BLOCK), policy=RunPolicy(retries=3, retry_delays=[5, 5, 5]), return_state=True
    )
    assert state.is_failed() and "401" in state.message
    assert time.monotonic() - started < 5
    assert fake.count(status=401) == 1
    assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 1
    assert fake.version(SANDBOX_PAGE_ID) == 1


def test_a_bot_that_may_not_edit_the_page_fails_at_once(fake: FakeConfluence) -> None:
    # Server/DC answers 403 to a user who may view the page but not edit it: no retry, nothing
    # written, and the message says the credentials lack permission and which block has them.
    fake.deny_edit("bot")
    state = confluence_table_flow(
        job=job(), policy=RunPolicy(retries=2, retry_delays=[5, 5]), return_state=True
    )
    assert state.is_failed() and "403" in state.message
    assert "lack permission" in state.message and BLOCK in state.message
    assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 1
    assert fake.count(method="PUT", status=403) == 1 and fake.version(SANDBOX_PAGE_ID) == 1


def test_missing_table_and_unknown_column_fail_at_once(fake: FakeConfluence) -> None:
    policy = RunPolicy(retries=2, retry_delays=[5, 5])
    missing = confluence_table_flow(
        job=job(table_heading="No such heading"), policy=policy, return_state=True
    )
    assert missing.is_failed() and "No such heading" in missing.message
    bad_column = confluence_table_flow(
        job=job(rows=[{"Task": "x", "Colour": "red"}], run_columns={}), policy=policy, return_state=True
    )
    assert bad_column.is_failed() and "Colour" in bad_column.message
    for state in (missing, bad_column):
        assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 1
    assert fake.version(SANDBOX_PAGE_ID) == 1


def test_server_errors_are_retried_and_nothing_lost_or_doubled(
    fake: FakeConfluence, no_backoff: None
) -> None:
    # 6 x 503: the client's 4 retries are used up by the first attempt's read (5 requests); the
    # task's policy retries it and the second attempt recovers; the lost PUT answer is recognised.
    fake.fail_next(2, 429, retry_after=0)
    fake.fail_next(4, 503)
    fake.lose_next_put_answers(1)
    state = confluence_table_flow(
        job=job(mode="append", key_column=None, rows=[{"Task": "once", "Status": "ok"}], run_columns={}),
        policy=RunPolicy(retries=2, retry_delays=[0.1, 0.1]),
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 2
    assert [r["Task"] for r in rows(fake)].count("once") == 1
    assert fake.version(SANDBOX_PAGE_ID) == 2


def test_job_model_is_strict() -> None:
    with pytest.raises(ValidationError, match="key_column"):
        job(key_column=None)
    with pytest.raises(ValidationError, match="which table"):
        job(table_heading=None)
    with pytest.raises(ValidationError, match="page id"):
        job(page_id="Results page")
    with pytest.raises(ValidationError, match="no value for key_column"):
        job(rows=[{"Status": "x"}])
    assert job(page_id=1001).page_id == "1001"
