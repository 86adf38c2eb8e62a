"""Walking Jira from a root ticket, a project or a JQL query to the tree of issues below it.

Children of an issue are, level by level (breadth first, so an issue sits at the shallowest level
it can be reached at):

- its sub-tasks and its children by the ``parent`` field (team-managed / Cloud hierarchy), one
  JQL ``parent in (...)`` per batch of up to ``batch_size`` issues;
- for epics, the issues whose classic "Epic Link" custom field points at them,
  ``cf[NNNNN] in (...)``;
- the issues it is linked to by the configured link types and directions (``"blocks"``,
  ``"relates to"``, ...), fetched with ``issuekey in (...)``.

An issue appears once: the first claim wins, so link cycles (A blocks B blocks A) terminate.
With a project key the entry query already returns every issue of the project, so the child
queries add ``AND project != "KEY"`` and only look outside it: 58 requests instead of 102 for a
5,000-issue project.

Which endpoint is used, checked against atlassian-python-api 5.0 (``atlassian/jira/jira_server.py``):

- Cloud: ``Jira.enhanced_jql`` → ``GET /rest/api/3/search/jql`` with ``nextPageToken`` / ``isLast``
  (the client is made for API v3 on Cloud, so 4.x calls the same path; the old
  ``/rest/api/{2,3}/search`` answers 410 Gone on Cloud). A query without a search restriction
  (only an ``ORDER BY``) is refused there with a 400.
- Server / Data Center: ``Jira.jql`` → ``GET /rest/api/2/search`` with ``startAt`` / ``maxResults`` /
  ``total``. ``approximate_issue_count`` is Cloud only and not needed: we page to the end anyway.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from atlassian import Jira

from integrations.errors import BadRequestError, NotFoundError, UnexpectedResponseError
from integrations.jira.client import SERVICE, JiraCalls
from integrations.jira.fields import (
    BASE_FIELDS,
    EPIC_LINK_SCHEMA,
    Node,
    compile_link_rule,
    parse_jira_date,
    parse_jira_datetime,
    read_node,
)
from integrations.jira.model import CUSTOM_FIELD_RE, Issue, IssueTree, TreeOptions

log = logging.getLogger("integrations.jira")

_KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]*-[1-9][0-9]*$")
_PROJECT_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ORDER_BY_RE = re.compile(r"\border\s+by\b", re.IGNORECASE)

T = TypeVar("T")


def fetch_issue_tree(
    client: Jira,
    *,
    root_key: str | None = None,
    project_key: str | None = None,
    jql: str | None = None,
    options: TreeOptions | None = None,
    source: str = "",
) -> IssueTree:
    """Fetch the issue tree below a root ticket, a whole project, or the issues a JQL matches.

    Exactly one of `root_key`, `project_key`, `jql` is given. With a project or a JQL, the roots
    are the matched issues that no other matched issue claims as a child (cycles among them are
    broken at the smallest key); every matched issue is in the tree once.

    Args:
        client: from `make_jira_client` (its ``cloud`` flag picks the search endpoint).
        root_key: a ticket key such as ``DEMO-1``.
        project_key: a project key such as ``DEMO``.
        jql: a JQL query; ``ORDER BY key`` is appended when it has no ORDER BY, so that paging
            is stable.
        options: what counts as a child; `TreeOptions()` when None.
        source: the caller's label for this Jira (e.g. its block name), used in errors and logs.

    Returns:
        The tree.

    Raises:
        ValueError: not exactly one entry point, or a malformed key.
        AuthenticationError: 401/403, or any answer whose login failed (Jira Cloud answers a
            refused API token as to an anonymous user), at once.
        NotFoundError: 404 (the root ticket does not exist or is not visible).
        BadRequestError: 400 (Jira rejected the JQL).
        RateLimitedError: 429 still returned after honouring Retry-After.
        ServiceUnavailableError: 5xx after the retries.
        ServiceUnreachableError: no response after the connection retries.
        UnexpectedResponseError: a 2xx body that is not a Jira search/issue payload.

    Examples:
        >>> client = make_jira_client("https://jira.example.com", "bot", "password", cloud=False)
        >>> tree = fetch_issue_tree(  # doctest: +SKIP
        ...     client, root_key="DEMO-1", options=TreeOptions(link_types=("blocks",)), source="jira-prod"
        ... )
        >>> [(i.key, i.level, i.parent_key) for i in tree.children][:2]  # doctest: +SKIP
        [('DEMO-2', 1, 'DEMO-1'), ('DEMO-5', 2, 'DEMO-2')]
    """
    given = [
        name for name, value in (("root_key", root_key), ("project_key", project_key), ("jql", jql)) if value
    ]
    if len(given) != 1:
        raise ValueError(f"give exactly one of root_key, project_key, jql; got {given or 'none'}")
    fetcher = _TreeFetcher(client, options or TreeOptions(), source)
    if root_key:
        key = root_key.strip().upper()
        if not _KEY_RE.match(key):
            raise ValueError(f"root_key must look like 'ABC-123', got {root_key!r}")
        return fetcher.from_root(key)
    if project_key:
        project = project_key.strip().upper()
        if not _PROJECT_RE.match(project):
            raise ValueError(f"project_key must look like 'ABC', got {project_key!r}")
        return fetcher.from_query(f'project = "{project}" ORDER BY key ASC', project=project)
    query = (jql or "").strip()
    if not _ORDER_BY_RE.search(query):
        query = f"{query} ORDER BY key ASC"
    return fetcher.from_query(query)


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _key_sort(key: str) -> tuple[str, int]:
    """Jira's key order: project, then number (DEMO-9 before DEMO-10)."""
    project, _, number = key.rpartition("-")
    return (project, int(number)) if number.isdigit() else (key, 0)


@dataclass
class _Claim:
    parent: str
    relation: str
    rank: tuple[int, int]


_RELATION_RANK = {"subtask": 0, "child": 0, "epic": 1}


class _TreeFetcher:
    def __init__(self, client: Jira, options: TreeOptions, source: str) -> None:
        self.client = client
        self.options = options
        self.source = source
        self.calls = JiraCalls(client, source)
        self.base_url = client.url.rstrip("/")
        self.pool: dict[str, Node] = {}  # every issue read so far, by key: each is fetched once
        self.skipped: list[str] = []
        self._epic_field: str | None = None
        self._epic_field_resolved = False
        self._link_rules = [compile_link_rule(rule) for rule in options.link_types]
        self._epic_types = {name.lower() for name in options.epic_type_names}
        # Project mode: the entry query returned every issue of this project, so children inside
        # it are found in the pool and the child queries only ask for the other projects.
        self._complete_project: str | None = None
        self._pool_children: dict[str, list[str]] = {}
        self._pool_epic_children: dict[str, list[str]] = {}

    # ── entry points ──

    def from_root(self, key: str) -> IssueTree:
        raw = self.calls.call(
            f"reading root issue {key}",
            self.client.get_issue,
            key,
            fields=list(self.fields),
            update_history=False,  # an export must not fill the bot user's "recent issues"
        )
        node = self._node(raw, f"GET issue {key}")
        return self._build([node.key])

    def from_query(self, jql: str, *, project: str | None = None) -> IssueTree:
        matched = [node.key for node in self._search(jql, "running the entry query")]
        if project is not None:
            self._complete_project = project
            for key in matched:
                node = self.pool[key]
                if node.parent:
                    self._pool_children.setdefault(node.parent, []).append(key)
                if node.epic:
                    self._pool_epic_children.setdefault(node.epic, []).append(key)
        return self._build(self._roots_of(matched))

    # ── searching ──

    @property
    def fields(self) -> tuple[str, ...]:
        epic = self.epic_field
        return BASE_FIELDS + ((epic,) if epic else ())

    @property
    def epic_field(self) -> str | None:
        if not self._epic_field_resolved:
            self._epic_field_resolved = True
            wanted = self.options.epic_link_field
            self._epic_field = self._discover_epic_field() if wanted == "auto" else wanted
        return self._epic_field

    def _discover_epic_field(self) -> str | None:
        fields = self.calls.call("listing fields to find 'Epic Link'", self.client.get_all_fields)
        if not isinstance(fields, list):
            raise self.calls.unexpected("GET /rest/api/*/field", fields)
        for item in fields:
            schema = item.get("schema") or {} if isinstance(item, dict) else {}
            if schema.get("custom") == EPIC_LINK_SCHEMA and CUSTOM_FIELD_RE.match(str(item.get("id", ""))):
                return str(item["id"])
        log.info(
            "%s has no classic 'Epic Link' field; epic children come from 'parent' only", self.calls.where
        )
        return None

    def _search(self, jql: str, what: str) -> Iterator[Node]:
        """Every issue matching `jql`, page by page, added to the pool."""
        pages = self._cloud_pages(jql, what) if self.client.cloud else self._server_pages(jql, what)
        for page in pages:
            for raw in page:
                yield self._node(raw, "search result")

    def _cloud_pages(self, jql: str, what: str) -> Iterator[list[Any]]:
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            body = self._page(
                f"{what} ({jql})",
                self.client.enhanced_jql,
                "GET /rest/api/3/search/jql",
                jql,
                nextPageToken=token,
            )
            yield body["issues"]
            token = body.get("nextPageToken")
            if body.get("isLast", not token) or not token or not body["issues"]:
                return
            if token in seen_tokens:
                raise UnexpectedResponseError(
                    f"{self.calls.where}: search/jql returned the same nextPageToken twice for {jql!r}; "
                    "stopping instead of looping",
                    service=SERVICE,
                    url=self.client.url,
                )
            seen_tokens.add(token)

    def _server_pages(self, jql: str, what: str) -> Iterator[list[Any]]:
        start = 0
        while True:
            body = self._page(
                f"{what} ({jql}, startAt={start})",
                self.client.jql,
                "GET /rest/api/2/search",
                jql,
                required=("total",),
                start=start,
            )
            issues = body["issues"]
            yield issues
            # Advance by what came back, not by what we asked for: the server caps maxResults.
            start += len(issues)
            if not issues or start >= int(body["total"]):
                return

    def _page(
        self,
        doing: str,
        search: Callable[..., Any],
        request: str,
        jql: str,
        *,
        required: tuple[str, ...] = (),
        **cursor: Any,
    ) -> dict[str, Any]:
        """One page of a search: a dict with an ``issues`` list (and the `required` keys)."""
        body = self.calls.call(
            doing, search, jql, fields=list(self.fields), limit=self.options.page_size, **cursor
        )
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("issues"), list)
            or any(key not in body for key in required)
        ):
            raise self.calls.unexpected(request, body)
        return body

    def _node(self, raw: Any, request: str) -> Node:
        """Read one issue payload into the pool."""
        node = read_node(raw, epic_field=self._epic_field, link_rules=self._link_rules)
        if node is None:
            raise self.calls.unexpected(request, raw)
        self.pool[node.key] = node
        return node

    def _fetch_keys(self, keys: list[str]) -> None:
        """Put the issues `keys` into the pool; record those Jira will not return."""
        for batch in _chunks(sorted(keys, key=_key_sort), self.options.batch_size):
            jql = f"issuekey in ({', '.join(batch)}) ORDER BY key ASC"
            try:
                for _ in self._search(jql, "reading linked issues"):
                    pass
            except BadRequestError:
                # Jira rejects the whole clause when one key is unknown or not visible (a link to
                # a project we cannot browse, a deleted issue): fetch this batch one by one.
                for key in batch:
                    if key not in self.pool:
                        self._fetch_one(key)

    def _fetch_one(self, key: str) -> None:
        try:
            raw = self.calls.call(
                f"reading linked issue {key}",
                self.client.get_issue,
                key,
                fields=list(self.fields),
                update_history=False,
            )
        except NotFoundError as exc:
            self.skipped.append(f"{key}: linked but not readable ({exc})")
            return
        self._node(raw, f"GET issue {key}")

    # ── relations ──

    def _is_epic(self, node: Node) -> bool:
        return node.type.lower() in self._epic_types

    def _claimants(self, node: Node, members: set[str]) -> Iterator[str]:
        """Keys in `members` that would claim `node` as a child, judged from the pool.

        Mirrors the walk in `_claims`: a parent is only asked for children when it is not a
        sub-task, and for Epic Link children only when it is an epic.
        """
        if self.options.follow_parent and node.parent in members and not self.pool[node.parent].subtask:
            yield node.parent
        if node.epic in members and self._is_epic(self.pool[node.epic]):
            yield node.epic

    def _roots_of(self, matched: list[str]) -> list[str]:
        """The matched issues no other matched issue claims; claim cycles broken at the smallest key."""
        members = set(matched)
        edges: dict[str, list[str]] = {key: [] for key in matched}
        claimed: set[str] = set()
        for key in matched:
            node = self.pool[key]
            for parent in self._claimants(node, members):
                if parent != key:
                    edges[parent].append(key)
                    claimed.add(key)
            for target, _ in node.links:
                if target in members and target != key:
                    edges[key].append(target)
                    claimed.add(target)
        roots = [key for key in matched if key not in claimed]
        reached: set[str] = set()

        def reach(start: str) -> None:
            stack = [start]
            while stack:
                key = stack.pop()
                if key not in reached:
                    reached.add(key)
                    stack.extend(edges[key])

        for root in roots:
            reach(root)
        for key in sorted(matched, key=_key_sort):
            if key not in reached:  # only claimed from inside a cycle: promote it
                roots.append(key)
                reach(key)
        order = {key: i for i, key in enumerate(matched)}
        return sorted(roots, key=order.__getitem__)

    # ── the walk ──

    def _build(self, root_keys: list[str]) -> IssueTree:
        placed: dict[str, Issue] = {}
        for key in root_keys:
            placed[key] = self._issue(self.pool[key], parent=None, root=key, level=0, relation="root")
        frontier = list(root_keys)
        level = 0
        max_depth = self.options.max_depth
        while frontier and (max_depth is None or level < max_depth):
            claims = self._claims(frontier)
            next_frontier: list[str] = []
            for child in sorted(claims, key=lambda k: (claims[k].rank, _key_sort(k))):
                if child in placed or child not in self.pool:
                    continue
                claim = claims[child]
                parent = placed[claim.parent]
                placed[child] = self._issue(
                    self.pool[child],
                    parent=parent.key,
                    root=parent.root_key,
                    level=level + 1,
                    relation=claim.relation,
                )
                next_frontier.append(child)
            frontier = next_frontier
            level += 1

        by_parent: dict[str, list[Issue]] = {}
        for issue in placed.values():
            if issue.parent_key is not None:
                by_parent.setdefault(issue.parent_key, []).append(issue)
        frozen = {k: tuple(sorted(v, key=lambda i: _key_sort(i.key))) for k, v in by_parent.items()}
        children: list[Issue] = []
        for key in root_keys:  # depth first under each root, siblings by key
            stack = list(reversed(frozen.get(key, ())))
            while stack:
                issue = stack.pop()
                children.append(issue)
                stack.extend(reversed(frozen.get(issue.key, ())))
        return IssueTree(
            roots=tuple(placed[key] for key in root_keys),
            children=tuple(children),
            base_url=self.base_url,
            source=self.source,
            requests=self.calls.requests,
            skipped=tuple(self.skipped),
            _by_parent=frozen,
        )

    def _claims(self, frontier: list[str]) -> dict[str, _Claim]:
        """Candidate children of the frontier, each with its best claim (relation, then order)."""
        position = {key: i for i, key in enumerate(frontier)}
        claims: dict[str, _Claim] = {}

        def claim(child: str, parent: str, relation: str, rank: int) -> None:
            candidate = _Claim(parent, relation, (rank, position[parent]))
            if child != parent and (child not in claims or candidate.rank < claims[child].rank):
                claims[child] = candidate

        def parent_relation(node: Node) -> str:
            return "subtask" if node.subtask else "child"

        # Project mode: children inside the project are already in the pool; ask only for the rest.
        outside = f' AND project != "{self._complete_project}"' if self._complete_project else ""

        if self.options.follow_parent:
            parents = [key for key in frontier if not self.pool[key].subtask]
            for key in parents:
                for child in self._pool_children.get(key, ()):
                    claim(child, key, parent_relation(self.pool[child]), 0)
            for batch in _chunks(parents, self.options.batch_size):
                jql = f"parent in ({', '.join(batch)}){outside} ORDER BY key ASC"
                for node in self._search(jql, "reading sub-tasks and children"):
                    if node.parent in position:
                        claim(node.key, node.parent, parent_relation(node), _RELATION_RANK["child"])

        epic = self.epic_field
        if epic:
            epics = [key for key in frontier if self._is_epic(self.pool[key])]
            for key in epics:
                for child in self._pool_epic_children.get(key, ()):
                    claim(child, key, "epic", _RELATION_RANK["epic"])
            number = epic.removeprefix("customfield_")  # checked by TreeOptions or found so
            for batch in _chunks(epics, self.options.batch_size):
                jql = f"cf[{number}] in ({', '.join(batch)}){outside} ORDER BY key ASC"
                for node in self._search(jql, "reading epics' issues"):
                    if node.epic in position:
                        claim(node.key, node.epic, "epic", _RELATION_RANK["epic"])

        if self._link_rules:
            missing: set[str] = set()
            for key in frontier:
                for target, description in self.pool[key].links:
                    claim(target, key, f"link:{description}", 2)
                    if target not in self.pool:
                        missing.add(target)
            if missing:
                self._fetch_keys(sorted(missing))
        return claims

    def _issue(self, node: Node, *, parent: str | None, root: str, level: int, relation: str) -> Issue:
        return Issue(
            key=node.key,
            summary=node.summary,
            type=node.type,
            status=node.status,
            status_category=node.category,
            priority=node.priority,
            assignee=node.assignee,
            created=parse_jira_datetime(node.created),
            updated=parse_jira_datetime(node.updated),
            due=parse_jira_date(node.due),
            parent_key=parent,
            root_key=root,
            level=level,
            url=f"{self.base_url}/browse/{node.key}",
            relation=relation,
        )
