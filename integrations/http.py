"""One HTTP request, judged by its status code. Plain httpx, no Prefect.

An HTTP task sends its request once: only a failed connection is retried (by httpx's transport),
never a request that was sent, since it may not be idempotent. Retries of the task as a whole are
its catalog retry policy's business. Errors: `ServiceUnreachableError` (no response) and
`UnexpectedStatusError` (a status outside the expected ones), see `integrations.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from integrations._http import excerpt
from integrations.errors import ServiceUnreachableError, UnexpectedStatusError

SERVICE = "http"
BODY_EXCERPT_CHARS = 2000
CONNECT_RETRIES = 2  # httpx's transport retries connection failures only, never a sent request


@dataclass(frozen=True)
class HttpResult:
    """What an HTTP task keeps of a response."""

    status_code: int
    elapsed_ms: float
    body_excerpt: str
    content_type: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "elapsed_ms": round(self.elapsed_ms, 1),
            "content_type": self.content_type,
            "body_excerpt": self.body_excerpt,
        }


def is_expected(status_code: int, expected: list[int]) -> bool:
    return status_code in expected if expected else 200 <= status_code < 300


def send_request(
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, Any] | None = None,
    json_body: Any = None,
    body: str | None = None,
    auth: httpx.Auth | None = None,
    expected_status: list[int] | None = None,
    timeout: float = 30.0,
    verify_tls: bool = True,
    transport: httpx.BaseTransport | None = None,
) -> HttpResult:
    """Send one request; return its result or raise naming the URL and what came back.

    Raises:
        ServiceUnreachableError: no response (connection, DNS, TLS, timeout).
        UnexpectedStatusError: a status outside `expected_status` (any 2xx when empty).
    """
    expected = list(expected_status or [])
    transport = transport or httpx.HTTPTransport(retries=CONNECT_RETRIES, verify=verify_tls)
    with httpx.Client(transport=transport, timeout=timeout, follow_redirects=True) as client:
        try:
            response = client.request(
                method,
                url,
                headers=headers,
                params=query,
                json=json_body if body is None else None,
                content=body,
                auth=auth,
            )
        except httpx.TimeoutException as exc:
            raise ServiceUnreachableError(
                f"{method} {url}: no response within {timeout:g} s ({type(exc).__name__})",
                service=SERVICE,
                url=url,
            ) from exc
        except httpx.HTTPError as exc:
            raise ServiceUnreachableError(
                f"{method} {url}: request failed: {exc}", service=SERVICE, url=url
            ) from exc
    result = HttpResult(
        status_code=response.status_code,
        elapsed_ms=response.elapsed.total_seconds() * 1000,
        body_excerpt=excerpt(response.text, BODY_EXCERPT_CHARS),
        content_type=response.headers.get("content-type", ""),
    )
    if not is_expected(response.status_code, expected):
        wanted = ", ".join(map(str, expected)) if expected else "2xx"
        raise UnexpectedStatusError(
            f"{method} {url} answered {response.status_code}, expected {wanted}; "
            f"body: {excerpt(response.text, 300)!r}",
            status_code=response.status_code,
            body_excerpt=result.body_excerpt,
        )
    return result
