"""What the resource routers share: the task id path parameter, finding a task the caller may
see, a task's summary, and a date window (start_date, end_date) of a query."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import Path

from tasklane.api.core import ApiError, Ctx, FieldError
from tasklane.api.schemas import TaskSummary
from tasklane.api.views import rows, to_summary
from tasklane.tasks.save import find_task_by_id

Id = Path(..., max_length=200, description="The task's id (its name) or its deployment id.")


async def find_visible_task(ctx: Ctx, ident: str):
    return ctx.check_group(await find_task_by_id(ctx.client, ident, ctx.target))


async def task_summary(ctx: Ctx, deployment) -> TaskSummary:
    (row,) = await rows(ctx, [deployment])
    return to_summary(deployment, row)


def date_window(start_date: date | None, end_date: date | None) -> tuple[datetime | None, datetime | None]:
    since = datetime.combine(start_date, time(), UTC) if start_date else None
    until = datetime.combine(end_date, time(), UTC) + timedelta(days=1) if end_date else None
    if since and until and until <= since:
        raise ApiError(
            422, "1 problem in the request", [FieldError(field="end_date", message="is before start_date")]
        )
    return since, until
