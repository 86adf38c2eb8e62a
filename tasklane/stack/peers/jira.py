"""A local fake Jira (Cloud or Server/Data Center) for the real atlassian-python-api client.

Long on purpose: one peer server whose endpoints share one issue store, the Cloud and Server
flavours side by side so their differences read at a glance.

It answers the REST paths and payload shapes the client uses, over real HTTP (serve it with
`tasklane.stack.peers._server.serve`):

- Server/DC: ``GET /rest/api/2/search`` (``startAt``/``maxResults``/``total``; ``maxResults``
  defaults to 50 and is capped at 100). ``/rest/api/2/search/jql`` does not exist there (404).
- Cloud: ``GET /rest/api/{2,3}/search/jql`` (``nextPageToken``/``isLast``; default 50, capped at
  100; without ``fields`` only ids come back, like the real endpoint). The retired
  ``/rest/api/{2,3}/search`` answers 410 Gone, as Jira Cloud does since 2025.
- Both: ``GET /rest/api/{2,3,latest}/issue/{key}`` (404 for unknown keys), ``/myself``,
  ``/serverInfo``, ``/field`` (with the classic "Epic Link" custom field).

JQL: a tiny parser for exactly the clauses Tasklane sends — ``project = X`` / ``!= X``, ``key``/``issuekey``
``= X`` or ``in (...)``, ``parent in (...)``, ``"Epic Link" in (...)`` / ``cf[N] in (...)``,
``issuetype = X``, joined by ``AND``, and ``ORDER BY key|issuekey|created|updated [ASC|DESC]``.
Anything else is a 400 in Jira's ``{"errorMessages": [...], "errors": {}}`` shape, and so are
unknown projects and keys (Jira rejects ``issuekey in (A-1, NOPE-9)`` as a whole) and Epic Link
values that are not epics: a fake that accepts what the real server rejects hides bugs.

Auth: basic auth against ``users`` ({username: token}); Server/DC also takes a token as a
personal access token (``Authorization: Bearer``). Wrong or missing credentials: 401 with the
body the real flavour sends.

Test hooks on ``app.state.jira`` (a `FakeJira`): ``inject(status, count, retry_after=...)`` makes
the next ``count`` requests answer 429/5xx; ``requests`` records every request; ``count(...)``
filters them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request, Response

SERVER_EPIC_FIELD = "customfield_10100"
CLOUD_EPIC_FIELD = "customfield_10014"
PAGE_CAP = 100
DEFAULT_PAGE = 50

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
_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")


@dataclass
class FakeIssue:
    """One issue of the fake. ``links`` are outward: ("Blocks", "DEMO-7") means this blocks DEMO-7.

    ``parent`` is a sub-task's parent, or (Cloud only) a hierarchy parent; ``epic`` is the
    classic Epic Link. ``hidden`` issues show up as link targets only (an archived issue, or one
    in a project the user cannot browse): search and GET do not find them.
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
    def number(self) -> int:
        return int(self.key.rpartition("-")[2])

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


class JqlError(Exception):
    """A JQL query the real Jira would reject: becomes a 400."""


def _jira_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000%z")


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.rpartition("-")
    return project, int(number)


class FakeJira:
    """The state behind the app: issues, indexes, users, fault injection, request log."""

    def __init__(
        self,
        *,
        cloud: bool,
        users: dict[str, str],
        issues: Iterable[FakeIssue],
        epic_link_field: str | None = None,
    ) -> None:
        self.cloud = cloud
        self.users = dict(users)
        self.epic_field = epic_link_field or (CLOUD_EPIC_FIELD if cloud else SERVER_EPIC_FIELD)
        self.epic_cf = self.epic_field.rpartition("_")[2]
        self.issues: dict[str, FakeIssue] = {}
        for issue in issues:
            if issue.key in self.issues:
                raise ValueError(f"fake Jira: duplicate issue key {issue.key}")
            self.issues[issue.key] = issue
        self._validate()
        self.visible = {k: v for k, v in self.issues.items() if not v.hidden}
        self.projects = {issue.project for issue in self.visible.values()}
        self._ids = {key: str(10000 + i) for i, key in enumerate(sorted(self.issues, key=_key_order))}
        self._children: dict[str, list[str]] = {}
        self._epic_children: dict[str, list[str]] = {}
        self._by_project: dict[str, list[str]] = {}
        self._by_type: dict[str, list[str]] = {}
        for key in sorted(self.visible, key=_key_order):
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
        self._result_cache: dict[str, list[str]] = {}
        self._lock = threading.Lock()
        self._faults: list[tuple[int, float | None, str]] = []
        self.requests: list[RecordedRequest] = []

    def _validate(self) -> None:
        for issue in self.issues.values():
            where = f"fake Jira issue {issue.key}"
            if not _KEY_RE.match(issue.key):
                raise ValueError(f"{where}: key must look like 'ABC-1'")
            if issue.type not in ISSUE_TYPES or issue.status not in STATUSES:
                raise ValueError(f"{where}: unknown type {issue.type!r} or status {issue.status!r}")
            if issue.is_subtask and not issue.parent:
                raise ValueError(f"{where}: a sub-task needs a parent")
            if issue.parent and not issue.is_subtask and not self.cloud:
                raise ValueError(f"{where}: Jira Server has a parent field for sub-tasks only; use epic=")
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
        with self._lock:
            self.requests.clear()

    def _take_fault(self, path: str) -> tuple[int, float | None] | None:
        with self._lock:
            for i, (status, retry_after, prefix) in enumerate(self._faults):
                if path.startswith(prefix):
                    del self._faults[i]
                    return status, retry_after
        return None

    # ── rendering ──

    def _basic(self, key: str) -> dict[str, Any]:
        """summary, status, priority and issuetype: what Jira embeds for parents and link targets."""
        issue = self.issues[key]
        status_id, category, category_id, category_name = STATUSES[issue.status]
        type_id, subtask = ISSUE_TYPES[issue.type]
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
            "issuetype": {
                "id": type_id,
                "name": issue.type,
                "subtask": subtask,
                "hierarchyLevel": -1 if subtask else 0,
            },
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
            "created": _jira_time(issue.created),
            "updated": _jira_time(issue.updated or issue.created),
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

    # ── JQL ──

    def search(self, jql: str) -> list[str]:
        cached = self._result_cache.get(jql)
        if cached is None:
            cached = self._run_jql(jql)
            self._result_cache[jql] = cached
        return cached

    def _run_jql(self, jql: str) -> list[str]:
        tokens = _tokenize(jql)
        pos = 0
        keys: set[str] | None = None

        def peek() -> str | None:
            return tokens[pos][0] if pos < len(tokens) else None

        def take(expected: str | None = None) -> str:
            nonlocal pos
            if pos >= len(tokens):
                raise JqlError(f"Error in the JQL Query: the query ended unexpectedly (after {jql!r}).")
            token, at = tokens[pos]
            if expected is not None and token.lower() != expected:
                raise JqlError(
                    f"Error in the JQL Query: Expecting '{expected}' but got '{token}'. "
                    f"(line 1, character {at + 1})"
                )
            pos += 1
            return token

        while peek() is not None and peek().lower() != "order":
            if keys is not None:
                take("and")
            field_token = take()
            operator = take().lower()
            if operator in ("=", "!="):
                values = [take()]
            elif operator == "in":
                take("(")
                values = [take()]
                while peek() == ",":
                    take(",")
                    values.append(take())
                take(")")
            else:
                raise JqlError(
                    f"Error in the JQL Query: the operator '{operator}' is not supported by this fake Jira "
                    f"(only '=', '!=' and 'in'); query was {jql!r}."
                )
            matched = self._clause(field_token, [_unquote(v) for v in values])
            if operator == "!=":
                if _unquote(field_token).lower() != "project":
                    raise JqlError(
                        f"Error in the JQL Query: '!=' is valid JQL but this fake Jira supports it for "
                        f"'project' only; query was {jql!r}."
                    )
                matched = set(self.visible) - matched
            keys = matched if keys is None else keys & matched
        if keys is None:
            keys = set(self.visible)
        order = ("key", False)
        if peek() is not None:
            take("order")
            take("by")
            name = _unquote(take()).lower()
            if name not in ("key", "issuekey", "created", "updated"):
                raise JqlError(f"Not able to sort using field '{name}'.")
            descending = False
            if peek() is not None and peek().lower() in ("asc", "desc"):
                descending = take().lower() == "desc"
            order = (name, descending)
            if peek() is not None:
                raise JqlError(f"Error in the JQL Query: unexpected '{peek()}' after ORDER BY in {jql!r}.")
        name, descending = order
        if name in ("key", "issuekey"):
            return sorted(keys, key=_key_order, reverse=descending)
        attr = "created" if name == "created" else "updated"
        return sorted(
            keys,
            key=lambda k: (getattr(self.issues[k], attr) or self.issues[k].created, _key_order(k)),
            reverse=descending,
        )

    def _clause(self, field_token: str, values: list[str]) -> set[str]:
        name = _unquote(field_token)
        lowered = name.lower()
        if lowered == "project":
            for value in values:
                if value.upper() not in self.projects:
                    raise JqlError(f"The value '{value}' does not exist for the field 'project'.")
            return {k for v in values for k in self._by_project.get(v.upper(), [])}
        if lowered in ("key", "issuekey", "id"):
            return set(self._issue_values(values, "issuekey" if lowered != "key" else "key"))
        if lowered == "parent":
            return {k for p in self._issue_values(values, "parent") for k in self._children.get(p, [])}
        if lowered == "epic link" or lowered == f"cf[{self.epic_cf}]":
            epics = self._issue_values(values, name)
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

    def _issue_values(self, values: list[str], field_name: str) -> list[str]:
        keys = []
        for value in values:
            key = value.upper()
            if not _KEY_RE.match(key):
                raise JqlError(f"The issue key '{value}' for field '{field_name}' is invalid.")
            if key not in self.visible:
                raise JqlError(f"An issue with key '{key}' does not exist for field '{field_name}'.")
            keys.append(key)
        return keys


_TOKEN_RE = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<cf>cf\[\d+\])
      | (?P<op>!=|!~|>=|<=|=|~|>|<|\(|\)|,)
      | (?P<word>[A-Za-z0-9_.\-]+)
    )""",
    re.VERBOSE | re.IGNORECASE,
)


def _tokenize(jql: str) -> list[tuple[str, int]]:
    tokens: list[tuple[str, int]] = []
    pos = 0
    text = jql.rstrip()
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if not match or match.end() == pos:
            raise JqlError(
                f"Error in the JQL Query: The character '{text[pos:].strip()[:1]}' is a reserved JQL "
                "character. "
                f"(line 1, character {pos + 1})"
            )
        kind = match.lastgroup or "word"
        tokens.append((match.group(kind), match.start(kind)))
        pos = match.end()
    for token, at in tokens:
        if token.lower() in ("or", "not", "is", "was", "changed", "empty", "null") or token in (
            "!~",
            "~",
        ):
            raise JqlError(
                f"Error in the JQL Query: '{token}' (character {at + 1}) is valid JQL but not supported by "
                "this fake Jira; extend tasklane/stack/peers/jira.py if Tasklane starts sending it."
            )
    return tokens


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


# ─── the app ─────────────────────────────────────────────────────────────────────────────────────


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # Serialised by hand: FastAPI's jsonable_encoder costs more than the search itself at 5,000 issues.
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json;charset=UTF-8",
        headers=headers,
    )


def _errors(status: int, *messages: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"errorMessages": list(messages), "errors": {}}, status, headers)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise JqlError(f"The '{name}' parameter must be a number, got '{raw}'.") from None


def _wanted_fields(request: Request, default: set[str] | None) -> set[str] | None:
    raw = request.query_params.get("fields")
    if raw is None:
        return default
    names = {name.strip() for name in raw.split(",") if name.strip()}
    if "*all" in names or "*navigable" in names:
        return None
    return {name for name in names if not name.startswith("-")}


def make_fake_jira(
    *,
    cloud: bool,
    users: dict[str, str],
    issues: Iterable[FakeIssue],
    epic_link_field: str | None = None,
) -> FastAPI:
    """A FastAPI app that answers like Jira Cloud (`cloud`) or Jira Server/Data Center.

    Args:
        cloud: Cloud or Server/DC paths, pagination, payloads and error bodies.
        users: {username: API token / password}; on Server/DC a token also works as a PAT.
        issues: the issues (see `demo_issues`, `big_project`).
        epic_link_field: the Epic Link custom field id; the flavour's usual one when None.

    Returns:
        The app; its state is ``app.state.jira`` (a `FakeJira`).

    Examples:
        >>> from tasklane.stack.peers._server import serve
        >>> app = make_fake_jira(cloud=False, users={"bot": "s3cret"}, issues=demo_issues(cloud=False))
        >>> with serve(app) as url:  # doctest: +SKIP
        ...     ...
    """
    fake = FakeJira(cloud=cloud, users=users, issues=issues, epic_link_field=epic_link_field)
    app = FastAPI(
        title=f"fake Jira {'Cloud' if cloud else 'Server'}", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.jira = fake
    # The API description its traffic is checked against (the tests' contract checks).
    app.state.peer_contract = "jira-cloud" if cloud else "jira-server"
    versions = {"2", "3", "latest"} if cloud else {"2", "latest"}

    def unauthorized() -> Response:
        if cloud:
            return Response(
                "Client must be authenticated to access this resource.",
                status_code=401,
                media_type="text/plain;charset=UTF-8",
            )
        return _errors(
            401,
            "You are not authenticated. Authentication required to perform this operation.",
            headers={
                "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                "WWW-Authenticate": 'OAuth realm="jira"',
            },
        )

    def authenticated(request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            return user if user in fake.users and fake.users[user] == secret else None
        if scheme.lower() == "bearer" and not cloud:
            return next((u for u, token in fake.users.items() if token == value.strip()), None)
        return None

    def handle(request: Request, path: str) -> Response:
        fault = fake._take_fault(path)
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else None
            if status == 429:
                return _errors(429, "Rate limit exceeded.", headers=headers)
            return Response(
                f"{status} injected fault", status_code=status, headers=headers, media_type="text/html"
            )
        user = authenticated(request)
        if user is None:
            return unauthorized()
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[:2] != ["rest", "api"] or parts[2] not in versions:
            return Response("Not Found", status_code=404, media_type="text/html")
        version, resource = parts[2], parts[3:]
        base = str(request.base_url).rstrip("/")
        try:
            if resource == ["search"]:
                if cloud:
                    return _errors(
                        410,
                        "The requested API has been removed. "
                        "Please migrate to the /rest/api/3/search/jql API. "
                        "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046",
                    )
                return server_search(request, base, version)
            if resource == ["search", "jql"] and cloud:
                return cloud_search(request, base, version)
            if len(resource) == 2 and resource[0] == "issue":
                key = resource[1].upper()
                if key not in fake.visible:
                    return _errors(404, "Issue does not exist or you do not have permission to see it.")
                return _json(fake.render(key, _wanted_fields(request, None), base, version))
            if resource == ["myself"]:
                return _json({"name": user, "displayName": user.title(), "active": True, "timeZone": "UTC"})
            if resource == ["serverInfo"]:
                return _json(
                    {
                        "baseUrl": base,
                        "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.4",
                        "deploymentType": "Cloud" if cloud else "Server",
                        "serverTitle": "Fake Jira",
                    }
                )
            if resource == ["field"]:
                return _json(field_list())
        except JqlError as exc:
            return _errors(400, str(exc))
        return Response("Not Found", status_code=404, media_type="text/html")

    def field_list() -> list[dict[str, Any]]:
        system = ["summary", "issuetype", "status", "priority", "assignee", "created", "updated", "duedate"]
        fields: list[dict[str, Any]] = [
            {
                "id": name,
                "key": name,
                "name": name.title(),
                "custom": False,
                "navigable": True,
                "clauseNames": [name],
            }
            for name in system
        ]
        fields.append(
            {
                "id": fake.epic_field,
                "key": fake.epic_field,
                "name": "Epic Link",
                "custom": True,
                "navigable": True,
                "clauseNames": [f"cf[{fake.epic_cf}]", "Epic Link"],
                "schema": {
                    "type": "any",
                    "custom": "com.pyxis.greenhopper.jira:gh-epic-link",
                    "customId": int(fake.epic_cf),
                },
            }
        )
        return fields

    def server_search(request: Request, base: str, version: str) -> Response:
        jql = request.query_params.get("jql", "")
        start = _int_param(request, "startAt", 0)
        limit = _int_param(request, "maxResults", DEFAULT_PAGE)
        if start < 0:
            raise JqlError(f"The 'startAt' parameter must be >= 0, got {start}.")
        limit = max(0, min(limit, PAGE_CAP))
        keys = fake.search(jql)
        wanted = _wanted_fields(request, None)
        page = keys[start : start + limit]
        return _json(
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(keys),
                "issues": [fake.render(k, wanted, base, version) for k in page],
            }
        )

    def cloud_search(request: Request, base: str, version: str) -> Response:
        jql = request.query_params.get("jql", "")
        limit = max(1, min(_int_param(request, "maxResults", DEFAULT_PAGE), PAGE_CAP))
        fields_param = request.query_params.get("fields", "")
        fingerprint = hashlib.sha1(f"{jql}\n{fields_param}".encode()).hexdigest()[:12]
        token = request.query_params.get("nextPageToken")
        start = 0
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                start, token_fingerprint = int(decoded["o"]), decoded["q"]
            except (ValueError, KeyError, TypeError):
                raise JqlError("The provided next page token is invalid or expired.") from None
            if token_fingerprint != fingerprint:
                raise JqlError("The provided next page token is invalid or expired.")
        keys = fake.search(jql)
        # Like the real enhanced search, no `fields` parameter means ids only.
        wanted = _wanted_fields(request, {"id"})
        page = keys[start : start + limit]
        body: dict[str, Any] = {"issues": [fake.render(k, wanted, base, version) for k in page]}
        end = start + len(page)
        if end < len(keys):
            next_token = json.dumps({"o": end, "q": fingerprint}).encode()
            body["nextPageToken"] = base64.urlsafe_b64encode(next_token).decode()
            body["isLast"] = False
        else:
            body["isLast"] = True
        return _json(body)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
    def endpoint(request: Request, path: str) -> Response:
        # A sync endpoint runs in FastAPI's thread pool, so a slow test never blocks the loop.
        response = handle(request, "/" + path)
        fake.requests.append(
            RecordedRequest(
                request.method, "/" + path, request.url.query, response.status_code, time.monotonic()
            )
        )
        return response

    return app


# ─── seed data ───────────────────────────────────────────────────────────────────────────────────


def demo_issues(*, cloud: bool) -> list[FakeIssue]:
    """A small realistic project DEMO (plus OPS and an archived SECRET issue).

    Tree under DEMO-1 (links followed: "blocks"; "relates to" for the cross-project one)::

        DEMO-1  Epic  In Progress
        ├── DEMO-2  Story  (Cloud: parent field; Server: Epic Link)
        │   ├── DEMO-3  Sub-task  Done
        │   ├── DEMO-4  Sub-task
        │   └── OPS-1   Task  (DEMO-2 relates to OPS-1)
        └── DEMO-5  Story  Done  (Epic Link in both flavours)
            └── DEMO-6  Task  (DEMO-5 blocks DEMO-6)
                └── DEMO-7  Bug  (DEMO-6 blocks DEMO-7; DEMO-7 blocks DEMO-6 and DEMO-1: cycles)
        DEMO-8  Epic  Done
        └── DEMO-9  Story  Done
            └── DEMO-10  Sub-task  Done
        DEMO-11 Bug, relates to SECRET-1 (archived: in links only, not searchable)
    """
    t0 = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)

    def at(days: int, hours: int = 0) -> datetime:
        return t0 + timedelta(days=days, hours=hours)

    return [
        FakeIssue(
            "DEMO-1",
            "Checkout revamp",
            "Epic",
            "In Progress",
            "High",
            "Alice Martin",
            at(0),
            at(20),
            "2024-06-30",
        ),
        FakeIssue(
            "DEMO-2",
            "Pay with saved card",
            "Story",
            "In Progress",
            "High",
            "Bob Chen",
            at(1),
            at(18),
            "2024-05-15",
            parent="DEMO-1" if cloud else None,
            epic=None if cloud else "DEMO-1",
            links=[("Relates", "OPS-1")],
        ),
        FakeIssue(
            "DEMO-3",
            "Card vault API",
            "Sub-task",
            "Done",
            "Medium",
            "Bob Chen",
            at(2),
            at(9),
            parent="DEMO-2",
        ),
        FakeIssue(
            "DEMO-4", "Card picker UI", "Sub-task", "To Do", "Low", None, at(2, 3), at(2, 3), parent="DEMO-2"
        ),
        FakeIssue(
            "DEMO-5",
            "Guest checkout",
            "Story",
            "Done",
            "Medium",
            "Carla Diaz",
            at(3),
            at(15),
            "2024-04-01",
            epic="DEMO-1",
            links=[("Blocks", "DEMO-6")],
        ),
        FakeIssue(
            "DEMO-6",
            "Address form validation",
            "Task",
            "In Review",
            None,
            "Carla Diaz",
            at(4),
            at(16),
            links=[("Blocks", "DEMO-7")],
        ),
        FakeIssue(
            "DEMO-7",
            "Totals wrong with coupons",
            "Bug",
            "Open",
            "Highest",
            None,
            at(5),
            at(17),
            links=[("Blocks", "DEMO-6"), ("Blocks", "DEMO-1")],
        ),
        FakeIssue("DEMO-8", "Search", "Epic", "Done", "Medium", "Alice Martin", at(6), at(30)),
        FakeIssue(
            "DEMO-9",
            "Search suggestions",
            "Story",
            "Done",
            "Medium",
            "Dan Evans",
            at(7),
            at(28),
            epic="DEMO-8",
        ),
        FakeIssue(
            "DEMO-10",
            "Suggest index",
            "Sub-task",
            "Done",
            "Low",
            "Dan Evans",
            at(7, 2),
            at(27),
            parent="DEMO-9",
        ),
        FakeIssue(
            "DEMO-11",
            "Crash on empty cart",
            "Bug",
            "To Do",
            "High",
            None,
            at(8),
            at(8),
            links=[("Relates", "SECRET-1")],
        ),
        FakeIssue("OPS-1", "Rotate payment keys", "Task", "To Do", "Medium", "Eve Fox", at(1), at(2)),
        FakeIssue("SECRET-1", "Archived incident", "Task", "Closed", "Low", None, at(0), at(0), hidden=True),
    ]


def big_project(
    *, cloud: bool, n: int = 5000, project: str = "BIG", stories_per_epic: int = 9, subtasks: int = 10
) -> list[FakeIssue]:
    """`n` issues in three levels: epics → stories → sub-tasks, plus "blocks" links between stories.

    With the defaults every epic carries 9 stories and 90 sub-tasks (100 issues), so 5,000 issues
    are 50 epics, 450 stories and 4,500 sub-tasks. Stories hang under their epic by the parent
    field on Cloud and by Epic Link on Server; every 10th story blocks the next one, and the last
    of each such pair blocks back (a cycle).
    """
    people = ["Alice Martin", "Bob Chen", "Carla Diaz", "Dan Evans", None]
    statuses = ["To Do", "In Progress", "Done", "Done", "In Review"]
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    issues: list[FakeIssue] = []
    number = 0

    def new(kind: str, summary: str, **kwargs: Any) -> FakeIssue:
        nonlocal number
        number += 1
        issue = FakeIssue(
            f"{project}-{number}",
            summary,
            kind,
            statuses[number % len(statuses)],
            list(PRIORITIES)[number % len(PRIORITIES)],
            people[number % len(people)],
            t0 + timedelta(hours=number),
            t0 + timedelta(hours=number, minutes=30),
            (t0 + timedelta(days=30 + number % 90)).date().isoformat() if number % 3 == 0 else None,
            **kwargs,
        )
        issues.append(issue)
        return issue

    stories: list[FakeIssue] = []
    while number < n:
        epic = new("Epic", f"Epic {number + 1}")
        for s in range(stories_per_epic):
            if number >= n:
                break
            story = new(
                "Story",
                f"Story {s + 1} of {epic.key}",
                parent=epic.key if cloud else None,
                epic=None if cloud else epic.key,
            )
            stories.append(story)
            for t in range(subtasks):
                if number >= n:
                    break
                new("Sub-task", f"Sub-task {t + 1} of {story.key}", parent=story.key)
    for i in range(0, len(stories) - 1, 10):
        stories[i].links.append(("Blocks", stories[i + 1].key))
        stories[i + 1].links.append(("Blocks", stories[i].key))
    return issues
