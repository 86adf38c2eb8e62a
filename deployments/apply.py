"""Sync a validated catalog to the Prefect server: one deployment per task.

`plan` compares what the catalog wants with what the server holds; `apply` carries the
plan out. Tasklane marks its deployments with the `tasklane` tag and the catalog's project
tag, so re-applying updates them in place and a task that left the catalog loses its
deployment, while deployments made by anyone else are never touched.

Each deployment also owns automations: its dependency trigger, its crash retry and its alerts
(`notify:`, see `deployments.alerts`). `sync_automations` creates, updates and deletes them one
by one, comparing descriptions that carry a hash of what each encodes, so an unchanged one is
never touched; `plan` reports a task whose automations would change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentCreate, DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import Automation, AutomationCore, EventTrigger, Posture
from prefect.events.schemas.deployment_triggers import (
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
)
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from deployments.alerts import (
    ALERT_MARK,
    alert_automations,
    current_alert_settings,
    find_alert_blocks,
    resolve_alert_blocks,
)
from deployments.catalog import Catalog, TaskSpec, upstream_first
from deployments.errors import CatalogError, Problem
from tasklane.settings.alerts import AlertSettings

TASKLANE_TAG = "tasklane"
PROJECT_TAG_PREFIX = "tasklane-project:"
VERSION_PREFIX = "tasklane-"
UPSTREAM_TAG_PREFIX = "upstream:"
DEPENDENCY_MARK = "tasklane-dependencies:"
# How long one upstream's completion waits for the others before it is forgotten.
DEPENDENCY_WINDOW = timedelta(days=1)
CRASH_RETRY_MARK = "tasklane-crash-retries:"
OWNED_MARK = "tasklane-owned-by:"
# The deployment label keeping a task's `notify:` as written in its catalog (JSON, or "off" for
# `notify: off`); absent when the task writes none and follows settings `alerts.default_notify`.
NOTIFY_LABEL = "tasklane.notify"
NOTIFY_OFF = "off"
# Three missed heartbeats at the stack's 30 s frequency.
ZOMBIE_GRACE = timedelta(seconds=90)

Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class Target:
    """Where and how the catalog is deployed."""

    work_pool: str
    timezone: str
    project: str = "default"
    # Alert destinations (name -> block); None: settings `alerts`.
    alerts: AlertSettings | None = field(default=None, compare=False)

    @property
    def project_tag(self) -> str:
        return f"{PROJECT_TAG_PREFIX}{self.project}"

    def alert_settings(self) -> AlertSettings:
        return self.alerts or current_alert_settings()


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
    # Deployment labels: the task's `notify:` as written (NOTIFY_LABEL), so export, clone and API
    # edits read it back (`tasklane.tasks.manage.deployment_to_task`).
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = dict(self.labels)
        mapping = self.task.to_mapping()  # carries `notify` only where the task wrote one
        if "notify" in mapping:
            notify = mapping["notify"]
            self.labels[NOTIFY_LABEL] = (
                NOTIFY_OFF if notify is None else json.dumps(notify, sort_keys=True, separators=(",", ":"))
            )
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
        if self.labels:
            # Only when set, so a task without labels keeps the hash it had before labels existed.
            payload["labels"] = self.labels
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
    # Destinations of the catalog's `notify.to` -> notification block document ids.
    alert_blocks: dict[str, UUID] = field(default_factory=dict)
    # The automations each existing deployment owns, as `plan` read them.
    owned: dict[str, list[Automation]] = field(default_factory=dict)

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
    result.alert_blocks = await check_alert_blocks(client, catalog, target)
    existing_ids = {name: d.id for name, d in result.existing.items()}
    for task in catalog.tasks:
        desired = desired_deployment(task, target)
        result.desired[task.name] = desired
        current = result.existing.get(task.name)
        if current is None:
            alerts = f", {len(task.notify.on)} alert rule(s)" if task.notify else ""
            result.changes.append(
                Change("create", task.name, f"{task.type}, queue {desired.work_queue_name}{alerts}")
            )
            continue
        reasons = []
        if current.version != desired.version:
            reasons.append("definition changed")
        if bool(current.paused) != desired.paused:
            reasons.append("disabled" if desired.paused else "enabled")
        result.owned[task.name] = await owned_automations(client, current.id)
        if all(name in existing_ids for name in task.depends_on):
            wanted = wanted_automations(task, current.id, existing_ids, result.alert_blocks)
            reasons += automation_changes(result.owned[task.name], wanted)
        elif "dependencies changed" not in reasons:
            reasons.append("dependencies changed")  # an upstream is new: its id is not known yet
        if reasons:
            result.changes.append(Change("update", task.name, ", ".join(reasons)))
        else:
            result.changes.append(Change("unchanged", task.name))
    if prune:
        for name in sorted(set(result.existing) - set(result.desired)):
            result.changes.append(Change("delete", name, "no longer in the catalog"))
    return result


async def check_alert_blocks(client: PrefectClient, catalog: Catalog, target: Target) -> dict[str, UUID]:
    """The notification blocks of every `notify.to` of the catalog; a CatalogError naming each task
    whose destination is unknown or not saved on the server (before anything is applied)."""
    destinations = sorted({name for task in catalog.tasks if task.notify for name in task.notify.to})
    if not destinations:
        return {}
    found, missing = await find_alert_blocks(client, destinations, target.alert_settings())
    problems = [
        Problem("catalog", task.name, f"notify.to.{index}", missing[name])
        for task in catalog.tasks
        if task.notify
        for index, name in enumerate(task.notify.to)
        if name in missing
    ]
    if problems:
        raise CatalogError(problems)
    return found


# Fields of DeploymentCreate that Prefect's client leaves out when None (older servers reject them).
_UNSENT_IF_NONE = (
    "paused",
    "pull_steps",
    "enforce_parameter_schema",
    "version_info",
    "branch",
    "base",
    "root",
)


async def create_deployment(client: PrefectClient, *, labels: dict[str, str], **fields: Any) -> UUID:
    """`client.create_deployment` (an upsert by flow and name), with deployment labels.

    Prefect's client does not take labels, but the server's POST /deployments/ does, and an upsert
    replaces them (the server adds its own, `prefect.flow.id`); PATCH cannot change them. `fields`
    are `DeploymentCreate`'s, sent as the client sends them.
    """
    body = DeploymentCreate(labels=labels, **fields)
    exclude = {name for name in ("work_pool_name", "work_queue_name") if name not in body.model_fields_set}
    exclude |= {name for name in _UNSENT_IF_NONE if getattr(body, name) is None}
    payload = body.model_dump(mode="json", exclude=exclude)
    if body.concurrency_options:
        payload["concurrency_options"] = body.concurrency_options.model_dump(mode="json", exclude_unset=True)
    response = await client.request("POST", "/deployments/", json=payload)
    return UUID(response.json()["id"])


async def push_deployment(client: PrefectClient, desired: DesiredDeployment) -> UUID:
    """Create or update (upsert by flow and name) one deployment; return its id."""
    flow = load_flow_from_entrypoint(desired.entrypoint)
    flow_id = await client.create_flow_from_name(desired.flow_name)
    return await create_deployment(
        client,
        flow_id=flow_id,
        name=desired.name,
        version=desired.version,
        entrypoint=desired.entrypoint,
        description=desired.description,
        tags=desired.tags,
        labels=desired.labels,
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


def wanted_automations(
    task: TaskSpec, deployment_id: UUID, upstream_ids: dict[str, UUID], alert_blocks: dict[str, UUID]
) -> list[AutomationCore]:
    """The automations the deployment of `task` owns: dependency trigger, crash retry, alerts.

    Each description starts with OWNED_MARK and the deployment id (the server does not echo
    owner_resource back), then the kind's mark and a hash of what it encodes.
    """
    wanted: list[AutomationCore] = []
    if task.depends_on:
        trigger = dependency_trigger(task, upstream_ids)
        trigger.set_deployment_id(deployment_id)
        wanted.append(trigger.as_automation())
    if task.retry.max_retries:
        wanted.append(crash_retry_automation(task, deployment_id))
    if task.notify:
        wanted.extend(alert_automations(task.name, deployment_id, task.notify, alert_blocks))
    for automation in wanted:
        automation.description = f"{OWNED_MARK}{deployment_id} {automation.description}"
    return wanted


def _slot(description: str) -> str:
    """Which automation of a deployment a description is (its kind, and the rule of an alert)."""
    mark = description.split(" ", 1)[1] if description.startswith(OWNED_MARK) else description
    if mark.startswith(ALERT_MARK):
        return " ".join(mark.split()[:2])
    return mark.split(":", 1)[0]


def _kind(description: str) -> str:
    slot = _slot(description)
    if slot.startswith(ALERT_MARK.strip()):
        return "alerts"
    return {DEPENDENCY_MARK[:-1]: "dependencies", CRASH_RETRY_MARK[:-1]: "crash retries"}.get(
        slot, "automations"
    )


def automation_changes(owned: list[Automation], wanted: list[AutomationCore]) -> list[str]:
    """What differs between the automations a deployment owns and those it should: e.g. ["alerts changed"]."""
    have = sorted(a.description for a in owned)
    want = sorted(a.description for a in wanted)
    if have == want:
        return []
    kinds = {_kind(d) for d in set(have) ^ set(want)}
    if len(have) != len(set(have)):
        kinds |= {_kind(d) for d in have if have.count(d) > 1}
    return [f"{kind} changed" for kind in sorted(kinds)]


async def owned_automations(client: PrefectClient, deployment_id: UUID) -> list[Automation]:
    """The automations Tasklane made for this deployment (marked in their descriptions)."""
    return [
        a
        for a in await client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
        if a.description.startswith(f"{OWNED_MARK}{deployment_id} ")
    ]


async def delete_owned_automations(client: PrefectClient, deployment_id: UUID) -> None:
    """Delete every automation the deployment owns (before the deployment itself goes)."""
    await client.delete_resource_owned_automations(f"prefect.deployment.{deployment_id}")
    for automation in await owned_automations(client, deployment_id):
        await client.delete_automation(automation.id)


async def sync_automations(
    client: PrefectClient,
    task: TaskSpec,
    deployment_id: UUID,
    upstream_ids: dict[str, UUID],
    alert_blocks: dict[str, UUID] | None = None,
    *,
    owned: list[Automation] | None = None,
    alerts: AlertSettings | None = None,
) -> list[str]:
    """Make the deployment's own automations (dependency trigger, crash retry, alerts) match the task.

    Unchanged automations are left alone; a changed one is updated in place (same kind, and the
    same rule for an alert), a new one created, one no longer wanted deleted.

    Args:
        alert_blocks: destination -> block document id of `task.notify.to` (from `plan`); looked
            up on the server (with `alerts`, default settings `alerts`) when missing.
        owned: the deployment's automations as just read (by `plan`), to save a request.

    Returns:
        What changed, e.g. ["alerts changed"]; empty when nothing did.

    Raises:
        AlertConfigError: a destination of `task.notify.to` has no block on the server.
    """
    blocks = dict(alert_blocks or {})
    if task.notify and any(name not in blocks for name in task.notify.to):
        blocks.update(await resolve_alert_blocks(client, task.notify.to, alerts or current_alert_settings()))
    wanted = wanted_automations(task, deployment_id, upstream_ids, blocks)
    if owned is None:
        owned = await owned_automations(client, deployment_id)
    changes = automation_changes(owned, wanted)
    if not changes:
        return []
    have: dict[str, Automation] = {}
    for automation in owned:
        have.setdefault(automation.description, automation)
    keep: set[UUID] = set()
    fresh: list[AutomationCore] = []
    for automation in wanted:
        match = have.pop(automation.description, None)
        if match is None:
            fresh.append(automation)
        else:
            keep.add(match.id)
    stale = [a for a in owned if a.id not in keep]  # changed, no longer wanted, or duplicates
    for automation in fresh:
        slot = _slot(automation.description)
        previous = next((a for a in stale if _slot(a.description) == slot), None)
        if previous is None:
            await client.create_automation(automation)
        else:
            stale.remove(previous)
            # The update endpoint refuses owner_resource; the server keeps the ownership it has.
            update = AutomationCore.model_validate(automation.model_dump(exclude={"owner_resource"}))
            await client.update_automation(previous.id, update)
    for automation in stale:
        await client.delete_automation(automation.id)
    return changes


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
            await delete_owned_automations(client, deployment_id)
            await client.delete_deployment(deployment_id)
    ids: dict[str, UUID] = {name: d.id for name, d in result.existing.items()}
    for task in upstream_first(catalog.tasks):
        if task.name in pending:
            current = result.existing.get(task.name)
            if current is not None and current.entrypoint != result.desired[task.name].entrypoint:
                # Another type means another flow: the old deployment would linger beside the new.
                await delete_owned_automations(client, current.id)
                await client.delete_deployment(current.id)
            ids[task.name] = await push_deployment(client, result.desired[task.name])
        current = result.existing.get(task.name)
        owned = result.owned.get(task.name) if current is not None and current.id == ids[task.name] else None
        changed = await sync_automations(client, task, ids[task.name], ids, result.alert_blocks, owned=owned)
        if changed and task.name not in pending:
            change = Change("update", task.name, ", ".join(changed))
            result.changes = [change if c.task == task.name else c for c in result.changes]
    return result
