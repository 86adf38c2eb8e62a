"""A fake Confluence (Server/Data Center REST v1, and the same under Cloud's /wiki prefix).

It answers the paths atlassian-python-api calls for pages, with the payload shapes of the real
server:

- ``GET  /rest/api/content/{id}?expand=body.storage,version`` (``get_page_by_id``; also what
  `integrations.confluence` reads),
- ``GET  /rest/api/content/{id}/history`` (what ``update_page`` reads the version from),
- ``PUT  /rest/api/content/{id}`` (``update_page`` and `integrations.confluence`): rejects a
  ``version.number`` that is not current + 1 with 409 and Confluence's error body, and storage
  markup that is not well-formed XHTML with 400.

Authentication is checked on every request (basic auth or a Bearer personal access token; 401
otherwise); an unknown page is a 404. Test hooks: inject faults for the next N requests (429 with
Retry-After, 5xx), save a PUT but lose its answer, edit a page as another user (now, or just
before the next PUT is judged), make the next N reads wait for each other (so concurrent writers
surely collide), and counters of every request and status.
"""

from __future__ import annotations

import base64
import html.entities
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tasklane.stack.peers._server import count_requests

_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_STORAGE_ROOT = (
    '<root xmlns:ac="http://atlassian.com/content" xmlns:ri="http://atlassian.com/resource/identifier"'
    ' xmlns:at="http://atlassian.com/template">{}</root>'
)


@dataclass
class FakePage:
    page_id: str
    title: str
    body: str
    version: int = 1
    space: str = "TL"
    content_type: str = "page"
    last_editor: str = "admin"
    history: list[tuple[int, str, str]] = field(default_factory=list)  # (version, editor, body)


@dataclass
class _Fault:
    status: int
    retry_after: str | None
    methods: frozenset[str] | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error_body(status: int, message: str, reason: str) -> dict[str, Any]:
    """Confluence Server's error payload."""
    return {
        "statusCode": status,
        "data": {
            "authorized": status not in (401, 403),
            "valid": True,
            "allowedInReadOnlyMode": True,
            "errors": [],
            "successful": False,
        },
        "message": message,
        "reason": reason,
    }


def storage_problem(body: str) -> str | None:
    """Why `body` is not well-formed storage XHTML (as Confluence would refuse it), else None."""

    def numeric(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _XML_ENTITIES:
            return match.group(0)
        code = html.entities.name2codepoint.get(name)
        return f"&#{code};" if code is not None else match.group(0)

    try:
        ET.fromstring(_STORAGE_ROOT.format(_ENTITY.sub(numeric, body)))
    except ET.ParseError as exc:
        return str(exc)
    return None


class FakeConfluence:
    """The fake's state and test hooks; `app` is the ASGI app to serve with `_server.serve`.

    Examples:
        >>> fake = FakeConfluence()
        >>> fake.add_page("100", "Results", "<h2>Runs</h2><table><tbody><tr><th>A</th></tr></tbody></table>")
        >>> fake.version("100")
        1
    """

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        tokens: dict[str, str] | None = None,
    ) -> None:
        self.users = dict(users if users is not None else {"bot": "bot-password"})
        self.tokens = dict(tokens if tokens is not None else {"pat-good": "bot"})
        self.pages: dict[str, FakePage] = {}
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) in arrival order
        self.statuses: Counter[int] = Counter()
        self._faults: deque[_Fault] = deque()
        self._before_put: deque[Callable[[], None]] = deque()
        self._lose_put_answers = 0
        self._read_barrier: threading.Barrier | None = None
        self._read_barrier_left = 0
        self.app = self._build_app()

    # -- test hooks -----------------------------------------------------------------------

    def add_page(self, page_id: str, title: str, body: str, *, version: int = 1) -> None:
        with self.lock:
            page = FakePage(page_id=page_id, title=title, body=body, version=version)
            page.history.append((version, "admin", body))
            self.pages[page_id] = page

    def body(self, page_id: str) -> str:
        with self.lock:
            return self.pages[page_id].body

    def version(self, page_id: str) -> int:
        with self.lock:
            return self.pages[page_id].version

    def edit_as_other_user(
        self, page_id: str, transform: Callable[[str], str], *, user: str = "alice"
    ) -> None:
        """Save a new version of a page now, as someone else would in the editor."""
        with self.lock:
            page = self.pages[page_id]
            page.body = transform(page.body)
            page.version += 1
            page.last_editor = user
            page.history.append((page.version, user, page.body))

    def edit_before_next_put(
        self, page_id: str, transform: Callable[[str], str], *, user: str = "alice"
    ) -> None:
        """Let another user save just before the next PUT is judged: that PUT then meets a 409."""
        self._before_put.append(lambda: self.edit_as_other_user(page_id, transform, user=user))

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        retry_after: str | int | None = None,
        methods: set[str] | None = None,
    ) -> None:
        """Answer the next `count` requests (of `methods`, default any) with `status`."""
        fault = _Fault(
            status, None if retry_after is None else str(retry_after), frozenset(methods) if methods else None
        )
        with self.lock:
            self._faults.extend([fault] * count)

    def lose_next_put_answers(self, count: int = 1) -> None:
        """Save the next `count` valid PUTs but answer 503, as a proxy losing the answer would."""
        with self.lock:
            self._lose_put_answers += count

    def hold_reads(self, parties: int, timeout: float = 10.0) -> None:
        """The next `parties` page reads wait until all of them have arrived, then all answer."""
        with self.lock:
            self._read_barrier = threading.Barrier(parties, timeout=timeout)
            self._read_barrier_left = parties

    def count(self, *, method: str | None = None, status: int | None = None, path: str | None = None) -> int:
        with self.lock:
            return count_requests(self.requests, method=method, status=status, path=path)

    # -- the app --------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            return user if self.users.get(user) == password else None
        if scheme.lower() == "bearer":
            return self.tokens.get(value.strip())
        return None

    def _take_fault(self, method: str) -> _Fault | None:
        with self.lock:
            if self._faults and (self._faults[0].methods is None or method in self._faults[0].methods):
                return self._faults.popleft()
        return None

    def _content_json(self, page: FakePage, base: str, expand: set[str]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": page.page_id,
            "type": page.content_type,
            "status": "current",
            "title": page.title,
            "_links": {
                "webui": f"/pages/viewpage.action?pageId={page.page_id}",
                "base": base,
                "context": "",
                "self": f"{base}/rest/api/content/{page.page_id}",
            },
            "_expandable": {"space": f"/rest/api/space/{page.space}", "history": "", "ancestors": ""},
        }
        if "version" in expand or not expand:
            data["version"] = {
                "by": {"type": "known", "username": page.last_editor, "displayName": page.last_editor},
                "when": _now(),
                "message": "",
                "number": page.version,
                "minorEdit": False,
            }
        if "body.storage" in expand:
            data["body"] = {
                "storage": {"value": page.body, "representation": "storage", "_expandable": {"content": ""}},
                "_expandable": {
                    "view": "",
                    "export_view": "",
                    "styled_view": "",
                    "anonymous_export_view": "",
                },
            }
        return data

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake Confluence")
        app.state.peer_contract = "confluence"  # the API description its traffic is checked against
        router = APIRouter()
        fake = self

        @app.middleware("http")
        async def faults_auth_and_counts(request: Request, call_next: Any) -> Response:
            method, path = request.method, request.url.path
            fault = fake._take_fault(method)
            if fault is not None:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                if fault.status == 429:
                    response: Response = JSONResponse(
                        {"message": "Rate limit exceeded", "statusCode": 429},
                        status_code=429,
                        headers=headers,
                    )
                else:
                    response = Response(
                        "<html><body><h1>Service Unavailable</h1></body></html>",
                        status_code=fault.status,
                        media_type="text/html",
                        headers=headers,
                    )
            elif fake._authenticate(request) is None:
                response = JSONResponse(
                    _error_body(401, "This request requires authentication", "Unauthorized"),
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="Confluence"'},
                )
            else:
                request.state.user = fake._authenticate(request)
                response = await call_next(request)
            with fake.lock:
                fake.requests.append((method, path, response.status_code))
                fake.statuses[response.status_code] += 1
            return response

        def not_found(page_id: str) -> JSONResponse:
            return JSONResponse(
                _error_body(404, f"No content found with id: ContentId{{id={page_id}}}", "Not Found"),
                status_code=404,
            )

        @router.get("/rest/api/content/{page_id}")
        def get_content(page_id: str, request: Request, expand: str = "") -> Response:
            with fake.lock:
                barrier = fake._read_barrier
                if barrier is not None:
                    fake._read_barrier_left -= 1
                    if fake._read_barrier_left <= 0:
                        fake._read_barrier = None
            if barrier is not None:
                barrier.wait()  # sync handler: runs in the threadpool, the event loop stays free
            with fake.lock:
                page = fake.pages.get(page_id)
                if page is None:
                    return not_found(page_id)
                base = str(request.base_url).rstrip("/")
                wanted = {e.strip() for e in expand.split(",") if e.strip()}
                return JSONResponse(fake._content_json(page, base, wanted))

        @router.get("/rest/api/content/{page_id}/history")
        def get_history(page_id: str) -> Response:
            with fake.lock:
                page = fake.pages.get(page_id)
                if page is None:
                    return not_found(page_id)
                return JSONResponse(
                    {
                        "latest": True,
                        "createdBy": {"type": "known", "username": "admin"},
                        "createdDate": _now(),
                        "lastUpdated": {
                            "by": {"type": "known", "username": page.last_editor},
                            "when": _now(),
                            "message": "",
                            "number": page.version,
                            "minorEdit": False,
                        },
                    }
                )

        @router.put("/rest/api/content/{page_id}")
        async def put_content(page_id: str, request: Request) -> Response:
            raw = await request.body()
            try:
                data = json.loads(raw)
                number = int(data["version"]["number"])
                title = data["title"]
            except (ValueError, KeyError, TypeError):
                return JSONResponse(
                    _error_body(
                        400, "Could not read the content: version.number and title are required", "Bad"
                    ),
                    status_code=400,
                )
            with fake.lock:
                if fake._before_put:  # one edit per PUT
                    fake._before_put.popleft()()
                page = fake.pages.get(page_id)
                if page is None:
                    return not_found(page_id)
                if number != page.version + 1:
                    return JSONResponse(
                        _error_body(
                            409,
                            f"Version must be incremented on update. Current version is: {page.version}",
                            "Conflict",
                        ),
                        status_code=409,
                    )
                storage = ((data.get("body") or {}).get("storage") or {}).get("value")
                if storage is not None:
                    problem = storage_problem(storage)
                    if problem:
                        return JSONResponse(
                            _error_body(400, f"Error parsing xhtml: {problem}", "Bad Request"),
                            status_code=400,
                        )
                    page.body = storage
                page.title = title
                page.version = number
                page.last_editor = request.state.user
                page.history.append((number, page.last_editor, page.body))
                if fake._lose_put_answers > 0:
                    fake._lose_put_answers -= 1
                    return Response(
                        "<html><body>Bad Gateway</body></html>", status_code=503, media_type="text/html"
                    )
                base = str(request.base_url).rstrip("/")
                return JSONResponse(fake._content_json(page, base, {"body.storage", "version"}))

        app.include_router(router)
        # Atlassian Cloud serves the same v1 resource below /wiki.
        app.include_router(router, prefix="/wiki")
        return app
