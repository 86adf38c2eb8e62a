"""What every task-type flow shares: run the job as a Prefect task under the run policy.

Retries (with the exponential delays the catalog computed), jitter and the timeout are
Prefect's own task options; this module sets them, turns the outcome into the flow run's
final state (a timeout ends it TimedOut), and applies the two checks a flow must make
before its job starts:

- missed runs: a scheduled run found late after downtime runs, or is skipped, per the
  task's `missed` policy (run_all, run_once: only the latest due run, skip);
- crash re-runs: a run rescheduled after a crash runs at most `retries` more times.

And it starts the job on time. A worker prefetches runs, `tasklane.runtime.engine` sleeps until just
before the due instant, and the server, which rounds its wait to whole seconds, may let the
run start up to half a second early; the job's own task waits out what is left, so the job
starts within milliseconds of its time and never before (a job due at 00:00:00 must not see
the previous day).

`run_job` (sync flows: the job stays in the main thread, where a timeout's signal reaches it)
and `arun_job` (async flows) are one body, `_job_steps`, driven two ways.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast

from prefect import task
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.runtime import deployment, flow_run
from prefect.states import Cancelled, Failed, State
from prefect.tasks import Task
from prefect.utilities.asyncutils import run_coro_as_sync

from deployments.policy import RunPolicy

if TYPE_CHECKING:
    from prefect.types import DateTime

RESULT_ARTIFACT_CHARS = 4000
# A later run in one of these will not run, so an older overdue run must not yield to it.
NOT_RUNNING_STATES = [StateType.CANCELLED, StateType.CANCELLING]
MAX_EARLY_WAIT_SECONDS = 60.0
# The flows' default policy (no retries, no timeout). Built with model_validate because mypy,
# without pydantic's plugin, takes RunPolicy's positional Field defaults for required fields.
DEFAULT_POLICY = RunPolicy.model_validate({})


def _seconds_until(when: datetime | None) -> float:
    if when is None:
        return 0.0
    return min((when - datetime.now(UTC)).total_seconds(), MAX_EARLY_WAIT_SECONDS)


def _starting_at(fn: Callable[..., Any], when: datetime | None) -> Callable[..., Any]:
    """`fn`, which first waits until `when` (a retry comes later, so it never waits)."""
    if when is None:
        return fn
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def at_time_async(*args: Any, **kwargs: Any) -> Any:
            delay = _seconds_until(when)
            if delay > 0:
                await asyncio.sleep(delay)
            return await fn(*args, **kwargs)

        return at_time_async

    @functools.wraps(fn)
    def at_time(*args: Any, **kwargs: Any) -> Any:
        delay = _seconds_until(when)
        if delay > 0:
            time.sleep(delay)
        return fn(*args, **kwargs)

    return at_time


def policy_task(
    fn: Callable[..., Any], policy: RunPolicy, name: str, not_before: datetime | None = None
) -> Task[..., Any]:
    """`fn` as a Prefect task carrying the task's retries, delays, jitter and timeout.

    With `not_before`, the task's first attempt waits until then, right before `fn` starts.
    """
    options = task(
        name=name,
        retries=policy.retries,
        retry_delay_seconds=policy.retry_delays or 0,
        retry_jitter_factor=policy.retry_jitter_factor,
        timeout_seconds=policy.timeout_seconds,
        log_prints=True,
    )
    return options(_starting_at(fn, not_before))


def timed_out_state(state: State) -> State | None:
    """The flow's final state when the job's last attempt timed out, else None."""
    if state.name == "TimedOut":
        return Failed(name="TimedOut", message=state.message or "the job timed out")
    return None


async def _later_due_run(client: PrefectClient, run: FlowRun, now: datetime) -> FlowRun | None:
    """A later scheduled run of the same deployment that is also due by now, in any state.

    Not only the waiting ones: after downtime the worker starts every overdue run at once, so
    the latest may already be Running (or done) when an older one looks, and must still count.
    Cancelled ones (Skipped by this check, or by a user) do not: they will not run.
    """
    if run.deployment_id is None:
        return None
    later = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[run.deployment_id]),
            # pydantic validates `now` into Prefect's DateTime; the annotation names its subclass.
            expected_start_time=FlowRunFilterExpectedStartTime(
                after_=run.expected_start_time, before_=cast("DateTime", now)
            ),
            state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=NOT_RUNNING_STATES)),
        ),
        limit=5,
    )
    return next((r for r in later if r.id != run.id and r.auto_scheduled), None)


def scheduled_start() -> datetime | None:
    """When this run's job may start, if it is a deployment's run on its first attempt."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None or run.deployment_id is None or run.run_count > 1:
        return None
    return run.expected_start_time


async def startup_outcome(policy: RunPolicy) -> State | None:
    """The state to end with instead of running the job, or None to run it."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None or run.deployment_id is None:
        return None  # called directly, not from a deployment: nothing was missed
    if run.run_count > policy.retries + 1:
        return Failed(
            name="Crashed",
            message=f"started {run.run_count} times after crashes; the task allows {policy.retries} retries",
        )
    if (
        run.run_count > 1
        or not run.auto_scheduled
        or policy.missed == "run_all"
        or not run.expected_start_time
    ):
        return None
    now = datetime.now(UTC)
    late = (now - run.expected_start_time).total_seconds()
    if late <= policy.missed_grace_seconds:
        return None
    if policy.missed == "skip":
        return Cancelled(name="Skipped", message=f"missed its time by {late:.0f} s (missed: skip)")
    async with get_client() as client:
        later = await _later_due_run(client, run, now)
    if later is not None:
        return Cancelled(
            name="Skipped",
            message=f"missed by {late:.0f} s; the later due run {later.name} runs instead (missed: run_once)",
        )
    return None


Step = Callable[[], Any]
"""One step of a job's run that talks to Prefect: called, and its value awaited when it is one."""


class JobOptions(TypedDict, total=False):
    """What a flow may add to `run_job` / `arun_job`.

    `retry_condition_fn` lets a flow refuse to retry errors no retry can mend (refused
    credentials); `on_result` records the flow's own artifacts and returns what the run keeps
    (default: a result artifact and the result itself).
    """

    retry_condition_fn: Callable[..., bool]
    on_result: Callable[[Any], Any]


def _job_steps(
    fn: Callable[..., Any],
    policy: RunPolicy,
    name: str,
    args: tuple[Any, ...],
    retry_condition_fn: Callable[..., bool] | None = None,
    on_result: Callable[[Any], Any] | None = None,
) -> Generator[Step, Any, Any]:
    """The one body of `run_job` and `arun_job`: check, run `fn(*args)` under the policy, settle.

    Written once for sync and async flows: it yields each step as a thunk and is sent back the
    step's value; `run_job` and `arun_job` differ only in how they wait for a step that gives a
    coroutine. Returns what the flow returns: a final state, or what the run keeps.
    """
    early = yield lambda: startup_outcome(policy)
    if early is not None:
        return early
    job = policy_task(fn, policy, name, scheduled_start())
    if retry_condition_fn is not None:
        job = job.with_options(retry_condition_fn=retry_condition_fn)
    state = yield lambda: job(*args, return_state=True)
    final = timed_out_state(state)
    if final is not None:
        return final
    result = yield state.aresult
    if on_result is not None:
        return (yield lambda: on_result(result))
    yield lambda: arecord_result(result)
    return result


async def arun_job(
    fn: Callable[..., Any], policy: RunPolicy, name: str, *args: Any, **options: Unpack[JobOptions]
) -> Any:
    """An async flow's body: `run_job`, each step awaited in the flow's event loop."""
    steps = _job_steps(fn, policy, name, args, **options)
    value = None
    try:
        while True:
            value = steps.send(value)()
            if inspect.isawaitable(value):
                value = await value
    except StopIteration as done:
        return done.value


def run_job(
    fn: Callable[..., Any], policy: RunPolicy, name: str, *args: Any, **options: Unpack[JobOptions]
) -> Any:
    """A sync flow's body: check, run `fn(*args)` under the policy, settle the final state.

    Sync flows keep the job in the main thread, where Prefect's timeout can interrupt a
    blocking call with a signal; the steps that are coroutines (the startup checks, reading
    the result, the result artifact) run to completion on Prefect's loop.
    """
    steps = _job_steps(fn, policy, name, args, **options)
    value = None
    try:
        while True:
            value = steps.send(value)()
            if inspect.iscoroutine(value):
                value = run_coro_as_sync(value)
    except StopIteration as done:
        return done.value


async def arecord_result(result: Any) -> None:
    """Keep the run's result on the Prefect server as a markdown artifact."""
    try:
        text = json.dumps(result, indent=2, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(result)
    if len(text) > RESULT_ARTIFACT_CHARS:
        text = text[:RESULT_ARTIFACT_CHARS] + "\n… (cut)"
    name = deployment.name or flow_run.flow_name or "run"
    await acreate_markdown_artifact(
        markdown=f"### Result of `{name}`\n\n```json\n{text}\n```", description=f"Result of {name}"
    )
