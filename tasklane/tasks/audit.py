"""The audit trail: every change is a `tasklane.*` Prefect event (who, what, which task,
outcome), read back newest first. Prefect's event store keeps them; nothing else does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.events import emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventResourceFilter

AUDIT_PREFIX = "tasklane."


TASK_RESOURCE_PREFIX = "tasklane.task."


def emit_audit(
    event: str,
    resource_id: str,
    *,
    caller: str,
    role: str,
    change: dict[str, Any],
    result: str,
    project: str,
    related_deployment: UUID | None = None,
) -> None:
    """One audit event: `event` (tasklane.*) about `resource_id`, with who did what and how it went.

    The payload never holds a token: `caller` is the token's name.
    """
    related = []
    if related_deployment is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{related_deployment}",
                "prefect.resource.role": "deployment",
            }
        )
    emit_event(
        event=event,
        resource={
            "prefect.resource.id": resource_id,
            "prefect.resource.name": resource_id.rsplit(".", 1)[-1],
            "tasklane.project": project,
        },
        related=related or None,
        payload={"caller": caller, "role": role, "change": change, "result": result},
    )


async def read_audit(
    client: PrefectClient,
    project: str,
    *,
    since: datetime | None = None,
    resource_prefix: str = AUDIT_PREFIX,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The audit events of this project, newest first, as plain mappings."""
    event_filter = EventFilter(
        occurred=EventOccurredFilter(since=since or datetime.now(UTC) - timedelta(days=7)),
        event=EventNameFilter(prefix=[AUDIT_PREFIX]),
        resource=EventResourceFilter(id_prefix=[resource_prefix], labels={"tasklane.project": [project]}),
    )
    page = await client.read_events(filter=event_filter, limit=min(limit, 50))  # the server's page cap
    events = list(page.events)
    while len(events) < limit and page.next_page:
        page = await client.read_events_page(str(page.next_page))
        events.extend(page.events)
    rows = []
    for event in events[:limit]:
        rows.append(
            {
                "id": str(event.id),
                "occurred": event.occurred,
                "event": event.event,
                "resource": event.resource.id,
                "caller": event.payload.get("caller"),
                "role": event.payload.get("role"),
                "change": event.payload.get("change"),
                "result": event.payload.get("result"),
            }
        )
    return rows
