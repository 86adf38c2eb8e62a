from __future__ import annotations

import pytest

from deployments.policy import MAX_RETRY_DELAY_SECONDS, RunPolicy, TaskRetryPolicy


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (TaskRetryPolicy(), []),
        (TaskRetryPolicy(max_retries=3, retry_delay=2, backoff_factor=2), [2, 4, 8]),
        (TaskRetryPolicy(max_retries=4, retry_delay=5, backoff_factor=1), [5, 5, 5, 5]),
        (TaskRetryPolicy(max_retries=3, retry_delay=1.5, backoff_factor=3), [1.5, 4.5, 13.5]),
        (
            TaskRetryPolicy(max_retries=2, retry_delay=80000, backoff_factor=10),
            [80000, MAX_RETRY_DELAY_SECONDS],
        ),
    ],
)
def test_delays_are_delay_times_factor_to_the_n(policy: TaskRetryPolicy, delays: list[float]) -> None:
    assert policy.delays() == delays


def test_run_policy_carries_jitter_and_timeout() -> None:
    run = RunPolicy.from_retry(TaskRetryPolicy(max_retries=2, retry_delay=1, jitter=0.2), timeout_seconds=30)
    assert run.retries == 2 and run.retry_delays == [1, 2]
    assert run.retry_jitter_factor == 0.2 and run.timeout_seconds == 30
    assert RunPolicy.from_retry(TaskRetryPolicy(), None).retry_jitter_factor is None
