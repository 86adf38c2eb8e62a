"""A task's executions (its runs: the past, or with `upcoming=true` those still to come), one
execution, and its logs: the scheduler requirements' `/api/scheduler/...executions...` paths.

An execution is named by its run id, its run name, or its task's name (the task's latest
started run): `tasklane.history.runs.resolve_run`, as `tasklane logs` names one. Status words
are `tasklane.history.statuses.STATE_WORDS`, as `tasklane history --state` takes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from deployments.errors import DeploymentsError
from tasklane.api.core import (
    ERRORS,
    OPERATOR,
    VIEWER,
    ApiError,
    Ctx,
    FieldError,
    IsoDate,
    PageNumber,
    PageSize,
)
from tasklane.api.routers._common import Id, date_window
from tasklane.api.schemas import Cancelled, Execution, ExecutionPage, LogLine, Logs
from tasklane.api.views import read_task, to_execution
from tasklane.history.logs import read_run_logs
from tasklane.history.results import run_results
from tasklane.history.runs import HistoryError, page_runs, resolve_run
from tasklane.history.statuses import STATE_WORDS, project_runs, state_word
from tasklane.settings.reports import TASKLANE_TAG
from tasklane.tasks.lookup import tag_value
from tasklane.tasks.manage import cancel as cancel_runs
from tasklane.tasks.save import find_task_by_id

router = APIRouter(prefix="/api/scheduler", tags=["executions"], responses=ERRORS)

STATUS_HELP = (
    "Only runs in this status: "
    + "; ".join(f"{word} ({w.states})" for word, w in STATE_WORDS.items())
    + "; or one Prefect state name (Late, Crashed, ...)."
)

ExecutionRef = Annotated[
    str,
    Path(
        max_length=200,
        description="The execution's run id, its run name, or a task's id (the task's latest started run).",
    ),
]


@router.get("/tasks/{task_id}/executions", response_model=ExecutionPage)
async def executions(
    task_id: str = Id,
    status: Annotated[str | None, Query(max_length=40, description=STATUS_HELP)] = None,
    upcoming: Annotated[
        bool,
        Query(
            description="false (default): the past runs (expected to start by now: finished, running, "
            "due or late), newest first. true: the runs still to come, soonest first."
        ),
    ] = False,
    start_date: Annotated[IsoDate | None, Query()] = None,
    end_date: Annotated[IsoDate | None, Query()] = None,
    page: PageNumber = 1,
    limit: PageSize = 20,
    ctx: Ctx = VIEWER,
) -> ExecutionPage:
    """The task's runs with their outputs: the past ones newest first, or (`upcoming=true`) the
    ones still to come, soonest first."""
    deployment = await read_task(ctx, task_id)
    since, until = date_window(start_date, end_date)
    try:
        word = state_word(status) if status else None
    except HistoryError as exc:
        raise ApiError(
            422, "1 problem in the request", [FieldError(field="status", message=str(exc))]
        ) from None
    query = project_runs(ctx.target, [deployment.id], since=since, until=until)
    if word is not None:
        query = query.replace(state_names=word.names or None, state_types=word.types or None)

    async def load() -> ExecutionPage:
        now = datetime.now(UTC)
        window, sort = (
            (query.upcoming(now), "EXPECTED_START_TIME_ASC")
            if upcoming
            else (query.past(now), "EXPECTED_START_TIME_DESC")
        )
        total, runs = await page_runs(ctx.client, window, offset=(page - 1) * limit, limit=limit, sort=sort)
        results = await run_results(ctx.client, [r.id for r in runs])
        return ExecutionPage(
            total=total,
            page=page,
            limit=limit,
            executions=[to_execution(r, deployment.name, results.get(r.id)) for r in runs],
        )

    # Keyed before "now" splits it: a page stays reusable for the cache's seconds.
    return await ctx.state.cache.get(("executions", query, upcoming, page, limit), load)


async def _run(ctx: Ctx, execution_id: str):
    """The run `execution_id` names among this project's (by id, name or task), if the caller may see it."""
    try:
        flow_run = await resolve_run(
            ctx.client, execution_id, tags=(TASKLANE_TAG, ctx.target.project_tag), any_run=False
        )
    except HistoryError as exc:
        raise ApiError(404, f"no execution {execution_id!r}: {exc}") from None
    deployment = None
    if flow_run.deployment_id is not None:
        try:
            deployment = await find_task_by_id(ctx.client, str(flow_run.deployment_id), ctx.target)
        except DeploymentsError:
            deployment = None
    if deployment is None or not ctx.caller.can_see(tag_value(deployment.tags, "group")):
        raise ApiError(404, f"no execution {execution_id!r}")
    return flow_run, deployment


@router.get("/executions/{execution_id}", response_model=Execution)
async def execution(execution_id: ExecutionRef, ctx: Ctx = VIEWER) -> Execution:
    """One execution, with its output."""
    flow_run, deployment = await _run(ctx, execution_id)
    result = (await run_results(ctx.client, [flow_run.id])).get(flow_run.id)
    return to_execution(flow_run, deployment.name, result)


@router.get("/executions/{execution_id}/logs", response_model=Logs)
async def execution_logs(
    execution_id: ExecutionRef,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    grep: Annotated[
        str | None,
        Query(max_length=200, description="Only lines containing this text (`tasklane logs --grep`)."),
    ] = None,
    level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] | None,
        Query(description="Only lines at this level or above (`tasklane logs --level`)."),
    ] = None,
    ctx: Ctx = VIEWER,
) -> Logs:
    """The run's log lines (stdout and stderr of a shell job among them), oldest first; `offset`
    and `limit` count the lines that match `grep` and `level`."""
    flow_run, _ = await _run(ctx, execution_id)
    found = await read_run_logs(ctx.client, flow_run.id, offset=offset, limit=limit, grep=grep, level=level)
    levels = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
    return Logs(
        logs=[
            LogLine(timestamp=x.timestamp, level=levels.get(x.level, str(x.level)), message=x.message)
            for x in found
        ]
    )


@router.post("/executions/{execution_id}/cancel", response_model=Cancelled)
async def cancel_execution(execution_id: ExecutionRef, ctx: Ctx = OPERATOR) -> Cancelled:
    """Stop the run (`tasklane cancel RUN`): it goes to Cancelling and the worker kills its
    process (a shell job's process group with it). A run already ended: `cancelled` is empty."""
    flow_run, deployment = await _run(ctx, execution_id)
    async with ctx.audit(
        "tasklane.task.cancelled",
        f"tasklane.task.{deployment.name}",
        {"cancel": str(flow_run.id)},
        deployment.id,
    ) as record:
        runs = await cancel_runs(ctx.client, str(flow_run.id), ctx.target)
        record["result"] = f"ok; {len(runs)} run(s)"
    return Cancelled(cancelled=[str(r.id) for r in runs])
