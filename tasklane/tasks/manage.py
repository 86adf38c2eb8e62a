"""Managing the tasks a server holds: enable, disable, delete, clone, export, cancel, explain.

These are the operations of `tasklane enable|disable|delete|clone|export|cancel|explain`,
and the REST API calls the same functions. `tasklane delete` moves tasks to the trash
(`tasklane.tasks.trash`); `delete_tasks` here is the final delete the trash's purge does.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate, DeploymentUpdate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.states import Cancelling

from deployments.apply import Target, create_deployment
from deployments.automations.sync import delete_owned_automations
from deployments.errors import DeploymentsError, TrashedTaskError, UnknownTaskError
from deployments.ownership import API_HOME, home_of, home_tag
from deployments.tags import (
    DEFINITION_LABEL,
    ENABLED_IN_HOME_LABEL,
    HOME_TAG_PREFIX,
    NOTIFY_LABEL,
    NOTIFY_OFF,
    PROJECT_TAG_PREFIX,
    TRASHED_PAUSED_TAG,
    TRASHED_TAG_PREFIX,
    UPSTREAM_TAG_PREFIX,
)
from deployments.trash import is_trashed, name_in_trash
from tasklane.history.runs import UnknownRunError, find_run
from tasklane.settings.reports import TASKLANE_TAG
from tasklane.tasks.lookup import find_task, tag_value

ACTIVE_STATES = [StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]
WAITING_STATES = [StateType.SCHEDULED, StateType.PENDING]
SLOT_HOLDING_STATES = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]
WORKER_SILENT_AFTER = timedelta(seconds=90)
RESERVED_TAG_PREFIXES = (
    "type:",
    "group:",
    "owner:",
    "priority:",
    UPSTREAM_TAG_PREFIX,
    PROJECT_TAG_PREFIX,
    HOME_TAG_PREFIX,
    TRASHED_TAG_PREFIX,
    TRASHED_PAUSED_TAG,
)


async def tasks_by_name_or_group(
    client: PrefectClient, target: Target, name: str | None = None, group: str | None = None
) -> list[DeploymentResponse]:
    """The deployments of one task, or of every task in a group (exactly one of the two); tasks in
    the trash are not among them."""
    if (name is None) == (group is None):
        raise DeploymentsError("name a task or a --group, not both and not neither")
    if name is not None:
        return [await find_task(client, name, target)]
    found = await client.read_deployments(
        deployment_filter=DeploymentFilter(
            tags=DeploymentFilterTags(all_=[TASKLANE_TAG, target.project_tag, f"group:{group}"])
        )
    )
    found = [d for d in found if not is_trashed(d.tags)]
    if not found:
        raise DeploymentsError(f"no tasks in group {group!r} of project {target.project!r}")
    return found


async def set_enabled(
    client: PrefectClient, deployments: list[DeploymentResponse], enabled: bool
) -> list[str]:
    """Resume or pause each deployment; its schedules are kept, only paused. Returns the changed names."""
    changed = []
    for deployment in deployments:
        if bool(deployment.paused) == (not enabled):
            continue
        if enabled:
            await client.resume_deployment(deployment.id)
        else:
            await client.pause_deployment(deployment.id)
        changed.append(deployment.name)
    return changed


async def delete_tasks(client: PrefectClient, deployments: list[DeploymentResponse]) -> list[str]:
    """Delete deployments for good, with the automations they own (dependency triggers, crash
    retries, alerts); their runs stay on the server. The trash's purge: deleting a task moves it
    to the trash (`tasklane.tasks.trash.trash_tasks`)."""
    for deployment in deployments:
        await delete_owned_automations(client, deployment.id)
        await client.delete_deployment(deployment.id)
    return [d.name for d in deployments]


async def clone_task(client: PrefectClient, name: str, new_name: str, target: Target | None = None) -> UUID:
    """A new task with the same type, parameters, schedules and tags under another name.

    The clone's schedules get new slugs; its dependency triggers are not copied (a clone
    usually means "like this, but run it by hand first").
    """
    source = await find_task(client, name, target)
    try:
        await find_task(client, new_name)
    except TrashedTaskError:
        raise DeploymentsError(name_in_trash(new_name)) from None
    except UnknownTaskError:
        pass
    else:
        raise DeploymentsError(f"a task named {new_name!r} already exists")
    schedules = [
        DeploymentScheduleCreate(
            schedule=s.schedule, active=s.active, slug=f"{s.slug or 'schedule'}-{uuid.uuid4().hex[:6]}"
        )
        for s in source.schedules
    ]
    # Labels carry the definition (under the new name, without its dependencies) and the notify spec
    # as written; the server adds its own. A clone is made through the CLI or the API: the API owns it.
    labels = {k: v for k, v in (source.labels or {}).items() if k in (NOTIFY_LABEL, ENABLED_IN_HOME_LABEL)}
    definition = deployment_to_task(source, operational=False)
    definition["name"] = new_name
    definition.pop("depends_on", None)
    labels[DEFINITION_LABEL] = json.dumps(definition, sort_keys=True, separators=(",", ":"))
    tags = [t for t in source.tags if not t.startswith((UPSTREAM_TAG_PREFIX, HOME_TAG_PREFIX))]
    return await create_deployment(
        client,
        labels=labels,
        flow_id=source.flow_id,
        name=new_name,
        version=source.version,
        entrypoint=source.entrypoint,
        description=source.description,
        tags=[*tags, home_tag(API_HOME)],
        parameters=source.parameters,
        parameter_openapi_schema=source.parameter_openapi_schema,
        enforce_parameter_schema=source.enforce_parameter_schema,
        work_pool_name=source.work_pool_name,
        work_queue_name=source.work_queue_name,
        schedules=schedules,
        paused=source.paused,
        concurrency_limit=source.global_concurrency_limit.limit if source.global_concurrency_limit else None,
        concurrency_options=source.concurrency_options,
    )


def _duration_text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def schedule_to_spec(item: Any) -> dict[str, Any]:
    """A Prefect schedule as a catalog schedule mapping."""
    schedule = item.schedule
    spec: dict[str, Any]
    if getattr(schedule, "cron", None):
        spec = {"cron": schedule.cron}
    elif getattr(schedule, "interval", None) is not None:
        spec = {"every": _duration_text(schedule.interval)}
    else:
        spec = {"rrule": schedule.rrule}
    if getattr(schedule, "timezone", None):
        spec["timezone"] = schedule.timezone
    return spec


def deployment_to_task(deployment: DeploymentResponse, *, operational: bool = True) -> dict[str, Any]:
    """What the server holds for a task, as a catalog task mapping.

    The definition its home wrote (kept on the deployment by apply and the API), as it was written:
    the schedule specs themselves, not their compiled form. `operational`: `enabled` says whether
    the task runs now (an operator's pause included); otherwise it is the definition's own value.
    A deployment made before definitions were kept is read back from its fields.
    """
    definition = (deployment.labels or {}).get(DEFINITION_LABEL)
    if definition is not None:
        try:
            mapping: dict[str, Any] = json.loads(str(definition))
        except ValueError:
            mapping = {}
        if mapping:
            if operational:
                mapping.pop("enabled", None)
                if deployment.paused:
                    mapping["enabled"] = False
            return mapping
    return _fields_to_task(deployment)


def _fields_to_task(deployment: DeploymentResponse) -> dict[str, Any]:
    """A catalog mapping rebuilt from a deployment's fields (deployments made before definitions
    were kept on them; a bounded schedule reads back as its compiled rrule)."""
    tags = deployment.tags
    task: dict[str, Any] = {"name": deployment.name, "type": tag_value(tags, "type")}
    if deployment.description:
        task["description"] = deployment.description
    for key in ("group", "owner"):
        value = tag_value(tags, key)
        if value and not (key == "group" and value == "default"):
            task[key] = value
    priority = tag_value(tags, "priority")
    if priority and priority != "MEDIUM":
        task["priority"] = priority
    user_tags = [t for t in tags if t != TASKLANE_TAG and not t.startswith(RESERVED_TAG_PREFIXES)]
    if user_tags:
        task["tags"] = user_tags
    upstream = [t.removeprefix(UPSTREAM_TAG_PREFIX) for t in tags if t.startswith(UPSTREAM_TAG_PREFIX)]
    if upstream:
        task["depends_on"] = upstream
    if deployment.schedules:
        specs = [schedule_to_spec(s) for s in deployment.schedules]
        task["schedule"] = specs[0] if len(specs) == 1 else specs
    policy = deployment.parameters.get("policy", {})
    delays = policy.get("retry_delays") or []
    if policy.get("retries"):
        retry: dict[str, Any] = {"max_retries": policy["retries"], "retry_delay": delays[0] if delays else 0}
        if len(delays) > 1 and delays[0]:
            retry["backoff_factor"] = round(delays[1] / delays[0], 6)
        if policy.get("retry_jitter_factor"):
            retry["jitter"] = policy["retry_jitter_factor"]
        task["retry"] = retry
    if policy.get("timeout_seconds"):
        task["timeout_seconds"] = policy["timeout_seconds"]
    limit = deployment.global_concurrency_limit.limit if deployment.global_concurrency_limit else None
    if limit and limit != 1:
        task["max_concurrent"] = limit
    if deployment.paused:
        task["enabled"] = False
    # `notify:` as the catalog wrote it (label set by apply); none: the task follows the settings' default.
    notify = (deployment.labels or {}).get(NOTIFY_LABEL)
    if notify is not None:
        try:
            task["notify"] = None if notify == NOTIFY_OFF else json.loads(notify)
        except (TypeError, ValueError):
            task["notify"] = notify  # not Tasklane's JSON: loading it names the problem
    task.update(deployment.parameters.get("job", {}))
    return task


async def export_tasks(client: PrefectClient, target: Target, group: str | None = None) -> dict[str, Any]:
    """The catalog document of the tasks the server holds (optionally one group)."""
    tags = [TASKLANE_TAG, target.project_tag] + ([f"group:{group}"] if group else [])
    deployments = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=tags))
    )
    # The definitions as their homes wrote them (schedule specs, not their compiled form), so applying
    # the export changes nothing; `enabled` as the server holds it (an operator's pause included).
    ordered = sorted((d for d in deployments if not is_trashed(d.tags)), key=lambda d: d.name)
    return {"tasks": [deployment_to_task(d) for d in ordered]}


async def _runs(client: PrefectClient, deployment_id: UUID, states: list[StateType]) -> list[FlowRun]:
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states)),
        )
    )


async def _run_or_task(
    client: PrefectClient, ref: str, target: Target | None
) -> tuple[FlowRun | None, DeploymentResponse | None]:
    """The run `ref` names by id or name (`history.runs.find_run`), else the task of that name.

    Raises:
        UnknownRunError: neither (a task in the trash: TrashedTaskError, which says how to restore it).
    """
    flow_run = await find_run(client, ref)
    if flow_run is not None:
        return flow_run, None
    try:
        return None, await find_task(client, ref, target)
    except TrashedTaskError:
        raise
    except UnknownTaskError:
        raise UnknownRunError(ref) from None


async def cancel(client: PrefectClient, run_or_task: str, target: Target | None = None) -> list[FlowRun]:
    """Cancel one run (by id or name) or every active or waiting run of a task (by name).

    The worker sees Cancelling and stops the run's process; a shell job's process group goes
    with it.
    """
    flow_run, deployment = await _run_or_task(client, run_or_task, target)
    if flow_run is not None:
        runs = [flow_run]
    else:
        assert deployment is not None
        runs = await _runs(client, deployment.id, ACTIVE_STATES + [StateType.SCHEDULED, StateType.PAUSED])
        # Future scheduled runs of the schedule stay: cancelling means "stop what is due or running".
        now = datetime.now(UTC)
        runs = [
            r for r in runs if r.state_type != StateType.SCHEDULED or (r.expected_start_time or now) <= now
        ]
    cancelled = []
    for flow_run in runs:
        if flow_run.state and flow_run.state.is_final():
            continue
        await client.set_flow_run_state(
            flow_run.id, Cancelling(message="cancelled by tasklane cancel"), force=True
        )
        cancelled.append(flow_run)
    return cancelled


@dataclass
class Explanation:
    sentence: str
    facts: dict[str, Any]


async def explain(client: PrefectClient, run_or_task: str, target: Target | None = None) -> Explanation:
    """Why a run (by id or name) or a task's longest-waiting run is waiting or late, in one
    sentence with the numbers."""
    found, deployment = await _run_or_task(client, run_or_task, target)
    if found is not None:
        flow_run = found
        deployment = await client.read_deployment(flow_run.deployment_id) if flow_run.deployment_id else None
    else:
        assert deployment is not None
        waiting = await _runs(client, deployment.id, WAITING_STATES)
        now = datetime.now(UTC)
        due = [r for r in waiting if (r.expected_start_time or now) <= now]
        if not due:
            nxt = min((r.expected_start_time for r in waiting if r.expected_start_time), default=None)
            when = f"; the next run is due at {nxt:%Y-%m-%d %H:%M:%S %Z}" if nxt else ""
            return Explanation(f"{deployment.name} has no run waiting{when}.", {"waiting": 0})
        flow_run = min(due, key=lambda r: r.expected_start_time or now)
    state = flow_run.state
    name = deployment.name if deployment else flow_run.name
    if state is None or state.type not in WAITING_STATES:
        return Explanation(
            f"run {flow_run.name} of {name} is {state.name if state else 'without state'}, not waiting.",
            {"state": state.name if state else None},
        )
    now = datetime.now(UTC)
    late = (now - flow_run.expected_start_time).total_seconds() if flow_run.expected_start_time else 0.0
    facts: dict[str, Any] = {"state": state.name, "late_seconds": round(late, 1)}
    lead = f"run {flow_run.name} of {name} is {state.name}" + (f", {late:.0f} s late" if late > 1 else "")
    if deployment is None or deployment.work_pool_name is None:
        return Explanation(f"{lead}: it belongs to no work pool, so no worker will pick it up.", facts)
    if deployment.paused:
        return Explanation(f"{lead}: the task is disabled (its deployment is paused).", facts)
    # A run holds one of its task's slots from Pending (a worker may have taken a scheduled run
    # a few seconds before it is due) until it ends, so Pending runs count as holders too.
    holders = [r for r in await _runs(client, deployment.id, SLOT_HOLDING_STATES) if r.id != flow_run.id]
    limit = deployment.global_concurrency_limit.limit if deployment.global_concurrency_limit else None
    if state.name == "AwaitingConcurrencySlot" or (limit is not None and len(holders) >= limit):
        facts.update(task_limit=limit, task_running=len(holders))
        held_by = ", ".join(
            f"{r.name} ({r.state.name if r.state else '?'}"
            + (f", due {r.expected_start_time:%H:%M:%S}" if r.expected_start_time else "")
            + ")"
            for r in holders[:3]
        )
        return Explanation(
            f"{lead}: {name} allows {limit if limit is not None else '?'} run(s) at a time "
            f"(max_concurrent) and {held_by or 'another run'} holds it; it starts when that ends.",
            facts,
        )
    pool = await client.read_work_pool(deployment.work_pool_name)
    if pool.is_paused:
        return Explanation(f"{lead}: work pool {pool.name!r} is paused (scheduler stopped).", facts)
    pool_running = await client.read_flow_runs(
        work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool.name])),
        flow_run_filter=FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE_STATES))
        ),
    )
    facts.update(pool=pool.name, pool_limit=pool.concurrency_limit, pool_running=len(pool_running))
    if pool.concurrency_limit is not None and len(pool_running) >= pool.concurrency_limit:
        return Explanation(
            f"{lead}: work pool {pool.name!r} is full ({len(pool_running)} of {pool.concurrency_limit} "
            f"slots busy); it waits in queue {deployment.work_queue_name!r}.",
            facts,
        )
    queue = await client.read_work_queue_by_name(deployment.work_queue_name or "default", pool.name)
    if queue.is_paused:
        return Explanation(f"{lead}: queue {queue.name!r} of pool {pool.name!r} is paused.", facts)
    workers = await client.read_workers_for_work_pool(pool.name)
    recent = [
        w for w in workers if w.last_heartbeat_time and now - w.last_heartbeat_time < WORKER_SILENT_AFTER
    ]
    facts.update(workers_polling=len(recent))
    if not recent:
        last = max((w.last_heartbeat_time for w in workers if w.last_heartbeat_time), default=None)
        seen = f" (last heard {(now - last).total_seconds():.0f} s ago)" if last else " (none ever)"
        return Explanation(f"{lead}: no worker is polling pool {pool.name!r}{seen}; start one.", facts)
    return Explanation(
        f"{lead}: pool {pool.name!r} has {len(pool_running)} of "
        f"{pool.concurrency_limit or 'unlimited'} slots busy and {len(recent)} worker(s) polling; "
        "it should start within the workers' polling interval.",
        facts,
    )


async def downstream_of(client: PrefectClient, name: str, target: Target | None = None) -> list[str]:
    """The tasks that run after `name` (their `upstream:` tag names it), those in the trash aside."""
    tags = [TASKLANE_TAG, f"{UPSTREAM_TAG_PREFIX}{name}"] + ([target.project_tag] if target else [])
    found = await client.read_deployments(
        deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=tags))
    )
    return sorted(d.name for d in found if not is_trashed(d.tags))


async def detach_task(client: PrefectClient, name: str, target: Target | None = None) -> str | None:
    """Take a task over from the catalog file that defines it: the API owns it from now on, and
    `apply` reports the file's entry as a conflict until it is removed there.

    Returns the home it had (None if it had none); a task the API already owns is left as it is.
    """
    deployment = await find_task(client, name, target)
    before = home_of(deployment.tags)
    if before == API_HOME:
        return before
    tags = [t for t in deployment.tags if not t.startswith(HOME_TAG_PREFIX)] + [home_tag(API_HOME)]
    await client.update_deployment(deployment.id, DeploymentUpdate(tags=tags))
    return before
