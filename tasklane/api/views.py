"""Request bodies to catalog tasks, and deployments and flow runs to response bodies."""

from __future__ import annotations

import json
from typing import Any

from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import DeploymentResponse

from deployments.apply import read_task_deployments
from deployments.catalog import TASK_NAME, TaskSpec
from deployments.schedules import parse_schedules
from deployments.trash import is_trashed, name_in_trash
from tasklane.api.core import ApiError, Ctx
from tasklane.api.schemas import Execution, RetryPolicyBody, Task, TaskBody, TaskIn, TaskSummary
from tasklane.history.statuses import SCHEDULER_STATUS, status_of_state
from tasklane.tasks.lookup import TaskRow, describe_schedules, tag_value, task_rows, written_schedules
from tasklane.tasks.manage import RESERVED_TAG_PREFIXES
from tasklane.tasks.save import TITLE_TAG_PREFIX, find_task_by_id, save_task, slug, task_mapping, title_of
from tasklane.tasks.trash import Trashed, trash_tasks

# --- reading --------------------------------------------------------------------------------------


async def visible_deployments(ctx: Ctx) -> list[DeploymentResponse]:
    """The project's task deployments the caller may see, by name (one query, briefly cached);
    tasks in the trash are not among them."""

    async def load() -> list[DeploymentResponse]:
        found = await read_task_deployments(ctx.client, ctx.target)
        return [found[name] for name in sorted(found)]

    every = await ctx.state.cache.get(("deployments",), load)
    return [d for d in every if ctx.caller.can_see(tag_value(d.tags, "group"))]


async def read_task(ctx: Ctx, ident: str) -> DeploymentResponse:
    """The task (by name or deployment id) for a read: from the briefly cached deployments, else
    from the server (a task made outside the API a moment ago; or a 404 naming it).

    Writes look their task up on the server (`find_task_by_id`), never here.
    """
    for deployment in await visible_deployments(ctx):
        if ident in (deployment.name, str(deployment.id)):
            return deployment
    return ctx.check_group(await find_task_by_id(ctx.client, ident, ctx.target))


async def rows(ctx: Ctx, deployments: list[DeploymentResponse]) -> list[TaskRow]:
    """`tasks.lookup.task_rows` of the deployments (next run, last state), briefly cached."""

    async def load() -> list[TaskRow]:
        return await task_rows(ctx.client, deployments, ctx.target.timezone)

    key = ("rows", tuple((d.id, d.updated) for d in deployments))
    return await ctx.state.cache.get(key, load)


def user_tags(deployment: DeploymentResponse) -> list[str]:
    return [
        t
        for t in deployment.tags
        if t != "tasklane" and not t.startswith((*RESERVED_TAG_PREFIXES, TITLE_TAG_PREFIX))
    ]


def cron_expr(deployment: DeploymentResponse) -> str | None:
    for item in deployment.schedules or []:
        cron = getattr(item.schedule, "cron", None)
        if cron:
            return cron
    text = describe_schedules(deployment)
    return None if text == "-" else text


def task_status(row: TaskRow) -> str:
    """The old systems' status of a task: its last outcome's (DONE, FAILED, TIMEOUT, CANCELLED);
    for a task none of whose runs has ended yet, its run in flight's (PENDING, RUNNING), else
    PENDING. A run in flight never hides the last outcome: it is `running_status`."""
    return status_of_state(row.last_state if row.last_state is not None else row.running_state)


def running_status(row: TaskRow) -> str | None:
    """The status of the task's run in flight (PENDING, RUNNING, CANCELLED for Cancelling); None: none."""
    return status_of_state(row.running_state) if row.running_state is not None else None


def has_status(task: Task, status: str) -> bool:
    """Whether a task (as `to_task` made it) is in `status`: its `status`, or its run in flight's
    (`metadata.running.status`): `GET /tasks/status/{status}` lists what the tasks show."""
    running = task.metadata.get("running") or {}
    return status in (task.status, running.get("status"))


def to_task(deployment: DeploymentResponse, row: TaskRow, result: Any = None) -> Task:
    """The Go/Gin scheduler's Task of a deployment: `status` is its last outcome's (`task_status`),
    `execution_result` that run's state, end time and `result`; a run in flight is
    `metadata.running` ({state, status, since}). Times are in the zone of the task's schedule."""
    policy = deployment.parameters.get("policy", {})
    delays = policy.get("retry_delays") or []
    retry = None
    if policy.get("retries"):
        factor = round(delays[1] / delays[0], 6) if len(delays) > 1 and delays[0] else 2.0
        retry = RetryPolicyBody(
            max_retries=policy["retries"], retry_delay=delays[0] if delays else 0, backoff_factor=factor
        )
    job = dict(deployment.parameters.get("job", {}))
    upstream = [t.removeprefix("upstream:") for t in deployment.tags if t.startswith("upstream:")]
    execution = None
    if row.last_state is not None:
        execution = {"state": row.last_state, "at": row.last_run.isoformat() if row.last_run else None}
        if result is not None:
            execution["result"] = result
    running = None
    if row.running_state is not None:
        since = row.running_since.isoformat() if row.running_since else None
        running = {"state": row.running_state, "status": running_status(row), "since": since}
    return Task(
        id=deployment.name,
        name=title_of(deployment),
        task_type="SCHEDULED" if deployment.schedules else "IMMEDIATE",
        type=row.type,
        cron_expr=cron_expr(deployment),
        status=task_status(row),
        created_at=deployment.created,
        updated_at=deployment.updated,
        priority=row.priority or "MEDIUM",
        metadata={
            "group": row.group,
            "description": deployment.description or "",
            "enabled": row.enabled,
            "schedule": row.schedule,
            "timezone": row.timezone,
            "next_run": row.next_run.isoformat() if row.next_run else None,
            "running": running,
            "deployment_id": str(deployment.id),
        },
        tags=user_tags(deployment),
        owner=tag_value(deployment.tags, "owner"),
        dependencies=upstream,
        timeout_seconds=policy.get("timeout_seconds"),
        retry_policy=retry,
        parameters=job,
        execution_result=execution,
    )


def to_summary(deployment: DeploymentResponse, row: TaskRow) -> TaskSummary:
    """the scheduler requirements' task row: `last_run` / `last_status` are the last outcome (its
    end time), `running_status` / `running_since` the run in flight."""
    running = running_status(row)
    return TaskSummary(
        id=deployment.name,
        name=title_of(deployment),
        group=row.group,
        status="active" if row.enabled else "disabled",
        schedule=row.schedule,
        timezone=row.timezone,
        next_run=row.next_run,
        last_run=row.last_run,
        last_status=SCHEDULER_STATUS[status_of_state(row.last_state)] if row.last_state else None,
        running_status=SCHEDULER_STATUS[running] if running else None,
        running_since=row.running_since,
        type=row.type,
        description=deployment.description or "",
        priority=row.priority,
    )


def duration(run: FlowRun) -> float | None:
    if run.start_time and run.end_time:
        return round((run.end_time - run.start_time).total_seconds(), 3)
    if run.total_run_time:
        return round(run.total_run_time.total_seconds(), 3)
    return None


def to_execution(
    run: FlowRun, task_id: str | None, result: Any = None, *, scheduler_names: bool = True
) -> Execution:
    state = run.state
    status = status_of_state(state.name if state else None, state.type if state else None)
    output = None
    exit_code = None
    if isinstance(result, dict):
        exit_code = result.get("exit_code") if isinstance(result.get("exit_code"), int) else None
        tail = result.get("output_tail")
        if isinstance(tail, list):
            output = "\n".join(map(str, tail))
        elif isinstance(tail, str):
            output = tail
        else:
            output = json.dumps(result, default=str, ensure_ascii=False)
    elif result is not None:
        output = result if isinstance(result, str) else json.dumps(result, default=str, ensure_ascii=False)
    error = None
    if state is not None and status in ("FAILED", "TIMEOUT", "CANCELLED"):
        error = state.message or state.name
    return Execution(
        id=str(run.id),
        task_id=task_id,
        status=SCHEDULER_STATUS[status] if scheduler_names else status,
        started_at=run.start_time,
        finished_at=run.end_time,
        duration=duration(run),
        output=output,
        error=error,
        exit_code=exit_code,
    )


# --- writing --------------------------------------------------------------------------------------


def named(mapping: dict[str, Any]) -> dict[str, Any]:
    """A display name that is not an id ("Daily Backup") becomes a slug id and a `title:` tag."""
    name = mapping.get("name")
    if isinstance(name, str) and name.strip() and not TASK_NAME.match(name):
        ident = slug(name)
        if ident and TASK_NAME.match(ident):
            tags = [t for t in mapping.get("tags") or [] if not str(t).startswith(TITLE_TAG_PREFIX)]
            mapping = {**mapping, "name": ident, "tags": [*tags, f"{TITLE_TAG_PREFIX}{name.strip()}"]}
    return mapping


def mapping_from_body(body: TaskBody, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """A task body (a catalog task) merged over `base` (PUT: the task as the server holds it)."""
    given = body.model_dump(exclude_unset=True)
    given.update(body.model_extra or {})
    mapping = dict(base or {})
    if base is not None:
        given.pop("name", None)  # the id is in the path; a task is renamed by clone + delete
    if "type" in given and base is not None and given["type"] != base.get("type"):
        # Another type: the old type's parameters do not apply.
        mapping = {k: v for k, v in mapping.items() if k in _COMMON}
    mapping.update(given)
    return named(mapping) if base is None else mapping


def mapping_from_task_in(body: TaskIn, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Go/Gin scheduler's Task body as a catalog task, merged over `base` (PUT)."""
    given = body.model_dump(exclude_unset=True)
    mapping = dict(base or {})
    parameters = dict(given.get("parameters") or {})
    job_type = given.get("type") or parameters.pop("type", None)
    parameters.pop("type", None)
    if job_type is not None:
        if base is not None and job_type != base.get("type"):
            mapping = {k: v for k, v in mapping.items() if k in _COMMON}
        mapping["type"] = job_type
    if base is None and "name" in given:
        mapping["name"] = given["name"]
    metadata = dict(given.get("metadata") or {})
    for key in ("group", "description", "enabled", "max_concurrent", "missed"):
        if key in metadata:
            mapping[key] = metadata[key]
    if "cron_expr" in given:
        if given["cron_expr"]:
            mapping["schedule"] = {"cron": given["cron_expr"]}
        else:
            mapping.pop("schedule", None)
    elif body.task_type == "IMMEDIATE":
        mapping.pop("schedule", None)
    for source, target in (
        ("priority", "priority"),
        ("tags", "tags"),
        ("owner", "owner"),
        ("dependencies", "depends_on"),
        ("timeout_seconds", "timeout_seconds"),
    ):
        if source in given:
            if given[source] is None:
                mapping.pop(target, None)
            else:
                mapping[target] = given[source]
    if given.get("retry_policy") is not None:
        mapping["retry"] = given["retry_policy"]
    mapping.update(parameters)
    return named(mapping) if base is None else mapping


_COMMON = {
    "name",
    "description",
    "group",
    "tags",
    "owner",
    "priority",
    "schedule",
    "timeout_seconds",
    "retry",
    "enabled",
    "depends_on",
    "max_concurrent",
    "missed",
}


async def create_task(
    ctx: Ctx, mapping: dict[str, Any], record: dict[str, Any] | None = None
) -> tuple[TaskSpec, DeploymentResponse]:
    """Validate and deploy a new task, audited as `tasklane.task.created`; 409 if its name is taken.

    `record`: the audit record of a caller that audits more than the creation (its own `ctx.audit`).
    """
    if record is None:
        name = str(mapping.get("name") or "")
        async with ctx.audit("tasklane.task.created", f"tasklane.task.{name}", {"task": mapping}) as own:
            return await create_task(ctx, mapping, own)
    task = ctx.parse(mapping)
    ctx.check_may_write(task)
    existing = (await read_task_deployments(ctx.client, ctx.target, include_trashed=True)).get(task.name)
    if existing is not None and is_trashed(existing.tags):
        raise ApiError(409, name_in_trash(task.name))
    if existing is not None:
        raise ApiError(409, f"a task named {task.name!r} already exists; PUT changes it")
    deployment_id = await save_task(ctx.client, task, ctx.target)
    record["deployment_id"] = deployment_id
    return task, await ctx.client.read_deployment(deployment_id)


def _compiles(schedule: Any) -> bool:
    try:
        parse_schedules(schedule)
    except ValueError:  # pydantic's ValidationError too
        return False
    return True


async def update_task(
    ctx: Ctx,
    deployment: DeploymentResponse,
    mapping: dict[str, Any],
    schedule_given: bool,
    detach: bool = False,
) -> tuple[TaskSpec, DeploymentResponse]:
    """Validate and re-deploy a changed task (its schedules kept when the request leaves them out).

    A task a catalog file defines answers 409 naming the file, unless `detach` takes it over.
    """
    before = task_mapping(deployment)
    # The specs of the task's kept definition compile again (and stay in it, so lists and export
    # still read them as written); schedules read back from a deployment without one (an rrule,
    # an interval's anchor lost) or a `once` now past do not: the compiled ones are kept as they are.
    written = written_schedules(deployment)
    keep = not schedule_given and "schedule" in before and not (written and _compiles(before["schedule"]))
    if keep:
        mapping = {k: v for k, v in mapping.items() if k != "schedule"}
    task = ctx.parse(mapping)
    previous = ctx.parse({k: v for k, v in before.items() if k != "schedule"})
    job_changed = task.type != previous.type or task.job != previous.job
    ctx.check_may_write(task, job_changed=job_changed)
    deployment_id = await save_task(
        ctx.client, task, ctx.target, existing=deployment, keep_schedules=keep, detach=detach
    )
    return task, await ctx.client.read_deployment(deployment_id)


async def delete_task(ctx: Ctx, deployment: DeploymentResponse) -> Trashed:
    """Delete a task: it goes to the trash (restorable for `trash.retention_days`, its deployment,
    runs and history kept), on the audit trail. Returns it with the tasks that depend on it."""
    async with ctx.audit(
        "tasklane.task.deleted",
        f"tasklane.task.{deployment.name}",
        {"delete": deployment.name, "trash": True},
        deployment.id,
    ) as record:
        trashed = await trash_tasks(ctx.client, [deployment], ctx.target)
        record["result"] = trashed_result(trashed)
    return trashed


def trashed_result(trashed: Trashed) -> str:
    """The audit result of a delete: the tasks moved to the trash and those depending on them."""
    text = f"ok; in the trash: {', '.join(trashed.names) or '-'}"
    if trashed.affected:
        text += f"; depended on by {', '.join(trashed.affected)}"
    return text[:500]


def deleted_message(trashed: Trashed, base: str = "Task deleted successfully") -> str:
    """The old systems' delete answer, naming the tasks that depend on the deleted one (if any)."""
    if not trashed.affected:
        return base
    return f"{base} (moved to the trash; tasks depending on it: {', '.join(trashed.affected)})"
