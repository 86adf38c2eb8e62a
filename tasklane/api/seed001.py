"""Seed 001 (gocron job registry): /api/v1/scheduler/jobs, start, stop.

Start and stop resume and pause the work pool: while it is paused no new run starts (scheduled
runs wait), and runs already started finish.
"""

from __future__ import annotations

from fastapi import APIRouter

from tasklane.api.core import ADMIN, ERRORS, VIEWER, Ctx
from tasklane.api.schemas import Job, JobList, SchedulerResponse, SchedulerState
from tasklane.api.views import rows, visible_deployments
from tasklane.tasks.scheduler import set_pool_paused

router = APIRouter(prefix="/api/v1/scheduler", tags=["seed 001"], responses=ERRORS)


@router.get("/jobs", response_model=JobList)
async def jobs(ctx: Ctx = VIEWER) -> JobList:
    """Every task as a job: its deployment id, name, next and last run."""
    deployments = await visible_deployments(ctx)
    found = await rows(ctx, deployments)
    data = [
        Job(id=str(d.id), name=d.name, next_run=r.next_run, last_run=r.last_run)
        for d, r in zip(deployments, found, strict=True)
    ]
    return JobList(data=data)


async def _switch(ctx: Ctx, paused: bool) -> SchedulerResponse:
    pool = ctx.state.pool
    event = "tasklane.scheduler.stopped" if paused else "tasklane.scheduler.started"
    async with ctx.audit(event, f"tasklane.scheduler.{pool}", {"pool": pool, "paused": paused}) as record:
        changed = await set_pool_paused(ctx.client, pool, paused)
        record["result"] = "ok" if changed else "ok; already " + ("stopped" if paused else "running")
    return SchedulerResponse(data=SchedulerState(pool=pool, paused=paused, changed=changed))


@router.post("/start", response_model=SchedulerResponse)
async def start(ctx: Ctx = ADMIN) -> SchedulerResponse:
    """Resume the work pool: scheduled runs start again."""
    return await _switch(ctx, paused=False)


@router.post("/stop", response_model=SchedulerResponse)
async def stop(ctx: Ctx = ADMIN) -> SchedulerResponse:
    """Pause the work pool: no new run starts; running ones finish."""
    return await _switch(ctx, paused=True)
