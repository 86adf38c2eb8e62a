"""The trash mark on a deployment, and the server changes that put a task in and out of the trash.

Deleting a task (`tasklane delete`, the API's DELETE) keeps its deployment, so its id, its runs,
its history and its statistics stay: the deployment is tagged `tasklane-trashed:<UTC time>`
(and `tasklane-trashed-paused` when it was paused already), paused, the automations it owns
(dependency trigger, crash retry, alerts) are disabled and its waiting scheduled runs deleted,
so nothing runs from the trash. `tasklane.tasks.trash` does that and the restore; `apply`
restores a trashed task a file it reads still defines; every list and lookup of tasks leaves
trashed ones out (`deployments.apply.read_task_deployments`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType

from deployments.automations.sync import owned_automations
from deployments.tags import TRASHED_PAUSED_TAG, TRASHED_TAG_PREFIX

_PAGE = 200


def is_trashed(tags: Iterable[str]) -> bool:
    """Whether a deployment with these tags is in the trash."""
    return any(t.startswith(TRASHED_TAG_PREFIX) for t in tags)


def trashed_at(tags: Iterable[str]) -> datetime | None:
    """When the deployment went to the trash; None if it is not there (or the mark is unreadable)."""
    for tag in tags:
        if tag.startswith(TRASHED_TAG_PREFIX):
            try:
                return datetime.fromisoformat(tag.removeprefix(TRASHED_TAG_PREFIX))
            except ValueError:
                return None
    return None


def paused_before_trash(tags: Iterable[str]) -> bool:
    """Whether the deployment was paused (the task disabled) when it went to the trash."""
    return TRASHED_PAUSED_TAG in tags


def trash_tags(tags: Iterable[str], when: datetime, paused: bool) -> list[str]:
    """The tags of a deployment going to the trash at `when` (paused: it was paused already)."""
    kept = untrashed_tags(tags)
    return (
        kept
        + [TRASHED_TAG_PREFIX + when.isoformat(timespec="seconds")]
        + ([TRASHED_PAUSED_TAG] if paused else [])
    )


def untrashed_tags(tags: Iterable[str]) -> list[str]:
    """The tags without the trash mark."""
    return [t for t in tags if not t.startswith(TRASHED_TAG_PREFIX) and t != TRASHED_PAUSED_TAG]


def name_in_trash(name: str) -> str:
    """Why a new task cannot take a name a trashed task holds, and what to do."""
    return (
        f"a task named {name!r} is in the trash; restore it (`tasklane trash restore {name}`) "
        f"or purge it (`tasklane trash purge {name}`) first"
    )


async def set_owned_automations_enabled(client: PrefectClient, deployment_id: UUID, enabled: bool) -> int:
    """Enable or disable every automation the deployment owns; how many were changed."""
    changed = 0
    for automation in await owned_automations(client, deployment_id):
        if automation.enabled == enabled:
            continue
        if enabled:
            await client.resume_automation(automation.id)
        else:
            await client.pause_automation(automation.id)
        changed += 1
    return changed


async def delete_waiting_runs(client: PrefectClient, deployment_id: UUID) -> int:
    """Delete the deployment's Scheduled runs that never started (Late ones and those due later),
    so no worker picks them up; a run waiting for a retry (it ran already) is left to finish.
    Returns how many were deleted."""
    deleted = 0
    kept = 0
    while True:
        page = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            ),
            limit=_PAGE,
            offset=kept,
        )
        for flow_run in page:
            if flow_run.run_count:
                kept += 1
                continue
            await client.delete_flow_run(flow_run.id)
            deleted += 1
        if len(page) < _PAGE:
            return deleted


async def schedule_next_runs(client: PrefectClient, deployment_id: UUID) -> None:
    """Have the server create the deployment's next scheduled runs now, as its scheduler service
    would on its next loop (`POST /deployments/{id}/schedule`, the same `schedule_runs`, the same
    idempotency keys: the service adds no duplicates)."""
    response = await client.request(
        "POST", "/deployments/{id}/schedule", path_params={"id": deployment_id}, json={}
    )
    response.raise_for_status()
