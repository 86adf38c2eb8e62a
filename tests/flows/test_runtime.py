"""flows/_runtime.py: the flow's final state when the job's task timed out."""

from __future__ import annotations

import pytest
from prefect.states import Completed, Failed

from deployments.policy import RunPolicy
from flows._runtime import timed_out_state


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (RunPolicy(timeout_seconds=2), "timed out after 2 s; the job was stopped"),
        # Earlier attempts may have failed otherwise: only the last one is known to have timed out.
        (
            RunPolicy(timeout_seconds=1.5, retries=2),
            "timed out after 1.5 s on its last attempt; the job was stopped",
        ),
        (RunPolicy(), "timed out; the job was stopped"),
    ],
)
def test_a_timed_out_job_fails_with_what_is_known_of_its_attempts(policy: RunPolicy, message: str) -> None:
    final = timed_out_state(Failed(name="TimedOut", message="Task run exceeded timeout"), policy)
    assert final is not None
    assert (final.name, final.message) == ("TimedOut", message)
    assert final.is_failed()


@pytest.mark.parametrize("state", [Failed(message="exited with code 1"), Completed()])
def test_a_job_that_did_not_time_out_has_no_timed_out_state(state) -> None:
    assert timed_out_state(state, RunPolicy(timeout_seconds=2)) is None
