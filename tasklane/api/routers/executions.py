"""TODO docstring."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from deployments.errors import DeploymentsError
from tasklane.api.compat import parse_status
from tasklane.api.core import ERRORS, VIEWER, ApiError, Ctx, PageNumber, PageSize
from tasklane.api.routers._common import Id, date_window
from tasklane.api.schemas import Execution, ExecutionPage, LogLine, Logs
from tasklane.api.views import read_task, to_execution
from tasklane.history.logs import read_run_logs
from tasklane.history.results import run_results
from tasklane.history.runs import page_runs
from tasklane.history.statuses import project_runs, states_of
from tasklane.tasks.lookup import tag_value
from tasklane.tasks.save import find_task_by_id

router = APIRouter(prefix="/api/scheduler", tags=["executions"], responses=ERRORS)


@router.get("/tasks/{task_id}/executions", response_model=ExecutionPage)
async def executions(
    task_id: str = Id,
    status: Annotated[str | None, Query(max_length=40, description="success, failed, running, ...")] = None,
    start_date: Annotated[date | None, Query()] = None,
    end_date: Annotated[date | None, Query()] = None,
    page: PageNumber = 1,
    limit: PageSize = 20,
    ctx: Ctx = VIEWER,
) -> ExecutionPage:
    """The task's runs, newest first, with their outputs."""
    deployment = await read_task(ctx, task_id)
    since, until = date_window(start_date, end_date)
    names = states_of(parse_status(status)) if status else None
    query = project_runs(ctx.target, [deployment.id], state_names=names, since=since, until=until)

    async def load() -> ExecutionPage:
        total, runs = await page_runs(ctx.client, query, offset=(page - 1) * limit, limit=limit)
        results = await run_results(ctx.client, [r.id for r in runs])
        return ExecutionPage(
            total=total,
            page=page,
            limit=limit,
            executions=[to_execution(r, deployment.name, results.get(r.id)) for r in runs],
        )

    return await ctx.state.cache.get(("executions", query, page, limit), load)


async def _run(ctx: Ctx, execution_id: str):
    try:
        run_id = UUID(execution_id)
    except ValueError:
        raise ApiError(404, f"no execution {execution_id!r}") from None
    try:
        flow_run = await ctx.client.read_flow_run(run_id)
    except Exception:
        raise ApiError(404, f"no execution {execution_id!r}") from None
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
async def execution(execution_id: Annotated[str, Path(max_length=100)], ctx: Ctx = VIEWER) -> Execution:
    flow_run, deployment = await _run(ctx, execution_id)
    result = (await run_results(ctx.client, [flow_run.id])).get(flow_run.id)
    return to_execution(flow_run, deployment.name, result)


@router.get("/executions/{execution_id}/logs", response_model=Logs)
async def execution_logs(
    execution_id: Annotated[str, Path(max_length=100)],
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ctx: Ctx = VIEWER,
) -> Logs:
    """The run's log lines (stdout and stderr of a shell job among them), oldest first."""
    flow_run, _ = await _run(ctx, execution_id)
    found = await read_run_logs(ctx.client, flow_run.id, offset=offset, limit=limit)
    levels = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
    return Logs(
        logs=[
            LogLine(timestamp=x.timestamp, level=levels.get(x.level, str(x.level)), message=x.message)
            for x in found
        ]
    )
