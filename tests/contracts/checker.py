"""Contract checks of the sandbox peers: every HTTP request a peer receives and every answer it
gives, validated with openapi-core against the product's own API description vendored here.

How it is switched on: `tests/conftest.py` registers `check_contracts` with
`tasklane.stack.peers._server.add_app_wrapper` for the whole session, so every `serve(app)` of
a peer whose app names its description (`app.state.peer_contract = "mattermost"`) is wrapped.
A violation is recorded, and the autouse fixture there fails the test during which it happened,
naming the product, the request and the rule broken. A test that sends on purpose what the
description forbids (to see the real server's refusal) wraps that call in
`expected_violations("...")`.

The descriptions (`CONTRACTS`: product -> file) are OpenAPI 3 documents; their `servers` are
replaced by the peer's own address when loaded, so the paths are matched as the product's clients
send them. Paths a peer serves for tests only (`TEST_ONLY_PREFIXES`) are not checked.

Errors: `ContractViolation` (one broken rule: what was sent or answered, and the rule), kept in
`violations()`; a description that cannot be loaded raises at the first request of its peer.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml

HERE = Path(__file__).parent
PEER_HOST = "http://peer.test"

# product (as the peer app names it) -> its vendored description (see README.md).
CONTRACTS: dict[str, Path] = {
    "mattermost": HERE / "mattermost" / "openapi.yaml",
    "confluence": HERE / "confluence" / "openapi.yaml",
    "jira-cloud": HERE / "jira" / "cloud-openapi.yaml",
    "jira-server": HERE / "jira" / "server-openapi.yaml",
}
# Hooks the peers serve for tests and the sandbox, in no product's API.
TEST_ONLY_PREFIXES = ("/_peer/", "/__", "/health")


@dataclass(frozen=True)
class ContractViolation:
    """One request or answer that breaks the description."""

    product: str
    method: str
    path: str
    status: int | None  # the answer's status (None: the request itself broke a rule)
    rule: str

    def __str__(self) -> str:
        side = "request" if self.status is None else f"answer {self.status}"
        return f"{self.product}: {self.method} {self.path}: {side} breaks the API description: {self.rule}"


_lock = threading.Lock()
_violations: list[ContractViolation] = []
_expected: list[re.Pattern[str]] = []
_expected_seen: list[ContractViolation] = []


def violations() -> list[ContractViolation]:
    """The violations recorded since the last `clear()` (the expected ones left out)."""
    with _lock:
        return list(_violations)


def clear() -> None:
    with _lock:
        _violations.clear()
        _expected_seen.clear()


@contextmanager
def expected_violations(pattern: str) -> Iterator[list[ContractViolation]]:
    """Violations whose text matches `pattern` (a regex) are expected inside this block, and at
    least one must happen: the test sends on purpose what the description forbids."""
    compiled = re.compile(pattern)
    with _lock:
        _expected.append(compiled)
        start = len(_expected_seen)
    seen: list[ContractViolation] = []
    try:
        yield seen
    finally:
        with _lock:
            _expected.remove(compiled)
            seen.extend(v for v in _expected_seen[start:] if compiled.search(str(v)))
    if not seen:
        raise AssertionError(f"expected a contract violation matching {pattern!r}; none happened")


def _record(violation: ContractViolation) -> None:
    with _lock:
        if any(p.search(str(violation)) for p in _expected):
            _expected_seen.append(violation)
        else:
            _violations.append(violation)


@cache
def description(product: str) -> Any:
    """The product's description as an openapi-core `OpenAPI`, its servers set to the peer's."""
    from openapi_core import OpenAPI

    document = yaml.safe_load(CONTRACTS[product].read_text(encoding="utf-8"))
    document["servers"] = [{"url": PEER_HOST}]
    return OpenAPI.from_dict(document)


def _rule(error: BaseException) -> str:
    """The broken rule in words: openapi-core's message and the schema errors beneath it."""
    parts = [f"{type(error).__name__}: {error}"]
    cause: BaseException | None = error.__cause__ or error.__context__
    while cause is not None and len(parts) < 4:
        details = getattr(cause, "schema_errors", None)
        if details:
            parts += [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in details][:5]
            break
        parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    return "; ".join(parts)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in raw:
        name = key.decode("latin-1").title()
        text = value.decode("latin-1")
        found[name] = f"{found[name]}, {text}" if name in found else text
    return found


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in headers.get("Cookie", "").split(";"):
        if "=" in part:
            key, value = part.split("=", 1)
            cookies[key.strip()] = value.strip()
    return cookies


def _check(product: str, scope: dict[str, Any], body: bytes, status: int, answer: dict[str, Any]) -> None:
    from openapi_core.exceptions import OpenAPIError
    from openapi_core.testing import MockRequest, MockResponse

    path = scope.get("root_path", "") + scope["path"]
    if path.startswith(TEST_ONLY_PREFIXES):
        return
    method = scope["method"]
    headers = _headers(scope.get("headers", []))
    query = scope.get("query_string", b"").decode("latin-1")
    request = MockRequest(
        PEER_HOST,
        method,
        path,
        args=dict(parse_qsl(query, keep_blank_values=True)),
        headers=headers,
        cookies=_cookies(headers),
        data=body,
        # Whole, parameters included: a multipart body cannot be read without its boundary.
        content_type=headers.get("Content-Type") or None,  # type: ignore[arg-type]
    )
    openapi = description(product)
    try:
        openapi.validate_request(request)
    except OpenAPIError as error:
        _record(ContractViolation(product, method, path, None, _rule(error)))
        return
    response_headers = answer["headers"]
    response = MockResponse(
        answer["body"],
        status_code=status,
        headers=response_headers,
        content_type=response_headers.get("Content-Type", "").split(";")[0] or "application/json",
    )
    try:
        openapi.validate_response(request, response)
    except OpenAPIError as error:
        _record(ContractViolation(product, method, path, status, _rule(error)))


def check_contracts(app: Any) -> Any:
    """`app` checked against its product's description, if it names one that is vendored; else `app`."""
    product = getattr(getattr(app, "state", None), "peer_contract", None)
    if product is None or not CONTRACTS.get(product, Path("/nonexistent")).exists():
        return app

    async def checked(scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        received: list[bytes] = []
        answer: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

        async def receiving() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                received.append(message.get("body", b""))
            return message

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = _headers(message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")
                length = answer["headers"].get("Content-Length")
                # Complete at the last part, or as soon as Content-Length bytes are out (Starlette's
                # BaseHTTPMiddleware sends an empty last part after the client already has it all).
                complete = not message.get("more_body", False) or (
                    length is not None and len(answer["body"]) >= int(length)
                )
                if complete and not answer.get("checked"):
                    answer["checked"] = True
                    # Checked before the answer's end leaves: the client sees it only once any
                    # violation is recorded (so the test that sent it is the one that fails).
                    _check(product, scope, b"".join(received), answer["status"], answer)
            await send(message)

        await app(scope, receiving, sending)

    checked.state = app.state  # type: ignore[attr-defined]
    return checked


def summary(found: list[ContractViolation]) -> str:
    more = f"\n- ... {len(found) - 20} more" if len(found) > 20 else ""
    return "\n".join(f"- {v}" for v in found[:20]) + more


def dump(found: list[ContractViolation]) -> str:
    return json.dumps([v.__dict__ for v in found], indent=2)
