"""What the requests-based clients (Jira, Confluence, Mattermost) share: retries and error mapping.

- `RetryPolicy` is the one retry policy: a bounded urllib3 ``Retry`` mounted on the client's
  ``requests`` session (`mount_retries`). 429 and 500/502/503/504 are retried with exponential
  backoff; a Retry-After header (seconds or HTTP-date) is honoured up to a cap (urllib3's own
  ``retry_after_max``); connection failures are retried a few times; the last answer is returned
  rather than raised as ``RetryError``, so that it can be mapped to an error naming the URL and
  what the service said. The libraries' own retry loops are switched off by each client, so
  that waits are not multiplied.
- `error_for_response` is the one status -> error mapping: 401/403 `AuthenticationError`
  (never retried), 400 `BadRequestError`, 404 `NotFoundError`, 409 `ConflictError`, 429
  `RateLimitedError`, 5xx `ServiceUnavailableError`, any other `RemoteServiceError`;
  `unreachable` is the one "no response" error and `unexpected_response` the one "a 2xx body
  we cannot read" error. Every message starts with the same label (``Jira 'jira-prod'``), then
  the request, then what was found instead.

Private to `integrations`: the clients re-export what their callers need (`RetryPolicy`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Self, TypedDict, Unpack

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from integrations.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RemoteServiceError,
    ServiceUnavailableError,
    ServiceUnreachableError,
    UnexpectedResponseError,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)
# Which requests a retry may resend: only reads; reads and idempotent writes (urllib3's default,
# e.g. a PUT carrying a version number); or any method, for a client whose POSTs are de-duplicated
# by the server.
READS_ONLY: frozenset[str] = frozenset({"GET", "HEAD"})
IDEMPOTENT: frozenset[str] = Retry.DEFAULT_ALLOWED_METHODS
ANY_METHOD = None
EXCERPT_CHARS = 300
# Defaults of the policy; Confluence and Mattermost take `CLIENT_RETRIES` for every kind of
# failure (`RetryPolicy.same_for_all`), Jira its own `RetryPolicy()`.
CLIENT_RETRIES = 4
BACKOFF_FACTOR = 0.5
MAX_BACKOFF = 30.0
MAX_RETRY_AFTER = 120.0


# --- retries -----------------------------------------------------------------------------------


class RetryOptions(TypedDict, total=False):
    """The retry settings that `make_confluence_client` and `make_mattermost_driver` take.

    Attributes:
        retries: how often a 429 or 5xx answer, or a lost connection, is retried (4).
        backoff_factor: exponential backoff base in seconds when no Retry-After is given (0.5).
        max_backoff: cap of one backoff sleep, seconds (30).
        max_retry_after: cap of one Retry-After sleep, seconds (120).
    """

    retries: int
    backoff_factor: float
    max_backoff: float
    max_retry_after: float


@dataclass(frozen=True)
class RetryPolicy:
    """How a client retries rate limits (429), server errors (5xx) and lost connections.

    Attributes:
        max_retries: retries of a request answered with a status in `status_forcelist`; the
            last answer is then mapped to an error.
        backoff_factor: exponential backoff base in seconds: factor * 2 ** (retry - 1).
        backoff_max: cap of one backoff wait, seconds.
        max_retry_after: cap of a server-sent Retry-After, seconds (a hostile or buggy value of
            hours must not park a worker).
        connect_retries: retries of a request that got no connection at all.
        read_retries: retries of a request that was sent but got no answer (read timeout, reset).
            0 by default: a slow answer may mean the server is still working on it.
        total_retries: cap of all retries of one request together; None: each kind on its own.
        status_forcelist: statuses that are retried.

    Examples:
        >>> RetryPolicy(max_retries=2, backoff_factor=0.01).urllib3_retry(service="jira").status
        2
    """

    max_retries: int = 5
    backoff_factor: float = BACKOFF_FACTOR
    backoff_max: float = MAX_BACKOFF
    max_retry_after: float = MAX_RETRY_AFTER
    connect_retries: int = 2
    read_retries: int = 0
    total_retries: int | None = None
    status_forcelist: tuple[int, ...] = RETRY_STATUSES

    @classmethod
    def same_for_all(cls, **options: Unpack[RetryOptions]) -> RetryPolicy:
        """`retries` for each kind of failure and for all of them together (Confluence, Mattermost)."""
        retries = options.get("retries", CLIENT_RETRIES)
        return cls(
            max_retries=retries,
            backoff_factor=options.get("backoff_factor", BACKOFF_FACTOR),
            backoff_max=options.get("max_backoff", MAX_BACKOFF),
            max_retry_after=options.get("max_retry_after", MAX_RETRY_AFTER),
            connect_retries=retries,
            read_retries=retries,
            total_retries=retries,
        )

    def urllib3_retry(self, *, service: str, methods: Collection[str] | None = READS_ONLY) -> Retry:
        """The urllib3 ``Retry`` of this policy, resending only `methods` (None: any method)."""
        return _LoggedRetry(
            total=self.total_retries,
            connect=self.connect_retries,
            read=self.read_retries,
            status=self.max_retries,
            other=0,
            allowed_methods=methods,
            status_forcelist=self.status_forcelist,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            # urllib3 annotates the cap as int but compares it with float seconds; a sub-second
            # cap (as in tests) works as given.
            retry_after_max=self.max_retry_after,  # type: ignore[arg-type]
            respect_retry_after_header=True,
            raise_on_status=False,  # hand the last answer back, so the error names what was said
            service=service,
        )


class _LoggedRetry(Retry):
    """urllib3's Retry, with a warning before each wait naming the service, so rate limiting shows.

    urllib3 builds the next retry state with ``new()`` from the attributes it knows; `service`
    is carried along here. Nothing else differs from ``Retry``.
    """

    def __init__(self, *args: Any, service: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    def new(self, **kw: Any) -> Self:
        kw.setdefault("service", self.service)
        return super().new(**kw)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        last = self.history[-1] if self.history else None
        if last is not None:
            retry_after = (
                self.get_retry_after(response)
                if self.respect_retry_after_header and response is not None
                else None
            )
            wait, reason = (
                (retry_after, "Retry-After") if retry_after else (self.get_backoff_time(), "backoff")
            )
            log.warning(
                "%s: %s %s %s; retrying in %.2f s (%s), %d retries used",
                service_name(self.service),
                last.method,
                without_query(last.url or ""),
                f"answered {last.status}" if last.status else f"failed ({last.error})",
                wait,
                reason,
                len(self.history),
            )
        super().sleep(response)


def mount_retries(
    session: requests.Session,
    prefix: str,
    policy: RetryPolicy,
    *,
    service: str,
    methods: Collection[str] | None = READS_ONLY,
) -> None:
    """Send every request of `session` whose URL starts with `prefix` with `policy`'s retries.

    Mount on ``"<base url>/"`` so that the policy applies to this service only, not to a host
    that merely shares the prefix (``jira.example.com.other``, another port).
    """
    session.mount(prefix, HTTPAdapter(max_retries=policy.urllib3_retry(service=service, methods=methods)))


# --- errors ------------------------------------------------------------------------------------


def service_name(service: str) -> str:
    """``"jira"`` -> ``"Jira"``: how messages name a service."""
    return service[:1].upper() + service[1:]


def label(service: str, source: str = "") -> str:
    """How every message of a client starts: ``Jira 'jira-prod'``, or ``Jira`` without a source."""
    return f"{service_name(service)} {source!r}" if source else service_name(service)


def without_query(url: str) -> str:
    """A request URL without its (long, JQL-laden, maybe secret) query string."""
    return url.split("?", 1)[0]


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The first `limit` characters, marked when cut.

    Examples:
        >>> excerpt("abcdef", 4)
        'abcd… [2 more chars]'
    """
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} more chars]"


def response_detail(response: requests.Response) -> str:
    """What the service said in an error answer: its messages, else an excerpt of the body.

    Jira sends ``errorMessages`` and ``errors``; Confluence ``message`` (and ``reason``);
    Mattermost ``message`` and ``id``.
    """
    try:
        body = response.json()
    except ValueError:
        text = " ".join((response.text or "").split())
        return repr(excerpt(text)) if text else "an empty body"
    if not isinstance(body, dict):
        return excerpt(repr(body))
    listed = body.get("errorMessages")
    messages = [str(m) for m in listed if m] if isinstance(listed, list) else []
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages.extend(f"{key}: {value}" for key, value in errors.items())
    elif isinstance(errors, list):  # Confluence Cloud REST v2: [{"status", "code", "title", "detail"}]
        messages.extend(str(e.get("title") or e.get("code")) for e in errors if isinstance(e, dict))
    if not messages:
        messages = [str(body[key]) for key in ("message", "reason", "id") if body.get(key)][:1]
    return excerpt("; ".join(messages) or repr(body))


# Status -> (error class, what it means); 5xx and any other status are handled below, and the
# meaning of 401/403 is said more fully there.
_BY_STATUS: dict[int, tuple[type[RemoteServiceError], str]] = {
    400: (BadRequestError, "the request was rejected"),
    401: (AuthenticationError, "the credentials were refused"),
    403: (AuthenticationError, "the credentials lack permission"),
    404: (NotFoundError, "not found, or not visible to these credentials"),
    409: (ConflictError, "a conflicting change was saved first"),
    410: (RemoteServiceError, "the endpoint is gone"),
    429: (RateLimitedError, "still rate limited after honouring Retry-After"),
}


def error_for_response(
    response: requests.Response,
    *,
    service: str,
    source: str = "",
    method: str | None = None,
    url: str | None = None,
    doing: str = "",
    credentials: str = "",
    hints: Mapping[int, str] | None = None,
    error_url: str | None = None,
) -> RemoteServiceError:
    """The error for an answer with status >= 400, after the retries.

    Args:
        response: the last answer.
        service: the service's lower-case name ("jira", "confluence", "mattermost").
        source: the caller's label for the credentials (e.g. the block's name).
        method: the request's method; the response's request's when None.
        url: the request URL shown; the response's URL without its query when None.
        doing: what was being done, e.g. ``"reading root issue DEMO-1"``.
        credentials: whose credentials, for 401/403, e.g. ``"user 'bot'"``.
        hints: a sentence per status that says more (e.g. a likely misconfiguration).
        error_url: the error's `url` attribute; the request URL when None.

    Examples:
        >>> answer = requests.Response()
        >>> answer.status_code, answer.url, answer._content = 404, "https://mm.example.com/x?a=1", b"{}"
        >>> error = error_for_response(answer, service="mattermost", source="ops", method="GET")
        >>> type(error).__name__, error.url
        ('NotFoundError', 'https://mm.example.com/x')
        >>> str(error).split(": ")[:2]
        ["Mattermost 'ops'", 'GET https://mm.example.com/x answered 404']
    """
    status = response.status_code
    request = response.request
    method = method or (request.method if request is not None and request.method else "GET")
    url = url or without_query(response.url or (request.url if request is not None and request.url else ""))
    head = f"{label(service, source)}: {method} {url} answered {status} {response.reason or ''}".rstrip()
    if doing:
        head += f" while {doing}"
    kind: type[RemoteServiceError]
    if status >= 500:
        kind, meaning = ServiceUnavailableError, "still failing after the retries"
    else:
        kind, meaning = _BY_STATUS.get(status, (RemoteServiceError, "an answer that was not expected"))
    if kind is AuthenticationError:
        whose = f" of {credentials}" if credentials else ""
        check = f"; check the credentials in {source!r} and their permissions" if source else ""
        meaning = f"the credentials{whose} were refused or lack permission{check}"
    elif kind is RateLimitedError:
        meaning += f" (Retry-After: {response.headers.get('Retry-After', 'none')})"
    hint = (hints or {}).get(status)
    if hint:
        meaning += f" ({hint})"
    return kind(
        f"{head}: {meaning}. {service_name(service)} said: {response_detail(response)}",
        service=service,
        url=error_url or url,
        status=status,
    )


def checked_request(
    send: Callable[[], requests.Response], *, service: str, source: str = "", method: str, url: str
) -> requests.Response:
    """``send()``, its answer if below 400; else the error of `unreachable` or `error_for_response`.

    For clients that send through their own session (Confluence, Mattermost); `method` and `url`
    name the request in the error.
    """
    try:
        response = send()
    except requests.RequestException as exc:
        raise unreachable(exc, service=service, source=source, method=method, url=url) from exc
    if response.status_code >= 400:
        raise error_for_response(response, service=service, source=source, method=method, url=url)
    return response


def unreachable(
    exc: BaseException,
    *,
    service: str,
    source: str = "",
    method: str,
    url: str,
    doing: str = "",
    error_url: str | None = None,
) -> ServiceUnreachableError:
    """The error for a request that got no answer (refused, DNS, TLS, timeout) after the retries."""
    while_doing = f" while {doing}" if doing else ""
    return ServiceUnreachableError(
        f"{label(service, source)}: {method} {without_query(url)} got no response{while_doing} "
        f"({type(exc).__name__}: {exc})",
        service=service,
        url=error_url or without_query(url),
    )


def unexpected_response(
    *,
    service: str,
    source: str = "",
    request: str,
    expected: str,
    found: str,
    url: str,
    status: int | None = None,
) -> UnexpectedResponseError:
    """The error for an answer of 2xx whose body is not what the API documents.

    Args:
        request: what was asked, e.g. ``"GET https://jira.example.com/rest/api/2/myself"``.
        expected: what should have come, e.g. ``"a Jira JSON payload"``.
        found: what came instead, already shortened (see `excerpt`).
        status: the status, when known (``2xx`` is said otherwise).
    """
    return UnexpectedResponseError(
        f"{label(service, source)}: {request} answered {status or '2xx'} but not with {expected}; "
        f"found {found} (a login page or a proxy in front of {service_name(service)}?)",
        service=service,
        url=url,
        status=status,
    )
