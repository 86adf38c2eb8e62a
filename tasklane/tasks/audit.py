"""The audit trail: every change, from the CLI, the REST API or the chat bot, is one `tasklane.*`
Prefect event (who, what, which task, outcome, and the task's definition before -> after), read
back newest first. Prefect's event store keeps them; nothing else does.

- `audited(action, task, actor, ...)`: the one way a front end records a change: an async
  context manager around the change that emits its event on success or failure;
- `audit_apply(...)`: `deployments.apply.apply`, one event per task it created, updated or deleted;
- `read_audit(...)`: the events of a project, filtered by task, actor and time;
- actors: `token_actor` (the API: `token:<name>`), `os_actor` (the CLI: `os:<user>`),
  `chat_actor` (the bot: `chat:<username>`), `user_actor` (the console: `user:<name>`).

An event's resource is `tasklane.task.<name>` (or `tasklane.group.<g>`, `tasklane.token.<name>`,
`tasklane.scheduler.<pool>`, `tasklane.catalog.<project>`), labelled with the project, the actor,
the action and the task, so the event store filters by each.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.responses import DeploymentResponse
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter
from prefect.exceptions import ObjectNotFound

from deployments.apply import Plan, Target, apply, read_task_deployments
from deployments.catalog import Catalog
from deployments.tags import PROJECT_TAG_PREFIX
from tasklane.tasks.manage import deployment_to_task

log = logging.getLogger("tasklane.audit")

AUDIT_PREFIX = "tasklane."
TASK_RESOURCE_PREFIX = "tasklane.task."
# Resource labels of every audit event (besides Prefect's id and name): filters of `read_audit`.
PROJECT_LABEL = "tasklane.project"
ACTOR_LABEL = "tasklane.actor"
ACTION_LABEL = "tasklane.action"
TASK_LABEL = "tasklane.task"
# Actions that change a task's definition (or whether it runs): their events carry a diff.
DEFINITION_ACTIONS = {"created", "updated", "deleted", "enabled", "disabled", "cloned", "restored"}
# Actions after which there is a task that was not one before (a restore: out of the trash); after a
# `deleted` there is none (its deployment may stay, in the trash: it is no task).
NEW_TASK_ACTIONS = {"created", "cloned", "restored"}
_UNSET: Any = object()


# --- who ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who made a change: `kind:name` (`token:ci-bot`, `os:alice`, `chat:bob`), with the API role."""

    kind: str
    name: str
    role: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def token_actor(name: str, role: str) -> Actor:
    """A REST API caller, by its token's name (never the token)."""
    return Actor("token", name, role)


def os_actor() -> Actor:
    """The user running the CLI (or `make up`)."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (a container without a passwd entry)
        user = "unknown"
    return Actor("os", user)


def chat_actor(username: str) -> Actor:
    """A chat user who asked the bot."""
    return Actor("chat", username)


def user_actor(name: str, role: str) -> Actor:
    """A user signed in to the console (`tasklane user add`), with their role."""
    return Actor("user", name, role)


# --- what changed ---------------------------------------------------------------------------------


def definition_diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """The keys whose values differ, each `{"before": old, "after": new}` (None where absent)."""
    old, new = before or {}, after or {}
    return {
        key: {"before": old.get(key), "after": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def describe_diff(diff: Mapping[str, Any] | None) -> list[str]:
    """A diff as lines: `priority: 'HIGH' -> 'LOW'`."""
    lines = []
    for key, values in (diff or {}).items():
        old = values.get("before") if isinstance(values, Mapping) else None
        new = values.get("after") if isinstance(values, Mapping) else values
        lines.append(f"{key}: {_short(old)} -> {_short(new)}")
    return lines


def _short(value: Any, limit: int = 120) -> str:
    text = "-" if value is None else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def task_definition(client: PrefectClient, deployment_id: UUID | None) -> dict[str, Any] | None:
    """The task definition a deployment holds now (`manage.deployment_to_task`); None if it is gone."""
    if deployment_id is None:
        return None
    try:
        return deployment_to_task(await client.read_deployment(deployment_id))
    except ObjectNotFound:
        return None


def project_of(deployment: DeploymentResponse, default: str) -> str:
    """The Tasklane project a deployment belongs to (its project tag), else `default`."""
    for tag in deployment.tags:
        if tag.startswith(PROJECT_TAG_PREFIX):
            return tag.removeprefix(PROJECT_TAG_PREFIX)
    return default


# --- writing --------------------------------------------------------------------------------------


def emit_change(
    action: str,
    actor: Actor,
    *,
    project: str,
    task: str | None = None,
    resource: str | None = None,
    change: Any = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    result: str = "ok",
    deployment_id: UUID | None = None,
) -> None:
    """One audit event, `tasklane.<action>` (`task.updated`, `token.created`, ...), about `task`
    (resource `tasklane.task.<task>`) or `resource`. It never raises: the audit must not turn a
    change that was made into an error (a failure to send it is logged).

    The payload never holds a token: a token actor is the token's name.
    """
    resource_id = resource or f"{TASK_RESOURCE_PREFIX}{task}"
    labels = {PROJECT_LABEL: project, ACTOR_LABEL: str(actor), ACTION_LABEL: action}
    if task is not None:
        labels[TASK_LABEL] = task
    related = []
    if deployment_id is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{deployment_id}",
                "prefect.resource.role": "deployment",
            }
        )
    payload = {
        "actor": str(actor),
        "caller": actor.name,
        "role": actor.role,
        "action": action,
        "task": task,
        "change": change,
        "diff": definition_diff(before, after),
        "result": result,
    }
    try:
        emit_event(
            event=AUDIT_PREFIX + action,
            resource={
                "prefect.resource.id": resource_id,
                "prefect.resource.name": resource_id.rsplit(".", 1)[-1],
                **labels,
            },
            related=related or None,
            payload=payload,
        )
    except Exception:
        log.exception("could not emit the audit event %s of %s", action, resource_id)
    log.info("%s %s by %s: %s", action, resource_id, actor, result)


def failure(exc: BaseException) -> str:
    """An exception as an audit result: `failed: ` and its first line (an API error's message)."""
    message = getattr(exc, "message", None)
    text = message if isinstance(message, str) else (str(exc).splitlines() or [type(exc).__name__])[0]
    return f"failed: {text[:300]}"


@asynccontextmanager
async def audited(
    action: str,
    task: str | None,
    actor: Actor,
    *,
    project: str,
    client: PrefectClient | None = None,
    deployment_id: UUID | None = None,
    before: Mapping[str, Any] | None = _UNSET,
    resource: str | None = None,
    change: Any = None,
    diff: bool | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Record the change the block makes as one audit event, when it ends: result "ok" (or what
    the block put in `record["result"]`), or "failed: ..." (and the exception goes on).

    Args:
        action: `task.created`, `task.updated`, `task.run`, `group.enabled`, `token.created`...
        task: the task's name (its resource `tasklane.task.<task>`); None with `resource`.
        actor: who (`token_actor`, `os_actor`, `chat_actor`).
        project: the project the event is labelled with (`read_audit` filters by it).
        client, deployment_id: where the task's definition is read before and after the block.
        before: the definition before (a catalog mapping, None for a new task); default: read
            (None for `NEW_TASK_ACTIONS`).
        change: what was asked (the request's body, the command's options).
        diff: whether to record the definition's before -> after; default: for the actions
            that change it (`DEFINITION_ACTIONS`).

    The block may set in the record it gets: `result`, `deployment_id` (of a task it created),
    `after` (the definition after; default: read from the server, None for `deleted`), `task`
    (when only the block finds out which task it was: the event is then about it) and `change`.
    """
    tail = action.rsplit(".", 1)[-1]
    tracks = diff if diff is not None else task is not None and tail in DEFINITION_ACTIONS
    if before is _UNSET:
        before = None
        if tracks and client is not None and tail not in NEW_TASK_ACTIONS:
            before = await task_definition(client, deployment_id)
    record: dict[str, Any] = {"deployment_id": deployment_id}

    def emit(result: str, after: Mapping[str, Any] | None) -> None:
        emit_change(
            action,
            actor,
            project=project,
            task=record.get("task", task),
            resource=None if "task" in record else resource,
            change=record.get("change", change),
            before=before if tracks else None,
            after=after if tracks else None,
            result=result,
            deployment_id=record.get("deployment_id"),
        )

    try:
        yield record
    except Exception as exc:
        emit(failure(exc), before)
        raise
    after = record.get("after", _UNSET)
    if after is _UNSET:
        after = None
        if tracks and client is not None and tail != "deleted":
            after = await task_definition(client, record.get("deployment_id"))
    emit(str(record.get("result", "ok")), after)


async def audit_apply(
    client: PrefectClient, catalog: Catalog, target: Target, actor: Actor, *, prune: bool = True
) -> Plan:
    """`deployments.apply.apply`, on the audit trail: one event per task it created, updated or
    deleted (`task.created|updated|deleted`, the plan's reason as the change, the definition's
    before -> after); an apply that fails is one `catalog.applied` event with its error."""
    try:
        result = await apply(client, catalog, target, prune=prune)
    except Exception as exc:
        emit_change(
            "catalog.applied",
            actor,
            project=target.project,
            resource=f"tasklane.catalog.{target.project}",
            change={"files": [str(path) for path in catalog.files], "prune": prune},
            result=failure(exc),
        )
        raise
    pending = result.pending
    if not pending:
        return result
    now = await read_task_deployments(client, target)
    for change in pending:
        old, new = result.existing.get(change.task), now.get(change.task)
        emit_change(
            f"task.{change.action}d",
            actor,
            project=target.project,
            task=change.task,
            change={"apply": change.detail} if change.detail else {"apply": change.action},
            before=deployment_to_task(old) if old is not None else None,
            after=deployment_to_task(new) if new is not None else None,
            deployment_id=(new or old).id if (new or old) is not None else None,
        )
    return result


# --- reading --------------------------------------------------------------------------------------


async def read_audit(
    client: PrefectClient,
    project: str,
    *,
    since: datetime | None = None,
    resource_prefix: str = AUDIT_PREFIX,
    task: str | None = None,
    actor: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The audit events of this project, newest first, as plain mappings.

    Args:
        since: default 7 days ago.
        task: only this task's events (resource `tasklane.task.<task>`).
        actor: only this actor's (`os:alice`; `*` matches any text: `os:*`, `token:*`).
    """
    labels: dict[str, list[str]] = {PROJECT_LABEL: [project]}
    if actor:
        labels[ACTOR_LABEL] = [actor]
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since or datetime.now(UTC) - timedelta(days=7)),
        event=EventNameFilter(prefix=[AUDIT_PREFIX]),
        resource=EventResourceFilter(
            id=[f"{TASK_RESOURCE_PREFIX}{task}"] if task else None,
            id_prefix=[resource_prefix],
            labels=labels,
        ),
    )
    page = await client.read_events(filter=event_filter, limit=min(limit, 50))  # the server's page cap
    events = list(page.events)
    while len(events) < limit and page.next_page:
        page = await client.read_events_page(str(page.next_page))
        events.extend(page.events)
    rows = []
    for event in events[:limit]:
        payload = event.payload
        name = event.event.removeprefix(AUDIT_PREFIX)
        rows.append(
            {
                "id": str(event.id),
                "occurred": event.occurred,
                "event": event.event,
                "resource": event.resource.id,
                "actor": payload.get("actor") or _old_actor(payload),
                "action": payload.get("action") or name,
                "task": payload.get("task") or _task_of(event.resource.id),
                "caller": payload.get("caller"),
                "role": payload.get("role"),
                "change": payload.get("change"),
                "diff": payload.get("diff") or {},
                "result": payload.get("result"),
            }
        )
    return rows


def _old_actor(payload: Mapping[str, Any]) -> str | None:
    """The actor of an event written before actors were recorded: the API's token name."""
    caller = payload.get("caller")
    return f"token:{caller}" if caller else None


def _task_of(resource_id: str) -> str | None:
    return (
        resource_id.removeprefix(TASK_RESOURCE_PREFIX)
        if resource_id.startswith(TASK_RESOURCE_PREFIX)
        else None
    )
