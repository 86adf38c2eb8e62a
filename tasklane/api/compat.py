"""The REST APIs of the schedulers Tasklane replaces, served as each documented them.

Each old system, and what of it lives here:

- **The Go/Gin scheduler** (Go, Gin and robfig/cron; its technical document is the first of the
  teams' documents): `/tasks` CRUD with `{total_count, data: [Task]}` lists,
  `/tasks/status/{status}`, `/tasks/tags/{tag}`, `/reports/{type}`, `/tasks/{id}/report`.
- **The gocron job registry** (a Go service on go-co-op/gocron): `/api/v1/scheduler/jobs`,
  `/start`, `/stop` (`scheduler_router`); start and stop resume and pause the work pool: while
  it is paused no new run starts (scheduled runs wait), and runs already started finish.
- **The FastAPI + APScheduler services** (Jira trees to Excel; Confluence result tables and
  Mattermost posts): `/task_history`, and `/tasks/status/{status}` in their status names.
- **The scheduler service requirements** (a full scheduler with a web console): its
  `/api/scheduler/...` paths are Tasklane's own API (`tasklane.api.routers`); only its
  lower-case status names (`SCHEDULER_STATUS` in `tasklane.history.statuses`) differ.

Status names: the old systems share seven statuses (PENDING, RUNNING, DONE, FAILED, RETRY,
TIMEOUT, CANCELLED; `tasklane.history.statuses` maps Prefect's states onto them). `parse_status`
reads any of them case-insensitively, plus success/failed/cancelled and Prefect's state names.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request

from tasklane.api.core import (
    ADMIN,
    ERRORS,
    OPERATOR,
    VIEWER,
    ApiError,
    Ctx,
    Detach,
    FieldError,
    IsoDateTime,
    PageNumber,
    PageSize,
)
from tasklane.api.schemas import (
    Health,
    HistoryEntry,
    HistoryList,
    Job,
    JobList,
    Message,
    Report,
    SchedulerResponse,
    SchedulerState,
    Task,
    TaskIn,
    TaskList,
    TaskReport,
)
from tasklane.api.views import (
    create_task,
    delete_task,
    deleted_message,
    duration,
    has_status,
    mapping_from_task_in,
    read_task,
    rows,
    to_task,
    update_task,
    visible_deployments,
)
from tasklane.history.results import run_results
from tasklane.history.runs import page_runs
from tasklane.history.statuses import (
    STATUS_BY_STATE_NAME,
    STATUSES,
    project_runs,
    run_stats,
    states_of,
    status_of_state,
)
from tasklane.tasks.lookup import recent_runs, run_task
from tasklane.tasks.save import find_task_by_id, task_mapping
from tasklane.tasks.scheduler import set_pool_paused

router = APIRouter(responses=ERRORS)
REPORT_TYPES = ("markdown", "mattermost", "confluence", "json")
ReportType = Literal["markdown", "mattermost", "confluence", "json"]

STATUS_ALIASES = {
    **{s: s for s in STATUSES},
    "SUCCESS": "DONE",
    "COMPLETED": "DONE",
    "ERROR": "FAILED",
    "CANCELED": "CANCELLED",
    "TIMEDOUT": "TIMEOUT",
    **{name.upper(): status for name, status in STATUS_BY_STATE_NAME.items()},
}


# The status words `parse_status` reads, as the OpenAPI document lists them (it also takes other
# spellings of the same words: any case, `_` between words).
STATUS_WORDS = sorted({*STATUS_ALIASES, *(word.lower() for word in STATUS_ALIASES)})


def parse_status(text: str, field: str = "status") -> str:
    status = STATUS_ALIASES.get(text.strip().upper().replace("_", ""), None) or STATUS_ALIASES.get(
        text.strip().upper()
    )
    if status is None:
        raise ApiError(
            422,
            "1 problem in the request",
            [FieldError(field=field, message=f"unknown status {text!r} (known: {', '.join(STATUSES)})")],
        )
    return status


@router.get("/health", response_model=Health, tags=["health"])
async def health(request: Request) -> Health:
    """Liveness of the API (no token needed); `prefect` says whether the Prefect server answers."""
    from prefect.client.orchestration import get_client

    prefect = "ok"
    try:
        async with get_client() as client:
            if await client.api_healthcheck() is not None:
                prefect = "unreachable"
    except Exception:
        prefect = "unreachable"
    return Health(status="ok", timestamp=datetime.now(UTC), prefect=prefect)


async def _tasks(ctx: Ctx) -> list[Task]:
    deployments = await visible_deployments(ctx)
    found = await rows(ctx, deployments)
    return [to_task(d, r) for d, r in zip(deployments, found, strict=True)]


@router.get("/tasks", response_model=TaskList, tags=["compat: Go/Gin"])
async def list_tasks(ctx: Ctx = VIEWER) -> TaskList:
    """Every task of the project (that the token's groups cover)."""
    tasks = await _tasks(ctx)
    return TaskList(total_count=len(tasks), data=tasks)


@router.get("/tasks/status/{status}", response_model=TaskList, tags=["compat: Go/Gin", "compat: FastAPI"])
async def tasks_by_status(
    status: Annotated[str, Path(max_length=40, json_schema_extra={"enum": STATUS_WORDS})], ctx: Ctx = VIEWER
) -> TaskList:
    """Tasks whose last outcome is `status` (a task none of whose runs has ended is PENDING), or
    whose run in flight is (`metadata.running.status`: PENDING, RUNNING)."""
    wanted = parse_status(status)
    tasks = [t for t in await _tasks(ctx) if has_status(t, wanted)]
    return TaskList(total_count=len(tasks), data=tasks)


@router.get("/tasks/tags/{tag}", response_model=TaskList, tags=["compat: Go/Gin"])
async def tasks_by_tag(tag: Annotated[str, Path(max_length=200)], ctx: Ctx = VIEWER) -> TaskList:
    """Tasks carrying `tag` (a catalog tag, or one Tasklane sets such as `group:ops`)."""
    deployments = [d for d in await visible_deployments(ctx) if tag in d.tags]
    found = await rows(ctx, deployments)
    tasks = [to_task(d, r) for d, r in zip(deployments, found, strict=True)]
    return TaskList(total_count=len(tasks), data=tasks)


async def _find(ctx: Ctx, ident: str):
    return ctx.check_group(await find_task_by_id(ctx.client, ident, ctx.target))


async def _task_with_result(ctx: Ctx, deployment) -> Task:
    (row,) = await rows(ctx, [deployment])
    last = row.last_run_id  # the last outcome's run
    result = (await run_results(ctx.client, [last])).get(last) if last else None
    return to_task(deployment, row, result)


@router.get("/tasks/{id}", response_model=Task, tags=["compat: Go/Gin"])
async def get_task(id: Annotated[str, Path(max_length=200)], ctx: Ctx = VIEWER) -> Task:
    """One task, with its latest run's result."""
    return await _task_with_result(ctx, await read_task(ctx, id))


@router.post("/tasks", response_model=Task, status_code=201, tags=["compat: Go/Gin"])
async def create(body: TaskIn, ctx: Ctx = ADMIN) -> Task:
    """Create a task (a deployment). IMMEDIATE tasks are also run once now."""
    mapping = mapping_from_task_in(body)
    name = str(mapping.get("name") or "")
    async with ctx.audit("tasklane.task.created", f"tasklane.task.{name}", {"task": mapping}) as record:
        task, deployment = await create_task(ctx, mapping, record)
        if body.task_type == "IMMEDIATE":
            flow_run = await run_task(ctx.client, task.name, target=ctx.target)
            record["result"] = f"ok; run {flow_run.id}"
    return await _task_with_result(ctx, deployment)


@router.put("/tasks/{id}", response_model=Task, tags=["compat: Go/Gin"])
async def update(
    body: TaskIn, id: Annotated[str, Path(max_length=200)], detach: Detach = False, ctx: Ctx = ADMIN
) -> Task:
    """Change a task; fields left out keep their values (409 for a task a catalog file defines,
    unless `detach=true` takes it over)."""
    deployment = await _find(ctx, id)
    change = body.model_dump(mode="json", exclude_unset=True)
    async with ctx.audit(
        "tasklane.task.updated", f"tasklane.task.{deployment.name}", change, deployment.id
    ) as record:
        mapping = mapping_from_task_in(body, task_mapping(deployment))
        schedule_given = "cron_expr" in change or body.task_type == "IMMEDIATE"
        _, deployment = await update_task(ctx, deployment, mapping, schedule_given, detach)
        record["deployment_id"] = deployment.id
    return await _task_with_result(ctx, deployment)


@router.delete("/tasks/{id}", response_model=Message, tags=["compat: Go/Gin"])
async def delete(id: Annotated[str, Path(max_length=200)], ctx: Ctx = ADMIN) -> Message:
    """Delete a task (it goes to Tasklane's trash, restorable); the message names the tasks that
    depend on it, if any."""
    deployment = await _find(ctx, id)
    return Message(message=deleted_message(await delete_task(ctx, deployment)))


# --- reports --------------------------------------------------------------------------------------


def _table(kind: str, title: str, header: list[str], lines: list[list[Any]], extra: dict[str, Any]) -> str:
    cells = [[("" if c is None else str(c)) for c in line] for line in lines]
    if kind == "json":
        return json.dumps(
            {"title": title, **extra, "rows": [dict(zip(header, c, strict=True)) for c in cells]},
            ensure_ascii=False,
        )
    if kind == "confluence":
        from html import escape

        head = "".join(f"<th>{escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in line) + "</tr>" for line in cells)
        facts = "".join(f"<li>{escape(k)}: {escape(str(v))}</li>" for k, v in extra.items())
        return f"<h2>{escape(title)}</h2><ul>{facts}</ul><table><tbody><tr>{head}</tr>{body}</tbody></table>"
    out = [f"### {title}", ""]
    out += [f"- {k}: {v}" for k, v in extra.items()]
    out += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
    return "\n".join(out)


def _report_type(kind: str) -> str:
    if kind not in REPORT_TYPES:
        raise ApiError(
            422,
            "1 problem in the request",
            [
                FieldError(
                    field="type", message=f"unknown report type {kind!r} (known: {', '.join(REPORT_TYPES)})"
                )
            ],
        )
    return kind


@router.get("/reports/{type}", response_model=Report, tags=["compat: Go/Gin"])
async def report(type: Annotated[ReportType, Path()], ctx: Ctx = VIEWER) -> Report:
    """Every task's latest state and the runs' totals, as markdown, mattermost, confluence or json."""
    kind = _report_type(type)
    deployments = await visible_deployments(ctx)
    tasks = await _tasks(ctx)
    ids = [d.id for d in deployments]
    stats = await ctx.state.cache.get(
        ("stats", tuple(ids), None, None), lambda: run_stats(ctx.client, ctx.target, ids)
    )
    lines = [
        [
            t.id,
            t.metadata.get("group"),
            t.status,
            (t.execution_result or {}).get("at"),
            t.metadata.get("next_run"),
        ]
        for t in tasks
    ]
    extra = {
        "tasks": len(tasks),
        "executions": stats.total,
        "success_rate": f"{stats.success_rate}%",
    }
    data = _table(
        kind, "Tasklane task report", ["task", "group", "status", "last run", "next run"], lines, extra
    )
    return Report(report_type=kind, generated_at=datetime.now(UTC), data=data)


@router.post("/tasks/{id}/report", response_model=TaskReport, tags=["compat: Go/Gin"])
async def task_report(
    id: Annotated[str, Path(max_length=200)],
    type: Annotated[ReportType, Query()] = "markdown",
    ctx: Ctx = OPERATOR,
) -> TaskReport:
    """A report of one task's recent runs and totals."""
    kind = _report_type(type)
    deployment = await _find(ctx, id)
    async with ctx.audit(
        "tasklane.report.generated", f"tasklane.task.{deployment.name}", {"report_type": kind}, deployment.id
    ):
        runs = await recent_runs(ctx.client, deployment.id, limit=20)
        stats = await run_stats(ctx.client, ctx.target, [deployment.id])
        lines = [
            [r.name, status_of_state(r.state_name, r.state_type), r.start_time, r.end_time, duration(r)]
            for r in runs
        ]
        extra = {
            "executions": stats.total,
            "success": stats.success,
            "failed": stats.failed,
            "success_rate": f"{stats.success_rate}%",
            "avg_duration": stats.avg_duration,
        }
        data = _table(
            kind,
            f"Task {deployment.name}",
            ["run", "status", "started", "finished", "duration"],
            lines,
            extra,
        )
    return TaskReport(task_id=deployment.name, report_type=kind, generated_at=datetime.now(UTC), data=data)


# --- the FastAPI services -------------------------------------------------------------------------


@router.get("/task_history", response_model=HistoryList, tags=["compat: FastAPI"])
async def task_history(
    status: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Only this status (DONE, FAILED, ...).",
            json_schema_extra={"enum": STATUS_WORDS},
        ),
    ] = None,
    task: Annotated[str | None, Query(max_length=200, description="Only this task.")] = None,
    since: Annotated[
        IsoDateTime | None, Query(description="Only executions expected to start at or after this time.")
    ] = None,
    until: Annotated[
        IsoDateTime | None,
        Query(description="... and before this time (at or before `since`: no execution)."),
    ] = None,
    page: PageNumber = 1,
    limit: PageSize = 50,
    ctx: Ctx = VIEWER,
) -> HistoryList:
    """Finished executions (DONE, FAILED, TIMEOUT, CANCELLED), newest first (`tasklane history
    --since/--until`); a time without a zone is UTC."""
    since, until = (t.replace(tzinfo=UTC) if t and t.tzinfo is None else t for t in (since, until))
    if since and until and until <= since:
        return HistoryList(total_count=0, data=[])  # an empty window (not an error: the schema allows it)
    deployments = await visible_deployments(ctx)
    if task is not None:
        deployments = [await _find(ctx, task)]
    by_id = {d.id: d.name for d in deployments}
    names = states_of(parse_status(status)) if status else None
    query = project_runs(
        ctx.target, list(by_id), state_names=names, finished=names is None, since=since, until=until
    )
    total, runs = await ctx.state.cache.get(
        ("history", query, page, limit),
        lambda: page_runs(ctx.client, query, offset=(page - 1) * limit, limit=limit),
    )
    data = [
        HistoryEntry(
            id=str(r.id),
            task_id=by_id.get(r.deployment_id),
            name=r.name,
            status=status_of_state(r.state_name, r.state_type),
            started_at=r.start_time,
            finished_at=r.end_time,
            duration=duration(r),
        )
        for r in runs
    ]
    return HistoryList(total_count=total, data=data)


# --- the gocron job registry: /api/v1/scheduler ---------------------------------------------------

scheduler_router = APIRouter(prefix="/api/v1/scheduler", tags=["compat: gocron"], responses=ERRORS)


@scheduler_router.get("/jobs", response_model=JobList)
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


@scheduler_router.post("/start", response_model=SchedulerResponse)
async def start(ctx: Ctx = ADMIN) -> SchedulerResponse:
    """Resume the work pool: scheduled runs start again."""
    return await _switch(ctx, paused=False)


@scheduler_router.post("/stop", response_model=SchedulerResponse)
async def stop(ctx: Ctx = ADMIN) -> SchedulerResponse:
    """Pause the work pool: no new run starts; running ones finish."""
    return await _switch(ctx, paused=True)
