"""The shell task type on a real Prefect server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deployments.jobs import ShellJob
from deployments.policy import RunPolicy
from flows.shell import shell_flow
from tests.conftest import alive, run
from tests.flows.conftest import server_flow_run, server_logs


def run_shell(job: ShellJob, policy: RunPolicy | None = None):
    return run(shell_flow(job=job, policy=policy or RunPolicy(), return_state=True))


def test_output_is_logged_and_exit_code_is_the_result(tmp_path: Path) -> None:
    job = ShellJob(
        command='echo "hi $GREETING"; pwd; echo oops >&2',
        env={"GREETING": "there"},
        working_dir=str(tmp_path),
    )
    state = run_shell(job)
    assert state.is_completed()
    result = state.result()
    assert result["exit_code"] == 0
    assert "hi there" in result["output_tail"] and str(tmp_path) in result["output_tail"]
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert "hi there" in logs and "oops" in logs  # stdout and stderr both streamed


def test_script_file_runs(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text('echo "args ok"; exit 0\n')
    assert run_shell(ShellJob(script=str(script))).result()["output_tail"] == ["args ok"]


def test_non_zero_exit_fails_the_run_with_its_code() -> None:
    state = run_shell(ShellJob(command="echo before; exit 7"))
    assert state.is_failed()
    assert "exited with code 7" in state.message
    assert server_flow_run(state.state_details.flow_run_id).state.type.value == "FAILED"


def test_timeout_ends_timed_out_and_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A background child, a grandchild and one that ignores SIGTERM: none may survive.
    command = (
        f"sleep 300 & echo $! >> {pids}; "
        f"bash -c 'trap \"\" TERM; sleep 300 & echo $! >> {pids}; wait' & echo $! >> {pids}; "
        "sleep 300"
    )
    started = time.monotonic()
    state = run_shell(ShellJob(command=command), RunPolicy(timeout_seconds=2))
    elapsed = time.monotonic() - started
    assert state.name == "TimedOut" and state.is_failed()
    assert server_flow_run(state.state_details.flow_run_id).state.name == "TimedOut"
    assert elapsed < 20
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 3
    deadline = time.monotonic() + 5
    while any(alive(p) for p in recorded) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in recorded if alive(p)], "a child of the timed-out command is still running"


def test_retries_wait_the_computed_delays(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    job = ShellJob(command=f"date +%s.%N >> {stamps}; exit 1")
    policy = RunPolicy(retries=2, retry_delays=[1, 2])
    state = run_shell(job, policy)
    assert state.is_failed()
    times = [float(t) for t in stamps.read_text().split()]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] == pytest.approx(1, abs=0.9) and gaps[1] == pytest.approx(2, abs=0.9)
    assert gaps[1] > gaps[0]


def test_secret_env_comes_from_a_secret_block_and_is_not_logged() -> None:
    from prefect.blocks.system import Secret

    Secret(value="s3cr3t-value-123").save("tasklane-test-secret", overwrite=True)
    job = ShellJob(
        command='test "$API_TOKEN" = "s3cr3t-value-123" && echo matched',
        secret_env={"API_TOKEN": "tasklane-test-secret"},
    )
    state = run_shell(job)
    assert state.is_completed(), state.message
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert "matched" in logs and "s3cr3t-value-123" not in logs


def test_the_result_is_kept_as_a_markdown_artifact_of_the_run() -> None:
    from tests.flows.test_jira_export import artifacts_of

    state = run_shell(ShellJob(command="echo kept"))
    (artifact,) = [a for a in artifacts_of(state.state_details.flow_run_id) if a.type == "markdown"]
    assert "### Result of" in artifact.data and '"exit_code": 0' in artifact.data and "kept" in artifact.data
