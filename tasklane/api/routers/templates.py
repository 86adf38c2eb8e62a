"""Templates: list them, and create a task from one (`deployments.templates`, as `tasklane
template`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deployments.templates import load_templates, render
from tasklane.api.core import ADMIN, ERRORS, VIEWER, ApiError, Ctx
from tasklane.api.routers._common import task_summary
from tasklane.api.routers.tasks import CREATED
from tasklane.api.schemas import FromTemplate, TaskSummary, TemplateList, TemplateRow
from tasklane.api.views import create_task, named

router = APIRouter(prefix="/api/scheduler", tags=["templates"], responses=ERRORS)


def _templates(ctx: Ctx):
    return load_templates(list(ctx.state.template_dirs))


@router.get("/templates", response_model=TemplateList)
async def templates(
    category: Annotated[str | None, Query(max_length=100)] = None, ctx: Ctx = VIEWER
) -> TemplateList:
    found = sorted(_templates(ctx).values(), key=lambda t: (t.category, t.name))
    return TemplateList(
        templates=[
            TemplateRow(**{k: v for k, v in t.summary().items() if k != "source"})
            for t in found
            if category is None or t.category == category
        ]
    )


@router.post("/tasks/from-template", response_model=TaskSummary, status_code=201, responses=CREATED)
async def from_template(body: FromTemplate, ctx: Ctx = ADMIN) -> TaskSummary:
    """Create a task from a template and parameter values."""
    found = _templates(ctx)
    if body.template_id not in found:
        raise ApiError(404, f"no template {body.template_id!r}")
    change = body.model_dump(mode="json", exclude_unset=True)
    async with ctx.audit("tasklane.task.created", f"tasklane.task.{body.name}", change) as record:
        target_name = named({"name": body.name})
        mapping = render(
            found[body.template_id], target_name["name"], body.params, base_dir=ctx.state.base_dir
        )
        if "tags" in target_name:
            mapping["tags"] = [*(mapping.get("tags") or []), *target_name["tags"]]
        for key in ("group", "enabled"):
            if getattr(body, key) is not None:
                mapping[key] = getattr(body, key)
        _, deployment = await create_task(ctx, mapping, record)
    return await task_summary(ctx, deployment)
