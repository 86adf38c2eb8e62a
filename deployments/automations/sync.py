"""The automations a deployment owns, and making the server hold exactly those the task wants.

Each deployment owns its dependency trigger, its crash retry and its alerts. Each description
starts with OWNED_MARK and the deployment id (the server does not echo owner_resource back),
then the kind's mark and a hash of what it encodes (`deployments.tags`), so comparing
descriptions tells an unchanged automation from a changed one, which is never touched.
"""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.events.schemas.automations import Automation, AutomationCore

from deployments.automations.alerts import alert_automations, resolve_alert_blocks
from deployments.automations.crash_retry import crash_retry_automation
from deployments.automations.dependencies import dependency_trigger
from deployments.catalog import TaskSpec, current_alert_settings
from deployments.tags import ALERT_MARK, CRASH_RETRY_MARK, DEPENDENCY_MARK, OWNED_MARK
from tasklane.settings.alerts import AlertSettings


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
    if task.run_policy().retries:  # its own retries, or settings `execution.retry` where it has none
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
    for existing in owned:
        have.setdefault(existing.description, existing)
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
    for gone in stale:
        await client.delete_automation(gone.id)
    return changes
