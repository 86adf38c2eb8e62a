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

What a run leaves behind, readable at a glance:

- its name: `name_after_task`, every flow's `flow_run_name`, names a deployment's run after its
  task and due time (`backup-20261206-0200`, deployments/run_names.py) when the run starts;
- one clear failure: a job's expected failures (flows/errors.py `EXPECTED_FAILURES`, and
  timeouts) are logged by Prefect without a traceback (`hide_expected_tracebacks`), and the flow
  ends Failed with the job's one-line reason as its state message instead of re-raising it
  (which would log the traceback a second time); a job's own bug keeps one traceback;
- its result, or why it failed, as a markdown artifact under the task's key, so Prefect's
  Artifacts page keeps one timeline per task.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict, Unpack, cast

from prefect import get_run_logger, task
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
from prefect.task_engine import TaskRunTimeoutError
from prefect.tasks import Task
from prefect.utilities.asyncutils import run_coro_as_sync

from deployments.policy import RunPolicy
from deployments.run_names import is_run_name, result_artifact_key, run_name
from flows.errors import EXPECTED_FAILURES, ShellCommandFailed
from tasklane.settings import get_settings
from tasklane.tasks.lookup import schedule_timezone

if TYPE_CHECKING:
    from prefect.types import DateTime

RESULT_ARTIFACT_CHARS = 4000
# Prefect's loggers of task and flow runs, which log a failed attempt's exception with exc_info.
RUN_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")
# A failure whose message says it all: logged by Prefect as one line, without a traceback.
QUIET_FAILURES: tuple[type[BaseException], ...] = (*EXPECTED_FAILURES, TaskRunTimeoutError)
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


def name_after_task() -> str:
    """The `flow_run_name` of Tasklane's flows: a deployment's run is named after its task and the
    time it was due, in the zone `tasklane list` shows the task's times in (`backup-20261206-0200`).

    Prefect calls it as every run starts, in the run's process (scheduled, triggered and manual
    runs alike: prefect/flow_engine.py, setup_run_context), and renames the run to what it
    returns. A run already named so (`run_task` names manual runs when it creates them) keeps its
    name, and so does a flow called directly, outside a deployment.
    """
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None:
        return str(flow_run.name or "run")
    if run.deployment_id is None:
        return run.name
    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployment(run.deployment_id)
        zone = schedule_timezone(found, get_settings().timezone)
    except Exception as exc:  # a run must not fail over its name
        get_run_logger().warning("run %s keeps its name: cannot read its task: %s", run.name, exc)
        return run.name
    if is_run_name(run.name, found.name):
        return run.name
    return run_name(found.name, run.expected_start_time or datetime.now(UTC), zone)


class _HideExpectedTracebacks(logging.Filter):
    """Drops the traceback Prefect attaches to a run's log record when the exception is a
    QUIET_FAILURES one: the record's message (the exception's one-line repr) stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, QUIET_FAILURES):
            record.exc_info = None
            record.exc_text = None
        return True


def hide_expected_tracebacks() -> None:
    """Keep the tracebacks of expected failures out of the run loggers (idempotent).

    Prefect's task engine logs every failed attempt with `exc_info=True`, the retries' and the
    timeout's too; for a command's exit code or an HTTP status that traceback only buries the
    one line that matters. A logging filter is the one place to say so: raising stays the way
    a job fails, so retries, `retry_condition_fn`, hooks and automations see the same states.
    """
    for name in RUN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _HideExpectedTracebacks) for f in logger.filters):
            logger.addFilter(_HideExpectedTracebacks())


def policy_task(
    fn: Callable[..., Any], policy: RunPolicy, name: str, not_before: datetime | None = None
) -> Task[..., Any]:
    """`fn` as a Prefect task carrying the task's retries, delays, jitter and timeout.

    With `not_before`, the task's first attempt waits until then, right before `fn` starts.
    """
    hide_expected_tracebacks()
    options = task(
        name=name,
        retries=policy.retries,
        retry_delay_seconds=policy.retry_delays or 0,
        retry_jitter_factor=policy.retry_jitter_factor,
        timeout_seconds=policy.timeout_seconds,
        log_prints=True,
    )
    return options(_starting_at(fn, not_before))


def timed_out_state(state: State, policy: RunPolicy) -> State | None:
    """The flow's final state when the job's last attempt timed out, else None.

    Only the last attempt is known to have timed out: an earlier one may have failed otherwise,
    and `retry_condition_fn` may have stopped the retries early.
    """
    if state.name != "TimedOut":
        return None
    after = f" after {policy.timeout_seconds:g} s" if policy.timeout_seconds else ""
    attempt = " on its last attempt" if policy.retries else ""
    return Failed(name="TimedOut", message=f"timed out{after}{attempt}; the job was stopped")


def one_line(text: str) -> str:
    """`text` on one line: its lines joined by ' | ' (a state message is shown on one line)."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def failed_state(state: State, failure: Any) -> State:
    """The flow's final state for the job's failed task `state` (which raised `failure`): Failed,
    with the reason on one line.

    An expected failure's message is the reason; any other exception is named with its type, as
    Python prints it (`ValueError: ...`). Returned rather than raised: raising would make Prefect
    log the task's traceback a second time, for the flow.
    """
    if isinstance(failure, EXPECTED_FAILURES):
        reason = str(failure)
    elif isinstance(failure, BaseException):
        reason = f"{type(failure).__name__}: {failure}"
    else:
        reason = state.message or ""
    return Failed(message=one_line(reason) or "the job failed")


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
    (default: the result itself). What the run keeps is recorded as its result artifact.
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
        if early.is_failed():
            yield lambda: arecord_failure(early.message or "")
        return early
    job = policy_task(fn, policy, name, scheduled_start())
    if retry_condition_fn is not None:
        job = job.with_options(retry_condition_fn=retry_condition_fn)
    state = yield lambda: job(*args, return_state=True)
    final = timed_out_state(state, policy)
    failure = None
    if final is None and state.is_failed():
        failure = yield lambda: state.aresult(raise_on_failure=False)
        final = failed_state(state, failure)
    if final is not None:
        yield lambda: arecord_failure(final.message or "", failure)
        return final
    result = yield state.aresult
    if on_result is not None:
        result = yield lambda: on_result(result)
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


def _task_name() -> str:
    """The task this run belongs to: its deployment's name (a flow called directly: the flow's)."""
    return str(deployment.name or flow_run.flow_name or "run")


def _cut(text: str) -> str:
    return text if len(text) <= RESULT_ARTIFACT_CHARS else text[:RESULT_ARTIFACT_CHARS] + "\n… (cut)"


async def arecord_result(result: Any) -> None:
    """Keep the run's result on the Prefect server as a markdown artifact, under the task's key.

    The JSON block is what the REST API reads back as the run's result (tasklane/history/results.py).
    """
    try:
        text = json.dumps(result, indent=2, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(result)
    name = _task_name()
    await acreate_markdown_artifact(
        markdown=f"### Result of `{name}`\n\n```json\n{_cut(text)}\n```",
        key=result_artifact_key(name),
        description=f"Result of {name}",
    )


async def arecord_failure(reason: str, failure: Any = None) -> None:
    """Keep why the run failed on the Prefect server, under the same key as a result.

    A failed command adds its exit code and last output lines (secrets masked, flows/shell.py).
    """
    name = _task_name()
    lines = [f"### `{name}` failed", ""]
    if isinstance(failure, ShellCommandFailed):
        lines.append(failure.headline)
        if failure.last_lines:
            lines += ["", "Last output:", "", *(f"    {line}" for line in failure.last_lines)]
    else:
        lines.append(reason)
    await acreate_markdown_artifact(
        markdown=_cut("\n".join(lines)), key=result_artifact_key(name), description=f"{name} failed: {reason}"
    )
