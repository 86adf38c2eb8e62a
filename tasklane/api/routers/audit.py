"""`GET /api/scheduler/audit`: the audit trail of every change, made through the API, the CLI or
the chat bot (`tasklane.tasks.audit`), the same events `tasklane audit` prints."""

from __future__ import annotations

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Query

from tasklane.api.core import ERRORS, OPERATOR, Ctx, IsoDateTime, PageSize
from tasklane.api.schemas import AuditEvent, AuditList
from tasklane.tasks.audit import read_audit

router = APIRouter(prefix="/api/scheduler", tags=["audit"], responses=ERRORS)


@router.get("/audit", response_model=AuditList)
async def audit(
    task: Annotated[str | None, Query(max_length=200, description="Only this task's events.")] = None,
    actor: Annotated[
        str | None,
        Query(
            max_length=200,
            description=(
                "Only this actor's events: `token:<name>` (the API), `os:<user>` (the CLI), "
                "`chat:<username>` (the chat bot); `*` matches any text (`os:*`)."
            ),
        ),
    ] = None,
    since: Annotated[IsoDateTime | None, Query(description="Default: 7 days ago.")] = None,
    limit: PageSize = 100,
    ctx: Ctx = OPERATOR,
) -> AuditList:
    """Who changed what, and how it went, newest first: the `tasklane.*` events (also in the
    Prefect UI's event feed), each with its actor, action, task, outcome and the task's definition
    before -> after (`diff`)."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows = await read_audit(ctx.client, ctx.target.project, since=since, task=task, actor=actor, limit=limit)
    events = [AuditEvent(**r) for r in rows]
    return AuditList(total=len(events), events=events)
