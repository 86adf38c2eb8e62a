"""What the fake Jira holds: issues, their indexes, the accounts, and how Jira renders an issue.

`FakeJira` is the state behind the app (``app.state.jira``): the issues and who may see them, the
accounts and their failed logins, injected faults and the request log (the test hooks). It runs a
parsed `jql.Query` for a viewer (a signed-in user sees every project; an anonymous caller only the
projects open to anonymous users) and renders issues in Jira's payload shapes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from tasklane.stack.peers.jira.jql import JqlError, Query

SERVER_EPIC_FIELD = "customfield_10100"
CLOUD_EPIC_FIELD = "customfield_10014"
EPIC_LINK_SCHEMA = "com.pyxis.greenhopper.jira:gh-epic-link"
# Server/DC: consecutive failed basic-auth logins before the CAPTCHA locks the account out of the
# REST API ("Maximum Authentication Attempts Allowed", 3 by default).
CAPTCHA_AFTER = 3

LINK_TYPES: dict[str, tuple[str, str, str]] = {
    # name: (id, inward, outward) — Jira's default link types
    "Blocks": ("10000", "is blocked by", "blocks"),
    "Cloners": ("10001", "is cloned by", "clones"),
    "Duplicate": ("10002", "is duplicated by", "duplicates"),
    "Relates": ("10003", "relates to", "relates to"),
}
STATUSES: dict[str, tuple[str, str, int, str]] = {
    # name: (id, category key, category id, category name)
    "To Do": ("10000", "new", 2, "To Do"),
    "Open": ("1", "new", 2, "To Do"),
    "In Progress": ("3", "indeterminate", 4, "In Progress"),
    "In Review": ("10001", "indeterminate", 4, "In Progress"),
    "Done": ("10002", "done", 3, "Done"),
    "Closed": ("6", "done", 3, "Done"),
}
ISSUE_TYPES: dict[str, tuple[str, bool]] = {
    "Epic": ("10000", False),
    "Story": ("10001", False),
    "Task": ("10002", False),
    "Bug": ("10004", False),
    "Sub-task": ("10003", True),
}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
SYSTEM_FIELDS = ("summary", "issuetype", "status", "priority", "assignee", "created", "updated", "duedate")
KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class FakeIssue:
    """One issue of the fake. ``links`` are outward: ("Blocks", "DEMO-7") means this blocks DEMO-7.

    ``parent`` is a sub-task's parent, or (Cloud only) a hierarchy parent; ``epic`` is the
    classic Epic Link. On Cloud an issue in an epic also has the epic as its ``parent`` (Cloud
    standardised epic children on the parent field), so ``epic`` there only fills the deprecated
    Epic Link field. ``hidden`` issues show up as link targets only (an archived issue, or one in
    a project the user cannot browse): search and GET do not find them.
    """

    key: str
    summary: str
    type: str = "Task"
    status: str = "To Do"
    priority: str | None = "Medium"
    assignee: str | None = None
    created: datetime = field(default_factory=lambda: datetime(2024, 1, 1, 9, 0, tzinfo=UTC))
    updated: datetime | None = None
    due: str | None = None
    parent: str | None = None
    epic: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    hidden: bool = False

    @property
    def project(self) -> str:
        return self.key.rpartition("-")[0]

    @property
    def is_subtask(self) -> bool:
        return ISSUE_TYPES[self.type][1]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    status: int
    at: float


def jira_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000%z")


def key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return project, int(number)


class FakeJira:
    """The state behind the app: issues, indexes, accounts, fault injection, request log.

    Accounts per edition: on Cloud `users` maps account e-mails to API tokens and `passwords`
    their (refused) account passwords; on Server/DC `users` maps user names to passwords and
    `personal_tokens` maps personal access tokens to user names.
    """

    def __init__(
        self,
        *,
        cloud: bool,
        users: Mapping[str, str],
        issues: Iterable[FakeIssue],
        epic_link_field: str | None = None,
        passwords: Mapping[str, str] | None = None,
        personal_tokens: Mapping[str, str] | None = None,
        anonymous_projects: Iterable[str] = (),
        max_results: int = 1000,
    ) -> None:
        self.cloud = cloud
        self.users = dict(users)
        self.passwords = dict(passwords or {})
        self.personal_tokens = dict(personal_tokens or {})
        self.max_results = max_results
        self._check_accounts()
        self.epic_field = epic_link_field or (CLOUD_EPIC_FIELD if cloud else SERVER_EPIC_FIELD)
        self.epic_cf = self.epic_field.rpartition("_")[2]
        self.issues: dict[str, FakeIssue] = {}
        for issue in issues:
            if issue.key in self.issues:
                raise ValueError(f"fake Jira: duplicate issue key {issue.key}")
            if cloud and issue.epic and not issue.parent:
                issue = replace(issue, parent=issue.epic)
            self.issues[issue.key] = issue
        self._validate()
        self.visible = {k: v for k, v in self.issues.items() if not v.hidden}
        self.projects = {issue.project for issue in self.visible.values()}
        self.anonymous_projects = {p.upper() for p in anonymous_projects}
        self._ids = {key: str(10000 + i) for i, key in enumerate(sorted(self.issues, key=key_order))}
        self._children: dict[str, list[str]] = {}
        self._epic_children: dict[str, list[str]] = {}
        self._by_project: dict[str, list[str]] = {}
        self._by_type: dict[str, list[str]] = {}
        for key in sorted(self.visible, key=key_order):
            issue = self.visible[key]
            if issue.parent:
                self._children.setdefault(issue.parent, []).append(key)
            if issue.epic:
                self._epic_children.setdefault(issue.epic, []).append(key)
            self._by_project.setdefault(issue.project, []).append(key)
            self._by_type.setdefault(issue.type.lower(), []).append(key)
        self._inward: dict[str, list[tuple[str, str]]] = {}
        for issue in self.issues.values():
            for link_type, target in issue.links:
                self._inward.setdefault(target, []).append((link_type, issue.key))
        self._fields_cache: dict[tuple[str, str], dict[str, Any]] = {}
        self._result_cache: dict[tuple[Query, bool], list[str]] = {}
        self._lock = threading.Lock()
        self._faults: list[tuple[int, float | None, str]] = []
        self.failed_logins: dict[str, int] = {}
        self.requests: list[RecordedRequest] = []

    def _check_accounts(self) -> None:
        if self.cloud:
            odd = [name for name in [*self.users, *self.passwords] if not _EMAIL_RE.match(name)]
            if odd:
                raise ValueError(f"fake Jira Cloud: accounts are e-mail addresses, got {odd}")
            if self.personal_tokens:
                raise ValueError("fake Jira Cloud: personal access tokens are a Server/Data Center feature")
        else:
            if self.passwords:
                raise ValueError("fake Jira Server: `users` already holds the passwords")
            unknown = sorted(set(self.personal_tokens.values()) - set(self.users))
            if unknown:
                raise ValueError(f"fake Jira Server: personal access tokens of unknown users {unknown}")

    def _validate(self) -> None:
        for issue in self.issues.values():
            where = f"fake Jira issue {issue.key}"
            if not KEY_RE.match(issue.key):
                raise ValueError(f"{where}: key must look like 'ABC-1'")
            if issue.type not in ISSUE_TYPES or issue.status not in STATUSES:
                raise ValueError(f"{where}: unknown type {issue.type!r} or status {issue.status!r}")
            if issue.is_subtask and not issue.parent:
                raise ValueError(f"{where}: a sub-task needs a parent")
            if issue.parent and not issue.is_subtask and not self.cloud:
                raise ValueError(f"{where}: Jira Server has a parent field for sub-tasks only; use epic=")
            if self.cloud and issue.epic and issue.parent != issue.epic:
                raise ValueError(f"{where}: on Cloud an issue's epic is its parent ({issue.parent} given)")
            for other in [issue.parent, issue.epic, *(t for _, t in issue.links)]:
                if other and other not in self.issues:
                    raise ValueError(f"{where}: refers to unknown issue {other}")
            if issue.epic and self.issues[issue.epic].type != "Epic":
                raise ValueError(f"{where}: Epic Link {issue.epic} is not an Epic")
            for link_type, _ in issue.links:
                if link_type not in LINK_TYPES:
                    raise ValueError(f"{where}: unknown link type {link_type!r}")

    # ── test hooks ──

    def inject(
        self, status: int, count: int = 1, *, retry_after: float | None = None, path: str = ""
    ) -> None:
        """Make the next `count` requests (whose path starts with `path`) answer `status`."""
        with self._lock:
            self._faults.extend([(status, retry_after, path)] * count)

    def clear_faults(self) -> None:
        """Drop injected faults that were not used up."""
        with self._lock:
            self._faults.clear()

    def count(self, *, path: str = "", status: int | None = None) -> int:
        """Requests seen whose path contains `path` (and whose answer was `status`)."""
        return sum(1 for r in self.requests if path in r.path and (status is None or r.status == status))

    def reset_log(self) -> None:
        """Forget the requests seen and the failed logins (which lift a Server CAPTCHA lock-out)."""
        with self._lock:
            self.requests.clear()
            self.failed_logins.clear()

    def take_fault(self, path: str) -> tuple[int, float | None] | None:
        with self._lock:
            for i, (status, retry_after, prefix) in enumerate(self._faults):
                if path.startswith(prefix):
                    del self._faults[i]
                    return status, retry_after
        return None

    # ── accounts (Server/DC CAPTCHA) ──

    def captcha_required(self, user: str) -> bool:
        return self.failed_logins.get(user, 0) >= CAPTCHA_AFTER

    def login_failed(self, user: str) -> None:
        if user in self.users:
            with self._lock:
                self.failed_logins[user] = self.failed_logins.get(user, 0) + 1

    def login_succeeded(self, user: str) -> None:
        with self._lock:
            self.failed_logins.pop(user, None)

    # ── who sees what ──

    def can_see(self, key: str, anonymous: bool) -> bool:
        issue = self.visible.get(key)
        return issue is not None and (not anonymous or issue.project in self.anonymous_projects)

    # ── rendering ──

    def _basic(self, key: str) -> dict[str, Any]:
        """summary, status, priority and issuetype: what Jira embeds for parents and link targets."""
        issue = self.issues[key]
        status_id, category, category_id, category_name = STATUSES[issue.status]
        type_id, subtask = ISSUE_TYPES[issue.type]
        issuetype: dict[str, Any] = {"id": type_id, "name": issue.type, "subtask": subtask}
        if self.cloud:  # Cloud's issue types carry their hierarchy level (epic 1, sub-task -1)
            issuetype["hierarchyLevel"] = -1 if subtask else (1 if issue.type == "Epic" else 0)
        return {
            "summary": issue.summary,
            "status": {
                "id": status_id,
                "name": issue.status,
                "statusCategory": {"id": category_id, "key": category, "name": category_name},
            },
            "priority": {"id": PRIORITIES[issue.priority], "name": issue.priority}
            if issue.priority
            else None,
            "issuetype": issuetype,
        }

    def _ref(self, base: str, key: str) -> dict[str, Any]:
        return {
            "id": self._ids[key],
            "key": key,
            "self": f"{base}/rest/api/2/issue/{self._ids[key]}",
            "fields": self._basic(key),
        }

    def _fields(self, key: str, base: str) -> dict[str, Any]:
        cached = self._fields_cache.get((key, base))
        if cached is not None:
            return cached
        issue = self.issues[key]
        assignee = None
        if issue.assignee:
            login = issue.assignee.lower().replace(" ", ".")
            assignee = {"displayName": issue.assignee, "active": True, "timeZone": "UTC"}
            if self.cloud:
                assignee["accountId"] = hashlib.md5(login.encode()).hexdigest()[:24]
            else:
                assignee.update(name=login, key=login)
        fields: dict[str, Any] = {
            **self._basic(key),
            "assignee": assignee,
            "created": jira_time(issue.created),
            "updated": jira_time(issue.updated or issue.created),
            "duedate": issue.due,
            "project": {"key": issue.project, "name": issue.project},
            self.epic_field: issue.epic,
        }
        if issue.parent:  # Jira leaves the field out, rather than null, for issues without parent
            fields["parent"] = self._ref(base, issue.parent)
        links = []
        for n, (link_type, target) in enumerate(issue.links):
            links.append(self._link(base, key, n, link_type, "outwardIssue", target))
        for n, (link_type, source) in enumerate(self._inward.get(key, [])):
            links.append(self._link(base, key, 1000 + n, link_type, "inwardIssue", source))
        fields["issuelinks"] = links
        self._fields_cache[(key, base)] = fields
        return fields

    def _link(self, base: str, key: str, n: int, link_type: str, side: str, other: str) -> dict[str, Any]:
        type_id, inward, outward = LINK_TYPES[link_type]
        return {
            "id": f"{self._ids[key]}{n:04d}",
            "type": {"id": type_id, "name": link_type, "inward": inward, "outward": outward},
            side: self._ref(base, other),
        }

    def render(self, key: str, wanted: set[str] | None, base: str, version: str) -> dict[str, Any]:
        """One issue as search/issue endpoints return it; `wanted` None means all fields."""
        if wanted is not None and not wanted - {"id", "key"}:
            # Cloud's enhanced search without `fields` (or with id/key only) sends just these.
            return {"id": self._ids[key], **({"key": key} if "key" in wanted else {})}
        out: dict[str, Any] = {
            "expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
            "id": self._ids[key],
            "self": f"{base}/rest/api/{version}/issue/{self._ids[key]}",
            "key": key,
        }
        fields = self._fields(key, base)
        out["fields"] = (
            fields if wanted is None else {name: value for name, value in fields.items() if name in wanted}
        )
        return out

    def field_list(self) -> list[dict[str, Any]]:
        """``GET /field``: the system fields the exports read, and the Epic Link custom field."""
        fields: list[dict[str, Any]] = [
            {
                "id": name,
                "key": name,
                "name": name.title(),
                "custom": False,
                "navigable": True,
                "clauseNames": [name],
            }
            for name in SYSTEM_FIELDS
        ]
        fields.append(
            {
                "id": self.epic_field,
                "key": self.epic_field,
                "name": "Epic Link",
                "custom": True,
                "navigable": True,
                "clauseNames": [f"cf[{self.epic_cf}]", "Epic Link"],
                "schema": {"type": "any", "custom": EPIC_LINK_SCHEMA, "customId": int(self.epic_cf)},
            }
        )
        return fields

    # ── running a query ──

    def search(self, query: Query, *, anonymous: bool) -> list[str]:
        """The keys `query` matches for a signed-in (or anonymous) caller, in its order."""
        cache_key = (query, anonymous)
        cached = self._result_cache.get(cache_key)
        if cached is None:
            cached = self._run(query, anonymous)
            self._result_cache[cache_key] = cached
        return cached

    def _run(self, query: Query, anonymous: bool) -> list[str]:
        keys: set[str] | None = None
        for clause in query.clauses:
            matched = self._clause(clause.field, list(clause.values), anonymous)
            if clause.operator == "!=":
                matched = set(self.visible) - matched
            keys = matched if keys is None else keys & matched
        found = {k for k in (self.visible if keys is None else keys) if self.can_see(k, anonymous)}
        if query.order in ("key", "issuekey"):
            return sorted(found, key=key_order, reverse=query.descending)
        attr = query.order
        return sorted(
            found,
            key=lambda k: (getattr(self.issues[k], attr) or self.issues[k].created, key_order(k)),
            reverse=query.descending,
        )

    def _clause(self, name: str, values: list[str], anonymous: bool) -> set[str]:
        lowered = name.lower()
        if lowered == "project":
            for value in values:
                project = value.upper()
                if project not in self.projects or (anonymous and project not in self.anonymous_projects):
                    raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
            return {k for v in values for k in self._by_project.get(v.upper(), [])}
        if lowered in ("key", "issuekey", "id"):
            return set(self._issue_values(values, "issuekey" if lowered != "key" else "key", anonymous))
        if lowered == "parent":
            return {
                k for p in self._issue_values(values, "parent", anonymous) for k in self._children.get(p, [])
            }
        if lowered == "epic link" or lowered == f"cf[{self.epic_cf}]":
            epics = self._issue_values(values, name, anonymous)
            for epic in epics:
                if self.issues[epic].type != "Epic":
                    raise JqlError(f"Issue '{epic}' is not an Epic.")
            return {k for e in epics for k in self._epic_children.get(e, [])}
        if lowered in ("issuetype", "type"):
            for value in values:
                if value.lower() not in {t.lower() for t in ISSUE_TYPES}:
                    raise JqlError(f"The value '{value}' does not exist for the field 'issuetype'.")
            return {k for v in values for k in self._by_type.get(v.lower(), [])}
        raise JqlError(f"Field '{name}' does not exist or you do not have permission to view it.")

    def _issue_values(self, values: list[str], field_name: str, anonymous: bool) -> list[str]:
        keys = []
        for value in values:
            key = value.upper()
            if not KEY_RE.match(key):
                raise JqlError(f"The issue key '{value}' for field '{field_name}' is invalid.")
            if not self.can_see(key, anonymous):
                raise JqlError(f"An issue with key '{key}' does not exist for field '{field_name}'.")
            keys.append(key)
        return keys
