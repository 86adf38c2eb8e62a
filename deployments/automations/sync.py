"""The automations a deployment owns, and making the server hold exactly those the task wants.

Each deployment owns its dependency trigger, its crash retry and its alerts. Their names and
descriptions are sentences, for Prefect's UI (`retry backup after a crash`); their tags mark them
(`deployments.tags`): OWNED_MARK and the deployment id (the server does not echo owner_resource
back), and the kind's mark with a hash of what it encodes. An automation whose name, description
and tags are as wanted is never touched.

Automations made before those tags carry the same marks in their description instead
(`tasklane-owned-by:<id> tasklane-alert failed <hash>`): they are found as owned too, and the next
sync updates each in place (same id) to the tagged form.
"""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.events.schemas.automations import Automation, AutomationCore

from deployments.automations.alerts import alert_automations, resolve_alert_blocks
from deployments.automations.crash_retry import crash_retry_automation
from deployments.automations.dependencies import dependency_automation
from deployments.catalog import TaskSpec, current_alert_settings
from deployments.tags import ALERT_MARK, CRASH_RETRY_MARK, DEPENDENCY_MARK, OWNED_MARK
from tasklane.settings.alerts import AlertSettings

# How an alert's mark opened its description before the marks moved to tags.
LEGACY_ALERT_MARK = "tasklane-alert "
KIND_MARKS = (DEPENDENCY_MARK, CRASH_RETRY_MARK, ALERT_MARK)


def owned_tag(deployment_id: UUID) -> str:
    """The tag marking an automation as the deployment's own."""
    return f"{OWNED_MARK}{deployment_id}"


def wanted_automations(
    task: TaskSpec, deployment_id: UUID, upstream_ids: dict[str, UUID], alert_blocks: dict[str, UUID]
) -> list[AutomationCore]:
    """The automations the deployment of `task` owns: dependency trigger, crash retry, alerts,
    each tagged with `owned_tag` and its kind's mark."""
    wanted: list[AutomationCore] = []
    if task.depends_on:
        wanted.append(dependency_automation(task, deployment_id, upstream_ids))
    if task.run_policy().retries:  # its own retries, or settings `execution.retry` where it has none
        wanted.append(crash_retry_automation(task, deployment_id))
    if task.notify:
        wanted.extend(alert_automations(task.name, deployment_id, task.notify, alert_blocks))
    for automation in wanted:
        automation.tags = [owned_tag(deployment_id), *automation.tags]
    return wanted


def _mark(automation: AutomationCore) -> str:
    """The kind's mark of an owned automation (`tasklane-alert:failed:<hash>`): its tag, or for
    one made before the tags, the end of its description."""
    for tag in automation.tags:
        if tag.startswith(KIND_MARKS):
            return tag
    description = automation.description
    mark = description.split(" ", 1)[1] if description.startswith(OWNED_MARK) and " " in description else ""
    if mark.startswith(LEGACY_ALERT_MARK):
        label, *fingerprint = mark.removeprefix(LEGACY_ALERT_MARK).split()
        return f"{ALERT_MARK}{label}:{''.join(fingerprint)}"
    return mark


def automation_slot(automation: AutomationCore) -> str:
    """Which of a deployment's automations this is: `tasklane-dependencies`,
    `tasklane-crash-retries`, or `tasklane-alert:<rule>` (also for one made before the tags)."""
    mark = _mark(automation)
    if mark.startswith(ALERT_MARK):
        return ALERT_MARK + mark.removeprefix(ALERT_MARK).split(":", 1)[0]
    return mark.split(":", 1)[0]


def _kind(slot: str) -> str:
    if slot.startswith(ALERT_MARK):
        return "alerts"
    return {DEPENDENCY_MARK[:-1]: "dependencies", CRASH_RETRY_MARK[:-1]: "crash retries"}.get(
        slot, "automations"
    )


def _identity(automation: AutomationCore) -> tuple[str, str, tuple[str, ...]]:
    """What Tasklane sets that names an automation's content: equal identities, nothing to change."""
    return automation.name, automation.description, tuple(sorted(automation.tags))


def automation_changes(owned: list[Automation], wanted: list[AutomationCore]) -> list[str]:
    """What differs between the automations a deployment owns and those it should: e.g. ["alerts changed"]."""
    have = sorted(_identity(a) for a in owned)
    want = sorted(_identity(a) for a in wanted)
    if have == want:
        return []
    slots = {_identity(a): automation_slot(a) for a in [*owned, *wanted]}
    differing = set(have) ^ set(want)
    differing |= {identity for identity in have if have.count(identity) > 1}  # duplicates go
    return [f"{kind} changed" for kind in sorted({_kind(slots[identity]) for identity in differing})]


async def owned_automations(client: PrefectClient, deployment_id: UUID) -> list[Automation]:
    """The automations Tasklane made for this deployment: tagged as its own, or (made before the
    tags) marked so in their description."""
    tag = owned_tag(deployment_id)
    return [
        a
        for a in await client.read_resource_related_automations(f"prefect.deployment.{deployment_id}")
        if tag in a.tags or a.description.startswith(f"{tag} ")
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
    have: dict[tuple[str, str, tuple[str, ...]], Automation] = {}
    for existing in owned:
        have.setdefault(_identity(existing), existing)
    keep: set[UUID] = set()
    fresh: list[AutomationCore] = []
    for automation in wanted:
        match = have.pop(_identity(automation), None)
        if match is None:
            fresh.append(automation)
        else:
            keep.add(match.id)
    stale = [a for a in owned if a.id not in keep]  # changed, no longer wanted, or duplicates
    for automation in fresh:
        slot = automation_slot(automation)
        previous = next((a for a in stale if automation_slot(a) == slot), None)
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
