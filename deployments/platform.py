"""The platform flows `make up` deploys beside the catalog: the report and the history maintenance.

`deploy_platform` upserts one deployment per flow on the stack's work pool, scheduled from the
settings: the report (`flows/report.py`) every `report.interval_minutes` minutes, the maintenance
(`flows/maintenance.py`) on `history.maintenance_cron` in `timezone`, and, when settings name
`sources:`, the sources flow (`flows/sources.py`) every minute, polling each due source. The
schedules compile as the catalog's do (`deployments.schedules`): the interval is anchored at the
epoch in UTC, so a 30-minute report runs at :00 and :30.

The deployments carry `PLATFORM_TAG`, never `TASKLANE_TAG`: task lists, history, stats, reports
and `apply`'s pruning only see the catalog's tasks. Their names are fixed (`tasklane-report`,
`tasklane-maintenance`), so a catalog task cannot take them. A hash of what Tasklane sets is the
deployment's `version`; with it and the live schedules unchanged, nothing is sent, otherwise the
deployment is upserted, which replaces its schedules (and the runs they had scheduled). An
operator's pause is kept: `paused` is never sent.

The flows take no parameters here: they read the settings themselves when they run. They are
named by entrypoint, never imported by this layer (import-linter: deployments must not import
flows); loading the entrypoint yields the flow's name and parameter schema.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.objects import ConcurrencyLimitStrategy, ConcurrencyOptions, DeploymentSchedule
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
from prefect.exceptions import ObjectNotFound
from prefect.flows import Flow, load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema
from pydantic import ValidationError

from deployments.apply import create_deployment
from deployments.errors import CatalogError, Problem, validation_message
from deployments.schedules.spec import ScheduleSpec
from tasklane.settings import Settings

PLATFORM_TAG = "tasklane-platform"
REPORT_DEPLOYMENT = "tasklane-report"
MAINTENANCE_DEPLOYMENT = "tasklane-maintenance"
REPORT_ENTRYPOINT = "flows.report.report_flow"
MAINTENANCE_ENTRYPOINT = "flows.maintenance.maintenance_flow"
SOURCES_DEPLOYMENT = "tasklane-sources"
SOURCES_ENTRYPOINT = "flows.sources.sources_flow"
# One run of each at a time; a run due while the previous one still runs is cancelled, not queued:
# the next report catches up from its watermark, the next maintenance purges what is left.
CONCURRENCY_LIMIT = 1

PlatformAction = Literal["create", "update", "unchanged"]


@dataclass(frozen=True)
class PlatformFlow:
    """One platform flow as the settings want it deployed."""

    key: str  # "report" or "maintenance"
    name: str  # the deployment's name
    entrypoint: str
    description: str
    schedule: ScheduleSpec
    when: str  # the schedule in words, e.g. "every 30 min"
    setting: str  # the setting the schedule comes from, for messages
    parameters: dict[str, Any] = field(default_factory=dict)  # the deployment's, default none


@dataclass
class PlatformChange:
    action: PlatformAction
    flow: str
    deployment: str  # "flow name/deployment name"
    detail: str = ""

    def __str__(self) -> str:
        symbol = {"create": "+", "update": "~", "unchanged": "="}[self.action]
        return f"{symbol} {self.deployment}" + (f"  ({self.detail})" if self.detail else "")


@dataclass
class PlatformPlan:
    """What `deploy_platform` did, per flow."""

    changes: list[PlatformChange] = field(default_factory=list)
    schedules: dict[str, str] = field(default_factory=dict)  # flow key -> schedule in words

    @property
    def pending(self) -> list[PlatformChange]:
        return [c for c in self.changes if c.action != "unchanged"]

    def __str__(self) -> str:
        """`platform flows: report every 30 min, maintenance 17 3 * * * (UTC) (0 changed)`."""
        flows = ", ".join(f"{key} {when}" for key, when in self.schedules.items())
        return f"platform flows: {flows} ({len(self.pending)} changed)"


def platform_queue(queues: dict[str, int]) -> str | None:
    """The pool's highest-priority queue (lowest number); None (the pool's default queue) if none."""
    return min(queues.items(), key=lambda item: (item[1], item[0]))[0] if queues else None


def _settings_error(problems: list[Problem]) -> CatalogError:
    return CatalogError(problems, where="the settings", outcome="the platform flows were not deployed")


def _spec(setting: str, value: dict[str, Any]) -> ScheduleSpec:
    try:
        return ScheduleSpec.model_validate(value)
    except ValidationError as exc:
        fields = ["timezone" if d["loc"] == ("timezone",) else setting for d in exc.errors()]
        messages = [validation_message(d) for d in exc.errors()]
        raise _settings_error(
            [Problem("settings", None, name, message) for name, message in zip(fields, messages, strict=True)]
        ) from None


def platform_flows(settings: Settings) -> list[PlatformFlow]:
    """The report and maintenance flows (and the sources flow) with the schedules of `settings`."""
    minutes = settings.report.interval_minutes
    cron = settings.history.maintenance_cron
    return [
        PlatformFlow(
            key="report",
            name=REPORT_DEPLOYMENT,
            entrypoint=REPORT_ENTRYPOINT,
            description=(
                "Runs of Tasklane tasks finished since the last report -> Confluence, Mattermost, Excel, "
                "artifacts (settings `report`)."
            ),
            schedule=_spec("report.interval_minutes", {"every": f"{minutes}m"}),
            when=f"every {minutes} min",
            setting="report.interval_minutes",
        ),
        PlatformFlow(
            key="maintenance",
            name=MAINTENANCE_DEPLOYMENT,
            entrypoint=MAINTENANCE_ENTRYPOINT,
            description=(
                "History retention: deletes Tasklane runs older than history.retention_days or beyond "
                "history.max_records, and their artifacts."
            ),
            schedule=_spec("history.maintenance_cron", {"cron": cron, "timezone": settings.timezone}),
            when=f"{cron} ({settings.timezone})",
            setting="history.maintenance_cron",
        ),
    ] + _sources_flow(settings)


def _sources_flow(settings: Settings) -> list[PlatformFlow]:
    """The sources flow, every minute, when settings name sources: each run polls the due ones."""
    if not settings.sources:
        return []
    return [
        PlatformFlow(
            key="sources",
            name=SOURCES_DEPLOYMENT,
            entrypoint=SOURCES_ENTRYPOINT,
            description="Polls the external task sources of settings `sources:`, each on its interval.",
            schedule=_spec("sources", {"every": "1m"}),
            when="every 1 min",
            setting="sources",
            # A flow run starts in a temporary folder: the project's, for config.yaml and its paths.
            parameters={"project_dir": str(Path.cwd().resolve())},
        )
    ]


@dataclass
class _Desired:
    """What one platform flow becomes on the server (DeploymentCreate's fields, as sent)."""

    spec: PlatformFlow
    flow_name: str
    fields: dict[str, Any]

    @property
    def full_name(self) -> str:
        return f"{self.flow_name}/{self.spec.name}"


def _compile(spec: PlatformFlow) -> list[DeploymentScheduleCreate]:
    try:
        return spec.schedule.to_prefect(None, active=True)  # a cron carries its zone; an interval is UTC
    except ValueError as exc:  # a schedule Prefect cannot express exactly
        raise _settings_error([Problem("settings", None, spec.setting, str(exc))]) from None


def _desired(spec: PlatformFlow, work_pool: str, queue: str | None) -> _Desired:
    flow: Flow[..., Any] = load_flow_from_entrypoint(spec.entrypoint)
    fields: dict[str, Any] = {
        "name": spec.name,
        "entrypoint": spec.entrypoint,
        "description": spec.description,
        "tags": [PLATFORM_TAG],
        "parameters": dict(spec.parameters),
        "parameter_openapi_schema": parameter_schema(flow.fn).model_dump_for_openapi(),
        "enforce_parameter_schema": True,
        "work_pool_name": work_pool,
        "schedules": _compile(spec),
        "concurrency_limit": CONCURRENCY_LIMIT,
        "concurrency_options": ConcurrencyOptions(collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
    }
    if queue is not None:
        fields["work_queue_name"] = queue
    # The spec, not the compiled schedules, whose form may depend on the day (see compile.py).
    payload = {
        "flow": flow.name,
        **{k: v for k, v in fields.items() if k not in ("schedules", "concurrency_options")},
        "collision_strategy": ConcurrencyLimitStrategy.CANCEL_NEW.value,
        "schedule": spec.schedule.model_dump(mode="json", exclude_none=True),  # a cron's with its zone
    }
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]
    fields["version"] = f"{PLATFORM_TAG}-{digest}"
    return _Desired(spec, flow.name, fields)


def _schedule_key(slug: str | None, schedule: Any, active: bool | None) -> tuple[str, str, str, bool]:
    """What makes two schedules the same; an rrule's text may hold the day it was compiled, so by slug."""
    body = "" if isinstance(schedule, RRuleSchedule) else json.dumps(schedule.model_dump(mode="json"))
    return (slug or "", type(schedule).__name__, body, bool(active))


def describe_schedules(schedules: list[DeploymentSchedule] | list[DeploymentScheduleCreate]) -> str:
    """Schedules in words: `every 30 min`, `17 3 * * * (UTC)`."""
    words = []
    for item in schedules:
        schedule = item.schedule
        if isinstance(schedule, IntervalSchedule):
            words.append(f"every {schedule.interval.total_seconds() / 60:g} min")
        elif isinstance(schedule, CronSchedule):
            words.append(f"{schedule.cron} ({schedule.timezone})")
        elif isinstance(schedule, RRuleSchedule):
            words.append(f"rrule ({schedule.timezone})")
        if not item.active:
            words[-1] += " inactive"
    return ", ".join(words) or "no schedule"


def _reasons(current: DeploymentResponse, desired: _Desired) -> list[str]:
    reasons = []
    wanted: list[DeploymentScheduleCreate] = desired.fields["schedules"]
    live = sorted(_schedule_key(s.slug, s.schedule, s.active) for s in current.schedules)
    if live != sorted(_schedule_key(s.slug, s.schedule, s.active) for s in wanted):
        reasons.append(f"schedule {describe_schedules(current.schedules)} -> {describe_schedules(wanted)}")
    if current.version != desired.fields["version"] and not reasons:
        reasons.append("definition changed")
    return reasons


async def _read(client: PrefectClient, full_name: str) -> DeploymentResponse | None:
    try:
        return await client.read_deployment_by_name(full_name)
    except ObjectNotFound:
        return None


async def deploy_platform(client: PrefectClient, settings: Settings) -> PlatformPlan:
    """Create or update the report and maintenance deployments on `settings.pool`; what changed.

    Idempotent: a flow whose definition and live schedules match the settings is not sent again.
    """
    queue = platform_queue(dict(settings.pool.queues))
    flows = platform_flows(settings)
    plan = PlatformPlan(schedules={spec.key: spec.when for spec in flows})
    for spec in flows:
        desired = _desired(spec, settings.pool.name, queue)
        current = await _read(client, desired.full_name)
        if current is None:
            action: PlatformAction = "create"
            detail = f"{spec.when}, queue {queue or 'default'}"
        else:
            reasons = _reasons(current, desired)
            action = "update" if reasons else "unchanged"
            detail = ", ".join(reasons)
        if action != "unchanged":
            flow_id = await client.create_flow_from_name(desired.flow_name)
            await create_deployment(client, flow_id=flow_id, labels={}, **desired.fields)
        plan.changes.append(PlatformChange(action, spec.key, desired.full_name, detail))
    return plan
