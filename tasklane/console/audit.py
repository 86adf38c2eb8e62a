"""The console's audit log: who changed what, from the console, the CLI, the REST API or the chat
bot, newest first (`tasklane.tasks.audit.read_audit`, what `tasklane audit` prints), filtered by
task, actor and since; each change's outcome and the task's definition before -> after.

Operators and admins, as the API's `GET /audit`; a user with group grants sees the events of
the tasks of their groups only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from deployments.apply import read_task_deployments
from deployments.schedules.clock import parse_moment
from tasklane.console.pages import PREFIX, Client, ConsoleError, SignedIn
from tasklane.console.upcoming import user_zone
from tasklane.tasks.audit import read_audit
from tasklane.tasks.lookup import tag_value

router = APIRouter(include_in_schema=False)

LIMITS = (50, 100, 500)


def parse_since(text: str, now: datetime | None = None) -> datetime | None:
    """'2026-11-01' (UTC), an ISO date-time, or a duration back from now ('7d', '12h'), as `tasklane
    audit --since` reads it; None for none (read_audit's default: 7 days)."""
    try:
        return parse_moment(text, UTC, now)
    except ValueError:
        raise ConsoleError(400, "audit.error.since", since=text.strip()) from None


def diff_rows(diff: dict[str, Any] | None) -> list[tuple[str, str, str]]:
    """A definition diff as (field, before, after) texts."""
    rows = []
    for key, values in (diff or {}).items():
        before = values.get("before") if isinstance(values, dict) else None
        after = values.get("after") if isinstance(values, dict) else values
        rows.append((key, _text(before), _text(after)))
    return rows


def _text(value: Any, limit: int = 200) -> str:
    text = "-" if value is None else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@router.get(PREFIX + "/audit")
async def audit_page(
    current: SignedIn, client: Client, task: str = "", actor: str = "", since: str = "", limit: int = 100
) -> Response:
    if not current.may("operator"):
        assert current.user is not None
        raise ConsoleError(403, "error.role", role=current.user.role, needed="operator")
    limit = limit if limit in LIMITS else LIMITS[1]
    start = parse_since(since)
    target = current.target
    rows = await read_audit(
        client,
        target.project,
        since=start,
        task=task.strip() or None,
        actor=actor.strip() or None,
        limit=limit,
    )
    if current.user is not None and current.user.caller.groups:
        deployments = await read_task_deployments(client, target, include_trashed=True)
        visible = {n for n, d in deployments.items() if current.can_see(tag_value(d.tags, "group"))}
        rows = [row for row in rows if row["task"] in visible]
    zone = user_zone(current)
    events = [
        {
            **row,
            "at": row["occurred"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z"),
            "diff_rows": diff_rows(row["diff"]),
            "change_text": "" if row["change"] in (None, {}) else _text(row["change"], 300),
            "failed": str(row["result"] or "").startswith("failed"),
        }
        for row in rows
    ]
    return current.render(
        "audit.html", events=events, task=task, actor=actor, since=since, limit=limit, limits=LIMITS
    )
