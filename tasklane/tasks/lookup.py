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
from zoneinfo import ZoneInfo

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
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from prefect.client.schemas.sorting import FlowRunSort
from pydantic import ValidationError

from deployments.apply import Target, read_task_deployments
from deployments.errors import CatalogError, TrashedTaskError, UnknownTaskError, problems_from_validation
from deployments.run_names import run_name
from deployments.schedules import ScheduleSpec, _server_dates, parse_schedules
from deployments.tags import DEFINITION_LABEL
from deployments.task_types import registered_task_types
from deployments.trash import is_trashed
from tasklane.history.ledger import LastOutcome, current_ledger
from tasklane.history.runs import RunQuery, first_runs
from tasklane.settings.alerts import format_duration
from tasklane.settings.reports import TASKLANE_TAG


def tag_value(tags: list[str], prefix: str) -> str | None:
    for tag in tags:
        if tag.startswith(prefix + ":"):
            return tag.split(":", 1)[1]
    return None


@dataclass
class TaskRow:
    """One line of `tasklane list` (and of the API's task lists).

    `last_state` / `last_run`: the outcome of the latest run that ended (Completed, Failed,
    TimedOut, Crashed, Cancelled, ...) and when it ended; a run still in flight never replaces
    them, it is `running_state` / `running_since` (Pending, Running, ...; since when). Times are
    in `timezone`, the zone of the task's schedules (else the settings' `timezone`, else UTC).
    """

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
    running_state: str | None = None
    running_since: datetime | None = None
    timezone: str = "UTC"
    last_run_id: UUID | None = None  # the run of `last_state`


@dataclass
class TaskDetail:
    row: TaskRow
    deployment: DeploymentResponse
    recent_runs: list[FlowRun] = field(default_factory=list)


def written_schedules(deployment: DeploymentResponse) -> list[ScheduleSpec] | None:
    """The schedule specs of the task's definition as its home wrote it (DEFINITION_LABEL), or
    None where the deployment carries no readable definition (made outside Tasklane, or before
    definitions were kept)."""
    text = (deployment.labels or {}).get(DEFINITION_LABEL)
    if text is None:
        return None
    try:
        definition = json.loads(str(text))
        # A `once` already past is refused by validation (it is meant for new specs): read with
        # a clock before any of them.
        return parse_schedules(definition.get("schedule"), now=datetime(1970, 1, 1, tzinfo=UTC))
    except (ValueError, AttributeError):  # ValidationError is a ValueError
        return None


def _compiled_zone(spec: ScheduleSpec, deployment: DeploymentResponse) -> str | None:
    """The zone a spec without `timezone` was compiled in: its cron schedules carry it."""
    slug = spec.slug()
    for item in deployment.schedules or []:
        if (item.slug or "").startswith(slug) and isinstance(item.schedule, CronSchedule):
            return item.schedule.timezone
    return None


def spec_zone(spec: ScheduleSpec, deployment: DeploymentResponse, default_timezone: str | None) -> str:
    """The zone of a written spec's wall-clock times: its own, the one it was compiled in, the
    default (settings `timezone`), else UTC."""
    return spec.timezone or _compiled_zone(spec, deployment) or default_timezone or "UTC"


def _clock(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M" + (":%S" if value.second else ""))


def spec_text(spec: ScheduleSpec, zone: str | None) -> str:
    """A spec in the catalog's words: `every 10m`, `daily 02:00 Asia/Shanghai`,
    `weekly mon,fri 09:00 UTC`, `cron 0 */6 * * * UTC`, with its bounds (`from`, `until`,
    `max N runs`). `zone`: the zone of its wall-clock times (an `every` shows it only when it
    writes one: elapsed time has no zone).
    """
    if spec.every is not None:
        words = [f"every {spec.every}"]
        zone = spec.timezone
    elif spec.cron is not None:
        words = [f"cron {spec.cron}"]
    elif spec.daily is not None:
        words = [f"daily {', '.join(spec.daily)}"]
    elif spec.weekly is not None:
        words = [f"weekly {','.join(spec.weekly.days)} {', '.join(spec.weekly.at)}"]
    elif spec.monthly is not None:
        words = [f"monthly {','.join(map(str, spec.monthly.days))} {', '.join(spec.monthly.at)}"]
    else:
        assert spec.once is not None
        words = [f"once {_clock(spec.once)}"]
    if zone:
        words.append(zone)
    if spec.start is not None:
        words.append(f"from {_clock(spec.start)}")
    if spec.end is not None:
        words.append(f"until {_clock(spec.end)}")
    if spec.max_runs is not None:
        words.append(f"max {spec.max_runs} runs")
    return " ".join(words)


def prefect_schedule_text(schedule: Any) -> str:
    """A compiled Prefect schedule in the catalog's words, for a task whose definition is not
    kept: `every 10m`, `cron 0 2 * * * Europe/Berlin`, `rrule FREQ=... UTC`."""
    zone = getattr(schedule, "timezone", None)
    if isinstance(schedule, IntervalSchedule):
        return f"every {format_duration(schedule.interval)}"
    if isinstance(schedule, CronSchedule):
        return f"cron {schedule.cron} {zone or 'UTC'}"
    if isinstance(schedule, RRuleSchedule):
        rule = schedule.rrule.splitlines()[-1].removeprefix("RRULE:")
        return f"rrule {rule} {zone or 'UTC'}"
    return str(schedule)


def describe_schedules(deployment: DeploymentResponse, default_timezone: str | None = None) -> str:
    """The task's schedules as its catalog writes them (`every 10m; daily 02:00 Asia/Shanghai`),
    else Prefect's compiled ones in the same words; `-` for none. `default_timezone`: the zone of
    a spec that names none (settings `timezone`), where its compiled form does not say it."""
    written = written_schedules(deployment)
    if written is not None and (written or not deployment.schedules):
        parts = [spec_text(s, spec_zone(s, deployment, default_timezone)) for s in written]
    else:
        parts = [prefect_schedule_text(item.schedule) for item in deployment.schedules or []]
    return "; ".join(parts) or "-"


def schedule_timezone(deployment: DeploymentResponse, default_timezone: str | None = None) -> str:
    """The zone a task's times are shown in: its first schedule's (a written `every` without
    one: the default), else `default_timezone` (settings `timezone`), else UTC."""
    written = written_schedules(deployment)
    if written:
        first = written[0]
        if first.every is not None and first.timezone is None:
            return default_timezone or "UTC"
        return spec_zone(first, deployment, default_timezone)
    if written is None:
        for item in deployment.schedules or []:
            zone = getattr(item.schedule, "timezone", None)
            if zone and not isinstance(item.schedule, IntervalSchedule):
                return zone
    return default_timezone or "UTC"


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


# The three reads behind every row: the latest run to end (its outcome), the latest run in
# flight, and the earliest Scheduled one. An outcome is read by end time, none before 2000 (so
# never a NULL one, which a descending sort may put first), `finished` (a `NOT IN` of the
# unfinished types, which leaves the planner on the end-time index: see RunQuery).
LAST_OUTCOME = RunQuery(tags=(), finished=True, since=datetime(2000, 1, 1, tzinfo=UTC), window="end_time")
IN_FLIGHT = RunQuery(
    tags=(),
    state_types=tuple(
        t.value for t in (StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED)
    ),
)
NEXT_RUN = RunQuery(tags=(), state_types=(StateType.SCHEDULED.value,))


async def task_rows(
    client: PrefectClient, deployments: list[DeploymentResponse], timezone: str | None = None
) -> list[TaskRow]:
    """The rows of these deployments, in their order: the latest outcome, the run in flight and the
    next scheduled run of every task come from three sorted reads across all of them, not three
    queries per task. `timezone`: the zone of a task whose schedules name none (settings').
    """
    if not deployments:
        return []
    ids = [d.id for d in deployments]
    active = [d for d in deployments if not d.paused]
    planned = {d.id: next_runs(d, 1) for d in active}

    def later_than_planned(deployment_id: UUID, boundary: datetime) -> bool:
        # Not met on a page of scheduled runs sorted by start that ends at `boundary`: its first
        # scheduled run is later still, so if its schedules plan a run by then, that one is next.
        first = planned.get(deployment_id)
        return bool(first) and first[0] <= boundary

    last, flying, upcoming = await asyncio.gather(
        _last_outcomes(client, ids),
        first_runs(client, IN_FLIGHT, ids),
        first_runs(
            client,
            NEXT_RUN,
            [d.id for d in active],
            sort="EXPECTED_START_TIME_ASC",
            settled=later_than_planned,
        ),
    )
    return [
        _row(d, last.get(d.id), flying.get(d.id), upcoming.get(d.id), timezone, planned.get(d.id, []))
        for d in deployments
    ]


async def _last_outcomes(client: PrefectClient, ids: list[UUID]) -> dict[UUID, FlowRun | LastOutcome | None]:
    """Each deployment's latest ended run: from the run ledger where this process or the API has
    built it (one indexed query), else from the server."""
    ledger = await current_ledger(client, reconciled=False, built=True)
    if ledger is None:
        return await first_runs(client, LAST_OUTCOME, ids, sort="END_TIME_DESC")
    found = await asyncio.to_thread(ledger.last_outcomes, [str(i) for i in ids])
    return {i: found.get(str(i)) for i in ids}


def _row(
    deployment: DeploymentResponse,
    last: FlowRun | LastOutcome | None,
    flying: FlowRun | None,
    upcoming: FlowRun | None,
    default_timezone: str | None,
    planned: list[datetime],
) -> TaskRow:
    zone = ZoneInfo(schedule_timezone(deployment, default_timezone))

    def local(value: datetime | None) -> datetime | None:
        return value.astimezone(zone) if value is not None else None

    next_run: datetime | None = None
    if upcoming is not None and not deployment.paused:
        next_run = upcoming.expected_start_time
    # The server creates scheduled runs a little ahead; the schedules (`planned`: their next run,
    # `next_runs`) say it at once.
    if planned and (next_run is None or planned[0] < next_run):
        next_run = planned[0]
    since: datetime | None = None
    if flying is not None:
        since = flying.start_time or (flying.state.timestamp if flying.state else None)
    return TaskRow(
        name=deployment.name,
        type=tag_value(deployment.tags, "type"),
        group=tag_value(deployment.tags, "group"),
        priority=tag_value(deployment.tags, "priority"),
        schedule=describe_schedules(deployment, default_timezone),
        enabled=not deployment.paused,
        next_run=local(next_run),
        last_state=last.state_name if last else None,
        last_run=local(last.end_time) if last else None,
        deployment_id=deployment.id,
        running_state=flying.state_name if flying else None,
        running_since=local(since),
        timezone=zone.key,
        last_run_id=last.id if last else None,
    )


async def list_tasks(client: PrefectClient, target: Target) -> list[TaskRow]:
    """The project's tasks as rows, by name (those in the trash left out)."""
    deployments = await read_task_deployments(client, target)
    return await task_rows(client, [deployments[name] for name in sorted(deployments)], target.timezone)


async def show_task(
    client: PrefectClient, name: str, target: Target | None = None, *, timezone: str | None = None
) -> TaskDetail:
    """Task `name` (of `target`'s project, else any) with its row and its 10 latest runs;
    `timezone`: the zone of times where its schedules name none (default: `target`'s)."""
    deployment = await find_task(client, name, target)
    (row,) = await task_rows(client, [deployment], timezone or (target.timezone if target else None))
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
    """Create a flow run of task `name` now (its upstream dependencies are not involved), named
    after the task and this minute in the task's zone (`backup-20261206-0214`)."""
    deployment = await find_task(client, name, target)
    parameters = None
    if overrides:
        parameters = {**deployment.parameters, "job": merged_job(deployment, overrides)}
    zone = schedule_timezone(deployment, target.timezone if target else None)
    named = run_name(deployment.name, datetime.now(UTC), zone)
    return await client.create_flow_run_from_deployment(
        deployment.id, parameters=parameters, tags=["manual"], name=named
    )
