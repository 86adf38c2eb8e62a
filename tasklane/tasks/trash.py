"""The trash: a deleted task is kept `trash.retention_days`, and a restored task is the same task.

Deleting a task (`tasklane delete`, the API's DELETE of a task or a group) keeps its deployment:
`trash_tasks` marks it (`deployments.trash`), pauses it, disables the automations it owns
(dependency trigger, crash retry, alerts) and deletes its waiting scheduled runs, so nothing runs
from the trash while its id, definition, schedules, dependencies, alerts, owner, runs, history and
statistics all stay. `restore_task` takes the mark off, resumes it if it was running before,
enables its automations again and has the server schedule its next runs (the same schedules, so
the same next runs). `purge` deletes for good: one task, all, or those trashed longer than the
retention (the maintenance flow). `list_trash` says what is there and which tasks depend on each.

Every list and lookup of tasks leaves trashed ones out; a new task cannot take a trashed name.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentUpdate
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.responses import DeploymentResponse

from deployments.apply import Target, read_task_deployments
from deployments.errors import DeploymentsError, UnknownTaskError
from deployments.ownership import home_of
from deployments.tags import PROJECT_TAG_PREFIX, UPSTREAM_TAG_PREFIX
from deployments.trash import (
    delete_waiting_runs,
    is_trashed,
    name_in_trash,
    paused_before_trash,
    schedule_next_runs,
    set_owned_automations_enabled,
    trash_tags,
    trashed_at,
    untrashed_tags,
)
from tasklane.settings.reports import TASKLANE_TAG
from tasklane.tasks.lookup import tag_value
from tasklane.tasks.manage import delete_tasks

_PAGE = 200
# How long after pausing trashed tasks their waiting runs are swept a second time (see trash_tasks).
RESWEEP_AFTER_SECONDS = 2.0


@dataclass
class Trashed:
    """What `trash_tasks` did: the tasks now in the trash, and the tasks that depend on them."""

    names: list[str]
    # trashed task -> the tasks (not trashed with it) whose `depends_on` names it: they will not be
    # triggered by it until it is restored.
    downstream: dict[str, list[str]] = field(default_factory=dict)

    @property
    def affected(self) -> list[str]:
        """Every task that depends on one of the trashed tasks."""
        return sorted({name for names in self.downstream.values() for name in names})


@dataclass
class TrashEntry:
    """One task in the trash."""

    name: str
    deployment_id: UUID
    trashed_at: datetime | None
    home: str | None
    group: str | None
    # The tasks (not in the trash) that depend on it.
    downstream: list[str]
    # Whether it was enabled when it was deleted (a restore gives that back).
    was_enabled: bool
    project: str | None = None


@dataclass
class Restored:
    """What `restore_task` did."""

    name: str
    deployment_id: UUID
    enabled: bool  # running again (False: it was disabled when deleted, and stays so)
    automations: int  # automations enabled again
    # Upstream tasks it depends on that are gone (purged) or still in the trash: until they are
    # back, it is not triggered by them.
    missing_upstream: list[str] = field(default_factory=list)


def _upstream(deployment: DeploymentResponse) -> list[str]:
    return [t.removeprefix(UPSTREAM_TAG_PREFIX) for t in deployment.tags if t.startswith(UPSTREAM_TAG_PREFIX)]


async def _every(client: PrefectClient, target: Target | None) -> list[DeploymentResponse]:
    """Tasklane's deployments of the project (every project for None), trashed ones included."""
    if target is not None:
        return list((await read_task_deployments(client, target, include_trashed=True)).values())
    found: list[DeploymentResponse] = []
    while True:
        page = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TASKLANE_TAG])),
            limit=_PAGE,
            offset=len(found),
        )
        found += page
        if len(page) < _PAGE:
            return found


def _downstream(every: list[DeploymentResponse]) -> dict[str, list[str]]:
    """upstream name -> the tasks not in the trash that depend on it."""
    found: dict[str, list[str]] = {}
    for deployment in every:
        if is_trashed(deployment.tags):
            continue
        for upstream in _upstream(deployment):
            found.setdefault(upstream, []).append(deployment.name)
    return {name: sorted(names) for name, names in found.items()}


async def trashed_deployments(client: PrefectClient, target: Target | None) -> list[DeploymentResponse]:
    """The deployments in the trash of the project (of every project for None), by name."""
    return sorted((d for d in await _every(client, target) if is_trashed(d.tags)), key=lambda d: d.name)


async def find_trashed(client: PrefectClient, name: str, target: Target) -> DeploymentResponse:
    """The deployment of task `name` in the project's trash; UnknownTaskError if it is not there."""
    trashed = await trashed_deployments(client, target)
    for deployment in trashed:
        if deployment.name == name:
            return deployment
    raise UnknownTaskError(name, f"the trash of project {target.project!r}", [d.name for d in trashed])


async def check_not_trashed(client: PrefectClient, name: str, target: Target) -> None:
    """Refuse a new task's name that a task in the trash holds (restore or purge it first)."""
    if any(d.name == name for d in await trashed_deployments(client, target)):
        raise DeploymentsError(name_in_trash(name))


async def dependents(
    client: PrefectClient, deployments: list[DeploymentResponse], target: Target | None = None
) -> dict[str, list[str]]:
    """For each of these tasks that others depend on: those others (not in the trash, and not
    among these tasks), i.e. what deleting these tasks affects. `target`: the project (None: any)."""
    names = {d.name for d in deployments}
    depending = _downstream(await _every(client, target)) if deployments else {}
    found = {}
    for deployment in deployments:
        others = [n for n in depending.get(deployment.name, []) if n not in names]
        if others:
            found[deployment.name] = others
    return found


async def trash_tasks(
    client: PrefectClient,
    deployments: list[DeploymentResponse],
    target: Target | None = None,
    *,
    now: datetime | None = None,
) -> Trashed:
    """Move tasks to the trash: marked, paused, their automations disabled, their waiting runs deleted.

    Their deployments stay (ids, runs, history, statistics); tasks already in the trash are left as
    they are. Returns the names and, for each, the tasks that depend on it (`target`'s project, or
    any project for None) apart from those trashed with it.
    """
    when = (now or datetime.now(UTC)).astimezone(UTC)
    chosen = [d for d in deployments if not is_trashed(d.tags)]
    result = Trashed(names=[d.name for d in chosen], downstream=await dependents(client, chosen, target))
    for deployment in chosen:
        # One PATCH marks and pauses it (the server drops its future auto-scheduled runs and the
        # scheduler skips it); then its automations, then the runs still waiting.
        tags = trash_tags(deployment.tags, when, paused=bool(deployment.paused))
        await client.update_deployment(deployment.id, DeploymentUpdate(tags=tags, paused=True))
        await set_owned_automations_enabled(client, deployment.id, False)
        await delete_waiting_runs(client, deployment.id)
    if chosen:
        # The server's scheduler reads the deployments it schedules, then inserts their runs: a
        # pass that read one of these just before its pause inserts runs after the sweep above.
        # Such a pass ends within moments, so one more sweep after it catches what it added.
        await asyncio.sleep(RESWEEP_AFTER_SECONDS)
        for deployment in chosen:
            await delete_waiting_runs(client, deployment.id)
    return result


async def restore_deployment(
    client: PrefectClient, deployment: DeploymentResponse, target: Target
) -> Restored:
    """Take a trashed deployment out of the trash (see `restore_task`)."""
    if not is_trashed(deployment.tags):
        raise DeploymentsError(f"task {deployment.name!r} is not in the trash")
    enabled = not paused_before_trash(deployment.tags)
    await client.update_deployment(
        deployment.id, DeploymentUpdate(tags=untrashed_tags(deployment.tags), paused=not enabled)
    )
    automations = await set_owned_automations_enabled(client, deployment.id, True)
    if enabled:
        await schedule_next_runs(client, deployment.id)
    live = await read_task_deployments(client, target)
    missing = [name for name in _upstream(deployment) if name not in live]
    return Restored(deployment.name, deployment.id, enabled, automations, missing)


async def restore_task(client: PrefectClient, name: str, target: Target) -> Restored:
    """Bring task `name` back from the trash as the same task: its mark off, resumed if it was
    enabled when deleted, its automations (dependencies, crash retry, alerts) enabled, its next
    runs scheduled (same schedules, same runs); its runs from before the delete are still its own.

    Raises:
        UnknownTaskError: no task of that name in the project's trash.
    """
    return await restore_deployment(client, await find_trashed(client, name, target), target)


async def list_trash(client: PrefectClient, target: Target | None) -> list[TrashEntry]:
    """The tasks in the trash (of every project for None), by name: when, home, group, dependents."""
    every = await _every(client, target)
    depending = _downstream(every)
    entries = []
    for deployment in sorted((d for d in every if is_trashed(d.tags)), key=lambda d: d.name):
        project = next(
            (t.removeprefix(PROJECT_TAG_PREFIX) for t in deployment.tags if t.startswith(PROJECT_TAG_PREFIX)),
            None,
        )
        entries.append(
            TrashEntry(
                name=deployment.name,
                deployment_id=deployment.id,
                trashed_at=trashed_at(deployment.tags),
                home=home_of(deployment.tags),
                group=tag_value(deployment.tags, "group"),
                downstream=depending.get(deployment.name, []),
                was_enabled=not paused_before_trash(deployment.tags),
                project=project,
            )
        )
    return entries


async def purge(
    client: PrefectClient,
    target: Target | None,
    name: str | None = None,
    older_than: timedelta | None = None,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete tasks in the trash for good (deployment and owned automations; runs stay on the server).

    Args:
        target: the project (None: every project, as the maintenance flow purges).
        name: only this task (UnknownTaskError if it is not in the trash); else all, or with
            `older_than` those trashed longer ago than that (a mark without a readable time counts
            as old).
        dry_run: only say what would be purged.

    Returns:
        The names purged (or that would be), sorted.
    """
    trashed = await trashed_deployments(client, target)
    if name is not None:
        chosen = [d for d in trashed if d.name == name]
        if not chosen:
            where = f"the trash of project {target.project!r}" if target else "the trash"
            raise UnknownTaskError(name, where, [d.name for d in trashed])
    elif older_than is not None:
        cutoff = (now or datetime.now(UTC)) - older_than
        chosen = [d for d in trashed if (trashed_at(d.tags) or datetime.min.replace(tzinfo=UTC)) <= cutoff]
    else:
        chosen = trashed
    if not dry_run:
        await delete_tasks(client, chosen)
    return sorted(d.name for d in chosen)
