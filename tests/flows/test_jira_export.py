"""The jira_export task type on a real Prefect server, against the local fake Jira over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from blocks import JiraCredentials
from deployments.integration_jobs import JiraExportJob
from deployments.policy import RunPolicy
from flows.jira_export import jira_export_flow
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.jira import FakeJira, demo_issues, make_fake_jira
from tests.flows.conftest import artifacts_of, server_logs, task_runs_of

SECRET = "jira-s3cret-4d1b9e"
BLOCK = "tl-test-jira"
BAD_BLOCK = "tl-test-jira-bad"
CLOUD_BLOCK = "tl-test-jira-cloud"
# Everything below DEMO-1 with "blocks" and "relates to" links followed (see demo_issues).
DEMO_1_CHILDREN = {"DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5", "DEMO-6", "DEMO-7", "OPS-1"}


@pytest.fixture(scope="module")
def jira() -> Iterator[FakeJira]:
    app = make_fake_jira(cloud=False, users={"bot": SECRET}, issues=demo_issues(cloud=False))
    with serve(app) as url:
        JiraCredentials(url=url, username="bot", token=SECRET).save(BLOCK, overwrite=True)
        JiraCredentials(url=url, username="bot", token="wrong-token").save(BAD_BLOCK, overwrite=True)
        yield app.state.jira


@pytest.fixture(autouse=True)
def _clean(jira: FakeJira) -> None:
    jira.clear_faults()
    jira.reset_log()


def sheet_keys(path: Path, sheet: str) -> list[str]:
    rows = list(load_workbook(path, read_only=True)[sheet].iter_rows(min_row=2, values_only=True))
    return [row[0] for row in rows]


def test_root_ticket_tree_lands_in_excel_with_artifacts(jira: FakeJira, tmp_path: Path) -> None:
    job = JiraExportJob(
        block=BLOCK,
        root_key="DEMO-1",
        link_types=["blocks", "relates to"],
        output=str(tmp_path / "{task}-{date}.xlsx"),
    )
    state = jira_export_flow(job=job, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    path = Path(result["path"])
    assert path == tmp_path / f"jira_export-{today}.xlsx" and path.exists()
    assert sheet_keys(path, "Root Issues") == ["DEMO-1"]
    assert set(sheet_keys(path, "Child Issues")) == DEMO_1_CHILDREN
    assert (result["root_issues"], result["child_issues"]) == (1, 7)

    artifacts = {a.key: a for a in artifacts_of(state.state_details.flow_run_id)}
    # The export's own table and summary, and the run's result under the task's key.
    assert set(artifacts) == {"jira-roots-jira-export", "jira-export-jira-export", "jira-export"}
    roots = str(artifacts["jira-roots-jira-export"].data)
    assert artifacts["jira-roots-jira-export"].type == "table"
    assert "DEMO-1" in roots and "Checkout revamp" in roots
    summary = artifacts["jira-export-jira-export"].data
    assert str(path) in summary and "7 child issues" in summary
    assert (
        '"child_issues": 7' in artifacts["jira-export"].data
        and "Checkout revamp" not in artifacts["jira-export"].data
    )


def test_project_export_defaults_to_exports_under_the_working_directory(
    jira: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    state = jira_export_flow(
        job=JiraExportJob(block=BLOCK, project_key="demo", max_depth=1), return_state=True
    )
    assert state.is_completed(), state.message
    path = Path(state.result()["path"])
    assert path.parent == tmp_path / "exports" and path.name.startswith("jira_export-")
    roots = sheet_keys(path, "Root Issues")
    assert {"DEMO-1", "DEMO-8", "DEMO-11"} <= set(roots)
    assert all(key.startswith("DEMO-") for key in roots + sheet_keys(path, "Child Issues"))


def test_refused_credentials_fail_at_once_without_retries(jira: FakeJira, tmp_path: Path) -> None:
    policy = RunPolicy(retries=3, retry_delays=[5, 5, 5])
    started = time.monotonic()
    state = jira_export_flow(
        job=JiraExportJob(block=BAD_BLOCK, root_key="DEMO-1", output=str(tmp_path / "x.xlsx")),
        policy=policy,
        return_state=True,
    )
    assert state.is_failed()
    assert time.monotonic() - started < 5  # a retry would have waited 5 s
    assert "401" in state.message and "bot" in state.message
    assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))
    assert jira.count(status=401) == 1
    (task_run,) = task_runs_of(state.state_details.flow_run_id)
    assert task_run.run_count == 1
    assert not (tmp_path / "x.xlsx").exists()
    assert SECRET not in "\n".join(server_logs(state.state_details.flow_run_id))


def test_a_refused_cloud_token_fails_at_once_instead_of_exporting_nothing(tmp_path: Path) -> None:
    # Jira Cloud answers a refused (e.g. expired) API token as to an anonymous user, who may run
    # this query and finds nothing: the export must fail saying so, not write an empty workbook.
    app = make_fake_jira(cloud=True, users={"bot@example.com": SECRET}, issues=demo_issues(cloud=True))
    with serve(app) as url:
        JiraCredentials(url=url, username="bot@example.com", token="expired-token", cloud=True).save(
            CLOUD_BLOCK, overwrite=True
        )
        state = jira_export_flow(
            job=JiraExportJob(block=CLOUD_BLOCK, jql="issuetype = Epic", output=str(tmp_path / "c.xlsx")),
            policy=RunPolicy(retries=2, retry_delays=[5, 5]),
            return_state=True,
        )
    assert state.is_failed()
    assert "anonymous user" in state.message and "bot@example.com" in state.message
    assert not (tmp_path / "c.xlsx").exists()
    (task_run,) = task_runs_of(state.state_details.flow_run_id)
    assert task_run.run_count == 1


def test_unknown_root_and_missing_block_fail_at_once(jira: FakeJira, tmp_path: Path) -> None:
    policy = RunPolicy(retries=2, retry_delays=[5, 5])
    unknown = jira_export_flow(
        job=JiraExportJob(block=BLOCK, root_key="DEMO-999", output=str(tmp_path / "x.xlsx")),
        policy=policy,
        return_state=True,
    )
    assert unknown.is_failed() and "DEMO-999" in unknown.message
    assert task_runs_of(unknown.state_details.flow_run_id)[0].run_count == 1
    missing = jira_export_flow(
        job=JiraExportJob(block="no-such-block", root_key="DEMO-1"), policy=policy, return_state=True
    )
    assert missing.is_failed() and "no-such-block" in missing.message and "save" in missing.message.lower()
    assert task_runs_of(missing.state_details.flow_run_id)[0].run_count == 1


def test_rate_limits_and_server_errors_are_retried_and_nothing_is_lost(
    jira: FakeJira, tmp_path: Path, no_backoff: None
) -> None:
    # 3 x 429 and 4 x 503: the client's own retries (5) are used up on the first attempt, which
    # fails; the task's policy retries it, and the second attempt meets the last fault and recovers.
    jira.inject(429, 3, retry_after=0)
    jira.inject(503, 4)
    state = jira_export_flow(
        job=JiraExportJob(
            block=BLOCK,
            root_key="DEMO-1",
            link_types=["blocks", "relates to"],
            output=str(tmp_path / "r.xlsx"),
        ),
        policy=RunPolicy(retries=2, retry_delays=[0.1, 0.1]),
        return_state=True,
    )
    assert state.is_completed(), state.message
    assert jira.count(status=429) == 3 and jira.count(status=503) == 4
    (task_run,) = task_runs_of(state.state_details.flow_run_id)
    assert task_run.run_count == 2
    assert set(sheet_keys(tmp_path / "r.xlsx", "Child Issues")) == DEMO_1_CHILDREN


def test_job_model_is_strict() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one"):
        JiraExportJob(block=BLOCK, root_key="DEMO-1", project_key="DEMO")
    with pytest.raises(ValidationError, match="block name"):
        JiraExportJob(block="Jira Prod", root_key="DEMO-1")
    with pytest.raises(ValidationError, match=".xlsx"):
        JiraExportJob(block=BLOCK, root_key="DEMO-1", output="out.csv")
    with pytest.raises(ValidationError, match="Extra inputs"):
        JiraExportJob(block=BLOCK, root_key="DEMO-1", token="abc")


def test_retry_condition_retries_only_what_another_attempt_can_fix() -> None:
    from prefect.states import Failed

    from deployments.integration_jobs import retry_unless
    from flows.errors import BadCredentialsBlock
    from integrations.errors import (
        BadRequestError,
        ConflictError,
        RateLimitedError,
        RemoteServiceError,
        ServiceUnavailableError,
        TableNotFoundError,
    )

    should_retry = retry_unless(BadCredentialsBlock)

    def retried(exc: BaseException) -> bool:
        return should_retry(None, None, Failed(data=exc))

    assert not retried(BadCredentialsBlock("no block"))
    assert not retried(BadRequestError("bad JQL", status=400))
    assert not retried(TableNotFoundError("no table", status=404))
    assert not retried(RemoteServiceError("invalid root id", status=400))
    assert not retried(ValueError("channel needs a team"))
    assert retried(RateLimitedError("429", status=429)) and retried(
        ServiceUnavailableError("503", status=503)
    )
    assert retried(ConflictError("409", status=409)) and retried(TimeoutError()) and retried(OSError("reset"))


def test_placeholders_fill_known_names_and_leave_other_braces() -> None:
    from deployments.integration_jobs import fill_placeholders, run_placeholders

    values = run_placeholders(datetime(2024, 5, 1, 12, 30, tzinfo=UTC))
    assert (values["date"], values["time"], values["task"]) == ("2024-05-01", "12:30:00", "tasklane")
    assert (
        fill_placeholders('{task} {date} {"json": 1} {nope}', values)
        == 'tasklane 2024-05-01 {"json": 1} {nope}'
    )
