"""integrations.jira driven by the real atlassian client against the local fake Jira over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

import pytest

from integrations.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitedError,
    RemoteServiceError,
    ServiceUnavailableError,
    ServiceUnreachableError,
)
from integrations.jira import (
    IssueTree,
    LinkRule,
    RetryPolicy,
    TreeOptions,
    check_connection,
    fetch_issue_tree,
    make_jira_client,
)
from tasklane.stack.peers._server import free_port, serve
from tasklane.stack.peers.jira import (
    CAPTCHA_AFTER,
    FakeIssue,
    FakeJira,
    big_project,
    demo_issues,
    make_fake_jira,
)
from tests.contracts.checker import expected_violations

# Who signs in, per edition: Cloud takes the account e-mail and an API token, Server/DC a user
# name and password (or a personal access token).
ACCOUNTS = {False: ("bot", "s3cret-password"), True: ("bot@example.com", "api-token-1")}
PAT = "pat-0123456789abcdef"
FAST_RETRY = RetryPolicy(max_retries=3, backoff_factor=0.01, backoff_max=0.05, max_retry_after=5)
LINKS = TreeOptions(link_types=("blocks", "relates to"))


def fake_app(cloud: bool, issues: list[FakeIssue], **kwargs: Any) -> Any:
    user, secret = ACCOUNTS[cloud]
    tokens = {} if cloud else {"personal_tokens": {PAT: user}}
    return make_fake_jira(cloud=cloud, users={user: secret}, issues=issues, **tokens, **kwargs)


class Jira:
    """A served fake: its URL and its state."""

    def __init__(self, url: str, fake: FakeJira, cloud: bool) -> None:
        self.url = url
        self.fake = fake
        self.cloud = cloud
        self.user, self.secret = ACCOUNTS[cloud]

    def client(self, secret: str | None = None, retry: RetryPolicy = FAST_RETRY):
        return make_jira_client(
            self.url, self.user, secret or self.secret, cloud=self.cloud, timeout=10, retry=retry
        )


@pytest.fixture(scope="module", params=[False, True], ids=["server", "cloud"])
def demo(request: pytest.FixtureRequest) -> Iterator[Jira]:
    cloud = request.param
    app = fake_app(cloud, demo_issues(cloud=cloud))
    with serve(app) as url:
        yield Jira(url, app.state.jira, cloud)


@pytest.fixture
def jira(demo: Jira) -> Iterator[Jira]:
    demo.fake.clear_faults()
    demo.fake.reset_log()
    yield demo
    demo.fake.clear_faults()


def shape(tree: IssueTree) -> list[tuple[str, int, str | None, str, str]]:
    return [(i.key, i.level, i.parent_key, i.root_key, i.relation) for i in tree.issues]


# ─── the tree ────────────────────────────────────────────────────────────────────────────────────


def test_root_ticket_builds_three_levels_and_a_link_cycle_terminates(jira: Jira) -> None:
    tree = fetch_issue_tree(jira.client(), root_key="DEMO-1", options=LINKS, source="jira-demo")

    # Cloud hangs an epic's issues on the parent field; Server/DC on the Epic Link field.
    story = "child" if jira.cloud else "epic"
    assert shape(tree) == [
        ("DEMO-1", 0, None, "DEMO-1", "root"),
        ("DEMO-2", 1, "DEMO-1", "DEMO-1", story),
        ("DEMO-3", 2, "DEMO-2", "DEMO-1", "subtask"),
        ("DEMO-4", 2, "DEMO-2", "DEMO-1", "subtask"),
        ("OPS-1", 2, "DEMO-2", "DEMO-1", "link:relates to"),
        ("DEMO-5", 1, "DEMO-1", "DEMO-1", story),
        ("DEMO-6", 2, "DEMO-5", "DEMO-1", "link:blocks"),
        ("DEMO-7", 3, "DEMO-6", "DEMO-1", "link:blocks"),
    ]
    keys = [issue.key for issue in tree.issues]
    assert len(keys) == len(set(keys))  # DEMO-7 blocks DEMO-6 and DEMO-1: each still once
    root = tree.roots[0]
    assert (root.summary, root.type, root.status, root.status_category) == (
        "Checkout revamp",
        "Epic",
        "In Progress",
        "indeterminate",
    )
    assert (root.priority, root.assignee, root.due.isoformat()) == ("High", "Alice Martin", "2024-06-30")
    assert root.created.isoformat() == "2024-03-01T08:30:00+00:00"
    assert root.url == f"{jira.url}/browse/DEMO-1"
    assert tree.progress("DEMO-1") == (7, 2)  # DEMO-3 and DEMO-5 are done
    assert [i.key for i in tree.children_of("DEMO-2")] == ["DEMO-3", "DEMO-4", "OPS-1"]


def test_search_uses_the_deployments_endpoint_with_limited_fields(jira: Jira) -> None:
    fetch_issue_tree(jira.client(), root_key="DEMO-1", options=LINKS)

    searches = [r for r in jira.fake.requests if "/search" in r.path]
    assert searches and {r.path for r in searches} == (
        {"/rest/api/3/search/jql"} if jira.cloud else {"/rest/api/2/search"}
    )
    # Cloud: every call on REST API v3, the API the vendored Cloud description holds.
    version = "/rest/api/3/" if jira.cloud else "/rest/api/2/"
    assert all(r.path.startswith(version) for r in jira.fake.requests)
    for request in searches:
        query = parse_qs(request.query)
        assert "*all" not in query["fields"][0]
        assert set(query["fields"][0].split(",")) >= {"summary", "status", "parent", "issuelinks"}
    # 8 issues over 3 levels: one field lookup, one root read, a handful of batched searches.
    assert len(jira.fake.requests) <= 10


def test_max_depth_and_link_types_limit_the_tree(jira: Jira) -> None:
    client = jira.client()
    one_level = fetch_issue_tree(
        client, root_key="DEMO-1", options=TreeOptions(link_types=("blocks",), max_depth=1)
    )
    assert [(i.key, i.level) for i in one_level.issues] == [("DEMO-1", 0), ("DEMO-2", 1), ("DEMO-5", 1)]

    no_links = fetch_issue_tree(client, root_key="DEMO-1")
    assert [i.key for i in no_links.issues] == ["DEMO-1", "DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5"]

    # "is blocked by" follows Blocks links inward only: from DEMO-6 back to DEMO-5 and DEMO-7.
    inward = fetch_issue_tree(client, root_key="DEMO-6", options=TreeOptions(link_types=("is blocked by",)))
    assert shape(inward) == [
        ("DEMO-6", 0, None, "DEMO-6", "root"),
        ("DEMO-5", 1, "DEMO-6", "DEMO-6", "link:is blocked by"),
        ("DEMO-7", 1, "DEMO-6", "DEMO-6", "link:is blocked by"),
    ]
    outward = TreeOptions(link_types=(LinkRule("Blocks", "outward"),))
    explicit = fetch_issue_tree(client, root_key="DEMO-6", options=outward)
    assert [(i.key, i.level) for i in explicit.issues] == [
        ("DEMO-6", 0),
        ("DEMO-7", 1),  # DEMO-6 blocks DEMO-7
        ("DEMO-1", 2),  # DEMO-7 blocks DEMO-1 (and DEMO-6, already there)
        ("DEMO-2", 3),
        ("DEMO-3", 4),
        ("DEMO-4", 4),
        ("DEMO-5", 3),
    ]


def test_project_entry_point_finds_roots_and_skips_unreadable_links(jira: Jira) -> None:
    tree = fetch_issue_tree(jira.client(), project_key="demo", options=LINKS, source="jira-demo")

    # DEMO-1 is claimed only from inside the DEMO-6/DEMO-7 cycle, so it is promoted to a root.
    assert [r.key for r in tree.roots] == ["DEMO-1", "DEMO-8", "DEMO-11"]
    keys = [issue.key for issue in tree.issues]
    assert sorted(keys) == sorted([f"DEMO-{n}" for n in range(1, 12)] + ["OPS-1"])
    assert len(keys) == len(set(keys))
    assert [(i.key, i.level, i.parent_key) for i in tree.descendants("DEMO-8")] == [
        ("DEMO-9", 1, "DEMO-8"),
        ("DEMO-10", 2, "DEMO-9"),
    ]
    assert tree.progress("DEMO-8") == (2, 2)
    # SECRET-1 is archived: Jira rejects it in `issuekey in (...)` and answers 404 to GET.
    assert len(tree.skipped) == 1 and tree.skipped[0].startswith("SECRET-1: linked but not readable")


def test_jql_entry_point(jira: Jira) -> None:
    tree = fetch_issue_tree(jira.client(), jql="project = DEMO AND issuetype = Epic")
    assert [r.key for r in tree.roots] == ["DEMO-1", "DEMO-8"]
    assert {i.key for i in tree.children} == {"DEMO-2", "DEMO-3", "DEMO-4", "DEMO-5", "DEMO-9", "DEMO-10"}
    ordered = fetch_issue_tree(
        jira.client(), jql="issuekey in (DEMO-8, DEMO-1) ORDER BY key DESC", options=TreeOptions(max_depth=0)
    )
    assert [r.key for r in ordered.roots] == ["DEMO-8", "DEMO-1"]


def test_small_batches_give_the_same_tree(jira: Jira) -> None:
    client = jira.client()
    default = fetch_issue_tree(client, project_key="DEMO", options=LINKS)
    small = fetch_issue_tree(
        client,
        project_key="DEMO",
        options=TreeOptions(link_types=("blocks", "relates to"), batch_size=1, page_size=2),
    )
    assert shape(small) == shape(default)
    assert small.requests > default.requests


# ─── pagination ──────────────────────────────────────────────────────────────────────────────────


@contextmanager
def big_page_project(cloud: bool, n: int, **kwargs: Any) -> Iterator[tuple[FakeJira, Any]]:
    """A fake Jira of `n` issues in project PAGE, served: its state, and a client of it."""
    app = fake_app(cloud, big_project(cloud=cloud, n=n, project="PAGE"), **kwargs)
    user, secret = ACCOUNTS[cloud]
    with serve(app) as url:
        yield app.state.jira, make_jira_client(url, user, secret, cloud=cloud, retry=FAST_RETRY)


@pytest.mark.parametrize("cloud", [False, True], ids=["server", "cloud"])
def test_pagination_over_several_pages(cloud: bool) -> None:
    # Server/DC cuts a page to the site's jira.search.views.default.max (here set to 100), Cloud to
    # 100 when fields are asked: the walk asks for 500 and must page by what came back.
    cap = {} if cloud else {"max_results": 100}
    with big_page_project(cloud, n=350, **cap) as (fake, client):
        tree = fetch_issue_tree(
            client, project_key="PAGE", options=TreeOptions(link_types=("blocks",), page_size=500)
        )

    assert len(tree.issues) == 350
    assert [r.key for r in tree.roots] == ["PAGE-1", "PAGE-101", "PAGE-201", "PAGE-301"]
    assert {i.level for i in tree.children} == {1, 2}
    assert len({i.key for i in tree.issues}) == 350
    project_pages = [
        parse_qs(r.query)
        for r in fake.requests
        if parse_qs(r.query).get("jql", [""])[0].startswith("project =")
    ]
    assert len(project_pages) == 4
    if cloud:
        assert [("nextPageToken" in q) for q in project_pages] == [False, True, True, True]
    else:
        assert [q["startAt"][0] for q in project_pages] == ["0", "100", "200", "300"]
    # The project query returned every PAGE issue, so the child queries only look outside it.
    jqls = [parse_qs(r.query).get("jql", [""])[0] for r in fake.requests]
    child_queries = [jql for jql in jqls if jql.startswith("parent in")]
    assert child_queries and all('AND project != "PAGE"' in jql for jql in child_queries)
    # 350 issues, but only a few requests: batched JQL, not one request per issue.
    assert len(fake.requests) < 12


@pytest.mark.parametrize("cloud", [False, True], ids=["server", "cloud"])
def test_child_queries_page_too(cloud: bool) -> None:
    with big_page_project(cloud, n=200) as (fake, client):
        tree = fetch_issue_tree(client, root_key="PAGE-101", options=TreeOptions(page_size=25))

    assert len(tree.issues) == 100 and [r.key for r in tree.roots] == ["PAGE-101"]
    queries = [parse_qs(r.query) for r in fake.requests]
    subtask_pages = [q for q in queries if q.get("jql", [""])[0].startswith("parent in (PAGE-102")]
    assert len(subtask_pages) == 4  # 90 sub-tasks at 25 a page
    if cloud:
        assert [("nextPageToken" in q) for q in subtask_pages] == [False, True, True, True]
    else:
        assert [q["startAt"][0] for q in subtask_pages] == ["0", "25", "50", "75"]


# ─── faults ──────────────────────────────────────────────────────────────────────────────────────


def test_429_honours_retry_after_and_loses_nothing(jira: Jira) -> None:
    expected = shape(fetch_issue_tree(jira.client(), root_key="DEMO-1", options=LINKS))
    jira.fake.reset_log()
    jira.fake.inject(429, 1, retry_after=1, path="/rest/api/")

    started = time.monotonic()
    tree = fetch_issue_tree(jira.client(), root_key="DEMO-1", options=LINKS)
    elapsed = time.monotonic() - started

    assert shape(tree) == expected
    assert elapsed >= 1.0  # Retry-After: 1 was waited for
    assert jira.fake.count(status=429) == 1
    limited, retried = jira.fake.requests[0], jira.fake.requests[1]
    assert (limited.path, limited.query) == (retried.path, retried.query)
    assert retried.at - limited.at >= 1.0


def test_retry_after_is_capped(jira: Jira) -> None:
    jira.fake.inject(429, 1, retry_after=3600, path="/rest/api/")
    started = time.monotonic()
    fetch_issue_tree(jira.client(retry=RetryPolicy(max_retry_after=0.2)), root_key="DEMO-4")
    assert time.monotonic() - started < 5


def test_5xx_is_retried_with_backoff(jira: Jira) -> None:
    jira.fake.inject(503, 2, path="/rest/api/")
    jira.fake.inject(502, 1, path="/rest/api/")
    tree = fetch_issue_tree(jira.client(), root_key="DEMO-1", options=LINKS)
    assert len(tree.issues) == 8
    assert jira.fake.count(status=503) == 2 and jira.fake.count(status=502) == 1


def test_5xx_that_persists_raises_service_unavailable(jira: Jira) -> None:
    jira.fake.inject(500, 10, path="/rest/api/")
    with pytest.raises(ServiceUnavailableError) as caught:
        fetch_issue_tree(
            jira.client(retry=RetryPolicy(max_retries=2, backoff_factor=0.01)),
            root_key="DEMO-1",
            source="jira-demo",
        )
    assert jira.fake.count(status=500) == 3  # the request and two retries
    assert caught.value.status == 500 and caught.value.url == jira.url
    assert "'jira-demo'" in str(caught.value) and jira.url in str(caught.value)


def test_429_that_persists_raises_rate_limited(jira: Jira) -> None:
    jira.fake.inject(429, 10, retry_after=0, path="/rest/api/")
    with pytest.raises(RateLimitedError, match="still rate limited"):
        fetch_issue_tree(
            jira.client(retry=RetryPolicy(max_retries=1, backoff_factor=0.01)), root_key="DEMO-1"
        )
    assert jira.fake.count(status=429) == 2


def test_refused_credentials_fail_at_once_naming_the_url_and_source(jira: Jira) -> None:
    started = time.monotonic()
    with pytest.raises(AuthenticationError) as caught:
        fetch_issue_tree(jira.client(secret="wrong"), root_key="DEMO-1", source="jira-prod")
    assert time.monotonic() - started < 2
    message = str(caught.value)
    assert jira.url in message and "'jira-prod'" in message and jira.user in message
    assert caught.value.service == "jira"
    assert len(jira.fake.requests) == 1  # never retried
    if jira.cloud:
        # Cloud answers a refused API token as to an anonymous user (here the field list, 200): the
        # login's failure is in a header only, and must not pass for an empty Jira.
        assert caught.value.status == 200 and "X-Seraph-LoginReason: AUTHENTICATED_FAILED" in message
        assert "anonymous" in message and "expire" in message
    else:
        assert caught.value.status == 401 and "401" in message


def test_cloud_refused_token_never_yields_an_empty_export() -> None:
    """A JQL export whose query anonymous users may run (no project named) still fails on a
    refused token, instead of writing the nothing that anonymous users see."""
    app = fake_app(True, demo_issues(cloud=True))
    with serve(app) as url:
        client = make_jira_client(url, ACCOUNTS[True][0], "expired-token", cloud=True, retry=FAST_RETRY)
        with pytest.raises(AuthenticationError, match="anonymous user") as caught:
            fetch_issue_tree(
                client, jql="issuetype = Epic", options=TreeOptions(epic_link_field=None), source="jira-cloud"
            )
        # A project anonymous users may not browse "does not exist" for them: still the credentials.
        with pytest.raises(AuthenticationError, match="anonymous user") as by_project:
            fetch_issue_tree(client, project_key="DEMO", options=TreeOptions(epic_link_field=None))
    assert caught.value.status == 200 and "/rest/api/3/search/jql" in str(caught.value)
    assert by_project.value.status == 400
    assert "does not exist for the field 'project'" in str(by_project.value)
    assert app.state.jira.count(path="/search/jql", status=200) == 1


def test_server_captcha_lockout_says_how_to_lift_it() -> None:
    app = fake_app(False, demo_issues(cloud=False))
    with serve(app) as url:
        user, secret = ACCOUNTS[False]
        wrong = make_jira_client(url, user, "wrong", cloud=False, retry=FAST_RETRY)
        for _ in range(CAPTCHA_AFTER):
            with pytest.raises(AuthenticationError):
                check_connection(wrong)
        right = make_jira_client(url, user, secret, cloud=False, retry=FAST_RETRY)
        with pytest.raises(AuthenticationError) as caught:
            fetch_issue_tree(right, root_key="DEMO-1", source="jira-dc")
    message = str(caught.value)
    assert caught.value.status == 403 and "CAPTCHA" in message and f"{url}/login.jsp" in message
    assert "browser" in message and "'jira-dc'" in message


def test_404_for_an_unknown_root(jira: Jira) -> None:
    with pytest.raises(NotFoundError) as caught:
        fetch_issue_tree(jira.client(), root_key="DEMO-999", options=TreeOptions(epic_link_field=None))
    assert "DEMO-999" in str(caught.value) and jira.url in str(caught.value)
    assert "Issue does not exist" in str(caught.value)
    assert caught.value.status == 404


def test_rejected_jql_is_a_query_error_with_jiras_message(jira: Jira) -> None:
    with pytest.raises(BadRequestError, match="does not exist for the field 'project'"):
        fetch_issue_tree(jira.client(), project_key="NOPE")
    with pytest.raises(BadRequestError, match="not supported"):
        fetch_issue_tree(jira.client(), jql="project = DEMO OR project = OPS")


def test_an_unbounded_query_is_refused_on_cloud_and_run_on_server(jira: Jira) -> None:
    options = TreeOptions(max_depth=0, epic_link_field=None)
    if jira.cloud:
        with pytest.raises(BadRequestError, match="Unbounded JQL queries are not allowed") as caught:
            fetch_issue_tree(jira.client(), jql="ORDER BY created DESC", options=options)
        assert caught.value.status == 400
    else:
        tree = fetch_issue_tree(jira.client(), jql="ORDER BY created DESC", options=options)
        assert len(tree.roots) == 9 and jira.fake.count(path="/search", status=200) == 1


@pytest.mark.parametrize("cloud", [False, True], ids=["server", "cloud"])
def test_a_client_of_the_wrong_flavour_is_told_so(cloud: bool) -> None:
    # An e-mail user name, which both editions take, so that only the flavour is wrong.
    user, secret = "bot@example.com", ACCOUNTS[cloud][1]
    app = make_fake_jira(cloud=cloud, users={user: secret}, issues=demo_issues(cloud=cloud))
    # Each sends paths its Jira's description does not hold: a Cloud client asks Server/DC for API
    # v3 (which it lacks), a Server client asks Cloud for API v2 (which Cloud serves but which is
    # not vendored: the project calls v3 there).
    wrong_api = r"jira-cloud: GET /rest/api/2/" if cloud else r"jira-server: GET /rest/api/3/"
    with serve(app) as url:
        wrong = make_jira_client(url, user, secret, cloud=not cloud, retry=FAST_RETRY)
        with pytest.raises(RemoteServiceError, match="cloud=True") as caught:
            with expected_violations(wrong_api + ".*PathNotFound"):
                fetch_issue_tree(wrong, project_key="DEMO")
    assert caught.value.status == (410 if cloud else 404)


def test_server_personal_access_token() -> None:
    app = fake_app(False, demo_issues(cloud=False))
    with serve(app) as url:
        client = make_jira_client(url, None, PAT, cloud=False, retry=FAST_RETRY)
        assert client.session.headers["Authorization"] == f"Bearer {PAT}"
        assert check_connection(client, source="jira-pat")["name"] == ACCOUNTS[False][0]
        assert [i.key for i in fetch_issue_tree(client, root_key="DEMO-2").issues] == [
            "DEMO-2",
            "DEMO-3",
            "DEMO-4",
        ]
        # The password is not a token: as a Bearer it is refused.
        with pytest.raises(AuthenticationError, match="personal access token") as caught:
            check_connection(make_jira_client(url, None, ACCOUNTS[False][1], cloud=False, retry=FAST_RETRY))
        assert caught.value.status == 401


def test_cloud_refuses_the_account_password() -> None:
    user = ACCOUNTS[True][0]
    app = fake_app(True, demo_issues(cloud=True), passwords={user: "hunter2"})
    with serve(app) as url:
        client = make_jira_client(url, user, "hunter2", cloud=True, retry=FAST_RETRY)
        with pytest.raises(AuthenticationError, match="passwords is deprecated") as caught:
            fetch_issue_tree(client, root_key="DEMO-1", source="jira-cloud")
    assert caught.value.status == 401 and user in str(caught.value)


def test_connection_refused_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = make_jira_client(url, "bot", "x", cloud=False, timeout=2, retry=RetryPolicy(connect_retries=1))
    with pytest.raises(ServiceUnreachableError, match="no response"):
        fetch_issue_tree(client, root_key="DEMO-1", source="jira-down")


def test_bad_arguments_are_refused_before_any_request() -> None:
    client = make_jira_client("http://127.0.0.1:9", "bot", "x", cloud=False)
    with pytest.raises(ValueError, match="exactly one"):
        fetch_issue_tree(client, root_key="DEMO-1", project_key="DEMO")
    with pytest.raises(ValueError, match="ABC-123"):
        fetch_issue_tree(client, root_key="DEMO-1) OR (project = X")
    with pytest.raises(ValueError, match="e-mail"):
        make_jira_client("https://x.atlassian.net", None, "token", cloud=True)
    with pytest.raises(ValueError, match="must be the account e-mail, got 'bot'"):
        make_jira_client("https://x.atlassian.net", "bot", "token", cloud=True)
    with pytest.raises(ValueError, match="absolute"):
        make_jira_client("jira.example.com", "bot", "token", cloud=False)
    with pytest.raises(ValueError, match="customfield_10014"):
        TreeOptions(epic_link_field="Epic Link")
    with pytest.raises(ValueError, match="max_depth"):
        TreeOptions(max_depth=-1)
