"""The fake Jira's HTTP side: its paths, how each edition authenticates, and the answers it refuses with.

Paths (anything else is a 404, as from Jira's dispatcher):

- Server/DC, ``/rest/api/{2,latest}``: ``GET search`` (``startAt``/``maxResults``/``total``;
  ``maxResults`` defaults to 50 and is cut to the site's ``jira.search.views.default.max``, 1000
  unless set, which the answer's ``maxResults`` says), ``issue/{key}``, ``myself``, ``serverInfo``,
  ``field``. No API v3 and no ``search/jql`` (404).
- Cloud, ``/rest/api/{2,3,latest}``: ``GET search/jql`` (``nextPageToken``/``isLast``;
  ``maxResults`` 1..5000, pages of at most 100 issues when fields other than id/key are asked;
  without ``fields`` only ids; an unbounded query is refused); the retired ``search`` answers 410;
  ``issue/{key}``, ``myself``, ``serverInfo``, ``field``.

Authentication:

- Cloud: basic auth with the account e-mail and an API token. A known account password is refused
  (401, text). Any other credentials (a wrong or expired token, another scheme) are *not* refused
  where the operation may be used anonymously: the request runs as an anonymous user and the
  answer carries ``X-Seraph-LoginReason: AUTHENTICATED_FAILED``; ``myself`` answers 401 (text).
- Server/DC: basic auth with user name and password, or a personal access token as Bearer. Wrong
  credentials: 401, Jira's HTML error page, ``X-Seraph-LoginReason: AUTHENTICATED_FAILED``. After
  `CAPTCHA_AFTER` failed basic logins in a row, the user's basic auth answers 403
  ``X-Authentication-Denied-Reason: CAPTCHA_CHALLENGE`` even with the right password.
- No credentials, both editions: anonymous; only the projects open to anonymous users exist for
  the caller (search: 400 "does not exist", GET issue: 404); ``myself`` answers 401.

Faults (`FakeJira.inject`): 429 with ``Retry-After`` (and, on Server/DC, its ``X-RateLimit-*``
headers), or a 5xx page. Each behaviour's source: tests/fakes/README.md (jira).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response

from tasklane.stack.peers.jira.jql import JqlError, parse
from tasklane.stack.peers.jira.store import FakeIssue, FakeJira, RecordedRequest

DEFAULT_PAGE = 50
CLOUD_PAGE_WITH_FIELDS = 100  # search/jql issues per page when fields beyond id/key are asked
CLOUD_MAX_RESULTS = 5000  # search/jql: maxResults outside 1..5000 is refused
SERVER_VERSION = (10, 3, 24)  # the Data Center release the vendored description is of
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
CLOUD_UNAUTHENTICATED = "Client must be authenticated to access this resource."
CLOUD_PASSWORD_REFUSED = (
    "Basic authentication with passwords is deprecated.  For more information, see: "
    "https://developer.atlassian.com/cloud/confluence/deprecation-notice-basic-auth/"
)
SERVER_UNAUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
RETIRED_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)


@dataclass(frozen=True)
class Caller:
    """Who a request runs as: a user, or anonymous (`refused`: credentials were sent and refused)."""

    user: str | None
    refused: bool = False

    @property
    def anonymous(self) -> bool:
        return self.user is None


def make_fake_jira(
    *,
    cloud: bool,
    users: Mapping[str, str],
    issues: Iterable[FakeIssue],
    epic_link_field: str | None = None,
    passwords: Mapping[str, str] | None = None,
    personal_tokens: Mapping[str, str] | None = None,
    anonymous_projects: Iterable[str] = (),
    max_results: int = 1000,
) -> FastAPI:
    """A FastAPI app that answers like Jira Cloud (`cloud`) or Jira Server/Data Center.

    Args:
        cloud: Cloud or Server/DC paths, pagination, payloads, authentication and error bodies.
        users: Cloud: {account e-mail: API token}; Server/DC: {user name: password}.
        issues: the issues (see `demo_issues`, `big_project`).
        epic_link_field: the Epic Link custom field id; the edition's usual one when None.
        passwords: Cloud only: {account e-mail: account password}, which Cloud refuses over REST.
        personal_tokens: Server/DC only: {personal access token: user name}, sent as Bearer.
        anonymous_projects: projects whose "Browse projects" permission is granted to anyone.
        max_results: Server/DC's ``jira.search.views.default.max``: the most issues a search page
            may hold.

    Returns:
        The app; its state is ``app.state.jira`` (a `FakeJira`).

    Raises:
        ValueError: accounts that do not fit the edition (a Cloud account that is not an e-mail,
            a personal access token on Cloud...), or inconsistent issues.

    Examples:
        >>> from tasklane.stack.peers._server import serve
        >>> from tasklane.stack.peers.jira import demo_issues
        >>> app = make_fake_jira(cloud=False, users={"bot": "s3cret"}, issues=demo_issues(cloud=False))
        >>> with serve(app) as url:  # doctest: +SKIP
        ...     ...
    """
    fake = FakeJira(
        cloud=cloud,
        users=users,
        issues=issues,
        epic_link_field=epic_link_field,
        passwords=passwords,
        personal_tokens=personal_tokens,
        anonymous_projects=anonymous_projects,
        max_results=max_results,
    )
    app = FastAPI(
        title=f"fake Jira {'Cloud' if cloud else 'Server'}", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.jira = fake
    # The API description its traffic is checked against (the tests' contract checks).
    app.state.peer_contract = "jira-cloud" if cloud else "jira-server"
    versions = {"2", "3", "latest"} if cloud else {"2", "latest"}

    # ── authentication ──

    def authenticate(request: Request, base: str) -> Caller | Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if not scheme:
            return Caller(None)
        if scheme.lower() == "basic":
            try:
                user, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, secret = "", ""
            return cloud_basic(user, secret) if cloud else server_basic(user, secret, base)
        if scheme.lower() == "bearer" and not cloud:
            user = fake.personal_tokens.get(value.strip())
            return Caller(user) if user else server_refusal(401, base)
        return Caller(None, refused=True) if cloud else server_refusal(401, base)

    def cloud_basic(user: str, secret: str) -> Caller | Response:
        if user in fake.users and fake.users[user] == secret:
            return Caller(user)
        if user in fake.passwords and fake.passwords[user] == secret:
            return _text(401, CLOUD_PASSWORD_REFUSED, {"X-Seraph-LoginReason": "AUTHENTICATED_FAILED"})
        return Caller(None, refused=True)

    def server_basic(user: str, secret: str, base: str) -> Caller | Response:
        if fake.captcha_required(user):
            return server_refusal(403, base)
        if user in fake.users and fake.users[user] == secret:
            fake.login_succeeded(user)
            return Caller(user)
        fake.login_failed(user)
        return server_refusal(401, base)

    def server_refusal(status: int, base: str) -> Response:
        """Seraph's refusal of basic or bearer credentials: Jira's HTML error page."""
        headers = {"WWW-Authenticate": f'OAuth realm="{quote(base, safe="")}"'}
        if status == 403:
            reason, name = "AUTHENTICATION_DENIED", "Forbidden"
            headers["X-Authentication-Denied-Reason"] = f"CAPTCHA_CHALLENGE; login-url={base}/login.jsp"
        else:
            reason, name = "AUTHENTICATED_FAILED", "Unauthorized"
        headers["X-Seraph-LoginReason"] = reason
        title = f"{name} ({status})"
        page = (
            f"<html><head><title>{title}</title></head><body><h1>{title}</h1>"
            f"<p>Encountered a <code>&quot;{status} - {name}&quot;</code> error "
            f"while loading this page.</p><p>Basic Authentication Failure - Reason : {reason}</p>"
            '<p><a href="/secure/MyJiraHome.jspa">Go to Jira home</a></p></body></html>'
        )
        return Response(page, status_code=status, media_type="text/html;charset=UTF-8", headers=headers)

    def unauthenticated(caller: Caller, base: str) -> Response:
        """``myself`` for an anonymous caller (or, on Cloud, one whose credentials were refused)."""
        headers = {"WWW-Authenticate": f'OAuth realm="{quote(base, safe="")}"'}
        if caller.refused:
            headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        if cloud:
            return _text(401, CLOUD_UNAUTHENTICATED, headers)
        return _errors(401, SERVER_UNAUTHENTICATED, headers=headers)

    # ── the endpoints ──

    def handle(request: Request, path: str) -> Response:
        fault = fake.take_fault(path)
        if fault is not None:
            return _fault(*fault, cloud=cloud)
        base = str(request.base_url).rstrip("/")
        # The login filter runs before any resource, so refused credentials win over a wrong path.
        caller = authenticate(request, base)
        if isinstance(caller, Response):
            return caller
        parts = path.strip("/").split("/")
        if len(parts) < 4 or parts[:2] != ["rest", "api"] or parts[2] not in versions:
            return _not_found()
        response = route(request, caller, parts[2], parts[3:], base)
        # Seraph says how the login went on every answer: OK, or (Cloud, answered anonymously) failed.
        if caller.refused:
            response.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
        elif not caller.anonymous:
            response.headers["X-Seraph-LoginReason"] = "OK"
        return response

    def route(request: Request, caller: Caller, version: str, resource: list[str], base: str) -> Response:
        try:
            if resource == ["search"]:
                return (
                    _errors(410, RETIRED_SEARCH) if cloud else server_search(request, caller, base, version)
                )
            if resource == ["search", "jql"] and cloud:
                return cloud_search(request, caller, base, version)
            if len(resource) == 2 and resource[0] == "issue":
                key = resource[1].upper()
                if not fake.can_see(key, caller.anonymous):
                    return _errors(404, "Issue does not exist or you do not have permission to see it.")
                return _json(fake.render(key, _wanted_fields(request, None), base, version))
            if resource == ["myself"]:
                return (
                    unauthenticated(caller, base) if caller.user is None else _json(myself(caller.user, base))
                )
            if resource == ["serverInfo"]:
                return _json(server_info(base))
            if resource == ["field"]:
                return _json(fake.field_list())
        except JqlError as exc:
            return _errors(400, str(exc))
        return _not_found()

    def myself(user: str, base: str) -> dict[str, Any]:
        if cloud:
            account = hashlib.md5(user.encode()).hexdigest()[:24]
            return {
                "self": f"{base}/rest/api/3/user?accountId={account}",
                "accountId": account,
                "accountType": "atlassian",
                "emailAddress": user,
                "displayName": user.partition("@")[0].replace(".", " ").title(),
                "active": True,
                "timeZone": "UTC",
            }
        return {
            "self": f"{base}/rest/api/2/user?username={quote(user)}",
            "name": user,
            "key": user,
            "emailAddress": f"{user}@example.com",
            "displayName": user.title(),
            "active": True,
            "timeZone": "UTC",
        }

    def server_info(base: str) -> dict[str, Any]:
        numbers = [1001, 0, 0] if cloud else list(SERVER_VERSION)
        return {
            "baseUrl": base,
            "version": "1001.0.0-SNAPSHOT" if cloud else ".".join(map(str, numbers)),
            "versionNumbers": numbers,
            "deploymentType": "Cloud" if cloud else "Server",
            "buildNumber": 100282 if cloud else 10030024,
            "serverTitle": "Fake Jira",
        }

    def server_search(request: Request, caller: Caller, base: str, version: str) -> Response:
        query = parse(request.query_params.get("jql", ""))
        start = _int_param(request, "startAt", 0)
        if start < 0:
            raise JqlError(f"The 'startAt' parameter must be >= 0, got {start}.")
        limit = max(0, min(_int_param(request, "maxResults", DEFAULT_PAGE), fake.max_results))
        keys = fake.search(query, anonymous=caller.anonymous)
        wanted = _wanted_fields(request, None)
        return _json(
            {
                "expand": "schema,names",
                "startAt": start,
                "maxResults": limit,
                "total": len(keys),
                "issues": [fake.render(k, wanted, base, version) for k in keys[start : start + limit]],
            }
        )

    def cloud_search(request: Request, caller: Caller, base: str, version: str) -> Response:
        jql = request.query_params.get("jql", "")
        fields_param = ",".join(request.query_params.getlist("fields"))
        fingerprint = hashlib.sha1(f"{jql}\n{fields_param}".encode()).hexdigest()[:12]
        start = _page_token(request.query_params.get("nextPageToken"), fingerprint)
        asked = _int_param(request, "maxResults", DEFAULT_PAGE)
        if not 1 <= asked <= CLOUD_MAX_RESULTS:
            raise JqlError(
                f"The value of 'maxResults' must be between 1 and {CLOUD_MAX_RESULTS}, got {asked}."
            )
        query = parse(jql)
        if not query.clauses:
            raise JqlError(UNBOUNDED)
        # Like the real enhanced search, no `fields` parameter means ids only.
        wanted = _wanted_fields(request, {"id"})
        ids_only = wanted is not None and not wanted - {"id", "key"}
        limit = min(asked, CLOUD_MAX_RESULTS if ids_only else CLOUD_PAGE_WITH_FIELDS)
        keys = fake.search(query, anonymous=caller.anonymous)
        page = keys[start : start + limit]
        body: dict[str, Any] = {"issues": [fake.render(k, wanted, base, version) for k in page]}
        end = start + len(page)
        if end < len(keys):
            body["nextPageToken"] = base64.urlsafe_b64encode(
                json.dumps({"o": end, "q": fingerprint}).encode()
            ).decode()
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


# ─── answers ─────────────────────────────────────────────────────────────────────────────────────


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    # Serialised by hand: FastAPI's jsonable_encoder costs more than the search itself at 5,000 issues.
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json;charset=UTF-8",
        headers=dict(headers or {}),
    )


def _errors(status: int, *messages: str, headers: Mapping[str, str] | None = None) -> Response:
    return _json({"errorMessages": list(messages), "errors": {}}, status, headers)


def _text(status: int, text: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        text, status_code=status, media_type="text/plain;charset=UTF-8", headers=dict(headers or {})
    )


def _not_found() -> Response:
    return Response("Not Found", status_code=404, media_type="text/html;charset=UTF-8")


def _fault(status: int, retry_after: float | None, *, cloud: bool) -> Response:
    headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
    if status != 429:
        return Response(
            f"{status} injected fault", status_code=status, headers=headers, media_type="text/html"
        )
    if not cloud:  # Data Center's rate limiter says how its token bucket stands
        headers.update(
            {
                "X-RateLimit-Limit": "100",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-FillRate": "10",
                "X-RateLimit-Interval-Seconds": "1",
            }
        )
    return _errors(429, "Rate limit exceeded.", headers=headers)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise JqlError(f"The '{name}' parameter must be a number, got '{raw}'.") from None


def _page_token(token: str | None, fingerprint: str) -> int:
    """Where a Cloud search page starts: 0, or the offset `token` carries for the same query."""
    if not token:
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
        start, token_fingerprint = int(decoded["o"]), decoded["q"]
    except (ValueError, KeyError, TypeError):
        raise JqlError("The provided next page token is invalid or expired.") from None
    if token_fingerprint != fingerprint:
        raise JqlError("The provided next page token is invalid or expired.")
    return start


def _wanted_fields(request: Request, default: set[str] | None) -> set[str] | None:
    listed = request.query_params.getlist("fields")
    if not listed:
        return default
    names = {name.strip() for raw in listed for name in raw.split(",") if name.strip()}
    if "*all" in names or "*navigable" in names:
        return None
    return {name for name in names if not name.startswith("-")}
