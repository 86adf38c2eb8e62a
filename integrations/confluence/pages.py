"""Confluence pages over atlassian-python-api: read a page, read or write its tables safely.

A page is read in storage format (``body.storage``, ``version.number``). Writing rows back splices
the changed markup into the original storage string (see `integrations.confluence.tables`). The
page is written with ``version + 1``; when someone else saved in between (409) the page is read
again, the same rows are applied to the new text and the write is retried, a bounded number of
times.

What the library does about faults, and what is added here:

- atlassian-python-api retries a 429 carrying Retry-After once (``retry_with_header``) and, only
  with ``backoff_and_retry=True``, mounts a urllib3 ``Retry`` that by default retries 413/429/503
  up to 1000 times and raises ``RetryError`` instead of returning the last answer. It never
  retries 500/502/504 and does nothing about 409.
- `make_confluence_client` switches the library's own 429 handling off and mounts the
  integrations' one bounded `RetryPolicy` on the client's session: 429 and 5xx are retried
  ``retries`` times, honouring Retry-After (capped at ``max_retry_after``) and otherwise backing
  off exponentially; the last answer is returned, not raised, so it can be mapped to
  `integrations.errors`.
- 409 is handled by `ConfluencePages` (re-read, re-apply, retry); 401/403 raise
  `AuthenticationError` at once, naming the URL and the caller's ``source`` label.

Which API: Server/Data Center pages are the REST v1 content resource (``rest/api/content/{id}``);
Cloud pages are REST v2 (``wiki/api/v2/pages/{id}``), because Atlassian removed Cloud's v1 content
read and update (CHANGE-864; they answer 410). Both are sent with the client's own ``get``/``put``
rather than ``Confluence.update_page``: ``update_page`` looks the version up again just before
writing, which would silently overwrite a concurrent edit (a lost update), and issues two extra
reads to compare bodies.

Attachments (`ConfluencePages.attach_file`) are REST v1 on both editions: Cloud's "create or
update" ``PUT .../child/attachment``; on Server/DC the file name is looked up and either created
(``POST .../child/attachment``) or given a new version (``POST .../child/attachment/{id}/data``).
The library's own ``attach_file`` is not used: on Server it re-uploads an existing file as a
multipart ``PUT rest/api/content/{attachmentId}``, which the content resource refuses (415), and
Cloud's client has no ``attach_file`` at all.
"""

from __future__ import annotations

import math
import mimetypes
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

import requests
from atlassian import Confluence

from integrations import _http
from integrations._http import RetryOptions, RetryPolicy
from integrations.confluence.tables import (
    SERVICE,
    Table,
    TableEdit,
    TableLocator,
    append_table,
    read_table,
    upsert_table,
)
from integrations.errors import ConflictError

DEFAULT_CONFLICT_RETRIES = 5


def make_confluence_client(
    url: str,
    username: str | None,
    token: str,
    *,
    cloud: bool = False,
    timeout: float = 30.0,
    verify_tls: bool = True,
    **retry: Unpack[RetryOptions],
) -> Confluence:
    """An atlassian-python-api `Confluence` client with bounded retries for 429 and 5xx.

    Args:
        url: Base URL, e.g. ``https://confluence.example.com`` (Server/Data Center) or
            ``https://example.atlassian.net/wiki`` (Cloud).
        username: With a username, ``token`` is sent as the password of HTTP basic auth (Cloud
            e-mail + API token, or Server user + password). Without one, ``token`` is sent as a
            personal access token (``Authorization: Bearer``), as Server/Data Center expects.
        token: API token, personal access token or password.
        cloud: Atlassian Cloud rather than Server/Data Center.
        timeout: Seconds per request (the library keeps whole seconds; rounded up).
        verify_tls: Verify the server's certificate.
        retry: ``retries``, ``backoff_factor``, ``max_backoff``, ``max_retry_after`` of 429 and
            5xx answers and lost connections (see `RetryOptions`).

    Returns:
        The client; pass it to `ConfluencePages`.

    Examples:
        >>> client = make_confluence_client("https://confluence.example.com", None, "pat", timeout=10)
        >>> client.url
        'https://confluence.example.com'
    """
    client = Confluence(
        url,
        username=username or None,
        password=token if username else None,
        token=None if username else token,
        cloud=cloud,
        timeout=max(1, math.ceil(timeout)),
        verify_ssl=verify_tls,
        # The adapter below honours Retry-After (bounded); the library's own handler would sleep
        # and resend once more on top of it.
        retry_with_header=False,
        backoff_and_retry=False,
    )
    # GET and PUT only (urllib3's default idempotent methods): a PUT carries the version number,
    # so a resend of a PUT that did land is answered 409 and resolved by ConfluencePages.
    policy = RetryPolicy.same_for_all(**retry)
    _http.mount_retries(
        client.session, client.url.rstrip("/") + "/", policy, service=SERVICE, methods=_http.IDEMPOTENT
    )
    return client


@dataclass(frozen=True)
class Page:
    """A page as read: its storage body exactly as the server returned it."""

    page_id: str
    title: str
    version: int
    body: str
    content_type: str = "page"


@dataclass(frozen=True)
class WriteResult:
    """What a write did to a page."""

    page_id: str
    version: int
    changed: bool
    updated: int = 0
    appended: int = 0
    unchanged: int = 0
    conflicts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "page_id": self.page_id,
            "version": self.version,
            "changed": self.changed,
            "updated": self.updated,
            "appended": self.appended,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
        }


class ConfluencePages:
    """Read Confluence pages and read or write their tables, safely under concurrent edits.

    Args:
        client: From `make_confluence_client` (any atlassian-python-api `Confluence` works, but
            only that helper bounds the retries of 429 and 5xx).
        source: A label for error messages: the block or task the credentials come from.
        max_conflict_retries: How often a write is re-read, re-applied and retried after a 409.
        conflict_backoff: Base of the jittered sleep between those retries, seconds.

    Examples:
        >>> client = make_confluence_client("https://confluence.example.com", None, "pat")
        >>> pages = ConfluencePages(client, source="confluence/main")
        >>> pages.source
        'confluence/main'
    """

    def __init__(
        self,
        client: Confluence,
        *,
        source: str = "confluence",
        max_conflict_retries: int = DEFAULT_CONFLICT_RETRIES,
        conflict_backoff: float = 0.2,
    ) -> None:
        self.client = client
        self.source = source
        self.max_conflict_retries = max_conflict_retries
        self.conflict_backoff = conflict_backoff
        self.cloud = bool(getattr(client, "cloud", False))
        # Cloud serves its APIs below /wiki (the block's URL may already end there); Server at the
        # context root.
        wiki = "wiki/" if self.cloud and not client.url.rstrip("/").endswith("/wiki") else ""
        self._api = f"{wiki}rest/api"  # REST v1: Server pages, attachments on both editions
        self._pages_v2 = f"{wiki}api/v2/pages"  # Cloud pages

    # -- HTTP ---------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.client.url.rstrip('/')}/{path}"

    def _page_path(self, page_id: str) -> str:
        return f"{self._pages_v2}/{page_id}" if self.cloud else f"{self._api}/content/{page_id}"

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: Any = None,
        files: dict[str, Any] | None = None,
    ) -> Any:
        url = self._url(path)
        # Multipart uploads: no JSON Content-Type (requests sets the boundary); the XSRF check of
        # Confluence blocks a multipart request without this header.
        headers = {"X-Atlassian-Token": "no-check", "Accept": "application/json"} if files else None

        def send() -> requests.Response:
            if method == "GET":
                return self.client.get(path, params=params, advanced_mode=True)
            if method == "POST":
                return self.client.post(
                    path, data=data, params=params, files=files, headers=headers, advanced_mode=True
                )
            return self.client.put(
                path, data=data, params=params, files=files, headers=headers, advanced_mode=True
            )

        response = _http.checked_request(send, service=SERVICE, source=self.source, method=method, url=url)
        try:
            return response.json()
        except ValueError as exc:
            raise _http.unexpected_response(
                service=SERVICE,
                source=self.source,
                request=f"{method} {url}",
                expected="JSON",
                found=repr(_http.excerpt(response.text)),
                url=url,
                status=response.status_code,
            ) from exc

    # -- reading ------------------------------------------------------------------------------

    def read_page(self, page_id: str | int) -> Page:
        """Read a page's storage body, title and version.

        Raises:
            AuthenticationError: 401/403. NotFoundError: 404. RateLimitedError,
            ServiceUnavailableError, ServiceUnreachableError: after the retries.

        Examples:
            >>> page = pages.read_page("123456")  # doctest: +SKIP
            >>> page.version, page.body[:20]  # doctest: +SKIP
            (7, '<h2>Results</h2><ta')
        """
        page_id = str(page_id)
        params = {"body-format": "storage"} if self.cloud else {"expand": "body.storage,version"}
        data = self._send("GET", self._page_path(page_id), params=params)
        try:
            return Page(
                page_id=str(data.get("id", page_id)),
                title=data["title"],
                version=int(data["version"]["number"]),
                body=data["body"]["storage"]["value"],
                content_type=data.get("type", "page"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            url = self._url(self._page_path(page_id))
            raise _http.unexpected_response(
                service=SERVICE,
                source=self.source,
                request=f"GET {url}",
                expected="a page with title, version.number and body.storage.value",
                found=f"the keys {sorted(data or {})!r}",
                url=url,
            ) from exc

    def read_table(self, page_id: str | int, table: TableLocator | str | Sequence[str]) -> Table:
        """Read one table of a page (see `read_table`).

        Examples:
            >>> pages.read_table("123456", "Results").headers  # doctest: +SKIP
            ['Task', 'Status', 'Finished']
        """
        page = self.read_page(page_id)
        return read_table(page.body, table, where=self._where(page))

    def read_rows(
        self, page_id: str | int, table: TableLocator | str | Sequence[str]
    ) -> list[dict[str, str]]:
        """Rows of one table of a page as records keyed by its header cells.

        Examples:
            >>> pages.read_rows("123456", ["Task", "Status"])  # doctest: +SKIP
            [{'Task': 'backup', 'Status': 'DONE'}]
        """
        return self.read_table(page_id, table).rows

    # -- writing ------------------------------------------------------------------------------

    def upsert_rows(
        self,
        page_id: str | int,
        table: TableLocator | str | Sequence[str],
        rows: Iterable[Mapping[str, Any]],
        key_column: str,
        *,
        version_comment: str | None = None,
        minor_edit: bool = True,
    ) -> WriteResult:
        """Update the rows whose `key_column` matches and append the others (see `upsert_table`).

        Nothing is written when no cell changes. On a 409 the page is read again and the rows
        applied to the new text, up to `max_conflict_retries` times.

        Raises:
            ConflictError: still conflicting after the retries (nothing was written).
            TableNotFoundError, TableShapeError: before anything is written.
            AuthenticationError, NotFoundError, RateLimitedError, ServiceUnavailableError,
            ServiceUnreachableError: as `read_page`.

        Examples:
            >>> pages.upsert_rows("123456", "Results", [{"Task": "backup", "Status": "DONE"}], "Task")
            ... # doctest: +SKIP
            WriteResult(page_id='123456', version=8, changed=True, updated=1, appended=0, ...)
        """
        rows = list(rows)
        return self._write(
            page_id,
            lambda body, where: upsert_table(body, table, rows, key_column, where=where),
            version_comment=version_comment,
            minor_edit=minor_edit,
        )

    def append_rows(
        self,
        page_id: str | int,
        table: TableLocator | str | Sequence[str],
        rows: Iterable[Mapping[str, Any]],
        *,
        version_comment: str | None = None,
        minor_edit: bool = True,
    ) -> WriteResult:
        """Append `rows` to a results table (see `append_table`); 409s are handled as in `upsert_rows`.

        Examples:
            >>> pages.append_rows("789012", ["Run", "Status"], [{"Run": "42", "Status": "DONE"}])
            ... # doctest: +SKIP
            WriteResult(page_id='789012', version=3, changed=True, updated=0, appended=1, ...)
        """
        rows = list(rows)
        return self._write(
            page_id,
            lambda body, where: append_table(body, table, rows, where=where),
            version_comment=version_comment,
            minor_edit=minor_edit,
        )

    def _where(self, page: Page) -> str:
        return f"{_http.label(SERVICE, self.source)} page {page.page_id} {page.title!r} v{page.version}"

    def _write(
        self,
        page_id: str | int,
        apply: Callable[[str, str], TableEdit],
        *,
        version_comment: str | None,
        minor_edit: bool,
    ) -> WriteResult:
        page_id = str(page_id)
        conflicts = 0
        attempted: tuple[int, TableEdit] | None = None
        for attempt in range(self.max_conflict_retries + 1):
            page = self.read_page(page_id)
            if attempted and page.version == attempted[0] and page.body == attempted[1].body:
                # Our previous PUT landed although we were told otherwise (its answer was lost and
                # the resend met our own version): re-applying would append the rows twice.
                edit = attempted[1]
                return WriteResult(
                    page_id, page.version, True, edit.updated, edit.appended, edit.unchanged, conflicts
                )
            # Raises TableNotFoundError / TableShapeError before anything is written.
            edit = apply(page.body, self._where(page))
            if edit.body == page.body:
                return WriteResult(page_id, page.version, False, 0, 0, edit.unchanged, conflicts)
            try:
                self._put(page, edit.body, version_comment=version_comment, minor_edit=minor_edit)
            except ConflictError:
                conflicts += 1
                attempted = (page.version + 1, edit)
                if attempt < self.max_conflict_retries:
                    # Jittered so that two writers that collided do not collide again in lockstep.
                    time.sleep(random.uniform(0, self.conflict_backoff * 2**attempt))
                continue
            return WriteResult(
                page_id, page.version + 1, True, edit.updated, edit.appended, edit.unchanged, conflicts
            )
        url = self._url(self._page_path(page_id))
        raise ConflictError(
            f"{_http.label(SERVICE, self.source)}: PUT {url} still answered 409 after {conflicts} attempts: "
            f"the page keeps changing under us; nothing was written",
            service=SERVICE,
            url=url,
            status=409,
        )

    def _put(self, page: Page, body: str, *, version_comment: str | None, minor_edit: bool) -> None:
        version: dict[str, Any] = {"number": page.version + 1}
        if version_comment:
            version["message"] = version_comment
        data: dict[str, Any]
        if self.cloud:  # REST v2: no type, no minorEdit; status says which version is written
            data = {
                "id": page.page_id,
                "status": "current",
                "title": page.title,
                "version": version,
                "body": {"representation": "storage", "value": body},
            }
        else:
            data = {
                "id": page.page_id,
                "type": page.content_type,
                "title": page.title,
                "version": {**version, "minorEdit": minor_edit},
                "body": {"storage": {"value": body, "representation": "storage"}},
            }
        self._send("PUT", self._page_path(page.page_id), data=data)

    # -- attachments --------------------------------------------------------------------------

    def attach_file(
        self,
        page_id: str | int,
        path: str | Path,
        *,
        name: str | None = None,
        content_type: str | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Attach a file to a page; an attachment of the same name gets a new version instead.

        Args:
            page_id: the page.
            path: the file to upload.
            name: the attachment's file name; the file's own name when None.
            content_type: its media type; guessed from the name when None.
            comment: the attachment's comment.

        Returns:
            The attachment as the server answered it (``id``, ``title``, ``version.number``...).

        Raises:
            AuthenticationError: 401/403 (also: attachments disabled). NotFoundError: no such
            page, or the file is larger than the server's maximum attachment size.
            BadRequestError, ServiceUnavailableError, ServiceUnreachableError: as `read_page`.

        Examples:
            >>> pages.attach_file("123456", "charts/runs-per-day.png")  # doctest: +SKIP
            {'id': 'att98765', 'title': 'runs-per-day.png', 'version': {'number': 2, ...}, ...}
        """
        page_id = str(page_id)
        path = Path(path)
        name = name or path.name
        content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        fields = {"minorEdit": "true", **({"comment": comment} if comment else {})}
        files = {"file": (name, path.read_bytes(), content_type)}
        attachments = f"{self._api}/content/{page_id}/child/attachment"
        if self.cloud:
            # Create or update by file name in one request.
            answer = self._send("PUT", attachments, data=fields, files=files)
            return answer["results"][0]
        found = self._send("GET", attachments, params={"filename": name})
        existing = [a for a in found.get("results", []) if a.get("title") == name]
        if existing:
            return self._send("POST", f"{attachments}/{existing[0]['id']}/data", data=fields, files=files)
        return self._send("POST", attachments, data=fields, files=files)["results"][0]
