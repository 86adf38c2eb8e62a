"""The alerts that fired: Prefect's record of each time a task's alert automation triggered.

A task's `notify:` rules are Prefect automations (`deployments.automations.alerts`), each tagged
with the deployment that owns it (`tasklane-owned-by:<id>`) and its rule
(`tasklane-alert:<rule>:<hash>`). When one fires, Prefect's event store keeps a
`prefect.automation.triggered` event about the automation, carrying the event that fired it (a
run's `prefect.flow-run.Failed`, `TimedOut`, `Completed` ...). `read_fired_alerts` reads those
events back for a project's tasks and names each one's task, group, rule and run: the console's
alerts inbox reads it; the CLI and the REST API could.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

from deployments.apply import Target, read_task_deployments
from deployments.tags import ALERT_MARK, OWNED_MARK

TRIGGERED = "prefect.automation.triggered"
EVENTS_PAGE = 50  # the server's page cap of /events/filter
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class AlertSource:
    """One alert automation of a task: which task (and group), which rule."""

    automation_id: UUID
    name: str
    task: str
    group: str | None
    rule: str  # the rule's label: failed, timed_out, consecutive_failures_3, recovered ...

    @property
    def kind(self) -> str:
        """The rule without its count: consecutive_failures_3 -> consecutive_failures."""
        return "consecutive_failures" if self.rule.startswith("consecutive_failures") else self.rule


@dataclass(frozen=True)
class FiredAlert:
    """An alert that fired: when, of which task and rule, on which run (and the state it reached)."""

    id: str  # the `prefect.automation.triggered` event's id
    occurred: datetime
    task: str
    group: str | None
    rule: str
    kind: str
    name: str  # the automation's name: "alert on backup failure"
    run_id: str | None
    run_name: str | None
    state: str | None  # the state that fired it: Failed, TimedOut, Crashed, Completed


def _rule_of(tags: list[str]) -> str | None:
    for tag in tags:
        if tag.startswith(ALERT_MARK):
            return tag.removeprefix(ALERT_MARK).split(":", 1)[0]
    return None


def _owner_of(tags: list[str]) -> str | None:
    for tag in tags:
        if tag.startswith(OWNED_MARK):
            return tag.removeprefix(OWNED_MARK)
    return None


async def alert_sources(client: PrefectClient, target: Target) -> dict[UUID, AlertSource]:
    """The project's alert automations by id, each with its task, group and rule."""
    from tasklane.history.runs import _tag

    deployments = {str(d.id): (name, d) for name, d in (await read_task_deployments(client, target)).items()}
    found: dict[UUID, AlertSource] = {}
    for automation in await client.read_automations():
        rule, owner = _rule_of(automation.tags), _owner_of(automation.tags)
        if rule is None or owner not in deployments:
            continue
        task, deployment = deployments[owner]
        found[automation.id] = AlertSource(
            automation.id, automation.name, task, _tag(deployment.tags, "group"), rule
        )
    return found


def _fired(event: Any, source: AlertSource) -> FiredAlert:
    triggering = (event.payload or {}).get("triggering_event") or {}
    resource = triggering.get("resource") or {}
    resource_id = str(resource.get("prefect.resource.id") or "")
    is_run = resource_id.startswith("prefect.flow-run.")
    name = str(triggering.get("event") or "")
    return FiredAlert(
        id=str(event.id),
        occurred=event.occurred,
        task=source.task,
        group=source.group,
        rule=source.rule,
        kind=source.kind,
        name=source.name,
        run_id=resource_id.removeprefix("prefect.flow-run.") if is_run else None,
        run_name=resource.get("prefect.resource.name") if is_run else None,
        state=resource.get("prefect.state-name") or (name.rsplit(".", 1)[-1] if name else None),
    )


async def read_fired_alerts(
    client: PrefectClient,
    target: Target,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 500,
    sources: dict[UUID, AlertSource] | None = None,
) -> list[FiredAlert]:
    """The project's alerts that fired in [since, until] (since: default 30 days ago), newest
    first, at most `limit`.

    sources: the project's alert automations as `alert_sources` read them (read when None).
    """
    sources = await alert_sources(client, target) if sources is None else sources
    if not sources:
        return []
    occurred = {"since": since or datetime.now(UTC) - timedelta(days=DEFAULT_DAYS)}
    if until is not None:
        occurred["until"] = until
    event_filter = EventFilter(
        occurred=EventOccurredFilter(**occurred),
        event=EventNameFilter(name=[TRIGGERED]),
        resource=EventResourceFilter(id=[f"prefect.automation.{i}" for i in sources]),
    )
    page = await client.read_events(filter=event_filter, limit=min(limit, EVENTS_PAGE))
    events = list(page.events)
    while len(events) < limit and page.next_page:
        page = await client.read_events_page(str(page.next_page))
        events.extend(page.events)
    fired = []
    for event in events[:limit]:
        automation_id = event.resource.id.removeprefix("prefect.automation.")
        source = sources.get(UUID(automation_id)) if automation_id else None
        if source is not None:
            fired.append(_fired(event, source))
    return sorted(fired, key=lambda alert: alert.occurred, reverse=True)
