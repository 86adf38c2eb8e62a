"""Reading Jira's issue payloads: the fields asked for, what the walk keeps of each issue, dates.

Everything here is pure: a payload (``dict``) in, plain values out. Which link types are followed
is decided here too, from the `TreeOptions.link_types` rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from integrations.errors import UnexpectedResponseError
from integrations.jira.client import SERVICE
from integrations.jira.model import LinkRule

# Fields asked for in every search: never ``*all`` (a 5,000-issue export would fetch ~20 times
# the bytes). The Epic Link custom field is added when epics are followed.
BASE_FIELDS = (
    "summary",
    "issuetype",
    "status",
    "priority",
    "assignee",
    "created",
    "updated",
    "duedate",
    "parent",
    "issuelinks",
)
EPIC_LINK_SCHEMA = "com.pyxis.greenhopper.jira:gh-epic-link"

# (link type payload, "outward" or "inward") -> follow this side of the link?
LinkPredicate = Callable[[dict[str, Any], str], bool]


@dataclass(slots=True)
class Node:
    """What the walk keeps of one issue payload.

    Jira's payloads are dropped as soon as they are read: 5,000 issues arrive as ~10,000 payloads
    of ~20 nested dicts each, and keeping them alive makes every garbage collection walk them.
    """

    key: str
    summary: str
    type: str
    subtask: bool
    status: str
    category: str
    priority: str | None
    assignee: str | None
    created: str | None
    updated: str | None
    due: str | None
    parent: str | None
    epic: str | None
    links: tuple[tuple[str, str], ...]  # (target key, description) of the links the options follow


def read_node(raw: Any, *, epic_field: str | None, link_rules: Sequence[LinkPredicate]) -> Node | None:
    """The `Node` of one issue payload; None when `raw` is not an issue payload at all."""
    fields = raw.get("fields") if isinstance(raw, dict) else None
    key = raw.get("key") if isinstance(raw, dict) else None
    if not isinstance(key, str) or not isinstance(fields, dict):
        return None
    issuetype = fields.get("issuetype") or {}
    status = fields.get("status") or {}
    parent = fields.get("parent")
    epic = fields.get(epic_field) if epic_field else None
    return Node(
        key=key,
        summary=str(fields.get("summary") or ""),
        type=str(issuetype.get("name") or ""),
        subtask=bool(issuetype.get("subtask")),
        status=str(status.get("name") or ""),
        category=str((status.get("statusCategory") or {}).get("key") or ""),
        priority=(fields.get("priority") or {}).get("name"),
        assignee=(fields.get("assignee") or {}).get("displayName"),
        created=fields.get("created"),
        updated=fields.get("updated"),
        due=fields.get("duedate"),
        parent=parent.get("key") if isinstance(parent, dict) else None,
        epic=epic if isinstance(epic, str) else None,
        links=tuple(followed_links(fields.get("issuelinks"), link_rules)) if link_rules else (),
    )


def followed_links(links: Any, rules: Sequence[LinkPredicate]) -> Iterator[tuple[str, str]]:
    """(target key, description) of the links of an ``issuelinks`` field that `rules` follow."""
    for link in links or []:
        kind = link.get("type") or {}
        for side, description_key in (("outwardIssue", "outward"), ("inwardIssue", "inward")):
            target = link.get(side)
            if not target or not target.get("key"):
                continue
            if any(rule(kind, description_key) for rule in rules):
                yield str(target["key"]), str(kind.get(description_key) or kind.get("name") or "")


def compile_link_rule(rule: str | LinkRule) -> LinkPredicate:
    """A predicate (link type payload, "outward"/"inward") → follow this side of the link?"""
    if isinstance(rule, LinkRule):
        name = rule.name.lower()
        direction = rule.direction

        def explicit(kind: dict[str, Any], side: str) -> bool:
            return str(kind.get("name", "")).lower() == name and direction in (side, "both")

        return explicit
    text = rule.strip().lower()
    if not text:
        raise ValueError("an empty link type name cannot be followed")

    def by_text(kind: dict[str, Any], side: str) -> bool:
        outward = str(kind.get("outward", "")).lower()
        inward = str(kind.get("inward", "")).lower()
        if text in (outward, inward):
            return text == (outward if side == "outward" else inward)
        return str(kind.get("name", "")).lower() == text

    return by_text


def parse_jira_datetime(value: Any) -> datetime | None:
    """Jira's ``2024-03-01T12:34:56.000+0000`` (or ISO 8601) as an aware datetime; None if empty.

    Examples:
        >>> parse_jira_datetime("2024-03-01T12:34:56.000+0100").isoformat()
        '2024-03-01T12:34:56+01:00'
    """
    if not value:
        return None
    text = str(value)
    try:
        # Python 3.11's fromisoformat reads Jira's "+0000" offsets and is ~20x faster than
        # strptime, which matters at 10,000 timestamps per 5,000-issue export.
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"Jira sent the timestamp {text!r}, which is neither 'YYYY-MM-DDTHH:MM:SS.mmm+hhmm' nor ISO 8601",
            service=SERVICE,
        ) from exc


def parse_jira_date(value: Any) -> date | None:
    """Jira's ``2024-03-31`` due date; None if empty."""
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"Jira sent the date {value!r}, expected 'YYYY-MM-DD'", service=SERVICE
        ) from exc
