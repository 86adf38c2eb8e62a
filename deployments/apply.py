"""Sync a validated catalog to the Prefect server: one deployment per task.

`plan` compares what the catalog wants with what the server holds; `apply` carries the
plan out. Tasklane marks its deployments with the `tasklane` tag and the catalog's project
tag, so re-applying updates them in place and a task that left the catalog loses its
deployment, while deployments made by anyone else are never touched.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.deployment_triggers import (
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
)
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from deployments.catalog import Catalog, TaskSpec, upstream_first
from deployments.errors import CatalogError, Problem

TASKLANE_TAG = "tasklane"
PROJECT_TAG_PREFIX = "tasklane-project:"
VERSION_PREFIX = "tasklane-"
UPSTREAM_TAG_PREFIX = "upstream:"
DEPENDENCY_MARK = "tasklane-dependencies:"
# How long one upstream's completion waits for the others before it is forgotten.
DEPENDENCY_WINDOW = timedelta(days=1)
CRASH_RETRY_MARK = "tasklane-crash-retries:"
OWNED_MARK = "tasklane-owned-by:"
# Three missed heartbeats at the stack's 30 s frequency.
ZOMBIE_GRACE = timedelta(seconds=90)

Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class Target:
    """Where and how the catalog is deployed."""

    work_pool: str
    timezone: str
    project: str = "default"

    @property
    def project_tag(self) -> str:
        return f"{PROJECT_TAG_PREFIX}{self.project}"


@dataclass
class DesiredDeployment:
    """What one task becomes on the server."""

    task: TaskSpec
    flow_name: str
    name: str
    entrypoint: str
    description: str
    tags: list[str]
    parameters: dict[str, Any]
    work_pool_name: str
    work_queue_name: str
    schedules: list[DeploymentScheduleCreate]
    paused: bool
    timezone: str
    concurrency_limit: int
    version: str = ""

    def __post_init__(self) -> None:
        self.version = VERSION_PREFIX + self.fingerprint()

    def fingerprint(self) -> str:
        """A hash of everything Tasklane sets, so an unchanged task is left alone."""
        payload = {
            "flow": self.flow_name,
            "entrypoint": self.entrypoint,
            "description": self.description,
            "tags": sorted(self.tags),
            "parameters": self.parameters,
            "pool": self.work_pool_name,
            "queue": self.work_queue_name,
            # The specs, not the compiled schedules: an interval's compiled anchor may be "now".
            "schedules": [s.model_dump(mode="json") for s in self.task.schedule],
            "timezone": self.timezone,
            "enabled": self.task.enabled,
            "concurrency_limit": self.concurrency_limit,
        }
        canonical = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Change:
    action: Action
    task: str
    detail: str = ""

    def __str__(self) -> str:
        symbol = {"create": "+", "update": "~", "delete": "-", "unchanged": "="}[self.action]
        return f"{symbol} {self.task}" + (f"  ({self.detail})" if self.detail else "")


@dataclass
class Plan:
    changes: list[Change] = field(default_factory=list)
    desired: dict[str, DesiredDeployment] = field(default_factory=dict)
    existing: dict[str, DeploymentResponse] = field(default_factory=dict)

    @property
    def pending(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


def task_tags(task: TaskSpec, target: Target) -> list[str]:
    tags = [
        TASKLANE_TAG,
        target.project_tag,
        f"type:{task.type}",
        f"group:{task.group}",
        f"priority:{task.priority.value}",
    ]
    if task.owner:
        tags.append(f"owner:{task.owner}")
    tags += [f"{UPSTREAM_TAG_PREFIX}{name}" for name in task.depends_on]
    return tags + [t for t in task.tags if t not in tags]


def desired_deployment(task: TaskSpec, target: Target) -> DesiredDeployment:
    """The deployment a task becomes: its flow, queue, parameters, schedules and tags."""
    task_type = task.task_type
    schedules: list[DeploymentScheduleCreate] = []
    for spec in task.schedule:
        compiled = spec.to_prefect(target.timezone, active=task.enabled)
        schedules.extend(compiled if isinstance(compiled, list) else [compiled])
    return DesiredDeployment(
        task=task,
        flow_name=task_type.flow_name,
        name=task.name,
        entrypoint=task_type.entrypoint,
        description=task.description,
        tags=task_tags(task, target),
        parameters={
            "job": task.job.model_dump(mode="json", by_alias=True, exclude_none=True),
            "policy": task.run_policy().model_dump(mode="json"),
        },
        work_pool_name=target.work_pool,
        work_queue_name=task.priority.queue,
        schedules=schedules,
        paused=not task.enabled,
        timezone=target.timezone,
        concurrency_limit=task.max_concurrent,
    )


async def read_task_deployments(client: PrefectClient, target: Target) -> dict[str, DeploymentResponse]:
    """Tasklane's deployments of this project on the server, by task name."""
    found: dict[str, DeploymentResponse] = {}
    offset = 0
    while True:
        page = await client.read_deployments(
            deployment_filter=DeploymentFilter(
                tags=DeploymentFilterTags(all_=[TASKLANE_TAG, target.project_tag])
            ),
            limit=200,
            offset=offset,
        )
        for deployment in page:
            found[deployment.name] = deployment
        if len(page) < 200:
            return found
        offset += 200


async def check_names_free(
    client: PrefectClient, catalog: Catalog, target: Target, mine: dict[str, DeploymentResponse]
) -> None:
    """Refuse task names another project (or a non-Tasklane deployment of the flow) holds.

    Prefect names a deployment by flow and name, so applying would take it over silently.
    """
    names = [t.name for t in catalog.tasks if t.name not in mine]
    if not names:
        return
    taken = await client.read_deployments(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names))
    )
    problems = []
    for deployment in taken:
        owner = next((t for t in deployment.tags if t.startswith(PROJECT_TAG_PREFIX)), None)
        held_by = (
            f"project {owner.removeprefix(PROJECT_TAG_PREFIX)!r}"
            if owner
            else "a deployment not made by Tasklane"
        )
        problems.append(
            Problem(
                "catalog",
                deployment.name,
                "name",
                f"already used on the server by {held_by}; rename the task",
            )
        )
    if problems:
        raise CatalogError(problems, where=f"project {target.project!r}")


async def plan(client: PrefectClient, catalog: Catalog, target: Target, *, prune: bool = True) -> Plan:
    """What `apply` would change, without changing anything."""
    result = Plan(existing=await read_task_deployments(client, target))
    await check_names_free(client, catalog, target, result.existing)
    compile_problems = []
    for task in catalog.tasks:
        try:
            desired_deployment(task, target)
        except ValueError as exc:  # a schedule Prefect cannot express exactly (see schedules.py)
            compile_problems.append(Problem("catalog", task.name, "schedule", str(exc)))
    if compile_problems:
        raise CatalogError(compile_problems)
    for task in catalog.tasks:
        desired = desired_deployment(task, target)
        result.desired[task.name] = desired
        current = result.existing.get(task.name)
        if current is None:
            result.changes.append(
                Change("create", task.name, f"{task.type}, queue {desired.work_queue_name}")
            )
            continue
        reasons = []
        if current.version != desired.version:
            reasons.append("definition changed")
        if bool(current.paused) != desired.paused:
            reasons.append("disabled" if desired.paused else "enabled")
        if reasons:
            result.changes.append(Change("update", task.name, ", ".join(reasons)))
        else:
            result.changes.append(Change("unchanged", task.name))
    if prune:
        for name in sorted(set(result.existing) - set(result.desired)):
            result.changes.append(Change("delete", name, "no longer in the catalog"))
    return result


async def push_deployment(client: PrefectClient, desired: DesiredDeployment) -> UUID:
    """Create or update (upsert by flow and name) one deployment; return its id."""
    flow = load_flow_from_entrypoint(desired.entrypoint)
    flow_id = await client.create_flow_from_name(desired.flow_name)
    return await client.create_deployment(
        flow_id=flow_id,
        name=desired.name,
        version=desired.version,
        entrypoint=desired.entrypoint,
        description=desired.description,
        tags=desired.tags,
        parameters=desired.parameters,
        parameter_openapi_schema=parameter_schema(flow.fn).model_dump_for_openapi(),
        enforce_parameter_schema=True,
        work_pool_name=desired.work_pool_name,
        work_queue_name=desired.work_queue_name,
        schedules=desired.schedules,
        paused=desired.paused,
        concurrency_limit=desired.concurrency_limit,
        # A run due while the task is at its limit waits for a slot instead of being dropped.
        concurrency_options=ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
    )


def dependency_trigger(
    task: TaskSpec, upstream_ids: dict[str, UUID]
) -> DeploymentEventTrigger | DeploymentCompoundTrigger:
    """The deployment trigger that runs `task` once all its upstream tasks have completed.

    One upstream: an event trigger on its flow runs' Completed events. Several: a compound
    trigger requiring all of them, which resets after it fires, so the task runs once per
    round of upstream completions. A Failed upstream emits no Completed event.
    """
    ids = sorted(str(upstream_ids[name]) for name in task.depends_on)
    mark = DEPENDENCY_MARK + hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
    name = f"tasklane: run {task.name} after {' + '.join(task.depends_on)}"

    def completed(upstream_id: str) -> dict[str, Any]:
        return {
            "expect": {"prefect.flow-run.Completed"},
            "match_related": {"prefect.resource.id": f"prefect.deployment.{upstream_id}"},
            "posture": Posture.Reactive,
            "threshold": 1,
        }

    if len(ids) == 1:
        return DeploymentEventTrigger(name=name, description=mark, **completed(ids[0]))
    return DeploymentCompoundTrigger(
        name=name,
        description=mark,
        require="all",
        within=DEPENDENCY_WINDOW,
        triggers=[EventTrigger(**completed(upstream_id)) for upstream_id in ids],
    )


def crash_retry_automation(task: TaskSpec, deployment_id: UUID) -> AutomationCore:
    """Put a Crashed run of `task` back in line (AwaitingRetry) so a worker runs it again.

    Prefect's retries cover exceptions inside a run; a crash (worker or host killed, no
    heartbeat) ends the run from outside. The flow itself refuses to start more than
    `retries` times (flows/_runtime.py), which bounds this loop.
    """
    resource = f"prefect.deployment.{deployment_id}"
    return AutomationCore(
        name=f"tasklane: retry {task.name} after a crash",
        description=CRASH_RETRY_MARK + str(task.retry.max_retries),
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match_related={"prefect.resource.id": resource},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.SCHEDULED,
                name="AwaitingRetry",
                message="rescheduled after a crash (tasklane retry policy)",
                force=True,
            )
        ],
        owner_resource=resource,
    )


async def sync_automations(
    client: PrefectClient, task: TaskSpec, deployment_id: UUID, upstream_ids: dict[str, UUID]
) -> bool:
    """Make the deployment's own automations (dependency trigger, crash retry) match the task.

    Each automation's description carries a mark of what it encodes, so unchanged ones
    are left alone; any difference replaces the set. Returns whether anything changed.
    """
    resource = f"prefect.deployment.{deployment_id}"
    wanted: list[AutomationCore] = []
    if task.depends_on:
        trigger = dependency_trigger(task, upstream_ids)
        trigger.set_deployment_id(deployment_id)
        wanted.append(trigger.as_automation())
    if task.retry.max_retries:
        wanted.append(crash_retry_automation(task, deployment_id))
    for automation in wanted:
        # The server does not echo owner_resource back, so the description says who owns it.
        automation.description = f"{OWNED_MARK}{deployment_id} {automation.description}"
    owned = [
        a
        for a in await client.read_resource_related_automations(resource)
        if a.description.startswith(f"{OWNED_MARK}{deployment_id} ")
    ]
    if sorted(a.description for a in owned) == sorted(a.description for a in wanted):
        return False
    await client.delete_resource_owned_automations(resource)
    for automation in wanted:
        await client.create_automation(automation)
    return True


ZOMBIE_AUTOMATION = "tasklane: mark runs without a heartbeat Crashed"


async def ensure_zombie_detection(client: PrefectClient, heartbeat_grace: timedelta = ZOMBIE_GRACE) -> bool:
    """One automation for the whole server: a run whose heartbeats stop is marked Crashed.

    Flow-run processes send a heartbeat every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds
    (the stack sets 30); a run that goes silent for `heartbeat_grace` without ending lost
    its process (worker or host killed), and would otherwise stay Running forever.
    """
    if await client.read_automations_by_name(ZOMBIE_AUTOMATION):
        return False
    final_events = {f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed")}
    await client.create_automation(
        AutomationCore(
            name=ZOMBIE_AUTOMATION,
            description="Prefect's zombie-flow recipe, installed by tasklane apply.",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"},
                expect={"prefect.flow-run.heartbeat", *final_events},
                match={"prefect.resource.id": ["prefect.flow-run.*"]},
                for_each={"prefect.resource.id"},
                posture=Posture.Proactive,
                threshold=1,
                within=heartbeat_grace,
            ),
            actions=[
                ChangeFlowRunState(
                    state=StateType.CRASHED,
                    message=f"no heartbeat for {heartbeat_grace.total_seconds():.0f} s: "
                    "its process is gone (worker or host killed)",
                )
            ],
        )
    )
    return True


async def apply(client: PrefectClient, catalog: Catalog, target: Target, *, prune: bool = True) -> Plan:
    """Make the server hold exactly the catalog's tasks; return what was changed."""
    result = await plan(client, catalog, target, prune=prune)
    await ensure_zombie_detection(client)
    pending = {change.task: change for change in result.pending}
    for change in result.pending:
        if change.action == "delete":
            deployment_id = result.existing[change.task].id
            await client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
            await client.delete_deployment(deployment_id)
    ids: dict[str, UUID] = {name: d.id for name, d in result.existing.items()}
    for task in upstream_first(catalog.tasks):
        if task.name in pending:
            current = result.existing.get(task.name)
            if current is not None and current.entrypoint != result.desired[task.name].entrypoint:
                # Another type means another flow: the old deployment would linger beside the new.
                await client.delete_resource_owned_automations(f"prefect.deployment.{current.id}")
                await client.delete_deployment(current.id)
            ids[task.name] = await push_deployment(client, result.desired[task.name])
        if await sync_automations(client, task, ids[task.name], ids) and task.name not in pending:
            change = Change("update", task.name, "dependencies or crash retries")
            result.changes = [change if c.task == task.name else c for c in result.changes]
    return result
