"""`GET /api/scheduler/schedules/preview`: the next runs of a schedule spec, as `tasklane schedule
preview` prints them (`deployments.schedules.preview`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ValidationError

from deployments.errors import CatalogError, problems_from_validation
from deployments.schedules import parse_spec_text
from deployments.schedules import preview as preview_spec
from tasklane.api.core import ERRORS, VIEWER, ApiError, Ctx, FieldError, IsoDateTime
from tasklane.api.schemas import Preview, PreviewRun

router = APIRouter(prefix="/api/scheduler", tags=["schedules"], responses=ERRORS)


@router.get("/schedules/preview", response_model=Preview)
async def schedule_preview(
    spec: Annotated[
        str,
        Query(
            min_length=1,
            max_length=2000,
            description='A schedule spec: "30s", "02:00", a cron, or YAML/JSON like '
            '{daily: ["02:30"], timezone: Europe/Berlin} or {type: daily, time: "02:00"}.',
        ),
    ],
    n: Annotated[int, Query(ge=1, le=200)] = 10,
    after: Annotated[IsoDateTime | None, Query(alias="from", description="Start from (default now).")] = None,
    ctx: Ctx = VIEWER,
) -> Preview:
    """The next `n` runs of a friendly schedule spec, exactly as the Prefect server would create them."""
    default_timezone = ctx.target.timezone
    try:
        parsed = parse_spec_text(spec)
        runs = preview_spec(parsed, n, after=after or datetime.now(UTC), default_timezone=default_timezone)
    except ValidationError as exc:
        problems = problems_from_validation(exc, "--spec", None, prefix="spec.", found="never")
        errors = [FieldError(field=p.field or "spec", message=p.message) for p in problems]
        raise ApiError(
            422, f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the request", errors
        ) from None
    except (ValueError, OverflowError, CatalogError) as exc:
        raise ApiError(
            422, "1 problem in the request", [FieldError(field="spec", message=str(exc))]
        ) from None
    return Preview(
        spec=parsed.model_dump(mode="json", exclude_none=True),
        timezone=parsed.zone(default_timezone),
        runs=[PreviewRun(local=t, utc=t.astimezone(UTC)) for t in runs],
    )
