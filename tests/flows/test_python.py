"""The python task type on a real Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.jobs import PythonJob
from deployments.policy import RunPolicy, TaskRetryPolicy
from flows.python import python_flow
from tests.flows.conftest import artifacts_of, server_flow_run, server_logs

JOBS_DIR = str(Path(__file__).parent / "jobs_pkg")


def call(reference: str, policy: RunPolicy | None = None, **kwargs):
    job = PythonJob(callable=reference, kwargs=kwargs, path=[JOBS_DIR])
    return python_flow(job=job, policy=policy or RunPolicy(), return_state=True)


def test_return_value_is_the_result() -> None:
    state = call("sample_jobs:add", a=2, b=3)
    assert state.is_completed()
    assert state.result() == {"sum": 5}


def test_exception_fails_the_run_with_its_traceback_in_the_logs_once() -> None:
    state = call("sample_jobs:explode", message="boom")
    assert state.is_failed()
    assert state.message == "ValueError: exploded: boom"
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert "Traceback" in logs and "sample_jobs.py" in logs and "ValueError: exploded: boom" in logs
    assert logs.count("Traceback") == 1  # the task's; the flow does not raise it again


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz'"),
        ("sample_jobs:missing", "has no attribute 'missing'"),
        ("sample_jobs:NOT_CALLABLE", "is a int, not callable"),
    ],
)
def test_bad_references_fail_clearly(reference: str, expected: str) -> None:
    state = call(reference)
    assert state.is_failed() and expected in state.message
    assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))


def test_script_result_and_exit_status(tmp_path: Path) -> None:
    ok = tmp_path / "ok.py"
    ok.write_text("import sys\nresult = {'argv0': sys.argv[0].endswith('ok.py')}\n")
    state = python_flow(job=PythonJob(script=str(ok)), return_state=True)
    assert state.result() == {"argv0": True}
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nsys.exit(3)\n")
    state = python_flow(job=PythonJob(script=str(bad)), return_state=True)
    assert state.is_failed() and "exited with status 3" in state.message


def test_timeout_interrupts_a_blocking_call() -> None:
    state = call("sample_jobs:nap", RunPolicy(timeout_seconds=1), seconds=30)
    assert state.name == "TimedOut"
    assert server_flow_run(state.state_details.flow_run_id).state.name == "TimedOut"
    assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))


def test_retries_follow_the_policy_and_then_succeed(tmp_path: Path) -> None:
    counter = tmp_path / "calls"
    policy = RunPolicy.from_retry(TaskRetryPolicy(max_retries=3, retry_delay=1, backoff_factor=2), None)
    state = call("sample_jobs:fail_until", policy, counter_file=str(counter), successes_after=2)
    assert state.is_completed() and state.result() == 3
    times = [float(t) for t in counter.read_text().split()]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] == pytest.approx(1, abs=0.9) and gaps[1] == pytest.approx(2, abs=0.9)
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert logs.count("Retry") >= 2 or logs.count("retry") >= 2


def test_the_result_is_kept_as_a_markdown_artifact_of_the_run() -> None:
    state = call("sample_jobs:add", a=2, b=3)
    (artifact,) = [a for a in artifacts_of(state.state_details.flow_run_id) if a.type == "markdown"]
    assert "### Result of" in artifact.data and '"sum": 5' in artifact.data
    assert artifact.key == "python"  # a flow called directly: the flow's name stands for the task


def test_a_failed_run_keeps_why_as_its_artifact() -> None:
    state = call("sample_jobs:explode", message="boom")
    (artifact,) = artifacts_of(state.state_details.flow_run_id)
    assert artifact.key == "python" and "### `python` failed" in artifact.data
    assert "ValueError: exploded: boom" in artifact.data


def test_inline_code_result_and_exit_status() -> None:
    state = python_flow(job=PythonJob(code="import sys\nresult = {'name': __name__}\n"), return_state=True)
    assert state.result() == {"name": "__main__"}
    state = python_flow(job=PythonJob(code="import sys\nsys.exit(5)\n"), return_state=True)
    assert state.is_failed() and state.message == "code of <code> exited with status 5"
