"""The alerts inbox: every alert that fired for a task the user may see, with an unread count.

The alerts are the tasks' `notify:` rules (Prefect automations); what fired is Prefect's event
store's, read by `tasklane.history.alerts_fired.read_fired_alerts` (the one reader: a CLI or API
view would call it too). What is the user's own is kept here, in `console-inbox.json` under the
Tasklane home (mode 0600, beside `console-users.json`): per user, what they have read (one by
one, and "everything up to then") and which rules reach their inbox (all, until they choose).

The unread count in the header is loaded by htmx (`/console/inbox/count`), cached a few seconds
per user: a page view costs no event query of its own.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from prefect.client.orchestration import PrefectClient

from tasklane.console.pages import (
    PREFIX,
    Client,
    Page,
    SignedIn,
    _escape,
    _is_htmx,
    changing,
    read_form,
    redirect,
)
from tasklane.console.users import write_private
from tasklane.history.alerts_fired import FiredAlert, read_fired_alerts
from tasklane.settings.alerts import RULE_NAMES

INBOX_FILE = "console-inbox.json"
INBOX_DAYS = 30  # how far back the inbox looks
COUNT_SECONDS = 5.0  # how long an unread count is reused
MAX_READ_IDS = 2000  # ids read one by one kept per user (older ones fall under `read_before`)

router = APIRouter(include_in_schema=False)
Reader = Annotated[Page, Depends(changing("viewer"))]


@dataclass
class Marks:
    """One user's own: alerts up to `read_before` read, and these ids; the rules they want."""

    read_before: datetime | None = None
    read: set[str] = field(default_factory=set)
    rules: list[str] = field(default_factory=lambda: list(RULE_NAMES))

    def is_read(self, alert: FiredAlert) -> bool:
        return alert.id in self.read or (self.read_before is not None and alert.occurred <= self.read_before)

    def wants(self, alert: FiredAlert) -> bool:
        return alert.kind in self.rules


class InboxStore:
    """The users' read marks and rule choices, in one JSON file (0600)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"users": {}}

    def marks(self, user: str) -> Marks:
        entry = self._read().get("users", {}).get(user) or {}
        before = entry.get("read_before")
        rules = entry.get("rules")
        return Marks(
            read_before=datetime.fromisoformat(before) if before else None,
            read=set(entry.get("read") or []),
            rules=[r for r in rules if r in RULE_NAMES] if isinstance(rules, list) else list(RULE_NAMES),
        )

    def _change(self, user: str, change) -> None:
        with self._lock:
            data = self._read()
            entry = data.setdefault("users", {}).setdefault(user, {})
            change(entry)
            write_private(self.path, json.dumps(data, indent=2, sort_keys=True))

    def mark_read(self, user: str, ids: list[str]) -> None:
        def change(entry: dict[str, Any]) -> None:
            read = list(dict.fromkeys([*(entry.get("read") or []), *ids]))
            entry["read"] = read[-MAX_READ_IDS:]

        self._change(user, change)

    def mark_all_read(self, user: str, up_to: datetime) -> None:
        def change(entry: dict[str, Any]) -> None:
            entry["read_before"] = up_to.astimezone(UTC).isoformat()
            entry["read"] = []

        self._change(user, change)

    def set_rules(self, user: str, rules: list[str]) -> None:
        def change(entry: dict[str, Any]) -> None:
            entry["rules"] = [r for r in RULE_NAMES if r in rules]

        self._change(user, change)


_stores: dict[Path, InboxStore] = {}
_counts: dict[tuple[Path, str], tuple[float, int]] = {}


def inbox_store(current: Page) -> InboxStore:
    path = Path(current.console.users.path).parent / INBOX_FILE
    return _stores.setdefault(path, InboxStore(path))


def _forget_count(current: Page) -> None:
    assert current.user is not None
    _counts.pop((inbox_store(current).path, current.user.name), None)


async def _alerts(current: Page, client: PrefectClient, marks: Marks, since: datetime) -> list[FiredAlert]:
    """The alerts that fired since `since` for tasks the user may see, of the rules they want."""
    fired = await read_fired_alerts(client, current.target, since=since)
    return [a for a in fired if current.can_see(a.group) and marks.wants(a)]


def _window_start(marks: Marks | None = None) -> datetime:
    start = datetime.now(UTC) - timedelta(days=INBOX_DAYS)
    if marks is not None and marks.read_before is not None:
        start = max(start, marks.read_before)  # what is older is read: no need to read it
    return start


async def unread_count(current: Page, client: PrefectClient) -> int:
    """How many alerts the user has not read (cached COUNT_SECONDS per user)."""
    assert current.user is not None
    store = inbox_store(current)
    key = (store.path, current.user.name)
    cached = _counts.get(key)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    marks = store.marks(current.user.name)
    alerts = await _alerts(current, client, marks, _window_start(marks))
    count = sum(1 for a in alerts if not marks.is_read(a))
    _counts[key] = (time.monotonic() + COUNT_SECONDS, count)
    return count


@router.get(PREFIX + "/inbox/count")
async def inbox_count(current: SignedIn, client: Client) -> Response:
    """The header's badge: the unread count (nothing when there is none)."""
    count = await unread_count(current, client)
    label = _escape(current.t("inbox.unread", count=count))
    badge = f'<span class="badge unread" id="inbox-count" data-count="{count}" title="{label}">{count}</span>'
    response = HTMLResponse(badge if count else '<span id="inbox-count" data-count="0"></span>')
    current.keep(response)
    return response


@router.get(PREFIX + "/inbox")
async def inbox_page(current: SignedIn, client: Client) -> Response:
    assert current.user is not None
    marks = inbox_store(current).marks(current.user.name)
    alerts = await _alerts(current, client, marks, _window_start())
    rows = [{"alert": a, "read": marks.is_read(a)} for a in alerts]
    unread = sum(1 for r in rows if not r["read"])
    # The header's badge agrees with the page: what was just counted replaces a cached count.
    _counts[(inbox_store(current).path, current.user.name)] = (time.monotonic() + COUNT_SECONDS, unread)
    return current.render(
        "inbox.html",
        rows=rows,
        unread=unread,
        rules=RULE_NAMES,
        rule_labels={rule: current.t(f"inbox.rule.{rule}") for rule in RULE_NAMES},
        chosen=set(marks.rules),
        days=INBOX_DAYS,
    )


@router.post(PREFIX + "/inbox/read")
async def mark_read(current: Reader, client: Client) -> Response:
    """Mark one alert read (`id`), or every alert up to now (`all`)."""
    assert current.user is not None
    form = await read_form(current.request)
    store = inbox_store(current)
    if form.get("all"):
        store.mark_all_read(current.user.name, datetime.now(UTC))
    elif form.get("id"):
        store.mark_read(current.user.name, [form["id"]])
    _forget_count(current)
    if _is_htmx(current.request):
        response = HTMLResponse("", headers={"HX-Refresh": "true"})
        current.keep(response)
        return response
    return redirect(current, PREFIX + "/inbox")


@router.post(PREFIX + "/inbox/rules")
async def choose_rules(current: Reader) -> Response:
    """Which rules reach the user's inbox: the checked ones."""
    assert current.user is not None
    body = (await current.request.body()).decode("utf-8", "replace")
    chosen = parse_qs(body, keep_blank_values=True).get("rule", [])
    inbox_store(current).set_rules(current.user.name, chosen)
    _forget_count(current)
    return redirect(current, PREFIX + "/inbox")
