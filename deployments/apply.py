"""Sync a validated catalog to the Prefect server: one deployment per task.

`plan` compares what the catalog wants with what the server holds; `apply` carries the
plan out. Tasklane marks its deployments with the `tasklane` tag and the catalog's project
tag, so re-applying updates them in place and a task that left the catalog loses its
deployment, while deployments made by anyone else are never touched.

Each deployment also owns automations: its dependency trigger, its crash retry and its alerts
(`notify:`), built and synced by `deployments.automations`; `plan` reports a task whose
automations would change, and `apply` syncs them after pushing the deployment.

A deleted task waits in the trash (`deployments.trash`): readers of the project's tasks leave it
out, but `plan` sees it. A file that still defines a trashed task wins: `apply` restores it (same
deployment, runs and history) and says so; a trashed task another home defined is a conflict
naming the trash; pruning leaves trashed tasks to the trash's own retention.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentCreate, DeploymentScheduleCreate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions
from prefect.client.schemas.responses import DeploymentResponse
from prefect.events.schemas.automations import Automation
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

from deployments.automations.alerts import check_alert_blocks
from deployments.automations.crash_retry import ensure_zombie_detection
from deployments.automations.sync import (
    automation_changes,
    delete_owned_automations,
    owned_automations,
    sync_automations,
    wanted_automations,
)
from deployments.catalog import (
    Catalog,
    TaskSpec,
    current_alert_settings,
    current_execution_settings,
    upstream_first,
)
from deployments.errors import CatalogError, Problem
from deployments.ownership import API_HOME, FILE_HOME_PREFIX, describe_home, home_of, home_tag
from deployments.policy import POLICY_SOURCE_LABEL
from deployments.tags import (
    DEFINITION_LABEL,
    ENABLED_IN_HOME_LABEL,
    NOTIFY_LABEL,
    NOTIFY_OFF,
    PROJECT_TAG_PREFIX,
    UPSTREAM_TAG_PREFIX,
    VERSION_PREFIX,
)
from deployments.task_pool import pool_problems
from deployments.trash import (
    is_trashed,
    paused_before_trash,
    set_owned_automations_enabled,
    trashed_at,
)
from tasklane.settings.alerts import AlertSettings
from tasklane.settings.execution import ExecutionSettings
from tasklane.settings.reports import TASKLANE_TAG

Action = Literal["create", "update", "delete", "unchanged"]


@dataclass(frozen=True)
class Target:
    """Where and how the catalog is deployed."""

    work_pool: str
    timezone: str
    project: str = "default"
    # Alert destinations (name -> block); None: settings `alerts`.
    alerts: AlertSettings | None = field(default=None, compare=False)
    # Timeout and retries of a task that writes none; None: settings `execution`.
    execution: ExecutionSettings | None = field(default=None, compare=False)

    @property
    def project_tag(self) -> str:
        return f"{PROJECT_TAG_PREFIX}{self.project}"

    def alert_settings(self) -> AlertSettings:
        return self.alerts or current_alert_settings()

    def execution_settings(self) -> ExecutionSettings:
        return self.execution if self.execution is not None else current_execution_settings()


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
    job_variables: dict[str, Any] = field(default_factory=dict)  # the task's `pool:` overrides
    # Deployment labels: the task's definition as its home wrote it (DEFINITION_LABEL), whether that
    # definition says enabled (ENABLED_IN_HOME_LABEL) and its `notify:` as written (NOTIFY_LABEL),
    # so export, clone, API edits and the trash read them back (`deployment_to_task`).
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = dict(self.labels)
        mapping = self.task.to_mapping()  # carries `notify` only where the task wrote one
        self.labels[DEFINITION_LABEL] = json.dumps(mapping, sort_keys=True, separators=(",", ":"))
        self.labels[ENABLED_IN_HOME_LABEL] = "true" if self.task.enabled else "false"
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
        if self.job_variables:
            payload["job_variables"] = self.job_variables  # likewise: only a task's own pool sets them
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


def task_tags(task: TaskSpec, target: Target, home: str | None = None) -> list[str]:
    tags = [
        TASKLANE_TAG,
        target.project_tag,
        f"type:{task.type}",
        f"group:{task.group}",
        f"priority:{task.priority.value}",
    ]
    if home is not None:
        tags.append(home_tag(home))
    if task.owner:
        tags.append(f"owner:{task.owner}")
    tags += [f"{UPSTREAM_TAG_PREFIX}{name}" for name in task.depends_on]
    return tags + [t for t in task.tags if t not in tags]


def desired_deployment(
    task: TaskSpec, target: Target, *, home: str | None = None, enabled: bool | None = None
) -> DesiredDeployment:
    """The deployment a task becomes: its flow, queue, parameters, schedules and tags.

    Args:
        home: who owns the definition (`deployments.ownership`), recorded as a tag.
        enabled: the deployment's operational state when it differs from the definition's
            `enabled` (an operator's pause that an apply keeps); default: the definition's.
    """
    enabled = task.enabled if enabled is None else enabled
    task_type = task.task_type
    schedules: list[DeploymentScheduleCreate] = []
    for spec in task.schedule:
        compiled = spec.to_prefect(target.timezone, active=enabled)
        schedules.extend(compiled if isinstance(compiled, list) else [compiled])
    unique_slugs(schedules)
    return DesiredDeployment(
        task=task,
        flow_name=task_type.flow_name,
        name=task.name,
        entrypoint=task_type.entrypoint,
        description=task.description,
        tags=task_tags(task, target, home),
        parameters={
            "job": task.job.model_dump(mode="json", by_alias=True, exclude_none=True),
            "policy": task.run_policy(target.execution_settings()).model_dump(mode="json"),
        },
        work_pool_name=task.pool.name if task.pool else target.work_pool,
        work_queue_name=(task.pool.queue if task.pool else None) or task.priority.queue,
        job_variables=task.pool.job_variables if task.pool else {},
        schedules=schedules,
        paused=not enabled,
        timezone=target.timezone,
        concurrency_limit=task.max_concurrent,
        # Whether the policy's timeout and retries are the task's or settings `execution`'s (`show`).
        labels={POLICY_SOURCE_LABEL: task.policy_source_label()},
    )


def unique_slugs(schedules: list[DeploymentScheduleCreate]) -> None:
    """Make the slugs of one deployment's schedules unique, in order: a repeated `daily-0200`
    becomes `daily-0200-2`, `daily-0200-3`, ... (Prefect keys a deployment's schedules by slug)."""
    taken: set[str] = set()
    for schedule in schedules:
        slug = base = schedule.slug or "schedule"
        count = 1
        while slug in taken:
            count += 1
            slug = f"{base}-{count}"
        taken.add(slug)
        schedule.slug = slug


async def read_task_deployments(
    client: PrefectClient, target: Target, *, include_trashed: bool = False
) -> dict[str, DeploymentResponse]:
    """Tasklane's deployments of this project on the server, by task name.

    Tasks in the trash are left out unless `include_trashed` (plan, the trash itself).
    """
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
            if include_trashed or not is_trashed(deployment.tags):
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
        if owner and is_trashed(deployment.tags):
            name = deployment.name
            problems.append(
                Problem(
                    "catalog",
                    name,
                    "name",
                    f"already used on the server by a task in the trash of {held_by}; restore it "
                    f"(`tasklane trash restore {name}`) or purge it (`tasklane trash purge {name}`) first",
                )
            )
            continue
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
    result = Plan(existing=await read_task_deployments(client, target, include_trashed=True))
    await check_names_free(client, catalog, target, result.existing)
    compile_problems = []
    for task in catalog.tasks:
        try:
            desired_deployment(task, target)
        except ValueError as exc:  # a schedule Prefect cannot express exactly (see schedules.py)
            compile_problems.append(Problem("catalog", task.name, "schedule", str(exc)))
    if compile_problems:
        raise CatalogError(compile_problems)
    pool_problems_found = await pool_problems(client, catalog.tasks, catalog.files_of)
    if pool_problems_found:
        raise CatalogError(pool_problems_found)
    check_homes(catalog, result.existing)
    result.alert_blocks = await check_alert_blocks(client, catalog, target.alerts)
    existing_ids = {name: d.id for name, d in result.existing.items()}
    for task in catalog.tasks:
        current = result.existing.get(task.name)
        desired = desired_deployment(
            task, target, home=catalog.home_of(task.name), enabled=operational_state(task, current)
        )
        result.desired[task.name] = desired
        if current is None:
            alerts = f", {len(task.notify.on)} alert rule(s)" if task.notify else ""
            result.changes.append(
                Change("create", task.name, f"{task.type}, queue {desired.work_queue_name}{alerts}")
            )
            continue
        reasons = []
        restoring = is_trashed(current.tags)
        if restoring:
            # The file wins: it still defines the task, so it comes back (same deployment and runs).
            mine = catalog.home_of(task.name) or ""
            what = "the file" if mine.startswith(FILE_HOME_PREFIX) else "the catalog"
            reasons.append(f"restored from the trash: {what} still defines it")
        elif current.version != desired.version:
            reasons.append("definition changed")
        else:
            changed = drift(current, desired)
            if changed:
                # Edited on the server (Prefect's UI, its API): apply puts the home's version back.
                reasons.append("changed on the server: " + ", ".join(changed))
            elif sorted(s.slug or "" for s in current.schedules or []) != sorted(
                s.slug or "" for s in desired.schedules
            ):
                # Applied before slugs were readable (`tasklane-2689df8b2eac`): the push replaces
                # all of the deployment's schedules, so none is duplicated.
                reasons.append("schedules renamed")
        if bool(current.paused) != desired.paused and not restoring:
            # Only when the home's own `enabled` changed: an operator's pause or resume lasts.
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
            home = home_of(result.existing[name].tags)
            if is_trashed(result.existing[name].tags):
                continue  # deleted already: the trash keeps it until restored or purged
            if catalog.claims_home(home):
                result.changes.append(Change("delete", name, f"no longer in {describe_home(home)}"))
    return result


def _schedule_key(schedule: Any) -> tuple[Any, ...]:
    """What a schedule runs on, aside what depends on the day it was compiled: an interval's
    anchor, an rrule's DTSTART (the compile day for some specs without a start)."""
    fields = schedule.model_dump(mode="json")
    fields.pop("anchor_date", None)
    if isinstance(fields.get("rrule"), str):
        fields["rrule"] = "\n".join(
            line for line in fields["rrule"].splitlines() if not line.startswith("DTSTART:")
        )
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in fields.items()))


def drift(current: DeploymentResponse, desired: DesiredDeployment) -> list[str]:
    """The fields of a deployment that differ from what its home defines although the version
    Tasklane wrote is unchanged: someone edited it on the server (Prefect's UI, its API)."""
    changed = []
    if (current.description or "") != desired.description:
        changed.append("description")
    if current.parameters != desired.parameters:
        changed.append("parameters")
    if set(current.tags) != set(desired.tags):
        changed.append("tags")
    if current.work_queue_name != desired.work_queue_name:
        changed.append("work queue")
    limit = current.global_concurrency_limit.limit if current.global_concurrency_limit else None
    if limit != desired.concurrency_limit:
        changed.append("concurrency limit")
    have = sorted(_schedule_key(s.schedule) for s in current.schedules or [])
    want = sorted(_schedule_key(s.schedule) for s in desired.schedules)
    if have != want:
        changed.append("schedules")
    return changed


def operational_state(task: TaskSpec, current: DeploymentResponse | None) -> bool:
    """Whether the task's deployment should be enabled after an apply: the definition's `enabled`
    for a new task or when that value changed since the last apply; else the deployment's own
    state, which the CLI, the API or Prefect's UI may have changed (the operator's)."""
    if current is None:
        return task.enabled
    applied = (current.labels or {}).get(ENABLED_IN_HOME_LABEL)
    if applied is not None and applied != ("true" if task.enabled else "false"):
        return task.enabled
    if is_trashed(current.tags):
        return not paused_before_trash(current.tags)  # the trash paused it; before, the operator's
    return not current.paused


def check_homes(catalog: Catalog, existing: dict[str, DeploymentResponse]) -> None:
    """Refuse a task whose name another home owns on the server: a task has one home."""
    problems = []
    for task in catalog.tasks:
        current = existing.get(task.name)
        held = home_of(current.tags) if current is not None else None
        mine = catalog.home_of(task.name)
        if held is None or held == mine or catalog.claims_home(held):
            continue
        where = describe_home(mine) if mine else "catalog"
        if current is not None and is_trashed(current.tags):
            when = trashed_at(current.tags)
            since = f" since {when:%Y-%m-%d %H:%M} UTC" if when else ""
            why = (
                f"is in the trash{since} (deleted from {describe_home(held)}); restore it "
                f"(`tasklane trash restore {task.name}`) or purge it (`tasklane trash purge {task.name}`) "
                "first"
            )
        elif held == API_HOME:
            why = (
                "is owned by the API on the server (created there, or taken over with `tasklane detach`); "
                "remove it from this file, or delete the API's task first"
            )
        else:
            why = (
                f"is already defined in {describe_home(held)}; a task has one home: "
                "remove it from one of them"
            )
        problems.append(Problem(where, task.name, "name", why))
    if problems:
        raise CatalogError(problems)


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


# Fields of DesiredDeployment sent as they are (DeploymentCreate's names).
_PUSHED_AS_IS = (
    "name",
    "version",
    "entrypoint",
    "description",
    "tags",
    "parameters",
    "work_pool_name",
    "work_queue_name",
    "schedules",
    "paused",
    "concurrency_limit",
    "job_variables",
)


async def push_deployment(client: PrefectClient, desired: DesiredDeployment) -> UUID:
    """Create or update (upsert by flow and name) one deployment; return its id."""
    flow: Flow[..., Any] = load_flow_from_entrypoint(desired.entrypoint)
    flow_id = await client.create_flow_from_name(desired.flow_name)
    return await create_deployment(
        client,
        flow_id=flow_id,
        parameter_openapi_schema=parameter_schema(flow.fn).model_dump_for_openapi(),
        enforce_parameter_schema=True,
        # A run due while the task is at its limit waits for a slot instead of being dropped.
        concurrency_options=ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy.ENQUEUE),
        labels=desired.labels,
        **{name: getattr(desired, name) for name in _PUSHED_AS_IS},
    )


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
        if current is not None and current.id == ids[task.name] and is_trashed(current.tags):
            # Restored: the automations the trash disabled (those sync kept as they were) run again.
            await set_owned_automations_enabled(client, ids[task.name], True)
        if changed and task.name not in pending:
            change = Change("update", task.name, ", ".join(changed))
            result.changes = [change if c.task == task.name else c for c in result.changes]
    return result
