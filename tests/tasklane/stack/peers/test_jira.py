"""The fake Jira refuses what the real editions refuse, the way they refuse it (tests/fakes/README.md (jira)).

Each test sends what a real Jira rejects and expects the real answer: status, body shape and
headers. Every request and answer here is also checked against the vendored API descriptions
(tests/contracts/jira/); requests the descriptions themselves forbid are marked with
`expected_violations`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import httpx
import pytest

from tasklane.stack.peers._server import serve
from tasklane.stack.peers.jira import (
    CAPTCHA_AFTER,
    CLOUD_EPIC_FIELD,
    SERVER_EPIC_FIELD,
    FakeJira,
    big_project,
    demo_issues,
    make_fake_jira,
)
from tests.contracts.checker import expected_violations

CLOUD_USER, CLOUD_TOKEN, CLOUD_PASSWORD = "bot@example.com", "api-token-1", "account-password"
SERVER_USER, SERVER_PASSWORD, PAT = "bot", "s3cret-password", "pat-0123456789abcdef"
FIELDS = "summary,status,parent,issuelinks"


class Peer:
    """A served fake Jira and an HTTP client signed in as its account."""

    def __init__(self, url: str, fake: FakeJira) -> None:
        self.url = url
        self.fake = fake
        self.cloud = fake.cloud
        self.api = "/rest/api/3" if self.cloud else "/rest/api/2"
        self.search = f"{self.api}/search/jql" if self.cloud else f"{self.api}/search"
        auth = (CLOUD_USER, CLOUD_TOKEN) if self.cloud else (SERVER_USER, SERVER_PASSWORD)
        self.http = httpx.Client(base_url=url, auth=auth, timeout=10)

    def get(self, path: str, *, auth: Any = None, **params: Any) -> httpx.Response:
        """GET as the account, or with `auth` (``False``: no credentials at all)."""
        if auth is None:
            return self.http.get(path, params=params)
        return httpx.get(self.url + path, params=params, auth=auth or None, timeout=10)


def served(cloud: bool, **kwargs: Any) -> Any:
    accounts: dict[str, Any] = (
        {"users": {CLOUD_USER: CLOUD_TOKEN}, "passwords": {CLOUD_USER: CLOUD_PASSWORD}}
        if cloud
        else {"users": {SERVER_USER: SERVER_PASSWORD}, "personal_tokens": {PAT: SERVER_USER}}
    )
    kwargs.setdefault("issues", demo_issues(cloud=cloud))
    return make_fake_jira(cloud=cloud, **accounts, **kwargs)


def _demo(cloud: bool) -> Iterator[Peer]:
    app = served(cloud, anonymous_projects=["OPS"])
    with serve(app) as url:
        peer = Peer(url, app.state.jira)
        yield peer
        peer.http.close()


@pytest.fixture(scope="module")
def server_demo() -> Iterator[Peer]:
    yield from _demo(False)


@pytest.fixture(scope="module")
def cloud_demo() -> Iterator[Peer]:
    yield from _demo(True)


def _fresh(peer: Peer) -> Iterator[Peer]:
    peer.fake.clear_faults()
    peer.fake.reset_log()
    yield peer
    peer.fake.clear_faults()
    peer.fake.reset_log()


@pytest.fixture(params=["server", "cloud"])
def jira(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Each edition's demo Jira, served once a module, its faults and log reset around each test."""
    yield from _fresh(request.getfixturevalue(f"{request.param}_demo"))


@pytest.fixture
def server(server_demo: Peer) -> Iterator[Peer]:
    yield from _fresh(server_demo)


@pytest.fixture
def cloud(cloud_demo: Peer) -> Iterator[Peer]:
    yield from _fresh(cloud_demo)


def bearer(token: str) -> Any:
    def sign(request: httpx.Request) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    return sign


def error_messages(response: httpx.Response) -> list[str]:
    body = response.json()
    assert set(body) == {"errorMessages", "errors"}, body
    return body["errorMessages"]


# ─── authentication ──────────────────────────────────────────────────────────────────────────────


def test_cloud_accounts_are_email_addresses_with_api_tokens() -> None:
    with pytest.raises(ValueError, match="e-mail"):
        make_fake_jira(cloud=True, users={"bot": "token"}, issues=[])
    with pytest.raises(ValueError, match="Server/Data Center"):
        make_fake_jira(cloud=True, users={CLOUD_USER: "t"}, issues=[], personal_tokens={"p": CLOUD_USER})
    app = served(True)
    with serve(app) as url:
        me = httpx.get(f"{url}/rest/api/3/myself", auth=(CLOUD_USER, CLOUD_TOKEN))
        refused = httpx.get(f"{url}/rest/api/3/myself", auth=(CLOUD_USER, CLOUD_PASSWORD))
    assert me.status_code == 200 and me.json()["emailAddress"] == CLOUD_USER
    assert me.headers["X-Seraph-LoginReason"] == "OK"
    # Basic auth with the account password is refused on Cloud (only API tokens work).
    assert refused.status_code == 401 and refused.headers["Content-Type"].startswith("text/plain")
    assert refused.text.startswith("Basic authentication with passwords is deprecated.")


@pytest.mark.parametrize(
    "auth", [(CLOUD_USER, "expired-token"), ("someone.else@example.com", CLOUD_TOKEN), bearer(CLOUD_TOKEN)]
)
def test_cloud_answers_refused_credentials_as_to_an_anonymous_user(auth: Any) -> None:
    app = served(True)
    with serve(app) as url:
        peer = Peer(url, app.state.jira)
        search = peer.get(peer.search, auth=auth, jql="project = DEMO", fields=FIELDS)
        issue = peer.get("/rest/api/3/issue/DEMO-1", auth=auth)
        fields = peer.get("/rest/api/3/field", auth=auth)
        me = peer.get("/rest/api/3/myself", auth=auth)
    # Operations open to anonymous users run as one: the private project does not exist for them.
    assert search.status_code == 400
    assert error_messages(search) == ["The value 'DEMO' does not exist for the field 'project'."]
    assert issue.status_code == 404 and fields.status_code == 200
    # `myself` needs a user: 401, text, as Cloud words it.
    assert me.status_code == 401 and me.text == "Client must be authenticated to access this resource."
    for answer in (search, issue, fields, me):
        assert answer.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"


def test_server_takes_a_password_or_a_personal_access_token(server: Peer) -> None:
    assert server.get("/rest/api/2/myself").json()["name"] == SERVER_USER
    assert server.get("/rest/api/2/myself", auth=bearer(PAT)).json()["name"] == SERVER_USER
    refused = server.get("/rest/api/2/myself", auth=bearer(SERVER_PASSWORD))  # a password is no token
    assert refused.status_code == 401 and refused.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"


def test_server_refuses_wrong_credentials_with_its_html_401(server: Peer) -> None:
    refused = server.get(server.search, auth=(SERVER_USER, "wrong"), jql="project = DEMO")
    assert refused.status_code == 401
    assert refused.headers["Content-Type"].startswith("text/html")
    assert refused.headers["X-Seraph-LoginReason"] == "AUTHENTICATED_FAILED"
    assert refused.headers["WWW-Authenticate"].startswith('OAuth realm="http%3A%2F%2F127.0.0.1')
    assert "Basic Authentication Failure - Reason : AUTHENTICATED_FAILED" in refused.text


def test_server_requires_a_captcha_after_failed_logins(server: Peer) -> None:
    for _ in range(CAPTCHA_AFTER):
        assert server.get("/rest/api/2/myself", auth=(SERVER_USER, "wrong")).status_code == 401
    # Now even the right password is denied, without being checked.
    denied = server.get("/rest/api/2/myself")
    assert denied.status_code == 403 and denied.headers["Content-Type"].startswith("text/html")
    assert denied.headers["X-Seraph-LoginReason"] == "AUTHENTICATION_DENIED"
    assert (
        denied.headers["X-Authentication-Denied-Reason"]
        == f"CAPTCHA_CHALLENGE; login-url={server.url}/login.jsp"
    )
    assert "AUTHENTICATION_DENIED" in denied.text
    # A personal access token is no password login: it still works.
    assert server.get("/rest/api/2/myself", auth=bearer(PAT)).status_code == 200
    server.fake.reset_log()  # what passing the CAPTCHA in a browser does
    assert server.get("/rest/api/2/myself").status_code == 200


def test_anonymous_callers_see_only_the_projects_open_to_anyone(jira: Peer) -> None:
    # Sending no credentials is what the refusal is tested with, but the Server/DC description
    # requires them on every operation (Cloud's allows anonymous calls of all but `myself`, and
    # openapi-core cannot check its OAuth 2.0 alternative there).
    needs_credentials = (
        expected_violations(r"jira-server: GET .*Security") if not jira.cloud else nullcontext()
    )
    with needs_credentials:
        me = jira.get(f"{jira.api}/myself", auth=False)
    assert me.status_code == 401
    if jira.cloud:
        assert me.text == "Client must be authenticated to access this resource."
    else:
        assert error_messages(me) == [
            "You are not authenticated. Authentication required to perform this operation."
        ]
    with expected_violations(r"jira-server: GET .*Security") if not jira.cloud else nullcontext():
        private = jira.get(jira.search, auth=False, jql="project = DEMO", fields=FIELDS)
        public = jira.get(jira.search, auth=False, jql="project = OPS", fields=FIELDS)
        hidden = jira.get(f"{jira.api}/issue/DEMO-1", auth=False)
    assert private.status_code == 400
    assert error_messages(private) == ["The value 'DEMO' does not exist for the field 'project'."]
    assert [i["key"] for i in public.json()["issues"]] == ["OPS-1"]
    assert hidden.status_code == 404


# ─── search: pagination caps, JQL errors ─────────────────────────────────────────────────────────


def test_server_search_pages_are_cut_to_the_site_maximum() -> None:
    app = served(False, issues=big_project(cloud=False, n=1200, project="BIG"))
    small = served(False, issues=big_project(cloud=False, n=150, project="BIG"), max_results=100)
    with serve(app) as url, serve(small) as small_url:
        default = Peer(url, app.state.jira).get("/rest/api/2/search", jql="project = BIG", fields="summary")
        asked = Peer(url, app.state.jira).get(
            "/rest/api/2/search", jql="project = BIG", fields="summary", maxResults=5000
        )
        configured = Peer(small_url, small.state.jira).get(
            "/rest/api/2/search", jql="project = BIG", fields="summary", maxResults=500, startAt=60
        )
    assert (default.json()["maxResults"], len(default.json()["issues"])) == (50, 50)
    # jira.search.views.default.max (1000 unless set) cuts the page, and the answer says so.
    assert (asked.json()["maxResults"], len(asked.json()["issues"]), asked.json()["total"]) == (
        1000,
        1000,
        1200,
    )
    assert configured.json()["maxResults"] == 100 and len(configured.json()["issues"]) == 90


def test_cloud_search_pages_by_token_and_caps_pages_with_fields() -> None:
    app = served(True, issues=big_project(cloud=True, n=300, project="BIG"))
    with serve(app) as url:
        peer = Peer(url, app.state.jira)
        ids = peer.get(peer.search, jql="project = BIG", maxResults=300).json()
        with_fields = peer.get(peer.search, jql="project = BIG", fields=FIELDS, maxResults=300).json()
        token = with_fields["nextPageToken"]
        second = peer.get(
            peer.search, jql="project = BIG", fields=FIELDS, maxResults=300, nextPageToken=token
        )
        other_query = peer.get(
            peer.search, jql="project = BIG ORDER BY created", fields=FIELDS, nextPageToken=token
        )
        too_many = peer.get(peer.search, jql="project = BIG", maxResults=5001)
        none = peer.get(peer.search, jql="project = BIG", maxResults=0)
    # No `fields`: ids only, and up to 5,000 of them a page.
    assert len(ids["issues"]) == 300 and set(ids["issues"][0]) == {"id"} and ids["isLast"] is True
    # Fields beyond id/key: at most 100 a page, then a token; no total, no startAt.
    assert len(with_fields["issues"]) == 100 and with_fields["isLast"] is False and "total" not in with_fields
    assert [i["key"] for i in second.json()["issues"]][:1] == ["BIG-101"]
    assert other_query.status_code == 400 and "next page token" in error_messages(other_query)[0]
    assert too_many.status_code == 400 and none.status_code == 400


@pytest.mark.parametrize("jql", ["", "ORDER BY key", "order by created DESC"])
def test_cloud_refuses_an_unbounded_query(jql: str) -> None:
    app = served(True)
    # An empty `jql` is already outside the description (it does not allow an empty value).
    empty = (
        expected_violations(r"jira-cloud: GET .*jql query parameter cannot be empty")
        if not jql
        else nullcontext()
    )
    with serve(app) as url, empty:
        peer = Peer(url, app.state.jira)
        refused = peer.get(peer.search, jql=jql, fields=FIELDS)
    assert refused.status_code == 400
    assert error_messages(refused) == [
        "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
    ]


def test_cloud_retired_search_answers_410(cloud: Peer) -> None:
    gone = cloud.get("/rest/api/3/search", jql="project = DEMO")
    assert gone.status_code == 410 and "/rest/api/3/search/jql" in error_messages(gone)[0]
    with expected_violations(r"jira-cloud: GET /rest/api/2/search: .*PathNotFound"):  # v2 is not vendored
        assert cloud.get("/rest/api/2/search", jql="project = DEMO").status_code == 410


def test_server_has_neither_api_v3_nor_search_jql(server: Peer) -> None:
    with expected_violations(r"jira-server: GET /rest/api/(3/myself|2/search/jql): .*PathNotFound"):
        assert server.get("/rest/api/3/myself").status_code == 404
        assert server.get("/rest/api/2/search/jql", jql="project = DEMO").status_code == 404


@pytest.mark.parametrize(
    ("jql", "message"),
    [
        ("issuekey in (DEMO-1, NOPE-9)", "An issue with key 'NOPE-9' does not exist for field 'issuekey'."),
        ("parent in (DEMO-999)", "An issue with key 'DEMO-999' does not exist for field 'parent'."),
        ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
        ("assignee = bob", "Field 'assignee' does not exist or you do not have permission to view it."),
        ("project = DEMO ORDER BY rank", "Not able to sort using field 'rank'."),
        ("project = DEMO AND", "Error in the JQL Query: the query ended unexpectedly"),
        ("summary ~ checkout", "not supported by this fake Jira"),
    ],
)
def test_a_rejected_query_is_a_400_with_jiras_error_body(jira: Peer, jql: str, message: str) -> None:
    refused = jira.get(jira.search, jql=jql, fields=FIELDS)
    assert refused.status_code == 400
    assert message in error_messages(refused)[0]


def test_the_epic_link_field_per_edition(jira: Peer) -> None:
    epic_field = CLOUD_EPIC_FIELD if jira.cloud else SERVER_EPIC_FIELD
    number = epic_field.removeprefix("customfield_")
    listed = {f["id"]: f for f in jira.get(f"{jira.api}/field").json()}
    assert listed[epic_field]["schema"]["custom"] == "com.pyxis.greenhopper.jira:gh-epic-link"
    assert listed[epic_field]["clauseNames"] == [f"cf[{number}]", "Epic Link"]
    story = jira.get(f"{jira.api}/issue/DEMO-5", fields=f"parent,{epic_field}").json()["fields"]
    assert story[epic_field] == "DEMO-1"
    # Cloud standardised epic children on the parent field; Server/DC has a parent for sub-tasks only.
    assert ("parent" in story) is jira.cloud and (not jira.cloud or story["parent"]["key"] == "DEMO-1")
    refused = jira.get(jira.search, jql=f"cf[{number}] in (DEMO-2)", fields=FIELDS)
    assert refused.status_code == 400 and error_messages(refused) == ["Issue 'DEMO-2' is not an Epic."]


def test_an_unknown_or_hidden_issue_is_a_404(jira: Peer) -> None:
    for key in ("DEMO-404", "SECRET-1"):
        missing = jira.get(f"{jira.api}/issue/{key}")
        assert missing.status_code == 404
        assert error_messages(missing) == ["Issue does not exist or you do not have permission to see it."]


def test_server_info_per_edition(jira: Peer) -> None:
    info = jira.get(f"{jira.api}/serverInfo").json()
    assert info["deploymentType"] == ("Cloud" if jira.cloud else "Server")
    assert info["version"] == ("1001.0.0-SNAPSHOT" if jira.cloud else "10.3.24")


# ─── rate limits and faults ──────────────────────────────────────────────────────────────────────


def test_rate_limit_and_transient_errors_carry_retry_after(jira: Peer) -> None:
    jira.fake.inject(429, 1, retry_after=7)
    jira.fake.inject(503, 1, retry_after=3)
    limited = jira.get(jira.search, jql="project = DEMO", fields=FIELDS)
    unavailable = jira.get(jira.search, jql="project = DEMO", fields=FIELDS)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "3"
    if not jira.cloud:  # Data Center's rate limiter reports its token bucket
        assert limited.headers["X-RateLimit-Remaining"] == "0" and "X-RateLimit-FillRate" in limited.headers
