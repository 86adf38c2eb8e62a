"""What every task-type flow shares: run the job as a Prefect task under the run policy.

Retries (with the exponential delays the catalog computed), jitter and the timeout are
Prefect's own task options; this module only sets them and turns the outcome into the
flow run's final state, so a timeout ends the flow run as TimedOut.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.artifacts import acreate_markdown_artifact, create_markdown_artifact
from prefect.runtime import deployment, flow_run
from prefect.states import Failed, State
from prefect.tasks import Task

from deployments.policy import RunPolicy

RESULT_ARTIFACT_CHARS = 4000


def policy_task(fn: Callable[..., Any], policy: RunPolicy, name: str) -> Task[..., Any]:
    """`fn` as a Prefect task carrying the task's retries, delays, jitter and timeout."""
    return task(
        fn,
        name=name,
        retries=policy.retries,
        retry_delay_seconds=policy.retry_delays or 0,
        retry_jitter_factor=policy.retry_jitter_factor,
        timeout_seconds=policy.timeout_seconds,
        log_prints=True,
    )


def timed_out_state(state: State) -> State | None:
    """The flow's final state when the job's last attempt timed out, else None."""
    if state.name == "TimedOut":
        return Failed(name="TimedOut", message=state.message or "the job timed out")
    return None


def _result_markdown(result: Any) -> tuple[str, str]:
    try:
        text = json.dumps(result, indent=2, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(result)
    if len(text) > RESULT_ARTIFACT_CHARS:
        text = text[:RESULT_ARTIFACT_CHARS] + "\n… (cut)"
    name = deployment.name or flow_run.flow_name or "run"
    return f"### Result of `{name}`\n\n```json\n{text}\n```", f"Result of {name}"


def record_result(result: Any) -> None:
    """Keep the run's result on the Prefect server as a markdown artifact."""
    markdown, description = _result_markdown(result)
    create_markdown_artifact(markdown=markdown, description=description, _sync=True)


async def arecord_result(result: Any) -> None:
    """`record_result` for async flows."""
    markdown, description = _result_markdown(result)
    await acreate_markdown_artifact(markdown=markdown, description=description)
