"""What a Jira export is made of: the issues found, the tree they form, and what counts as a child.

Plain frozen dataclasses: `fetch_issue_tree` builds them, `integrations.jira_excel` writes them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

# Jira Cloud and Server both cap a search page at 100 issues when fields are requested.
DEFAULT_PAGE_SIZE = 100
# Keys per `parent in (...)` / `issuekey in (...)` clause: keeps the GET URL far below the 8 KB
# that proxies in front of Jira commonly accept, and the JQL far below Jira's clause limits.
DEFAULT_BATCH_SIZE = 100
DONE_CATEGORY = "done"
CUSTOM_FIELD_RE = re.compile(r"^customfield_([0-9]+)$")


@dataclass(frozen=True)
class Issue:
    """One issue of the tree.

    Attributes:
        key: issue key, e.g. ``DEMO-12``.
        summary: the summary line.
        type: issue type name (``Epic``, ``Story``, ``Sub-task``...).
        status: status name as shown in Jira.
        status_category: ``new``, ``indeterminate`` or ``done`` (the category key, which unlike
            the names is not translated).
        priority: priority name, or None.
        assignee: assignee display name, or None when unassigned.
        created: creation time (timezone-aware).
        updated: last update time (timezone-aware).
        due: due date, or None.
        parent_key: the issue it hangs under in this tree; None for a root.
        root_key: the root issue of its tree (its own key for a root).
        level: 0 for a root, 1 for its children, ...
        url: the issue's browse URL.
        relation: how it was attached: ``root``, ``subtask``, ``child``, ``epic`` or
            ``link:<description>`` (e.g. ``link:blocks``).
    """

    key: str
    summary: str
    type: str
    status: str
    status_category: str
    priority: str | None
    assignee: str | None
    created: datetime | None
    updated: datetime | None
    due: date | None
    parent_key: str | None
    root_key: str
    level: int
    url: str
    relation: str = "root"

    @property
    def is_done(self) -> bool:
        return self.status_category == DONE_CATEGORY


@dataclass(frozen=True)
class IssueTree:
    """The issues found, roots first, every child once.

    Attributes:
        roots: level-0 issues in query order.
        children: every other issue, depth first under each root, siblings by key.
        base_url: the Jira's base URL.
        source: the caller's label for this Jira (e.g. its block name).
        requests: HTTP requests made (retries not counted).
        skipped: what could not be included and why (e.g. a linked issue Jira would not return).
    """

    roots: tuple[Issue, ...]
    children: tuple[Issue, ...]
    base_url: str
    source: str = ""
    requests: int = 0
    skipped: tuple[str, ...] = ()
    _by_parent: dict[str, tuple[Issue, ...]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def issues(self) -> tuple[Issue, ...]:
        return self.roots + self.children

    def by_key(self) -> dict[str, Issue]:
        return {issue.key: issue for issue in self.issues}

    def children_of(self, key: str) -> tuple[Issue, ...]:
        """The direct children of `key`, by key."""
        return self._by_parent.get(key, ())

    def descendants(self, key: str) -> list[Issue]:
        """Every issue below `key`, depth first."""
        out: list[Issue] = []
        stack = list(reversed(self.children_of(key)))
        while stack:
            issue = stack.pop()
            out.append(issue)
            stack.extend(reversed(self.children_of(issue.key)))
        return out

    def progress(self, key: str) -> tuple[int, int]:
        """(descendants, descendants whose status category is done) of `key`, all levels."""
        below = self.descendants(key)
        return len(below), sum(1 for issue in below if issue.is_done)


@dataclass(frozen=True)
class LinkRule:
    """Follow links of the Jira link type `name` in `direction` (from the issue's point of view).

    ``LinkRule("Blocks", "outward")`` follows "A blocks B" from A to B;
    ``LinkRule("Blocks", "inward")`` follows it from B ("is blocked by") to A.
    """

    name: str
    direction: Literal["outward", "inward", "both"] = "both"


@dataclass(frozen=True)
class TreeOptions:
    """What counts as a child.

    Attributes:
        link_types: link types to follow. A string is matched case-insensitively against each
            link's outward description (``"blocks"``: follow outward), inward description
            (``"is blocked by"``: follow inward), and only when neither matches, the link type
            name (``"Blocks"``: both directions). A `LinkRule` is explicit. Empty: no links.
        max_depth: deepest child level kept (0: roots only); None: unlimited.
        follow_parent: sub-tasks and ``parent``-field children.
        epic_link_field: the classic "Epic Link" custom field id (``customfield_10014``);
            ``"auto"`` looks it up once in ``/rest/api/*/field``; None: do not follow epic links.
        epic_type_names: issue types whose Epic Link children are looked for.
        page_size: issues per search page (Jira caps it at 100).
        batch_size: keys per ``... in (...)`` clause.
    """

    link_types: tuple[str | LinkRule, ...] = ()
    max_depth: int | None = None
    follow_parent: bool = True
    epic_link_field: str | None = "auto"
    epic_type_names: tuple[str, ...] = ("Epic",)
    page_size: int = DEFAULT_PAGE_SIZE
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        if self.max_depth is not None and self.max_depth < 0:
            raise ValueError(f"max_depth must be >= 0 or None, got {self.max_depth}")
        if not 1 <= self.page_size <= 1000:
            raise ValueError(f"page_size must be within 1..1000, got {self.page_size}")
        if not 1 <= self.batch_size <= 500:
            raise ValueError(f"batch_size must be within 1..500, got {self.batch_size}")
        field_id = self.epic_link_field
        if field_id not in (None, "auto") and not CUSTOM_FIELD_RE.match(field_id or ""):
            raise ValueError(
                f"epic_link_field must look like 'customfield_10014', 'auto' or None, got {field_id!r}"
            )
