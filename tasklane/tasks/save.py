"""Save one task from a mapping (the REST API's create and update; later the console's):
validate it as the catalog would, compile it and push its deployment and automations, without
touching the project's other tasks. Also a task's display title, its id from a title, and its
next runs from its compiled schedules.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.responses import DeploymentResponse

from deployments.apply import (
    Target,
    check_names_free,
    desired_deployment,
    push_deployment,
    read_task_deployments,
)
from deployments.automations.sync import sync_automations
from deployments.catalog import Catalog, TaskSpec, find_cycle
from deployments.errors import CatalogError, OwnedElsewhereError, Problem, TrashedTaskError, UnknownTaskError
from deployments.ownership import API_HOME, FILE_HOME_PREFIX, describe_home, home_of
from deployments.tags import UPSTREAM_TAG_PREFIX
from deployments.trash import is_trashed
from tasklane.settings.reports import TASKLANE_TAG
from tasklane.tasks.lookup import find_task
from tasklane.tasks.manage import deployment_to_task

TITLE_TAG_PREFIX = "title:"


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
    if is_trashed(deployment.tags):
        raise TrashedTaskError(deployment.name, f"project {target.project!r}")
    return deployment


async def save_task(
    client: PrefectClient,
    task: TaskSpec,
    target: Target,
    *,
    existing: DeploymentResponse | None = None,
    keep_schedules: bool = False,
    detach: bool = False,
) -> UUID:
    """Create or replace one task's deployment exactly as `apply` would, leaving every other task alone.

    Args:
        task: the validated task (`deployments.catalog.parse_task`).
        existing: its current deployment when it is an update (None: a new task, whose name must be free).
        keep_schedules: keep the deployment's current schedules (an update that does not change them,
            where the server's compiled form cannot be read back as a spec).
        detach: take over a task a catalog file defines (it becomes the API's); without it, changing
            such a task raises OwnedElsewhereError.

    Raises:
        CatalogError: the name is taken by another project, an upstream is unknown, a dependency cycle,
            or a schedule Prefect cannot express.
    """
    if existing is not None:
        held = home_of(existing.tags)
        if held is not None and held.startswith(FILE_HOME_PREFIX) and not detach:
            raise OwnedElsewhereError(
                task.name, describe_home(held), f"take it over: `tasklane detach {task.name}` or ?detach=true"
            )
    every = await read_task_deployments(client, target, include_trashed=True)
    mine = {name: d for name, d in every.items() if not is_trashed(d.tags)}
    if existing is None:
        # A name a trashed task holds is refused naming the trash (restore or purge it first).
        await check_names_free(client, Catalog(tasks=[task]), target, mine)
    problems = []
    for upstream in task.depends_on:
        if upstream == task.name:
            problems.append(Problem("request", task.name, "depends_on", "a task cannot depend on itself"))
        elif upstream in every and upstream not in mine:
            why = f"task {upstream!r} is in the trash (tasklane trash restore {upstream})"
            problems.append(Problem("request", task.name, "depends_on", why))
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
        desired = desired_deployment(task, target, home=API_HOME)
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
