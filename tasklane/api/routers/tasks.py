"""Tasks: list, create, read, change, delete (to the trash), enable, disable, run (with
parameters), cancel, clone, export, and the same for a group or a list: the CLI's task commands
over HTTP, through the same functions (`tasklane.tasks.*`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from deployments.errors import DeploymentsError
from tasklane.api.core import ADMIN, ERRORS, OPERATOR, VIEWER, ApiError, Ctx, Detach, PageNumber, PageSize
from tasklane.api.routers._common import Id, find_visible_task, task_summary
from tasklane.api.schemas import (
    BatchDelete,
    BatchDeleted,
    BatchResult,
    Cancelled,
    CatalogExport,
    CloneBody,
    GroupDeleted,
    RunBody,
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
from tasklane.tasks.manage import cancel as cancel_runs
from tasklane.tasks.manage import clone_task, export_tasks, set_enabled, tasks_by_name_or_group
from tasklane.tasks.save import task_mapping
from tasklane.tasks.trash import trash_tasks

router = APIRouter(prefix="/api/scheduler", tags=["tasks"], responses=ERRORS)


def links(parameter: str, source: str, *operations: tuple[str, str]) -> dict[str, Any]:
    """OpenAPI links from an answer to the operations its `source` field names (`parameter` in
    their path): clients, and schemathesis' stateful phase, follow them."""
    return {
        f"{method.capitalize()}{path.rsplit('}', 1)[-1].replace('/', '_').title().replace('_', '')}": {
            "operationRef": "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method,
            "parameters": {parameter: f"$response.body#/{source}"},
        }
        for method, path in operations
    }


TASK = "/api/scheduler/tasks/{task_id}"
EXECUTION = "/api/scheduler/executions/{execution_id}"
TASK_LINKS = links(
    "task_id",
    "id",
    *[("get", TASK), ("put", TASK), ("delete", TASK)],
    *[("post", f"{TASK}/{action}") for action in ("enable", "disable", "run", "cancel", "clone")],
    *[("get", f"{TASK}/executions"), ("get", f"{TASK}/stats")],
)
EXECUTION_LINKS = links(
    "execution_id",
    "execution_id",
    ("get", EXECUTION),
    ("get", f"{EXECUTION}/logs"),
    ("post", f"{EXECUTION}/cancel"),
)
CREATED = {201: {"description": "The task, created.", "links": TASK_LINKS}}


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


@router.post("/tasks", response_model=TaskSummary, status_code=201, responses=CREATED)
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


@router.post(
    "/tasks/{task_id}/run",
    response_model=RunStarted,
    responses={200: {"description": "The run, created.", "links": EXECUTION_LINKS}},
)
async def run(task_id: str = Id, body: RunBody | None = None, ctx: Ctx = OPERATOR) -> RunStarted:
    """Run the task now (a flow run of its deployment); `status` is the run's, usually pending.
    `parameters` replace the task's own for this run (`tasklane run NAME --param K=V`); for a
    task that runs code (shell, python) that is writing its commands: admins only, with
    api.allow_shell."""
    deployment = await find_visible_task(ctx, task_id)
    overrides = body.parameters if body else {}
    if overrides:
        ctx.check_may_write(ctx.parse(task_mapping(deployment)))
    change = {"run": True, "overrides": overrides} if overrides else {"run": True}
    async with ctx.audit(
        "tasklane.task.run", f"tasklane.task.{deployment.name}", change, deployment.id
    ) as rec:
        flow_run = await run_task(ctx.client, deployment.name, overrides or None, target=ctx.target)
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


@router.post("/tasks/{task_id}/cancel", response_model=Cancelled)
async def cancel_task_runs(task_id: str = Id, ctx: Ctx = OPERATOR) -> Cancelled:
    """Stop every due or running run of the task (`tasklane cancel TASK`); its future scheduled
    runs stay."""
    deployment = await find_visible_task(ctx, task_id)
    async with ctx.audit(
        "tasklane.task.cancelled",
        f"tasklane.task.{deployment.name}",
        {"cancel": deployment.name},
        deployment.id,
    ) as record:
        runs = await cancel_runs(ctx.client, deployment.name, ctx.target)
        record["result"] = f"ok; {len(runs)} run(s)"
    return Cancelled(cancelled=[str(r.id) for r in runs])


@router.post("/tasks/{task_id}/clone", response_model=TaskSummary, status_code=201, responses=CREATED)
async def clone(body: CloneBody, task_id: str = Id, ctx: Ctx = ADMIN) -> TaskSummary:
    """Copy the task under a new id (`tasklane clone`): same type, parameters, schedules and queue;
    its dependency triggers are not copied. 409 if the id is taken (or in the trash)."""
    deployment = await find_visible_task(ctx, task_id)
    async with ctx.audit(
        "tasklane.task.cloned", f"tasklane.task.{body.name}", {"from": deployment.name}
    ) as record:
        record["deployment_id"] = await clone_task(ctx.client, deployment.name, body.name, ctx.target)
    return await task_summary(ctx, await ctx.client.read_deployment(record["deployment_id"]))


@router.get("/export", response_model=CatalogExport)
async def export(
    group: Annotated[str | None, Query(max_length=200, description="Only this group's tasks.")] = None,
    ctx: Ctx = VIEWER,
) -> CatalogExport:
    """The catalog document of the tasks (`tasklane export`, as JSON), those the token's groups cover."""
    document = await export_tasks(ctx.client, ctx.target, group)
    return CatalogExport(tasks=[t for t in document["tasks"] if ctx.caller.can_see(t.get("group"))])


@router.post("/batch/delete", response_model=BatchDeleted)
async def delete_many(body: BatchDelete, ctx: Ctx = ADMIN) -> BatchDeleted:
    """Delete the listed tasks (`tasklane delete A B ...`): each goes to the trash, one audit event
    each. An unknown id is a 404 and nothing is deleted."""
    deployments = [await find_visible_task(ctx, ident) for ident in dict.fromkeys(body.ids)]
    deleted: list[str] = []
    downstream: set[str] = set()
    for deployment in {d.id: d for d in deployments}.values():
        trashed = await delete_task(ctx, deployment)
        deleted += trashed.names
        downstream.update(trashed.affected)
    return BatchDeleted(deleted=deleted, downstream=sorted(downstream - set(deleted)))
