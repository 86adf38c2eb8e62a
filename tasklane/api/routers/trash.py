"""The trash: deleted tasks, kept `trash.retention_days` (`tasklane.tasks.trash`).

`DELETE /api/scheduler/tasks/{id}` (and a group's) moves tasks here; `GET /trash` lists them (the
groups the token covers), `POST /trash/{name}/restore` brings one back as the same task: its
deployment, schedules and next runs, dependencies, alerts, runs and statistics.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Path

from tasklane.api.core import ADMIN, ERRORS, VIEWER, Ctx
from tasklane.api.routers._common import task_summary
from tasklane.api.schemas import TaskRestored, TrashEntry, TrashList
from tasklane.tasks.trash import find_trashed, list_trash, restore_deployment

router = APIRouter(prefix="/api/scheduler", tags=["trash"], responses=ERRORS)

Name = Path(..., max_length=200, description="The deleted task's id (its name).")


@router.get("/trash", response_model=TrashList)
async def trash(ctx: Ctx = VIEWER) -> TrashList:
    """The deleted tasks the token's groups cover, by name: when each was deleted, when the
    maintenance flow purges it, and the tasks that depend on it."""
    keep = timedelta(days=ctx.state.trash_retention_days)
    entries = [e for e in await list_trash(ctx.client, ctx.target) if ctx.caller.can_see(e.group)]
    return TrashList(
        total=len(entries),
        retention_days=ctx.state.trash_retention_days,
        tasks=[
            TrashEntry(
                id=e.name,
                deployment_id=str(e.deployment_id),
                group=e.group,
                home=e.home,
                deleted_at=e.trashed_at,
                purge_after=e.trashed_at + keep if e.trashed_at else None,
                was_enabled=e.was_enabled,
                downstream=e.downstream,
            )
            for e in entries
        ],
    )


@router.post("/trash/{name}/restore", response_model=TaskRestored)
async def restore(name: str = Name, ctx: Ctx = ADMIN) -> TaskRestored:
    """Bring a deleted task back: the same task (deployment id, schedules and next runs, runs and
    statistics), its dependencies and alerts working again; enabled if it was when deleted."""
    deployment = ctx.check_group(await find_trashed(ctx.client, name, ctx.target))
    async with ctx.audit(
        "tasklane.task.restored",
        f"tasklane.task.{deployment.name}",
        {"restore": deployment.name},
        deployment.id,
    ) as record:
        restored = await restore_deployment(ctx.client, deployment, ctx.target)
        record["result"] = "ok" if restored.enabled else "ok; stays disabled"
    summary = await task_summary(ctx, await ctx.client.read_deployment(deployment.id))
    state = "" if restored.enabled else " (disabled, as it was when deleted)"
    return TaskRestored(
        message=f"Task restored{state}", task=summary, missing_upstream=restored.missing_upstream
    )
