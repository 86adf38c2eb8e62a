"""TODO docstring."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from deployments.errors import DeploymentsError
from tasklane.api.core import ADMIN, ERRORS, OPERATOR, VIEWER, ApiError, Ctx, Detach, PageNumber, PageSize
from tasklane.api.routers._common import Id, find_visible_task, task_summary
from tasklane.api.schemas import (
    BatchResult,
    GroupDeleted,
    RunStarted,
    TaskBody,
    TaskDeleted,
    TaskPage,
    TaskSummary,
)
from tasklane.api.views import (
    create_task,
    delete_task,
    mapping_from_body,
    read_task,
    rows,
    to_execution,
    to_summary,
    trashed_result,
    update_task,
    visible_deployments,
)
from tasklane.tasks.lookup import run_task, tag_value
from tasklane.tasks.manage import set_enabled, tasks_by_name_or_group
from tasklane.tasks.save import task_mapping
from tasklane.tasks.trash import trash_tasks

router = APIRouter(prefix="/api/scheduler", tags=["tasks"], responses=ERRORS)


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    group: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
    page: PageNumber = 1,
    limit: PageSize = 20,
    ctx: Ctx = VIEWER,
) -> TaskPage:
    """Tasks by name, optionally of one group and status (active: enabled, disabled: paused)."""
    deployments = await visible_deployments(ctx)
    if group is not None:
        deployments = [d for d in deployments if tag_value(d.tags, "group") == group]
    if status is not None:
        deployments = [d for d in deployments if bool(d.paused) == (status == "disabled")]
    chosen = deployments[(page - 1) * limit : page * limit]
    found = await rows(ctx, chosen)
    return TaskPage(
        total=len(deployments),
        page=page,
        limit=limit,
        tasks=[to_summary(d, r) for d, r in zip(chosen, found, strict=True)],
    )


@router.post("/tasks", response_model=TaskSummary, status_code=201)
async def create(body: TaskBody, ctx: Ctx = ADMIN) -> TaskSummary:
    """Create a task: a catalog task's fields (the scheduler requirements' body), compiled to a deployment."""
    _, deployment = await create_task(ctx, mapping_from_body(body))
    return await task_summary(ctx, deployment)


@router.get("/tasks/{task_id}", response_model=TaskSummary)
async def get_task(task_id: str = Id, ctx: Ctx = VIEWER) -> TaskSummary:
    return await task_summary(ctx, await read_task(ctx, task_id))


@router.put("/tasks/{task_id}", response_model=TaskSummary)
async def update(body: TaskBody, task_id: str = Id, detach: Detach = False, ctx: Ctx = ADMIN) -> TaskSummary:
    """Change a task: the fields given replace the current ones, the rest is kept. A task a catalog
    file defines answers 409 naming the file, unless `detach=true` takes it over."""
    deployment = await find_visible_task(ctx, task_id)
    change = body.model_dump(mode="json", exclude_unset=True) | (body.model_extra or {})
    async with ctx.audit(
        "tasklane.task.updated", f"tasklane.task.{deployment.name}", change, deployment.id
    ) as record:
        mapping = mapping_from_body(body, task_mapping(deployment))
        given = "schedule" in change
        _, deployment = await update_task(ctx, deployment, mapping, schedule_given=given, detach=detach)
        record["deployment_id"] = deployment.id
    return await task_summary(ctx, deployment)


@router.delete("/tasks/{task_id}", response_model=TaskDeleted)
async def delete(task_id: str = Id, ctx: Ctx = ADMIN) -> TaskDeleted:
    """Delete a task: it goes to the trash (`GET /api/scheduler/trash`) for `trash.retention_days`,
    restorable as the same task; `downstream` names the tasks that depend on it."""
    deployment = await find_visible_task(ctx, task_id)
    trashed = await delete_task(ctx, deployment)
    return TaskDeleted(message="Task deleted successfully", downstream=trashed.affected)


async def _enable(ctx: Ctx, task_id: str, enabled: bool) -> TaskSummary:
    deployment = await find_visible_task(ctx, task_id)
    event = "tasklane.task.enabled" if enabled else "tasklane.task.disabled"
    async with ctx.audit(
        event, f"tasklane.task.{deployment.name}", {"enabled": enabled}, deployment.id
    ) as record:
        changed = await set_enabled(ctx.client, [deployment], enabled)
        record["result"] = "ok" if changed else "ok; unchanged"
    return await task_summary(ctx, await ctx.client.read_deployment(deployment.id))


@router.post("/tasks/{task_id}/enable", response_model=TaskSummary)
async def enable(task_id: str = Id, ctx: Ctx = OPERATOR) -> TaskSummary:
    """Resume the task's deployment: its schedules run again."""
    return await _enable(ctx, task_id, True)


@router.post("/tasks/{task_id}/disable", response_model=TaskSummary)
async def disable(task_id: str = Id, ctx: Ctx = OPERATOR) -> TaskSummary:
    """Pause the task's deployment: no scheduled run; its schedules are kept."""
    return await _enable(ctx, task_id, False)


@router.post("/tasks/{task_id}/run", response_model=RunStarted)
async def run(task_id: str = Id, ctx: Ctx = OPERATOR) -> RunStarted:
    """Run the task now (a flow run of its deployment); `status` is the run's, usually pending."""
    deployment = await find_visible_task(ctx, task_id)
    async with ctx.audit(
        "tasklane.task.run", f"tasklane.task.{deployment.name}", {"run": True}, deployment.id
    ) as rec:
        flow_run = await run_task(ctx.client, deployment.name, target=ctx.target)
        rec["result"] = f"ok; run {flow_run.id}"
    return RunStarted(execution_id=str(flow_run.id), status=to_execution(flow_run, deployment.name).status)


async def _group(ctx: Ctx, group: str):
    if not ctx.caller.can_see(group):
        raise ApiError(404, f"no tasks in group {group!r}")
    try:
        return await tasks_by_name_or_group(ctx.client, ctx.target, group=group)
    except DeploymentsError as exc:
        raise ApiError(404, str(exc)) from None


async def _batch(ctx: Ctx, group: str, action: Literal["enable", "disable", "delete"]) -> BatchResult:
    deployments = await _group(ctx, group)
    event = {
        "enable": "tasklane.group.enabled",
        "disable": "tasklane.group.disabled",
        "delete": "tasklane.group.deleted",
    }
    async with ctx.audit(event[action], f"tasklane.group.{group}", {"action": action}) as record:
        if action == "delete":
            trashed = await trash_tasks(ctx.client, deployments, ctx.target)
            record["result"] = trashed_result(trashed)
            affected = trashed.affected
            return GroupDeleted(group=group, action=action, changed=trashed.names, downstream=affected)
        changed = await set_enabled(ctx.client, deployments, action == "enable")
        record["result"] = f"ok; {len(changed)} tasks: {', '.join(changed)}"[:500]
    return BatchResult(group=group, action=action, changed=changed)


@router.post("/groups/{group}/enable", response_model=BatchResult)
async def enable_group(group: Annotated[str, Path(max_length=200)], ctx: Ctx = OPERATOR) -> BatchResult:
    return await _batch(ctx, group, "enable")


@router.post("/groups/{group}/disable", response_model=BatchResult)
async def disable_group(group: Annotated[str, Path(max_length=200)], ctx: Ctx = OPERATOR) -> BatchResult:
    return await _batch(ctx, group, "disable")


@router.delete("/groups/{group}", response_model=GroupDeleted)
async def delete_group(group: Annotated[str, Path(max_length=200)], ctx: Ctx = ADMIN) -> BatchResult:
    """Delete every task of the group: they go to the trash; `downstream` names the tasks outside
    the group that depend on one of them."""
    return await _batch(ctx, group, "delete")
