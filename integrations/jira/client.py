"""The Jira client: atlassian-python-api with bounded retries, and its failures as our errors.

Faults. atlassian-python-api retries inside ``AtlassianRestAPI.request`` on its own terms:
5.0 retries a 429 *once* and only when it carries Retry-After (``retry_with_header``, on by
default); 4.0 retries a 429 with Retry-After *without limit*, sleeping ``int(Retry-After)``
uncapped (an HTTP-date value raises). Both retry 5xx only with ``backoff_and_retry=True`` (off by
default), then only 413/429/503, up to 1000 times and 1800 s per wait. `make_jira_client`
therefore switches the library's own loop off and mounts the integrations' one bounded
`RetryPolicy` on the client's session instead: 429/500/502/503/504 retried with exponential
backoff, Retry-After honoured (seconds or HTTP-date, capped), a few connection retries, no read
retries (a slow answer may mean Jira is still working on the query), GET only. What still fails
afterwards is raised as an `integrations.errors` class naming the Jira (its ``source`` label and
URL), the request, and what Jira said; 401/403 are never retried.

Refused credentials are not always a 401. Jira's login filter (Seraph) says on every answer how the
login went (``X-Seraph-LoginReason``); Jira Cloud answers a request whose credentials it refused (a
wrong or expired API token) as coming from an anonymous user wherever the operation may be used
anonymously: a search then finds what anonymous users may see (often nothing, or "the project does
not exist"). `make_jira_client` therefore treats any answer that says the login failed as an
`AuthenticationError`, rather than exporting an empty tree. Server/DC locks an account out of the
REST API behind a CAPTCHA after a few failed logins (403); the error then says how to lift it.

Jira Cloud is called on REST API v3 throughout (search/jql, issue, myself, field): the current
version, and the one whose description the tests check the traffic against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from atlassian import Jira

from integrations import _http
from integrations._http import RetryPolicy
from integrations.errors import AuthenticationError, RemoteServiceError, UnexpectedResponseError

SERVICE = "jira"
# Seraph's X-Seraph-LoginReason values for credentials it did not accept (the others: OK, OUT).
LOGIN_REFUSED = frozenset({"AUTHENTICATED_FAILED", "AUTHENTICATION_DENIED"})

T = TypeVar("T")


def make_jira_client(
    url: str,
    username: str | None,
    secret: str,
    *,
    cloud: bool,
    timeout: float = 30.0,
    retry: RetryPolicy | None = None,
    verify_tls: bool = True,
) -> Jira:
    """Build an `atlassian.Jira` client with bounded retries for 429 and 5xx.

    Authentication: Jira Cloud takes the account e-mail as `username` and an API token as
    `secret` (basic auth). Server / Data Center takes a username and password (basic auth), or a
    personal access token as `secret` with an empty `username` (Bearer).

    Args:
        url: base URL of the Jira, e.g. ``https://example.atlassian.net`` or
            ``https://jira.example.com/jira`` (with its context path, if any).
        username: account e-mail (Cloud), username (Server/DC), or None/"" for a Server/DC PAT.
        secret: API token, password or personal access token.
        cloud: True for Jira Cloud (cursor-paged ``/rest/api/3/search/jql``), False for Server/DC
            (offset-paged ``/rest/api/2/search``).
        timeout: seconds per request (connect and read). atlassian-python-api truncates it to
            an int, so it is rounded up to at least 1.
        retry: retry policy; `RetryPolicy()` when None.
        verify_tls: verify the server's TLS certificate.

    Returns:
        The client; pass it to `fetch_issue_tree`.

    Raises:
        ValueError: no account e-mail for Jira Cloud, or an empty secret or URL.

    Examples:
        >>> client = make_jira_client(
        ...     "https://example.atlassian.net", "me@example.com", "api-token", cloud=True, timeout=20
        ... )
        >>> client.cloud
        True
    """
    if not url or not urlsplit(url).scheme or not urlsplit(url).netloc:
        raise ValueError(f"Jira URL must be absolute like https://jira.example.com, got {url!r}")
    if not secret:
        raise ValueError(f"Jira at {url}: the secret (API token, password or PAT) is empty")
    if cloud and not username:
        raise ValueError(
            f"Jira Cloud at {url}: a username (the account e-mail) is required with an API token"
        )
    if cloud and "@" not in (username or ""):
        # Cloud's basic auth takes the e-mail only, and would answer anything else as an anonymous
        # user: say so now rather than as refused credentials later.
        raise ValueError(f"Jira Cloud at {url}: the username must be the account e-mail, got {username!r}")
    kwargs: dict[str, Any] = {
        "cloud": cloud,
        "timeout": max(1, math.ceil(timeout)),
        "verify_ssl": verify_tls,
    }
    if cloud:
        kwargs["api_version"] = "3"
    if username:
        kwargs.update(username=username, password=secret)
    else:
        kwargs["token"] = secret
    client = Jira(url.rstrip("/"), **kwargs)
    # Switch off the library's own Retry-After loop (once in 5.x, unbounded and uncapped in 4.x):
    # the mounted Retry has already honoured Retry-After, and a second layer would multiply the
    # waits. Attributes rather than constructor arguments: 4.x has no such arguments.
    if hasattr(client, "retry_with_header"):
        client.retry_with_header = False
    if hasattr(client, "backoff_and_retry"):
        client.backoff_and_retry = False
    # We only read: never replay a write.
    _http.mount_retries(
        client.session,
        client.url.rstrip("/") + "/",
        retry or RetryPolicy(),
        service=SERVICE,
        methods=_http.READS_ONLY,
    )
    client.session.hooks["response"].append(_refuse_answers_to_refused_logins)
    return client


class _RefusedLoginAnswer(requests.HTTPError):
    """A 2xx answer Jira gave after refusing the credentials (as to an anonymous user)."""


def _refuse_answers_to_refused_logins(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A session hook: an answer below 400 whose login failed raises `_RefusedLoginAnswer` (see above)."""
    reason = response.headers.get("X-Seraph-LoginReason", "")
    if response.status_code < 400 and reason in LOGIN_REFUSED:
        raise _RefusedLoginAnswer(
            f"Jira refused the credentials ({reason}) and answered anonymously", response=response
        )


def check_connection(client: Jira, *, source: str = "") -> dict[str, Any]:
    """Ask Jira who we are (``GET /rest/api/{2,3}/myself``): a cheap credentials check.

    Examples:
        >>> check_connection(client, source="jira-prod")["displayName"]  # doctest: +SKIP
        'Tasklane Bot'
    """
    calls = JiraCalls(client, source)
    me = calls.call("reading the current user", client.myself)
    if not isinstance(me, dict):
        raise calls.unexpected("GET myself", me)
    return me


class JiraCalls:
    """Calls into an `atlassian.Jira`, counted, with failures raised as `integrations.errors`.

    Attributes:
        client: the Jira client.
        source: the caller's label for this Jira (e.g. its block name), used in messages.
        requests: calls made so far (the retries inside one call not counted).
    """

    def __init__(self, client: Jira, source: str) -> None:
        self.client = client
        self.source = source
        self.requests = 0

    @property
    def where(self) -> str:
        """``Jira 'jira-prod' at https://jira.example.com``: how messages not about a request start."""
        return f"{_http.label(SERVICE, self.source)} at {self.client.url}"

    def call(self, doing: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)``; `doing` says what for in the error, e.g. ``"reading issue X-1"``.

        Raises:
            RemoteServiceError: a subclass by status (see `integrations._http.error_for_response`),
                or `ServiceUnreachableError` when no answer came.
        """
        self.requests += 1
        try:
            return fn(*args, **kwargs)
        except requests.HTTPError as exc:
            raise self._error(doing, exc) from exc
        except requests.RequestException as exc:
            request = exc.request
            raise _http.unreachable(
                exc,
                service=SERVICE,
                source=self.source,
                method=(request.method if request is not None else None) or "GET",
                url=(request.url if request is not None else None) or self.client.url,
                doing=doing,
                error_url=self.client.url,
            ) from exc

    def unexpected(self, request: str, body: Any) -> UnexpectedResponseError:
        """The error for a 2xx answer to `request` (e.g. ``"GET /rest/api/2/myself"``) that is not JSON
        of the documented shape."""
        return _http.unexpected_response(
            service=SERVICE,
            source=self.source,
            request=f"{request} at {self.client.url}",
            expected="a Jira JSON payload",
            found=_http.excerpt(repr(body)),
            url=self.client.url,
        )

    def _error(self, doing: str, exc: requests.HTTPError) -> RemoteServiceError:
        response = exc.response
        if response is None:
            return RemoteServiceError(
                f"{self.where}: {doing} failed: {exc}", service=SERVICE, url=self.client.url
            )
        username = self.client.username
        credentials = f"user {username!r}" if username else "a personal access token"
        login = response.headers.get("X-Seraph-LoginReason", "")
        if login in LOGIN_REFUSED and response.status_code not in (401, 403):
            return self._answered_anonymously(response, doing, credentials, login)
        hints = {
            410: "Jira Cloud retired /rest/api/*/search; set cloud=True for Jira Cloud",
        }
        path = urlsplit(response.url or "").path
        if self.client.cloud and ("/rest/api/3/" in path or path.endswith("/search/jql")):
            hints[404] = (
                "Jira Server/Data Center has neither REST API v3 nor search/jql: "
                "is cloud=True right for this Jira?"
            )
        denied = response.headers.get("X-Authentication-Denied-Reason", "")
        if denied.startswith("CAPTCHA_CHALLENGE"):
            login_url = denied.partition("login-url=")[2].strip() or f"{self.client.url}/login.jsp"
            hints[403] = (
                f"after failed logins Jira asks {credentials} for a CAPTCHA, which the REST API cannot "
                f"answer: sign in once in a browser at {login_url}, then run again"
            )
        return _http.error_for_response(
            response,
            service=SERVICE,
            source=self.source,
            doing=doing,
            credentials=credentials,
            hints=hints,
            error_url=self.client.url,
        )

    def _answered_anonymously(
        self, response: requests.Response, doing: str, credentials: str, login: str
    ) -> AuthenticationError:
        """The error for an answer Jira gave as to an anonymous user, its login having failed."""
        request = response.request
        method = (request.method if request is not None else None) or "GET"
        url = _http.without_query(response.url or self.client.url)
        check = f"; check the token in {self.source!r}" if self.source else ""
        expiry = " (Jira Cloud API tokens expire)" if self.client.cloud else ""
        # What an anonymous user was told (e.g. "the project does not exist") misleads: quoted
        # only as what Jira said, after the cause.
        said = (
            f" {_http.service_name(SERVICE)} said: {_http.response_detail(response)}"
            if response.status_code >= 400
            else ""
        )
        return AuthenticationError(
            f"{_http.label(SERVICE, self.source)}: {method} {url} answered {response.status_code} while "
            f"{doing}, but as to an anonymous user: Jira refused the credentials of {credentials} "
            f"(X-Seraph-LoginReason: {login}){expiry}{check}.{said}",
            service=SERVICE,
            url=self.client.url,
            status=response.status_code,
        )
