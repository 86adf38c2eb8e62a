"""Operations the REST API needs that the CLI did not: save one task, the seeds' names, audit.

Everything else the API does goes through `deployments.apply`, `deployments.operations`,
`deployments.management` and `deployments.history` (runs, their logs and stats: the same
functions as `tasklane history|logs|stats`); these functions only add what was missing:

- `save_task`: validate-compile-push one task (the catalog's `apply` for a single task, without
  pruning the rest of the project): `desired_deployment` + `push_deployment` + `sync_automations`.
- `task_mapping`: a deployment as the catalog mapping a PUT merges its changes into.
- `next_runs`: a deployment's next runs from its compiled schedules (no flow-run query).
- `project_runs`: the `history.RunQuery` of this project's runs (by deployment tags), with the
  seeds' statuses (`states_of`); `run_results`: executions' results (their result artifacts);
- `run_stats`: `history.state_counts` (one aggregate query whatever the history size) in the
  seeds' statuses.
- `set_pool_paused`: the seeds' scheduler start/stop (pausing the work pool: runs already
  started finish, no new one starts).
- `emit_audit`, `read_audit`: the audit trail as Prefect events (`tasklane.*`).
- `seed_status`: Prefect state names mapped to the seeds' status names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate, WorkPoolUpdate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

from deployments.apply import (
    TASKLANE_TAG,
    UPSTREAM_TAG_PREFIX,
    Target,
    check_names_free,
    desired_deployment,
    push_deployment,
    read_task_deployments,
    sync_automations,
)
from deployments.catalog import Catalog, TaskSpec, find_cycle
from deployments.errors import CatalogError, Problem, UnknownTaskError
from deployments.history import RunQuery, state_counts
from deployments.management import deployment_to_task
from deployments.operations import find_task
from deployments.schedules import _server_dates

AUDIT_PREFIX = "tasklane."
TASK_RESOURCE_PREFIX = "tasklane.task."
TITLE_TAG_PREFIX = "title:"

# The seeds' statuses (000/004: PENDING ... CANCELLED) by Prefect state name; unknown names
# fall back on the state type.
SEED_STATUS_BY_NAME = {
    "Scheduled": "PENDING",
    "Late": "PENDING",
    "Pending": "PENDING",
    "AwaitingConcurrencySlot": "PENDING",
    "Paused": "PENDING",
    "Suspended": "PENDING",
    "Running": "RUNNING",
    "Completed": "DONE",
    "Cached": "DONE",
    "Failed": "FAILED",
    "Crashed": "FAILED",
    "AwaitingRetry": "RETRY",
    "Retrying": "RETRY",
    "TimedOut": "TIMEOUT",
    "Cancelled": "CANCELLED",
    "Cancelling": "CANCELLED",
}
SEED_STATUS_BY_TYPE = {
    StateType.SCHEDULED: "PENDING",
    StateType.PENDING: "PENDING",
    StateType.PAUSED: "PENDING",
    StateType.RUNNING: "RUNNING",
    StateType.COMPLETED: "DONE",
    StateType.FAILED: "FAILED",
    StateType.CRASHED: "FAILED",
    StateType.CANCELLED: "CANCELLED",
    StateType.CANCELLING: "CANCELLED",
}
SEED_STATUSES = ("PENDING", "RUNNING", "DONE", "FAILED", "RETRY", "TIMEOUT", "CANCELLED")
# Seed 003's lower-case names of the same statuses.
SEED003_STATUS = {
    "PENDING": "pending",
    "RUNNING": "running",
    "DONE": "success",
    "FAILED": "failed",
    "RETRY": "pending",
    "TIMEOUT": "failed",
    "CANCELLED": "cancelled",
}
FINAL_SEED_STATUSES = {"DONE", "FAILED", "TIMEOUT", "CANCELLED"}


def seed_status(state_name: str | None, state_type: StateType | None = None) -> str:
    """The seeds' status of a Prefect state (a task that never ran is PENDING)."""
    if state_name in SEED_STATUS_BY_NAME:
        return SEED_STATUS_BY_NAME[state_name]
    if state_type is not None:
        return SEED_STATUS_BY_TYPE.get(state_type, "PENDING")
    return "PENDING"


# --- tasks ---------------------------------------------------------------------------------------


def title_of(deployment: DeploymentResponse) -> str:
    """A task's display name: the `title:` tag the API sets for names that are not ids, else its name."""
    for tag in deployment.tags:
        if tag.startswith(TITLE_TAG_PREFIX):
            return tag.removeprefix(TITLE_TAG_PREFIX)
    return deployment.name


def slug(text: str) -> str:
    """A task id (catalog name) made from a display name: 'Daily Backup' -> 'daily-backup'."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", text.strip()).strip("-._").lower()
    return cleaned[:100]


def task_mapping(deployment: DeploymentResponse) -> dict[str, Any]:
    """What the server holds for a task as a catalog mapping (`deployment_to_task` plus the missed policy)."""
    mapping = deployment_to_task(deployment)
    missed = deployment.parameters.get("policy", {}).get("missed")
    if missed and missed != "run_once":
        mapping["missed"] = missed
    return mapping


async def find_task_by_id(client: PrefectClient, ident: str, target: Target) -> DeploymentResponse:
    """The task of this project whose name (or deployment id) is `ident`; UnknownTaskError if none."""
    try:
        deployment_id = UUID(ident)
    except ValueError:
        return await find_task(client, ident, target)
    try:
        deployment = await client.read_deployment(deployment_id)
    except Exception:  # ObjectNotFound and friends: an id the server does not hold
        raise UnknownTaskError(ident, f"project {target.project!r}") from None
    if TASKLANE_TAG not in deployment.tags or target.project_tag not in deployment.tags:
        raise UnknownTaskError(ident, f"project {target.project!r}")
    return deployment


async def save_task(
    client: PrefectClient,
    task: TaskSpec,
    target: Target,
    *,
    existing: DeploymentResponse | None = None,
    keep_schedules: bool = False,
) -> UUID:
    """Create or replace one task's deployment exactly as `apply` would, leaving every other task alone.

    Args:
        task: the validated task (`deployments.catalog.parse_task`).
        existing: its current deployment when it is an update (None: a new task, whose name must be free).
        keep_schedules: keep the deployment's current schedules (an update that does not change them,
            where the server's compiled form cannot be read back as a spec).

    Raises:
        CatalogError: the name is taken by another project, an upstream is unknown, a dependency cycle,
            or a schedule Prefect cannot express.
    """
    mine = await read_task_deployments(client, target)
    if existing is None:
        await check_names_free(client, Catalog(tasks=[task]), target, mine)
    problems = []
    for upstream in task.depends_on:
        if upstream == task.name:
            problems.append(Problem("request", task.name, "depends_on", "a task cannot depend on itself"))
        elif upstream not in mine:
            problems.append(Problem("request", task.name, "depends_on", f"unknown task {upstream!r}"))
    graph = {
        name: [t.removeprefix(UPSTREAM_TAG_PREFIX) for t in d.tags if t.startswith(UPSTREAM_TAG_PREFIX)]
        for name, d in mine.items()
    }
    graph[task.name] = list(task.depends_on)
    cycle = find_cycle(graph)
    if cycle and not problems:
        problems.append(
            Problem("request", task.name, "depends_on", "dependency cycle: " + " -> ".join(cycle))
        )
    if problems:
        raise CatalogError(problems, where="the request", outcome="nothing was changed")
    try:
        desired = desired_deployment(task, target)
    except ValueError as exc:
        raise CatalogError(
            [Problem("request", task.name, "schedule", str(exc))],
            where="the request",
            outcome="nothing was changed",
        ) from None
    if keep_schedules and existing is not None:
        desired.schedules = [
            DeploymentScheduleCreate(schedule=s.schedule, active=task.enabled, slug=s.slug)
            for s in existing.schedules
        ]
    if existing is not None and existing.entrypoint != desired.entrypoint:
        # Another type is another flow: the old deployment would linger beside the new one.
        await client.delete_resource_owned_automations(f"prefect.deployment.{existing.id}")
        await client.delete_deployment(existing.id)
    deployment_id = await push_deployment(client, desired)
    ids = {name: d.id for name, d in mine.items()}
    ids[task.name] = deployment_id
    await sync_automations(client, task, deployment_id, ids)
    return deployment_id


def next_runs(deployment: DeploymentResponse, n: int = 1, after: datetime | None = None) -> list[datetime]:
    """The next `n` runs of a deployment's active schedules, expanded as Prefect's server does."""
    if deployment.paused:
        return []
    schedules = [s.schedule for s in deployment.schedules or [] if s.active]
    if not schedules:
        return []
    return _server_dates(schedules, n, after or datetime.now(UTC))


# --- runs ----------------------------------------------------------------------------------------


def states_of(seed: str) -> tuple[str, ...]:
    """The Prefect state names of one seed status."""
    return tuple(sorted(name for name, status in SEED_STATUS_BY_NAME.items() if status == seed))


def project_runs(
    target: Target,
    deployment_ids: list[UUID] | None = None,
    *,
    state_names: tuple[str, ...] | None = None,
    finished: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
) -> RunQuery:
    """This project's runs by expected start: of `deployment_ids` (the caller found them among the
    project's), else of every deployment tagged `tasklane` and the project's tag.
    """
    return RunQuery(
        tags=(),
        deployment_tags=(TASKLANE_TAG, target.project_tag) if deployment_ids is None else (),
        deployment_ids=tuple(deployment_ids) if deployment_ids is not None else None,
        state_names=state_names,
        finished=finished,
        since=since,
        until=until,
    )


RESULT_BLOCK = re.compile(r"```json\n(?P<json>.*)\n```", re.DOTALL)


async def run_results(client: PrefectClient, flow_run_ids: list[UUID]) -> dict[UUID, Any]:
    """Each run's result, as its result artifact (flows/_runtime.record_result) keeps it."""
    if not flow_run_ids:
        return {}
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)),
        limit=max(len(flow_run_ids) * 4, 10),
    )
    found: dict[UUID, Any] = {}
    for artifact in artifacts:
        if artifact.flow_run_id is None or artifact.type != "markdown" or artifact.flow_run_id in found:
            continue
        text = artifact.data if isinstance(artifact.data, str) else ""
        match = RESULT_BLOCK.search(text)
        if not match or "### Result of" not in text:
            continue
        try:
            found[artifact.flow_run_id] = json.loads(match["json"])
        except ValueError:
            found[artifact.flow_run_id] = match["json"]
    return found


@dataclass
class RunStats:
    """Aggregates over runs: counts by seed status, and run time of the finished ones."""

    by_status: dict[str, int]
    total_duration: float
    finished: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def success(self) -> int:
        return self.by_status.get("DONE", 0)

    @property
    def failed(self) -> int:
        return self.by_status.get("FAILED", 0) + self.by_status.get("TIMEOUT", 0)

    @property
    def success_rate(self) -> float:
        done = self.success + self.failed
        return round(100.0 * self.success / done, 2) if done else 0.0

    @property
    def avg_duration(self) -> float:
        return round(self.total_duration / self.finished, 3) if self.finished else 0.0


async def run_stats(
    client: PrefectClient,
    target: Target,
    deployment_ids: list[UUID] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> RunStats:
    """Counts by seed status and run time over runs whose expected start is in [since, until]:
    `history.state_counts`, one aggregate query whatever the history size.
    """
    by_status: dict[str, int] = {}
    total_duration = 0.0
    finished = 0
    for state in await state_counts(client, project_runs(target, deployment_ids, since=since, until=until)):
        status = seed_status(state.name, StateType(state.type))
        by_status[status] = by_status.get(status, 0) + state.runs
        if status in FINAL_SEED_STATUSES:
            total_duration += state.seconds
            finished += state.runs
    return RunStats(by_status, round(total_duration, 3), finished)


# --- scheduler start/stop ------------------------------------------------------------------------


async def set_pool_paused(client: PrefectClient, pool: str, paused: bool) -> bool:
    """Pause (stop) or resume (start) the work pool: no new run starts while paused; running ones finish.

    Returns whether it changed.
    """
    current = await client.read_work_pool(pool)
    if bool(current.is_paused) == paused:
        return False
    await client.update_work_pool(pool, WorkPoolUpdate(is_paused=paused))
    return True


# --- audit ---------------------------------------------------------------------------------------


def emit_audit(
    event: str,
    resource_id: str,
    *,
    caller: str,
    role: str,
    change: dict[str, Any],
    result: str,
    project: str,
    related_deployment: UUID | None = None,
) -> None:
    """One audit event: `event` (tasklane.*) about `resource_id`, with who did what and how it went.

    The payload never holds a token: `caller` is the token's name.
    """
    related = []
    if related_deployment is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{related_deployment}",
                "prefect.resource.role": "deployment",
            }
        )
    emit_event(
        event=event,
        resource={
            "prefect.resource.id": resource_id,
            "prefect.resource.name": resource_id.rsplit(".", 1)[-1],
            "tasklane.project": project,
        },
        related=related or None,
        payload={"caller": caller, "role": role, "change": change, "result": result},
    )


async def read_audit(
    client: PrefectClient,
    project: str,
    *,
    since: datetime | None = None,
    resource_prefix: str = AUDIT_PREFIX,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The audit events of this project, newest first, as plain mappings."""
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since or datetime.now(UTC) - timedelta(days=7)),
        event=EventNameFilter(prefix=[AUDIT_PREFIX]),
        resource=EventResourceFilter(id_prefix=[resource_prefix], labels={"tasklane.project": [project]}),
    )
    page = await client.read_events(filter=event_filter, limit=min(limit, 50))  # the server's page cap
    events = list(page.events)
    while len(events) < limit and page.next_page:
        page = await client.read_events_page(str(page.next_page))
        events.extend(page.events)
    rows = []
    for event in events[:limit]:
        rows.append(
            {
                "id": str(event.id),
                "occurred": event.occurred,
                "event": event.event,
                "resource": event.resource.id,
                "caller": event.payload.get("caller"),
                "role": event.payload.get("role"),
                "change": event.payload.get("change"),
                "result": event.payload.get("result"),
            }
        )
    return rows
