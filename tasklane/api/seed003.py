"""Seed 003 (scheduler service requirements): /api/scheduler/... tasks, executions, stats, templates.

Plus batch enable/disable/delete by group, the friendly-schedule preview, and the audit trail.
An execution is a Prefect flow run; its id is the flow run's id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import ValidationError

from deployments.errors import CatalogError, DeploymentsError
from deployments.schedules import parse_spec_text
from deployments.schedules import preview as preview_spec
from tasklane.api.core import ADMIN, ERRORS, OPERATOR, VIEWER, ApiError, Ctx, FieldError
from tasklane.api.schemas import (
    AuditEvent,
    AuditList,
    BatchResult,
    Execution,
    ExecutionPage,
    FromTemplate,
    GlobalStats,
    LogLine,
    Logs,
    Message,
    Preview,
    PreviewRun,
    RunStarted,
    TaskBody,
    TaskPage,
    TaskStats,
    TaskSummary,
    TemplateList,
    TemplateRow,
)
from tasklane.api.seed000 import parse_status
from tasklane.api.views import (
    create_task,
    delete_task,
    mapping_from_body,
    named,
    read_task,
    rows,
    to_execution,
    to_summary,
    update_task,
    visible_deployments,
)
from tasklane.history.logs import read_run_logs
from tasklane.history.results import run_results
from tasklane.history.runs import page_runs
from tasklane.history.statuses import project_runs, run_stats, states_of
from tasklane.tasks.audit import read_audit
from tasklane.tasks.lookup import run_task, tag_value
from tasklane.tasks.manage import delete_tasks, set_enabled, tasks_by_name_or_group
from tasklane.tasks.save import find_task_by_id

router = APIRouter(prefix="/api/scheduler", tags=["seed 003"], responses=ERRORS)
Id = Path(..., max_length=200, description="The task's id (its name) or its deployment id.")


async def _find(ctx: Ctx, ident: str):
    return ctx.check_group(await find_task_by_id(ctx.client, ident, ctx.target))


async def _summary(ctx: Ctx, deployment) -> TaskSummary:
    (row,) = await rows(ctx, [deployment])
    return to_summary(deployment, row)


# --- tasks ---------------------------------------------------------------------------------------


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    group: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[Literal["active", "disabled"] | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
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
    """Create a task: a catalog task's fields (seed 003's body), compiled to a deployment."""
    mapping = mapping_from_body(body)
    name = str(mapping.get("name") or "")
    async with ctx.audit("tasklane.task.created", f"tasklane.task.{name}", {"task": mapping}) as record:
        _, deployment = await create_task(ctx, mapping)
        record["deployment_id"] = deployment.id
    return await _summary(ctx, deployment)


@router.get("/tasks/{task_id}", response_model=TaskSummary)
async def get_task(task_id: str = Id, ctx: Ctx = VIEWER) -> TaskSummary:
    return await _summary(ctx, await read_task(ctx, task_id))


@router.put("/tasks/{task_id}", response_model=TaskSummary)
async def update(body: TaskBody, task_id: str = Id, ctx: Ctx = ADMIN) -> TaskSummary:
    """Change a task: the fields given replace the current ones, the rest is kept."""
    from tasklane.tasks.save import task_mapping

    deployment = await _find(ctx, task_id)
    change = body.model_dump(mode="json", exclude_unset=True) | (body.model_extra or {})
    async with ctx.audit(
        "tasklane.task.updated", f"tasklane.task.{deployment.name}", change, deployment.id
    ) as record:
        mapping = mapping_from_body(body, task_mapping(deployment))
        _, deployment = await update_task(ctx, deployment, mapping, schedule_given="schedule" in change)
        record["deployment_id"] = deployment.id
    return await _summary(ctx, deployment)


@router.delete("/tasks/{task_id}", response_model=Message)
async def delete(task_id: str = Id, ctx: Ctx = ADMIN) -> Message:
    deployment = await _find(ctx, task_id)
    await delete_task(ctx, deployment)
    return Message(message="Task deleted successfully")


async def _enable(ctx: Ctx, task_id: str, enabled: bool) -> TaskSummary:
    deployment = await _find(ctx, task_id)
    event = "tasklane.task.enabled" if enabled else "tasklane.task.disabled"
    async with ctx.audit(
        event, f"tasklane.task.{deployment.name}", {"enabled": enabled}, deployment.id
    ) as record:
        changed = await set_enabled(ctx.client, [deployment], enabled)
        record["result"] = "ok" if changed else "ok; unchanged"
    return await _summary(ctx, await ctx.client.read_deployment(deployment.id))


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
    deployment = await _find(ctx, task_id)
    async with ctx.audit(
        "tasklane.task.run", f"tasklane.task.{deployment.name}", {"run": True}, deployment.id
    ) as rec:
        flow_run = await run_task(ctx.client, deployment.name, target=ctx.target)
        rec["result"] = f"ok; run {flow_run.id}"
    return RunStarted(execution_id=str(flow_run.id), status=to_execution(flow_run, deployment.name).status)


# --- executions ----------------------------------------------------------------------------------


@router.get("/tasks/{task_id}/executions", response_model=ExecutionPage)
async def executions(
    task_id: str = Id,
    status: Annotated[str | None, Query(max_length=40, description="success, failed, running, ...")] = None,
    start_date: Annotated[date | None, Query()] = None,
    end_date: Annotated[date | None, Query()] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    ctx: Ctx = VIEWER,
) -> ExecutionPage:
    """The task's runs, newest first, with their outputs."""
    deployment = await read_task(ctx, task_id)
    since, until = _window(start_date, end_date)
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


# --- stats ---------------------------------------------------------------------------------------


def _window(start_date: date | None, end_date: date | None) -> tuple[datetime | None, datetime | None]:
    since = datetime.combine(start_date, time(), UTC) if start_date else None
    until = datetime.combine(end_date, time(), UTC) + timedelta(days=1) if end_date else None
    if since and until and until <= since:
        raise ApiError(
            422, "1 problem in the request", [FieldError(field="end_date", message="is before start_date")]
        )
    return since, until


@router.get("/tasks/{task_id}/stats", response_model=TaskStats)
async def task_stats(
    task_id: str = Id,
    start_date: Annotated[date | None, Query()] = None,
    end_date: Annotated[date | None, Query(description="Inclusive.")] = None,
    ctx: Ctx = VIEWER,
) -> TaskStats:
    """Runs, successes, failures (timeouts included), success rate (%) and run times (s)."""
    deployment = await read_task(ctx, task_id)
    since, until = _window(start_date, end_date)
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
    start_date: Annotated[date | None, Query()] = None,
    end_date: Annotated[date | None, Query(description="Inclusive.")] = None,
    ctx: Ctx = VIEWER,
) -> GlobalStats:
    """Tasks, active tasks, runs by status (seed 003's names) and the success rate."""
    from tasklane.history.statuses import SEED003_STATUS

    deployments = await visible_deployments(ctx)
    since, until = _window(start_date, end_date)
    ids = [d.id for d in deployments]
    stats = await ctx.state.cache.get(
        ("stats", tuple(ids), since, until), lambda: run_stats(ctx.client, ctx.target, ids, since, until)
    )
    by_status: dict[str, int] = {}
    for status, count in stats.by_status.items():
        name = "timeout" if status == "TIMEOUT" else SEED003_STATUS[status]
        by_status[name] = by_status.get(name, 0) + count
    return GlobalStats(
        total_tasks=len(deployments),
        active_tasks=sum(1 for d in deployments if not d.paused),
        total_executions=stats.total,
        success_rate=stats.success_rate,
        by_status=by_status,
    )


# --- templates -----------------------------------------------------------------------------------


def _templates(ctx: Ctx):
    from deployments.templates import load_templates

    return load_templates(list(ctx.state.template_dirs))


@router.get("/templates", response_model=TemplateList)
async def templates(
    category: Annotated[str | None, Query(max_length=100)] = None, ctx: Ctx = VIEWER
) -> TemplateList:
    found = sorted(_templates(ctx).values(), key=lambda t: (t.category, t.name))
    return TemplateList(
        templates=[
            TemplateRow(**{k: v for k, v in t.summary().items() if k != "source"})
            for t in found
            if category is None or t.category == category
        ]
    )


@router.post("/tasks/from-template", response_model=TaskSummary, status_code=201)
async def from_template(body: FromTemplate, ctx: Ctx = ADMIN) -> TaskSummary:
    """Create a task from a template and parameter values."""
    from deployments.templates import render

    found = _templates(ctx)
    if body.template_id not in found:
        raise ApiError(404, f"no template {body.template_id!r}")
    change = body.model_dump(mode="json", exclude_unset=True)
    async with ctx.audit("tasklane.task.created", f"tasklane.task.{body.name}", change) as record:
        target_name = named({"name": body.name})
        mapping = render(
            found[body.template_id], target_name["name"], body.params, base_dir=ctx.state.base_dir
        )
        if "tags" in target_name:
            mapping["tags"] = [*(mapping.get("tags") or []), *target_name["tags"]]
        for key in ("group", "enabled"):
            if getattr(body, key) is not None:
                mapping[key] = getattr(body, key)
        _, deployment = await create_task(ctx, mapping)
        record["deployment_id"] = deployment.id
    return await _summary(ctx, deployment)


# --- groups (batch) ------------------------------------------------------------------------------


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
            changed = await delete_tasks(ctx.client, deployments)
        else:
            changed = await set_enabled(ctx.client, deployments, action == "enable")
        record["result"] = f"ok; {len(changed)} tasks: {', '.join(changed)}"[:500]
    return BatchResult(group=group, action=action, changed=changed)


@router.post("/groups/{group}/enable", response_model=BatchResult)
async def enable_group(group: Annotated[str, Path(max_length=200)], ctx: Ctx = OPERATOR) -> BatchResult:
    return await _batch(ctx, group, "enable")


@router.post("/groups/{group}/disable", response_model=BatchResult)
async def disable_group(group: Annotated[str, Path(max_length=200)], ctx: Ctx = OPERATOR) -> BatchResult:
    return await _batch(ctx, group, "disable")


@router.delete("/groups/{group}", response_model=BatchResult)
async def delete_group(group: Annotated[str, Path(max_length=200)], ctx: Ctx = ADMIN) -> BatchResult:
    return await _batch(ctx, group, "delete")


# --- schedule preview ----------------------------------------------------------------------------


@router.get("/schedules/preview", response_model=Preview)
async def schedule_preview(
    spec: Annotated[
        str,
        Query(
            max_length=2000,
            description='A schedule spec: "30s", "02:00", a cron, or YAML/JSON like '
            '{daily: ["02:30"], timezone: Europe/Berlin} or {type: daily, time: "02:00"}.',
        ),
    ],
    n: Annotated[int, Query(ge=1, le=200)] = 10,
    after: Annotated[datetime | None, Query(alias="from", description="Start from (default now).")] = None,
    ctx: Ctx = VIEWER,
) -> Preview:
    """The next `n` runs of a friendly schedule spec, exactly as the Prefect server would create them."""
    default_timezone = ctx.target.timezone
    try:
        parsed = parse_spec_text(spec)
        runs = preview_spec(parsed, n, after=after or datetime.now(UTC), default_timezone=default_timezone)
    except ValidationError as exc:
        errors = [
            FieldError(
                field="spec" + "".join(f".{p}" for p in detail["loc"]),
                message=detail["msg"].removeprefix("Value error, "),
            )
            for detail in exc.errors()
        ]
        raise ApiError(
            422, f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the request", errors
        ) from None
    except (ValueError, OverflowError, CatalogError) as exc:
        raise ApiError(
            422, "1 problem in the request", [FieldError(field="spec", message=str(exc))]
        ) from None
    return Preview(
        spec=parsed.model_dump(mode="json", exclude_none=True),
        timezone=parsed.zone(default_timezone),
        runs=[PreviewRun(local=t, utc=t.astimezone(UTC)) for t in runs],
    )


# --- audit ---------------------------------------------------------------------------------------


@router.get("/audit", response_model=AuditList)
async def audit(
    task: Annotated[str | None, Query(max_length=200, description="Only this task's events.")] = None,
    since: Annotated[datetime | None, Query(description="Default: 7 days ago.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ctx: Ctx = OPERATOR,
) -> AuditList:
    """Who changed what, and how it went: the `tasklane.*` events, also in the Prefect UI's event feed."""
    prefix = f"tasklane.task.{task}" if task else "tasklane."
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows_ = await read_audit(ctx.client, ctx.target.project, since=since, resource_prefix=prefix, limit=limit)
    if task:
        rows_ = [r for r in rows_ if r["resource"] == prefix]
    events = [AuditEvent(**r) for r in rows_]
    return AuditList(total=len(events), events=events)
