"""Operations on the tasks a server holds: find, list, show, run, follow a run.

The CLI calls these, and so will the REST API: one implementation of each operation.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    DeploymentFilterTags,
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.sorting import FlowRunSort
from pydantic import ValidationError

from deployments.apply import Target, read_task_deployments
from deployments.errors import CatalogError, TrashedTaskError, UnknownTaskError, problems_from_validation
from deployments.schedules import _server_dates
from deployments.task_types import registered_task_types
from deployments.trash import is_trashed
from tasklane.history.runs import RunQuery, first_runs
from tasklane.settings.reports import TASKLANE_TAG


def tag_value(tags: list[str], prefix: str) -> str | None:
    for tag in tags:
        if tag.startswith(prefix + ":"):
            return tag.split(":", 1)[1]
    return None


@dataclass
class TaskRow:
    """One line of `tasklane list`."""

    name: str
    type: str | None
    group: str | None
    priority: str | None
    schedule: str
    enabled: bool
    next_run: datetime | None
    last_state: str | None
    last_run: datetime | None
    deployment_id: UUID


@dataclass
class TaskDetail:
    row: TaskRow
    deployment: DeploymentResponse
    recent_runs: list[FlowRun] = field(default_factory=list)


def describe_schedules(deployment: DeploymentResponse) -> str:
    parts = []
    for item in deployment.schedules or []:
        schedule = item.schedule
        text = getattr(schedule, "cron", None) or getattr(schedule, "rrule", None)
        if text is None and getattr(schedule, "interval", None) is not None:
            text = f"every {schedule.interval}"
        tz = getattr(schedule, "timezone", None)
        parts.append(f"{text}{f' ({tz})' if tz and tz != 'UTC' else ''}")
    return "; ".join(parts) or "-"


async def find_task(client: PrefectClient, name: str, target: Target | None = None) -> DeploymentResponse:
    """The deployment of task `name` (any Tasklane project unless `target` narrows it).

    A task in the trash is not found: TrashedTaskError (an UnknownTaskError) says how to restore it.
    """
    tags = [TASKLANE_TAG] + ([target.project_tag] if target else [])
    found = await client.read_deployments(
        deployment_filter=DeploymentFilter(
            name=DeploymentFilterName(any_=[name]), tags=DeploymentFilterTags(all_=tags)
        ),
        limit=5,
    )
    live = [d for d in found if not is_trashed(d.tags)]
    if live:
        return live[0]
    if found:
        raise TrashedTaskError(name, str(client.api_url))
    known = [
        d.name
        for d in await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=tags)), limit=200
        )
        if not is_trashed(d.tags)
    ]
    raise UnknownTaskError(name, str(client.api_url), known)


async def recent_runs(client: PrefectClient, deployment_id: UUID, limit: int = 5) -> list[FlowRun]:
    """The latest runs that have left Scheduled, newest first."""
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=[StateType.SCHEDULED])),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        limit=limit,
    )


def next_runs(deployment: DeploymentResponse, n: int = 1, after: datetime | None = None) -> list[datetime]:
    """The next `n` runs of a deployment's active schedules, expanded as Prefect's server does."""
    if deployment.paused:
        return []
    schedules = [s.schedule for s in deployment.schedules or [] if s.active]
    if not schedules:
        return []
    return _server_dates(schedules, n, after or datetime.now(UTC))


# The two reads behind every row: the latest run that left Scheduled, the earliest Scheduled one.
LAST_RUN = RunQuery(tags=(), excluded_types=(StateType.SCHEDULED.value,))
NEXT_RUN = RunQuery(tags=(), state_types=(StateType.SCHEDULED.value,))


async def task_rows(client: PrefectClient, deployments: list[DeploymentResponse]) -> list[TaskRow]:
    """The rows of these deployments, in their order: the latest run and the next scheduled run of
    every task come from two sorted reads across all of them, not two queries per task.
    """
    if not deployments:
        return []
    ids = [d.id for d in deployments]
    active = [d.id for d in deployments if not d.paused]
    last, upcoming = await asyncio.gather(
        first_runs(client, LAST_RUN, ids),
        first_runs(client, NEXT_RUN, active, sort="EXPECTED_START_TIME_ASC"),
    )
    return [_row(d, last.get(d.id), upcoming.get(d.id)) for d in deployments]


def _row(deployment: DeploymentResponse, last: FlowRun | None, upcoming: FlowRun | None) -> TaskRow:
    next_run = upcoming.expected_start_time if upcoming is not None and not deployment.paused else None
    # The server creates scheduled runs a little ahead; the schedules say it at once.
    planned = next_runs(deployment, 1)
    if planned and (next_run is None or planned[0] < next_run):
        next_run = planned[0]
    return TaskRow(
        name=deployment.name,
        type=tag_value(deployment.tags, "type"),
        group=tag_value(deployment.tags, "group"),
        priority=tag_value(deployment.tags, "priority"),
        schedule=describe_schedules(deployment),
        enabled=not deployment.paused,
        next_run=next_run,
        last_state=last.state_name if last else None,
        last_run=(last.start_time or last.expected_start_time) if last else None,
        deployment_id=deployment.id,
    )


async def list_tasks(client: PrefectClient, target: Target) -> list[TaskRow]:
    """The project's tasks as rows, by name (those in the trash left out)."""
    deployments = await read_task_deployments(client, target)
    return await task_rows(client, [deployments[name] for name in sorted(deployments)])


async def show_task(client: PrefectClient, name: str, target: Target | None = None) -> TaskDetail:
    deployment = await find_task(client, name, target)
    (row,) = await task_rows(client, [deployment])
    recent = await recent_runs(client, deployment.id, limit=10)
    return TaskDetail(row=row, deployment=deployment, recent_runs=recent)


def set_path(target: dict[str, Any], dotted: str, value: Any) -> None:
    """`kwargs.obj` = value sets target["kwargs"]["obj"], creating mappings on the way."""
    *parents, last = dotted.split(".")
    for key in parents:
        child = target.get(key)
        target[key] = child = dict(child) if isinstance(child, dict) else {}
        target = child
    target[last] = value


def merged_job(deployment: DeploymentResponse, overrides: dict[str, Any]) -> dict[str, Any]:
    """The deployment's job parameters with `--param` overrides, validated by the type's model.

    Keys are the job's fields, dotted for nested ones: `command=...`, `kwargs.days=7`.
    """
    job = json.loads(json.dumps(deployment.parameters.get("job", {})))  # a deep copy
    for key, value in overrides.items():
        set_path(job, key, value)
    task_type = registered_task_types().get(tag_value(deployment.tags, "type") or "")
    if task_type is not None:
        try:
            task_type.job_model.model_validate(job)
        except ValidationError as exc:
            problems = problems_from_validation(exc, "--param", deployment.name, found="never")
            raise CatalogError(problems, where="--param", outcome="nothing was run") from None
    return job


async def run_task(
    client: PrefectClient, name: str, overrides: dict[str, Any] | None = None, target: Target | None = None
) -> FlowRun:
    """Create a flow run of task `name` now (its upstream dependencies are not involved)."""
    deployment = await find_task(client, name, target)
    parameters = None
    if overrides:
        parameters = {**deployment.parameters, "job": merged_job(deployment, overrides)}
    return await client.create_flow_run_from_deployment(deployment.id, parameters=parameters, tags=["manual"])
