"""The console's trash: the deleted tasks (`tasklane.tasks.trash.list_trash`, as `tasklane trash
list`), when each was deleted and when it is purged; an admin's Restore brings one back as the
same task (`restore_deployment`, as `tasklane trash restore` and the API), audited as `user:<name>`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from deployments.errors import DeploymentsError
from tasklane.console.pages import PREFIX, Client, ConsoleError, Page, SignedIn, changing
from tasklane.console.upcoming import user_zone
from tasklane.tasks.audit import audited, user_actor
from tasklane.tasks.lookup import tag_value
from tasklane.tasks.trash import find_trashed, list_trash, restore_deployment

router = APIRouter(include_in_schema=False)

DEFAULT_RETENTION_DAYS = 30.0


def _retention(current: Page) -> timedelta:
    state = getattr(current.request.app.state, "tasklane", None)
    return timedelta(days=getattr(state, "trash_retention_days", DEFAULT_RETENTION_DAYS))


@router.get(PREFIX + "/trash")
async def trash_page(
    current: SignedIn, client: Client, restored: str = "", disabled: bool = False
) -> Response:
    entries = [e for e in await list_trash(client, current.target) if current.can_see(e.group)]
    keep = _retention(current)
    zone = user_zone(current)
    return current.render(
        "trash.html",
        entries=entries,
        keep=keep,
        retention_days=f"{keep / timedelta(days=1):g}",
        restored=restored,
        restored_disabled=disabled,
        at=lambda value: value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-",
    )


@router.post(PREFIX + "/trash/{name}/restore")
async def restore(
    name: str, client: Client, current: Annotated[Page, Depends(changing("admin"))]
) -> Response:
    """Restore task `name` from the trash, audited (`task.restored`); back to the trash page."""
    assert current.user is not None
    target = current.target
    try:
        deployment = await find_trashed(client, name, target)
    except DeploymentsError:
        raise ConsoleError(404, "trash.error.not_in_trash", name=name) from None
    if not current.can_see(tag_value(deployment.tags, "group")):
        raise ConsoleError(404, "trash.error.not_in_trash", name=name)
    async with audited(
        "task.restored",
        deployment.name,
        user_actor(current.user.name, current.user.role),
        project=target.project,
        client=client,
        deployment_id=deployment.id,
        change={"restore": deployment.name},
    ) as record:
        restored = await restore_deployment(client, deployment, target)
        record["result"] = "ok" if restored.enabled else "ok; stays disabled"
    # The API's briefly cached reads must not show the task as still gone.
    cache = getattr(getattr(current.request.app.state, "tasklane", None), "cache", None)
    if cache is not None:
        cache.clear()
    query = f"?restored={quote(name, safe='')}" + ("&disabled=true" if not restored.enabled else "")
    response = RedirectResponse(PREFIX + "/trash" + query, status_code=303)
    current.keep(response)
    return response
