"""TODO docstring."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from tasklane.api.core import ERRORS, OPERATOR, Ctx, PageSize
from tasklane.api.schemas import AuditEvent, AuditList
from tasklane.tasks.audit import read_audit

router = APIRouter(prefix="/api/scheduler", tags=["audit"], responses=ERRORS)



@router.get("/audit", response_model=AuditList)
async def audit(
    task: Annotated[str | None, Query(max_length=200, description="Only this task's events.")] = None,
    since: Annotated[datetime | None, Query(description="Default: 7 days ago.")] = None,
    limit: PageSize = 100,
    ctx: Ctx = OPERATOR,
) -> AuditList:
    """Who changed what, and how it went: the `tasklane.*` events, also in the Prefect UI's event feed."""
    prefix = f"tasklane.task.{task}" if task else "tasklane."
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    rows_ = await read_audit(ctx.client, ctx.target.project, since=since, resource_prefix=prefix, limit=limit)
    if task:
        rows_ = [r for r in rows_ if r["resource"] == prefix]
    events = [AuditEvent(**r) for r in rows_]
    return AuditList(total=len(events), events=events)
