"""A fake Confluence: Server/Data Center at the context root and Cloud below ``/wiki``, answering
what the project calls with the payloads, refusals and limits of the real products.

Server / Data Center (REST v1, ``/rest/api``):

- ``GET /rest/api/content/{id}?expand=body.storage,version`` and ``GET .../{id}/history``;
- ``PUT /rest/api/content/{id}`` (JSON only, else 415): a ``version.number`` that is not
  current + 1 is a 409, no version or a title another page of the space has is a 400, storage
  markup that is not well-formed XHTML a 400, a user who may view but not edit a 403;
- ``GET|POST /rest/api/content/{id}/child/attachment`` (list with ``filename``/``start``/``limit``
  and ``_links.next``; create, 400 when the file name exists) and
  ``POST .../child/attachment/{attachmentId}/data`` (a new version of the file).

Cloud (``/wiki``): pages through REST v2 (``GET|PUT /wiki/api/v2/pages/{id}``, ``body-format``;
v1 ``/wiki/rest/api/content/{id}`` is gone from Cloud) and attachments through REST v1
(``PUT|POST /wiki/rest/api/content/{id}/child/attachment`` and ``.../data``). The same rules, in
Cloud's words: v2 errors are ``{"errors": [{"status", "code", "title", "detail"}]}``, a user
who may not edit gets 404 from v2, and only basic auth (e-mail + API token) is accepted.

Authentication on every request: basic auth (both editions) or a Bearer personal access token
(Server/DC only); 401 otherwise. Attachment uploads need ``X-Atlassian-Token: no-check`` (403
"XSRF check failed" otherwise) and are refused above `max_attachment_bytes` (404, as Cloud
documents). Test hooks: faults for the next N requests (429 with Retry-After, 5xx), a saved PUT
whose answer is lost, edits by another user (now, or just before the next PUT is judged), reads
that wait for each other, users who may not edit, and counters of every request and status.
Sources of each behaviour: tests/fakes/README.md (confluence).

Long on purpose: one fake serves both editions from one state and one set of test hooks (faults,
conflicts, permissions, limits), so that every test can run against either edition; split into
modules, each would reach into the same private state.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import html.entities
import json
import re
import threading
import xml.etree.ElementTree as ET
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tasklane.stack.peers._server import count_requests

_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_STORAGE_ROOT = (
    '<root xmlns:ac="http://atlassian.com/content" xmlns:ri="http://atlassian.com/resource/identifier"'
    ' xmlns:at="http://atlassian.com/template">{}</root>'
)
SERVER_API = "/rest/api"
CLOUD_V1 = "/wiki/rest/api"
CLOUD_V2 = "/wiki/api/v2"
# Confluence's default "Attachment Maximum Size" (General Configuration): 100 MB.
DEFAULT_MAX_ATTACHMENT_BYTES = 100 * 1024 * 1024
# Attachment lists: the documented default page size; the fake's cap (the real one is a "fixed
# system limit" that is not published).
ATTACHMENT_PAGE_DEFAULT = 25
ATTACHMENT_PAGE_CAP = 100
XSRF_TOKENS = {"no-check", "nocheck"}


@dataclass
class FakeAttachment:
    attachment_id: str
    name: str
    media_type: str
    data: bytes
    version: int = 1
    comment: str = ""


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
    attachments: dict[str, FakeAttachment] = field(default_factory=dict)  # by file name


@dataclass
class _Fault:
    status: int
    retry_after: str | None
    methods: frozenset[str] | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_cloud(path: str) -> bool:
    return path.startswith("/wiki/")


def _error_body(status: int, message: str, reason: str) -> dict[str, Any]:
    """The REST plugin's error entity (Server/DC, and Cloud's v1 resources)."""
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


_V2_CODES = {400: "INVALID_REQUEST_PARAMETER", 401: "UNAUTHORIZED", 404: "NOT_FOUND", 409: "CONFLICT"}
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}


def error(path: str, status: int, message: str) -> JSONResponse:
    """`message` refused with `status`, in the error shape of the API `path` belongs to."""
    if path.startswith(CLOUD_V2):
        body: dict[str, Any] = {
            "errors": [
                {"status": status, "code": _V2_CODES.get(status, "ERROR"), "title": message, "detail": None}
            ]
        }
    else:
        body = _error_body(status, message, _REASONS.get(status, "Error"))
    return JSONResponse(body, status_code=status)


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


def multipart_fields(content_type: str, raw: bytes) -> dict[str, tuple[str | None, str, bytes]] | None:
    """The parts of a multipart/form-data body: name -> (file name, media type, bytes); None if
    the body is not multipart/form-data."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        return None
    fields: dict[str, tuple[str | None, str, bytes]] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = (part.get_filename(), part.get_content_type(), payload)
    return fields


class FakeConfluence:
    """The fake's state and test hooks; `app` is the ASGI app to serve with `_server.serve`.

    Args:
        users: user (Server) or account e-mail (Cloud) -> password or API token, for basic auth.
        tokens: personal access token -> user, for ``Authorization: Bearer`` (Server/DC only).
        max_attachment_bytes: the "Attachment Maximum Size" setting.

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
        max_attachment_bytes: int = DEFAULT_MAX_ATTACHMENT_BYTES,
    ) -> None:
        self.users = dict(users if users is not None else {"bot": "bot-password"})
        self.tokens = dict(tokens if tokens is not None else {"pat-good": "bot"})
        self.max_attachment_bytes = max_attachment_bytes
        self.pages: dict[str, FakePage] = {}
        self.read_only_users: set[str] = set()
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status) in arrival order
        self.statuses: Counter[int] = Counter()
        self._faults: deque[_Fault] = deque()
        self._before_put: deque[Callable[[], None]] = deque()
        self._lose_put_answers = 0
        self._read_barrier: threading.Barrier | None = None
        self._read_barrier_left = 0
        self._next_attachment = 1000
        self.app = self._build_app()

    # -- test hooks -----------------------------------------------------------------------

    def add_page(self, page_id: str, title: str, body: str, *, version: int = 1, space: str = "TL") -> None:
        with self.lock:
            page = FakePage(page_id=page_id, title=title, body=body, version=version, space=space)
            page.history.append((version, "admin", body))
            self.pages[page_id] = page

    def body(self, page_id: str) -> str:
        with self.lock:
            return self.pages[page_id].body

    def version(self, page_id: str) -> int:
        with self.lock:
            return self.pages[page_id].version

    def attachments(self, page_id: str) -> dict[str, FakeAttachment]:
        """The page's attachments by file name (each with its latest data and version)."""
        with self.lock:
            return dict(self.pages[page_id].attachments)

    def deny_edit(self, user: str) -> None:
        """`user` may view pages but not edit them or add attachments."""
        with self.lock:
            self.read_only_users.add(user)

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
        """Save the next `count` valid page PUTs but answer 503, as a proxy losing the answer would."""
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

    # -- helpers --------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> str | None:
        """The user the request is signed in as; Cloud takes basic auth only."""
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            return user if self.users.get(user) == password else None
        if scheme.lower() == "bearer" and not _is_cloud(request.url.path):
            return self.tokens.get(value.strip())
        return None

    def _take_fault(self, method: str) -> _Fault | None:
        with self.lock:
            if self._faults and (self._faults[0].methods is None or method in self._faults[0].methods):
                return self._faults.popleft()
        return None

    def _wait_for_other_reads(self) -> None:
        with self.lock:
            barrier = self._read_barrier
            if barrier is not None:
                self._read_barrier_left -= 1
                if self._read_barrier_left <= 0:
                    self._read_barrier = None
        if barrier is not None:
            barrier.wait()  # sync handlers run in the threadpool: the event loop stays free

    def _title_taken(self, page: FakePage, title: str) -> bool:
        return any(
            other.page_id != page.page_id and other.space == page.space and other.title == title
            for other in self.pages.values()
        )

    def _content_json(self, page: FakePage, base: str, expand: set[str]) -> dict[str, Any]:
        """A page as Server/DC's content resource answers it."""
        data: dict[str, Any] = {
            "id": page.page_id,
            "type": page.content_type,
            "status": "current",
            "title": page.title,
            "_links": {
                "webui": f"/pages/viewpage.action?pageId={page.page_id}",
                "base": base,
                "context": "",
                "self": f"{base}{SERVER_API}/content/{page.page_id}",
            },
            "_expandable": {
                "space": f"{SERVER_API}/space/{page.space}",
                "history": f"{SERVER_API}/content/{page.page_id}/history",
                "ancestors": "",
                "body": "",
            },
        }
        if "version" in expand or not expand:  # version is expanded by default
            data["version"] = {
                "by": {"type": "known", "username": page.last_editor, "displayName": page.last_editor},
                "when": _now(),
                "message": "",
                "number": page.version,
                "minorEdit": False,
            }
        if "body.storage" in expand:
            del data["_expandable"]["body"]
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

    def _page_json(self, page: FakePage, base: str, body_format: str | None) -> dict[str, Any]:
        """A page as Cloud's REST v2 answers it."""
        data: dict[str, Any] = {
            "id": page.page_id,
            "status": "current",
            "title": page.title,
            "spaceId": str(zlib.crc32(page.space.encode())),
            "authorId": "557058:admin",
            "ownerId": "557058:admin",
            "createdAt": _now(),
            "version": {
                "createdAt": _now(),
                "message": "",
                "number": page.version,
                "minorEdit": False,
                "authorId": f"557058:{page.last_editor}",
            },
            "body": {},
            "_links": {
                "webui": f"/spaces/{page.space}/pages/{page.page_id}",
                "editui": f"/pages/resumedraft.action?draftId={page.page_id}",
                "tinyui": f"/x/{page.page_id}",
                "base": f"{base}/wiki",
            },
        }
        if body_format == "storage":
            data["body"] = {"storage": {"representation": "storage", "value": page.body}}
        return data

    def _attachment_json(self, page: FakePage, attachment: FakeAttachment, root: str) -> dict[str, Any]:
        return {
            "id": attachment.attachment_id,
            "type": "attachment",
            "status": "current",
            "title": attachment.name,
            "version": {
                "when": _now(),
                "message": attachment.comment,
                "number": attachment.version,
                "minorEdit": True,
            },
            "metadata": {"mediaType": attachment.media_type, "comment": attachment.comment},
            "extensions": {
                "mediaType": attachment.media_type,
                "fileSize": len(attachment.data),
                "comment": attachment.comment,
            },
            "_links": {
                "webui": f"/pages/viewpageattachments.action?pageId={page.page_id}&preview={attachment.name}",
                "download": (
                    f"/download/attachments/{page.page_id}/{attachment.name}?version={attachment.version}"
                ),
                "self": f"{root}/content/{attachment.attachment_id}",
            },
            "_expandable": {"container": f"{root}/content/{page.page_id}", "space": ""},
        }

    # -- the app --------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake Confluence")
        app.state.peer_contract = "confluence"  # the API description its traffic is checked against
        fake = self

        @app.middleware("http")
        async def faults_auth_and_counts(request: Request, call_next: Any) -> Response:
            method, path = request.method, request.url.path
            fault = fake._take_fault(method)
            user = None if fault is not None else fake._authenticate(request)
            await request.body()  # received whole before any answer, as the server's container does
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
            elif user is None:
                response = error(path, 401, "This request requires authentication")
                response.headers["WWW-Authenticate"] = 'Basic realm="Confluence"'
            else:
                request.state.user = user
                response = await call_next(request)
            with fake.lock:
                fake.requests.append((method, path, response.status_code))
                fake.statuses[response.status_code] += 1
            return response

        def base_of(request: Request) -> str:
            return str(request.base_url).rstrip("/")

        def lost_answer() -> Response | None:
            if fake._lose_put_answers > 0:
                fake._lose_put_answers -= 1
                return Response(
                    "<html><body>Bad Gateway</body></html>", status_code=503, media_type="text/html"
                )
            return None

        def save(page: FakePage, user: str, number: int, title: str, storage: str | None) -> None:
            if storage is not None:
                page.body = storage
            page.title = title
            page.version = number
            page.last_editor = user
            page.history.append((number, user, page.body))

        # -- Server / Data Center: content ------------------------------------------------

        server = APIRouter(prefix=SERVER_API)

        @server.get("/content/{page_id}")
        def get_content(page_id: str, request: Request, expand: str = "") -> Response:
            fake._wait_for_other_reads()
            with fake.lock:
                page = fake.pages.get(page_id)
                if page is None:
                    return error(
                        request.url.path, 404, f"No content found with id: ContentId{{id={page_id}}}"
                    )
                wanted = {e.strip() for e in expand.split(",") if e.strip()}
                return JSONResponse(fake._content_json(page, base_of(request), wanted))

        @server.get("/content/{page_id}/history")
        def get_history(page_id: str, request: Request) -> Response:
            with fake.lock:
                page = fake.pages.get(page_id)
                if page is None:
                    return error(
                        request.url.path, 404, f"No content found with id: ContentId{{id={page_id}}}"
                    )
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

        @server.put("/content/{page_id}")
        async def put_content(page_id: str, request: Request) -> Response:
            path = request.url.path
            if not request.headers.get("content-type", "").startswith("application/json"):
                # The content resource consumes JSON only (a multipart PUT is not an attachment upload).
                return PlainTextResponse("Unsupported Media Type", status_code=415)
            try:
                data = json.loads(await request.body())
            except ValueError:
                return error(path, 400, "Could not parse the request body as JSON")
            version = (data.get("version") or {}).get("number") if isinstance(data, dict) else None
            if not isinstance(version, int):
                return error(
                    path,
                    400,
                    "Must supply an incremented version when updating Content. No version supplied.",
                )
            if not data.get("title"):
                return error(path, 400, "Title is required")
            with fake.lock:
                if fake._before_put:  # one edit per PUT
                    fake._before_put.popleft()()
                page = fake.pages.get(page_id)
                if page is None:
                    return error(path, 404, f"No content found with id: ContentId{{id={page_id}}}")
                if request.state.user in fake.read_only_users:
                    return error(
                        path, 403, f"Not permitted to update content with id ContentId{{id={page_id}}}"
                    )
                if version != page.version + 1:
                    return error(
                        path,
                        409,
                        f"Version must be incremented on update. Current version is: {page.version}",
                    )
                if fake._title_taken(page, data["title"]):
                    return error(path, 400, f"A page with this title already exists: {data['title']}")
                storage = ((data.get("body") or {}).get("storage") or {}).get("value")
                problem = storage_problem(storage) if storage is not None else None
                if problem:
                    return error(path, 400, f"Error parsing xhtml: {problem}")
                save(page, request.state.user, version, data["title"], storage)
                return lost_answer() or JSONResponse(
                    fake._content_json(page, base_of(request), {"body.storage", "version"})
                )

        # -- Cloud: pages through REST v2 ---------------------------------------------------

        cloud_v2 = APIRouter(prefix=CLOUD_V2)

        @cloud_v2.get("/pages/{page_id}")
        def get_page(page_id: str, request: Request) -> Response:
            path = request.url.path
            body_format = request.query_params.get("body-format")
            if not page_id.isdigit():
                return error(path, 400, f"Invalid id: {page_id}")
            fake._wait_for_other_reads()
            with fake.lock:
                page = fake.pages.get(page_id)
                if page is None:
                    return error(path, 404, "Not Found")
                return JSONResponse(fake._page_json(page, base_of(request), body_format))

        @cloud_v2.put("/pages/{page_id}")
        async def put_page(page_id: str, request: Request) -> Response:
            path = request.url.path
            if not page_id.isdigit():
                return error(path, 400, f"Invalid id: {page_id}")
            try:
                data = json.loads(await request.body())
            except ValueError:
                return error(path, 400, "Could not parse the request body as JSON")
            if not isinstance(data, dict):
                return error(path, 400, "Expected a JSON object")
            missing = [key for key in ("id", "status", "title", "body", "version") if not data.get(key)]
            if missing or not isinstance(data["body"], dict) or not isinstance(data["version"], dict):
                return error(
                    path, 400, f"Missing or malformed required fields: {', '.join(missing) or 'body'}"
                )
            number = data["version"].get("number")
            body = data["body"].get("storage", data["body"])
            if (
                not isinstance(body, dict)
                or body.get("representation") != "storage"
                or not isinstance(body.get("value"), str)
            ):
                return error(path, 400, "The fake stores storage-format bodies only")
            with fake.lock:
                if fake._before_put:
                    fake._before_put.popleft()()
                page = fake.pages.get(page_id)
                if page is None or request.state.user in fake.read_only_users:
                    # v2 answers 404 also when the user may not edit the page.
                    return error(path, 404, "Not Found")
                if number != page.version + 1:
                    return error(
                        path,
                        409,
                        "Version must be incremented when updating a page. "
                        f"Current Version: [{page.version}]. Provided version: [{number}]",
                    )
                if fake._title_taken(page, data["title"]):
                    return error(path, 400, f"A page with this title already exists: {data['title']}")
                problem = storage_problem(body["value"])
                if problem:
                    return error(path, 400, f"Error parsing xhtml: {problem}")
                save(page, request.state.user, number, data["title"], body["value"])
                return lost_answer() or JSONResponse(fake._page_json(page, base_of(request), "storage"))

        # -- attachments (Server/DC and Cloud's REST v1) --------------------------------------

        async def upload(
            request: Request, page_id: str, *, replace: bool, attachment_id: str | None = None
        ) -> Response | tuple[FakePage, FakeAttachment]:
            """Store the uploaded file; the page and attachment, or the refusal."""
            path = request.url.path
            if request.headers.get("x-atlassian-token", "").lower() not in XSRF_TOKENS:
                return PlainTextResponse("XSRF check failed", status_code=403)
            fields = multipart_fields(request.headers.get("content-type", ""), await request.body())
            if fields is None or "file" not in fields or not fields["file"][0]:
                return error(path, 400, "Expected a multipart/form-data body with a 'file' part")
            file_name, media_type, data = fields["file"]
            assert file_name is not None
            comment = fields["comment"][2].decode() if "comment" in fields else ""
            with fake.lock:
                page = fake.pages.get(page_id)
                if page is None:
                    return error(path, 404, f"No content found with id: ContentId{{id={page_id}}}")
                if request.state.user in fake.read_only_users:
                    return error(path, 403, "User not permitted to create attachments for content")
                if len(data) > fake.max_attachment_bytes:
                    # Cloud documents 404 for "the attachment exceeds the maximum configured size".
                    return error(
                        path, 404, f"Attachment exceeds the maximum size of {fake.max_attachment_bytes} bytes"
                    )
                if attachment_id is not None:
                    found = [a for a in page.attachments.values() if a.attachment_id == attachment_id]
                    if not found:
                        return error(path, 404, f"No attachment found with id: {attachment_id}")
                    existing: FakeAttachment | None = found[0]
                    del page.attachments[found[0].name]
                else:
                    existing = page.attachments.get(file_name)
                    if existing is not None and not replace:
                        return error(
                            path,
                            400,
                            "Cannot add a new attachment with same file name as an existing attachment: "
                            + file_name,
                        )
                if existing is None:
                    fake._next_attachment += 1
                    attachment = FakeAttachment(
                        f"att{fake._next_attachment}", file_name, media_type, data, 1, comment
                    )
                else:
                    attachment = FakeAttachment(
                        existing.attachment_id, file_name, media_type, data, existing.version + 1, comment
                    )
                page.attachments[file_name] = attachment
                return page, attachment

        def listed(
            page: FakePage, attachments: list[dict[str, Any]], request: Request, root: str
        ) -> dict[str, Any]:
            return {
                "results": attachments,
                "start": 0,
                "limit": ATTACHMENT_PAGE_DEFAULT,
                "size": len(attachments),
                "_links": {"base": base_of(request), "context": "", "self": f"{root}/content/{page.page_id}"},
            }

        def attachment_routes(root: str, router: APIRouter, *, cloud: bool) -> None:
            @router.post("/content/{page_id}/child/attachment")
            async def create_attachment(page_id: str, request: Request) -> Response:
                stored = await upload(request, page_id, replace=False)
                if isinstance(stored, Response):
                    return stored
                page, attachment = stored
                return JSONResponse(
                    listed(page, [fake._attachment_json(page, attachment, root)], request, root)
                )

            @router.post("/content/{page_id}/child/attachment/{attachment_id}/data")
            async def update_attachment_data(page_id: str, attachment_id: str, request: Request) -> Response:
                stored = await upload(request, page_id, replace=True, attachment_id=attachment_id)
                if isinstance(stored, Response):
                    return stored
                page, attachment = stored
                return JSONResponse(fake._attachment_json(page, attachment, root))

            if cloud:

                @router.put("/content/{page_id}/child/attachment")
                async def create_or_update_attachment(page_id: str, request: Request) -> Response:
                    stored = await upload(request, page_id, replace=True)
                    if isinstance(stored, Response):
                        return stored
                    page, attachment = stored
                    return JSONResponse(
                        listed(page, [fake._attachment_json(page, attachment, root)], request, root)
                    )

            else:

                @router.get("/content/{page_id}/child/attachment")
                def get_attachments(
                    page_id: str,
                    request: Request,
                    filename: str | None = None,
                    start: int = 0,
                    limit: int = ATTACHMENT_PAGE_DEFAULT,
                ) -> Response:
                    with fake.lock:
                        page = fake.pages.get(page_id)
                        if page is None:
                            return error(
                                request.url.path, 404, f"No content found with id: ContentId{{id={page_id}}}"
                            )
                        found = [
                            a for a in page.attachments.values() if filename is None or a.name == filename
                        ]
                        limit = max(0, min(limit, ATTACHMENT_PAGE_CAP))
                        window = found[start : start + limit]
                        answer = listed(
                            page, [fake._attachment_json(page, a, root) for a in window], request, root
                        )
                        answer.update(start=start, limit=limit)
                        if start + limit < len(found):
                            query = f"limit={limit}&start={start + limit}" + (
                                f"&filename={filename}" if filename else ""
                            )
                            answer["_links"]["next"] = f"{root}/content/{page_id}/child/attachment?{query}"
                        return JSONResponse(answer)

        @app.api_route(CLOUD_V1 + "/content/{page_id}", methods=["GET", "PUT"])
        def removed_from_cloud(page_id: str) -> Response:
            # Atlassian removed Cloud's v1 content read and update (CHANGE-864); pages are REST v2.
            return JSONResponse(
                {"statusCode": 410, "message": "Gone: use /wiki/api/v2/pages"}, status_code=410
            )

        attachment_routes(SERVER_API, server, cloud=False)
        cloud_v1 = APIRouter(prefix=CLOUD_V1)
        attachment_routes(CLOUD_V1, cloud_v1, cloud=True)

        app.include_router(server)
        app.include_router(cloud_v2)
        app.include_router(cloud_v1)
        return app
