"""Statistics of runs: one task's, and all tasks' (or one group's) in a date window, from the run
ledger (`tasklane.history.statuses.run_stats`, as `tasklane stats`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tasklane.api.core import ERRORS, VIEWER, Ctx, IsoDate
from tasklane.api.routers._common import Id, date_window
from tasklane.api.schemas import GlobalStats, TaskStats
from tasklane.api.views import read_task, visible_deployments
from tasklane.history.statuses import SCHEDULER_STATUS, run_stats
from tasklane.tasks.lookup import tag_value

router = APIRouter(prefix="/api/scheduler", tags=["stats"], responses=ERRORS)


@router.get("/tasks/{task_id}/stats", response_model=TaskStats)
async def task_stats(
    task_id: str = Id,
    start_date: Annotated[IsoDate | None, Query()] = None,
    end_date: Annotated[IsoDate | None, Query(description="Inclusive.")] = None,
    ctx: Ctx = VIEWER,
) -> TaskStats:
    """Runs, successes, failures (timeouts included), success rate (%) and run times (s)."""
    deployment = await read_task(ctx, task_id)
    since, until = date_window(start_date, end_date)
    stats = await ctx.state.cache.get(
        ("stats", deployment.id, since, until),
        lambda: run_stats(ctx.client, ctx.target, [deployment.id], since, until),
    )
    return TaskStats(
        total_executions=stats.total,
        success=stats.success,
        failed=stats.failed,
        success_rate=stats.success_rate,
        avg_duration=stats.avg_duration,
        total_duration=stats.total_duration,
    )


@router.get("/stats", response_model=GlobalStats)
async def global_stats(
    start_date: Annotated[IsoDate | None, Query()] = None,
    end_date: Annotated[IsoDate | None, Query(description="Inclusive.")] = None,
    group: Annotated[str | None, Query(max_length=200, description="Only this group's tasks.")] = None,
    ctx: Ctx = VIEWER,
) -> GlobalStats:
    """Tasks, active tasks, runs by status (the scheduler requirements' names) and the success
    rate: of every task the token's groups cover, or of one group (`tasklane stats --group`)."""
    deployments = await visible_deployments(ctx)
    if group is not None:
        deployments = [d for d in deployments if (tag_value(d.tags, "group") or "default") == group]
    since, until = date_window(start_date, end_date)
    ids = [d.id for d in deployments]
    stats = await ctx.state.cache.get(
        ("stats", tuple(ids), since, until), lambda: run_stats(ctx.client, ctx.target, ids, since, until)
    )
    by_status: dict[str, int] = {}
    for status, count in stats.by_status.items():
        name = "timeout" if status == "TIMEOUT" else SCHEDULER_STATUS[status]
        by_status[name] = by_status.get(name, 0) + count
    return GlobalStats(
        total_tasks=len(deployments),
        active_tasks=sum(1 for d in deployments if not d.paused),
        total_executions=stats.total,
        success_rate=stats.success_rate,
        by_status=by_status,
    )
