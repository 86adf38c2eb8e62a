"""Confluence pages and their tables, over atlassian-python-api. Plain Python, no Prefect.

A page is read in storage format (``body.storage``, ``version.number``); a table on it is found by
the text of the heading directly above it or by its header cells; its rows come back as records
(one dict per row, keyed by the header cells). Writing rows back splices the changed markup into
the original storage string: every byte outside the cells and rows that changed stays exactly as
Confluence returned it (macros, layouts, other tables, whitespace, entities). The page is written
with ``version + 1``; when someone else saved in between (409) the page is read again, the same
rows are applied to the new text and the write is retried, a bounded number of times.

What the libraries do about faults, and what is added here:

- atlassian-python-api retries a 429 carrying Retry-After once (``retry_with_header``) and, only
  with ``backoff_and_retry=True``, mounts a urllib3 ``Retry`` that by default retries 413/429/503
  up to 1000 times and raises ``RetryError`` instead of returning the last answer. It never
  retries 500/502/504 and does nothing about 409.
- `make_confluence_client` switches the library's own 429 handling off and mounts one bounded
  urllib3 ``Retry`` on the client's session: 429 and 5xx are retried ``retries`` times, honouring
  Retry-After (capped at ``max_retry_after``) and otherwise backing off exponentially; the last
  answer is returned, not raised, so it can be mapped to `integrations.errors`.
- 409 is handled by `ConfluencePages` (re-read, re-apply, retry); 401/403 raise
  `AuthenticationError` at once, naming the URL and the caller's ``source`` label.

Writes go through the REST v1 content resource (``rest/api/content/{id}``) with the client's own
``get``/``put`` rather than ``Confluence.update_page``: ``update_page`` looks the version up again
just before writing, which would silently overwrite a concurrent edit (a lost update), and issues
two extra reads to compare bodies.
"""

from __future__ import annotations

import html
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
from atlassian import Confluence
from bs4 import BeautifulSoup
from requests.adapters import HTTPAdapter

from integrations.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    RemoteServiceError,
    ServiceUnavailableError,
    ServiceUnreachableError,
    TableNotFoundError,
    TableShapeError,
)
from integrations.retrying import bounded_retry

SERVICE = "Confluence"
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_FACTOR = 0.5
DEFAULT_MAX_BACKOFF = 30.0
DEFAULT_MAX_RETRY_AFTER = 120.0
DEFAULT_CONFLICT_RETRIES = 5
EXCERPT_CHARS = 300

__all__ = [
    "ConfluencePages",
    "Page",
    "Table",
    "TableEdit",
    "TableLocator",
    "WriteResult",
    "append_table",
    "find_tables",
    "make_confluence_client",
    "read_table",
    "upsert_table",
]


# --- client ----------------------------------------------------------------------------------


def make_confluence_client(
    url: str,
    username: str | None,
    token: str,
    *,
    cloud: bool = False,
    timeout: float = 30.0,
    retries: int = DEFAULT_RETRIES,
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
    max_backoff: float = DEFAULT_MAX_BACKOFF,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    verify_tls: bool = True,
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
        retries: How often a 429 or 5xx answer, or a failed connection, is retried.
        backoff_factor: Exponential backoff base in seconds when no Retry-After is given.
        max_backoff: Cap of one backoff sleep, seconds.
        max_retry_after: Cap of one Retry-After sleep, seconds.
        verify_tls: Verify the server's certificate.

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
    retry = bounded_retry(retries, backoff_factor, max_backoff, max_retry_after)
    client.session.mount(client.url.rstrip("/") + "/", HTTPAdapter(max_retries=retry))
    return client


# --- pages and tables --------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page as read: its storage body exactly as the server returned it."""

    page_id: str
    title: str
    version: int
    body: str
    content_type: str = "page"


@dataclass(frozen=True)
class TableLocator:
    """Which table of a page: the heading text directly above it, header cells it has, or both.

    Text is compared with whitespace collapsed and case ignored. The first table in document
    order that matches wins.

    Examples:
        >>> TableLocator(heading="Results").describe()
        "the table under the heading 'Results'"
        >>> TableLocator(headers=("Task", "Status")).describe()
        "the table with header cells 'Task', 'Status'"
    """

    heading: str | None = None
    headers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.heading and not self.headers:
            raise ValueError("a TableLocator needs a heading, header cells, or both")
        object.__setattr__(self, "headers", tuple(self.headers))

    @classmethod
    def of(cls, value: TableLocator | str | Sequence[str]) -> TableLocator:
        """A locator from a locator, a heading text, or a sequence of header cells."""
        if isinstance(value, TableLocator):
            return value
        if isinstance(value, str):
            return cls(heading=value)
        return cls(headers=tuple(value))

    def describe(self) -> str:
        parts = []
        if self.heading:
            parts.append(f"under the heading {self.heading!r}")
        if self.headers:
            parts.append("with header cells " + ", ".join(repr(h) for h in self.headers))
        return "the table " + " and ".join(parts)

    def matches(self, table: _TableSpan) -> bool:
        if self.heading and (table.heading is None or _fold(table.heading) != _fold(self.heading)):
            return False
        if self.headers:
            have = {_fold(h) for h in table.header_texts()}
            if not all(_fold(h) in have for h in self.headers):
                return False
        return True


@dataclass(frozen=True)
class Table:
    """A table read from a page: its header cells and its rows as records."""

    headers: list[str]
    rows: list[dict[str, str]]
    heading: str | None
    index: int


@dataclass(frozen=True)
class TableEdit:
    """The new storage body after applying rows to a table, and what changed."""

    body: str
    updated: int = 0
    appended: int = 0
    unchanged: int = 0


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


# --- storage scanner ----------------------------------------------------------------------------
#
# Storage format is XHTML with Confluence's ac:/ri: elements. A regular-expression tokenizer over
# the original string gives exact offsets of every tag, which is what splicing needs; a full parser
# (BeautifulSoup, html.parser) would either lose offsets or re-serialise the document. Comments,
# CDATA sections (code macros) and processing instructions are skipped whole, so markup-looking
# text inside them is never taken for a table.

_TOKEN = re.compile(
    r"<!--.*?-->"
    r"|<!\[CDATA\[.*?\]\]>"
    r"|<\?.*?\?>"
    r"|<![^>]*>"
    r"|<(?P<close>/)?(?P<name>[A-Za-z][\w:.-]*)"
    r"(?P<attrs>(?:\s+[^\s=/>]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)"
    r"\s*(?P<selfclose>/)?>",
    re.S,
)
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_SPAN_ATTR = re.compile(r"""\b(?:colspan|rowspan)\s*=\s*["']?\s*(\d+)""", re.I)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BLOCKS = ["p", "div", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "tr"]


@dataclass
class _Cell:
    tag: str
    start: int
    end: int = -1
    inner_start: int | None = None  # None: self-closing <td/>
    inner_end: int | None = None
    merged: bool = False
    text: str = ""


@dataclass
class _Row:
    start: int
    end: int = -1
    close_start: int = -1  # where </tr> starts: new cells go there
    cells: list[_Cell] = field(default_factory=list)


@dataclass
class _TableSpan:
    index: int
    start: int
    heading: str | None
    end: int = -1
    rows: list[_Row] = field(default_factory=list)
    tbody_open: int | None = None  # where the last <tbody> starts
    tbody_close: int | None = None  # where the last </tbody> starts

    def header_texts(self) -> list[str]:
        return [cell.text for cell in self.rows[0].cells] if self.rows else []


def _normalize(text: str) -> str:
    """Whitespace collapsed within lines, blank lines dropped: how cell text is compared."""
    lines = (" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def _fold(text: str) -> str:
    return _normalize(text).casefold()


def _fragment_text(fragment: str) -> str:
    """The visible text of a storage fragment: <br/> and block ends become line breaks."""
    if "<" not in fragment:
        # Plain text (the common case): no parser needed, and none to warn that it looks like a URL.
        return _normalize(html.unescape(fragment))
    soup = BeautifulSoup(fragment, "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.append("\n")
    return _normalize(soup.get_text())


def _scan(body: str) -> list[_TableSpan]:
    """Every table of a storage body (nested ones too), in document order, with exact offsets."""
    tables: list[_TableSpan] = []
    open_tables: list[_TableSpan] = []
    open_rows: dict[int, _Row] = {}
    open_cells: dict[int, _Cell] = {}
    heading: str | None = None
    heading_open: tuple[str, int] | None = None

    def close_cell(table: _TableSpan, at: int, end: int) -> None:
        cell = open_cells.pop(table.index, None)
        if cell is not None:
            cell.end = end
            cell.inner_end = at
            cell.text = _fragment_text(body[cell.inner_start : at])

    def close_row(table: _TableSpan, at: int, end: int) -> None:
        close_cell(table, at, at)
        row = open_rows.pop(table.index, None)
        if row is not None:
            row.close_start, row.end = at, end

    for match in _TOKEN.finditer(body):
        name = match.group("name")
        if name is None:
            continue  # comment, CDATA, declaration
        name = name.lower()
        start, end = match.span()
        closing = bool(match.group("close"))
        selfclose = bool(match.group("selfclose"))
        table = open_tables[-1] if open_tables else None

        if name in _HEADINGS and not open_tables:
            if not closing and not selfclose:
                heading_open = (name, end)
            elif closing and heading_open and heading_open[0] == name:
                heading = _fragment_text(body[heading_open[1] : start])
                heading_open = None
        elif name == "table":
            if not closing and not selfclose:
                span = _TableSpan(index=len(tables), start=start, heading=heading)
                tables.append(span)
                open_tables.append(span)
            elif closing and table is not None:
                close_row(table, start, start)
                table.end = end
                open_tables.pop()
        elif table is None:
            continue
        elif name == "tbody":
            if closing:
                close_row(table, start, start)
                table.tbody_close = start
            else:
                table.tbody_open = start
        elif name == "tr":
            if not closing:
                close_row(table, start, start)  # an unclosed previous row ends here
                row = _Row(start=start)
                table.rows.append(row)
                if selfclose:
                    row.close_start, row.end = start, end
                else:
                    open_rows[table.index] = row
            else:
                close_row(table, start, end)
        elif name in ("td", "th"):
            row = open_rows.get(table.index)
            if row is None:
                continue
            if not closing:
                close_cell(table, start, start)  # an unclosed previous cell ends here
                merged = any(int(n) > 1 for n in _SPAN_ATTR.findall(match.group("attrs") or ""))
                cell = _Cell(tag=name, start=start, merged=merged)
                row.cells.append(cell)
                if selfclose:
                    cell.end = end
                else:
                    cell.inner_start = end
                    open_cells[table.index] = cell
            else:
                close_cell(table, start, end)
    if open_tables:
        raise TableShapeError(
            f"the storage body has a <table> opened at offset {open_tables[-1].start} that is never closed"
        )
    return tables


# --- reading and editing tables (pure functions over a storage body) -----------------------------


def find_tables(body: str) -> list[dict[str, Any]]:
    """A summary of every table on a page: index, heading above it, header cells, row count.

    Examples:
        >>> find_tables("<h2>Runs</h2><table><tbody><tr><th>Task</th></tr></tbody></table>")
        [{'index': 0, 'heading': 'Runs', 'headers': ['Task'], 'rows': 0}]
    """
    return [
        {
            "index": t.index,
            "heading": t.heading,
            "headers": t.header_texts(),
            "rows": max(0, len(t.rows) - 1),
        }
        for t in _scan(body)
    ]


def _locate(body: str, locator: TableLocator, where: str) -> _TableSpan:
    tables = _scan(body)
    for table in tables:
        if locator.matches(table):
            return table
    found = "; ".join(
        f"#{t.index} under {t.heading!r} with header cells {t.header_texts()!r}" for t in tables
    )
    raise TableNotFoundError(
        f"{where}: no {locator.describe()[4:]}; the page has "
        + (f"{len(tables)} table(s): {found}" if tables else "no tables"),
        service=SERVICE,
    )


def _headers(table: _TableSpan, where: str) -> list[str]:
    if not table.rows:
        raise TableShapeError(f"{where}: table #{table.index} has no rows, so no header cells")
    for row in table.rows:
        for cell in row.cells:
            if cell.merged:
                raise TableShapeError(
                    f"{where}: table #{table.index} has merged cells (colspan/rowspan) at offset "
                    f"{cell.start}; rows of such tables cannot be read or written as records"
                )
    names = [text or f"column {i + 1}" for i, text in enumerate(table.header_texts())]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TableShapeError(f"{where}: table #{table.index} repeats the header cells {duplicates!r}")
    for number, row in enumerate(table.rows[1:], start=1):
        if len(row.cells) > len(names):
            raise TableShapeError(
                f"{where}: row {number} of table #{table.index} has {len(row.cells)} cells, "
                f"the header only {len(names)}"
            )
    return names


def read_table(body: str, locator: TableLocator | str | Sequence[str], *, where: str = "page") -> Table:
    """Read one table of a storage body: header cells and rows as records.

    The first row is the header row (``<th>`` or ``<td>``, in ``<thead>`` or ``<tbody>``). Cell
    text is the visible text with whitespace collapsed; ``<br/>`` and paragraphs become ``\\n``.

    Examples:
        >>> body = "<h2>Runs</h2><table><tbody><tr><th>Task</th><th>Status</th></tr>" \\
        ...        "<tr><td>backup</td><td><p>DONE</p></td></tr></tbody></table>"
        >>> read_table(body, "Runs").rows
        [{'Task': 'backup', 'Status': 'DONE'}]
    """
    locator = TableLocator.of(locator)
    table = _locate(body, locator, where)
    names = _headers(table, where)
    rows = [
        {name: (row.cells[i].text if i < len(row.cells) else "") for i, name in enumerate(names)}
        for row in table.rows[1:]
    ]
    return Table(headers=names, rows=rows, heading=table.heading, index=table.index)


def _cell_markup(value: Any) -> str:
    """Storage markup of one cell's text: escaped, control characters replaced, lines as <br />."""
    text = "" if value is None else str(value)
    # XML 1.0 forbids these characters; Confluence would refuse the whole page with a 400.
    text = _XML_INVALID.sub("\ufffd", text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br />".join(html.escape(line, quote=False) for line in lines)


def _row_markup(values: Sequence[Any]) -> str:
    return "<tr>" + "".join(f"<td>{_cell_markup(v)}</td>" for v in values) + "</tr>"


def _check_rows(rows: Iterable[Mapping[str, Any]], names: list[str], where: str) -> list[dict[str, str]]:
    """Rows as {header: text}, or TableShapeError naming the first row that does not fit."""
    checked = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise TableShapeError(f"{where}: row {number} to write is a {type(row).__name__}, not a mapping")
        unknown = [k for k in row if k not in names]
        if unknown:
            raise TableShapeError(
                f"{where}: row {number} to write has column(s) {unknown!r} that the table does not have; "
                f"its header cells are {names!r}"
            )
        checked.append({k: "" if v is None else str(v) for k, v in row.items()})
    return checked


def _apply_edits(body: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace (start, end) spans of `body`; spans never overlap. Everything else is kept as is."""
    pieces = []
    cursor = 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], e[1])):
        if start < cursor:
            raise AssertionError(f"overlapping edits at offset {start}")  # a bug here, not bad input
        pieces.append(body[cursor:start])
        pieces.append(text)
        cursor = end
    pieces.append(body[cursor:])
    return "".join(pieces)


def _append_position(table: _TableSpan) -> int:
    """Right after the last row, unless that row is not in the (last) body: then into the body."""
    last = table.rows[-1]
    if table.tbody_close is not None and table.tbody_open is not None and last.start < table.tbody_open:
        return table.tbody_close  # e.g. only a <thead> row so far and an empty <tbody>
    return last.end


def upsert_table(
    body: str,
    locator: TableLocator | str | Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    key_column: str,
    *,
    where: str = "page",
) -> TableEdit:
    """Update the rows whose `key_column` matches, append the others; return the new body.

    Only cells whose text changes are rewritten (their inner markup replaced by the escaped new
    text); untouched cells, rows and everything outside the table keep their exact markup. Columns
    missing from an input row are left as they are (empty in an appended row). Every existing
    row with a matching key is updated; a key repeated in `rows` updates the row added for its
    first occurrence.

    Raises:
        TableNotFoundError: no table matches `locator`.
        TableShapeError: `key_column` or a column of `rows` is not a header cell, a row has no
            key, or the table has merged cells.

    Examples:
        >>> body = "<table><tbody><tr><th>Task</th><th>Status</th></tr>" \\
        ...        "<tr><td>backup</td><td>RUNNING</td></tr></tbody></table>"
        >>> edit = upsert_table(body, ["Task"], [{"Task": "backup", "Status": "DONE"},
        ...                                      {"Task": "sync", "Status": "FAILED"}], "Task")
        >>> edit.body
        '<table><tbody><tr><th>Task</th><th>Status</th></tr><tr><td>backup</td><td>DONE</td></tr><tr><td>sync</td><td>FAILED</td></tr></tbody></table>'
        >>> (edit.updated, edit.appended)
        (1, 1)
    """
    locator = TableLocator.of(locator)
    table = _locate(body, locator, where)
    names = _headers(table, where)
    if key_column not in names:
        raise TableShapeError(f"{where}: key column {key_column!r} is not a header cell; they are {names!r}")
    key_index = names.index(key_column)
    checked = _check_rows(rows, names, where)

    data_rows = table.rows[1:]
    current = [[c.text for c in row.cells] + [""] * (len(names) - len(row.cells)) for row in data_rows]
    changed: dict[int, dict[int, str]] = {}  # data row -> column -> new text
    appended: list[list[str]] = []
    appended_keys: dict[str, int] = {}
    updated_rows: set[int] = set()
    unchanged = 0

    for number, row in enumerate(checked, start=1):
        key = _normalize(row.get(key_column, ""))
        if not key:
            raise TableShapeError(
                f"{where}: row {number} to write has no value for key column {key_column!r}"
            )
        matches = [i for i, values in enumerate(current) if _normalize(values[key_index]) == key]
        if matches:
            touched = False
            for i in matches:
                for column, value in row.items():
                    c = names.index(column)
                    if _normalize(current[i][c]) != _normalize(value):
                        current[i][c] = value
                        changed.setdefault(i, {})[c] = value
                        updated_rows.add(i)
                        touched = True
            unchanged += 0 if touched else 1
        elif key in appended_keys:
            target = appended[appended_keys[key]]
            for column, value in row.items():
                target[names.index(column)] = value
        else:
            appended_keys[key] = len(appended)
            appended.append([row.get(name, "") for name in names])

    edits: list[tuple[int, int, str]] = []
    for i, columns in changed.items():
        row = data_rows[i]
        missing: dict[int, str] = {}
        for c, value in columns.items():
            if c < len(row.cells):
                cell = row.cells[c]
                if cell.inner_start is None:
                    edits.append((cell.start, cell.end, f"<{cell.tag}>{_cell_markup(value)}</{cell.tag}>"))
                else:
                    edits.append((cell.inner_start, cell.inner_end or cell.inner_start, _cell_markup(value)))
            else:
                missing[c] = value
        if missing:
            extra = range(len(row.cells), max(missing) + 1)
            markup = "".join(f"<td>{_cell_markup(missing.get(c, ''))}</td>" for c in extra)
            edits.append((row.close_start, row.close_start, markup))
    if appended:
        at = _append_position(table)
        edits.append((at, at, "".join(_row_markup(values) for values in appended)))
    return TableEdit(
        body=_apply_edits(body, edits),
        updated=len(updated_rows),
        appended=len(appended),
        unchanged=unchanged,
    )


def append_table(
    body: str,
    locator: TableLocator | str | Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    where: str = "page",
) -> TableEdit:
    """Append `rows` at the end of a table (a results table); return the new body.

    Raises:
        TableNotFoundError: no table matches `locator`.
        TableShapeError: a column of `rows` is not a header cell, or the table has merged cells.

    Examples:
        >>> body = "<p>x</p><table><tbody><tr><th>Run</th></tr></tbody></table>"
        >>> append_table(body, ["Run"], [{"Run": "a < b"}]).body
        '<p>x</p><table><tbody><tr><th>Run</th></tr><tr><td>a &lt; b</td></tr></tbody></table>'
    """
    locator = TableLocator.of(locator)
    table = _locate(body, locator, where)
    names = _headers(table, where)
    checked = _check_rows(rows, names, where)
    if not checked:
        return TableEdit(body=body)
    at = _append_position(table)
    markup = "".join(_row_markup([row.get(name, "") for name in names]) for row in checked)
    return TableEdit(body=_apply_edits(body, [(at, at, markup)]), appended=len(checked))


# --- pages over the REST API ---------------------------------------------------------------------


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
        base = client.url.rstrip("/")
        # Cloud serves the REST v1 content resource below /wiki; Server at the context root.
        self._api = (
            "wiki/rest/api" if getattr(client, "cloud", False) and not base.endswith("/wiki") else "rest/api"
        )

    # -- HTTP ---------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.client.url.rstrip('/')}/{path}"

    def _send(self, method: str, path: str, *, params: dict[str, Any] | None = None, data: Any = None) -> Any:
        url = self._url(path)
        try:
            if method == "GET":
                response = self.client.get(path, params=params, advanced_mode=True)
            else:
                response = self.client.put(path, data=data, params=params, advanced_mode=True)
        except requests.RequestException as exc:
            raise ServiceUnreachableError(
                f"{SERVICE} ({self.source}): {method} {url} got no response: {exc}",
                service=SERVICE,
                url=url,
            ) from exc
        if response.status_code >= 400:
            raise self._error(method, url, response)
        try:
            return response.json()
        except ValueError as exc:
            raise RemoteServiceError(
                f"{SERVICE} ({self.source}): {method} {url} answered {response.status_code} with a body "
                f"that is not JSON: {response.text[:EXCERPT_CHARS]!r}",
                service=SERVICE,
                url=url,
                status=response.status_code,
            ) from exc

    def _error(self, method: str, url: str, response: requests.Response) -> RemoteServiceError:
        status = response.status_code
        detail = _error_detail(response)
        where = f"{SERVICE} ({self.source}): {method} {url} answered {status}"
        kwargs: dict[str, Any] = {"service": SERVICE, "url": url, "status": status}
        if status in (401, 403):
            return AuthenticationError(
                f"{where}: refused ({detail}); check the user and token of '{self.source}' "
                "and that user's permissions on the page",
                **kwargs,
            )
        if status == 404:
            return NotFoundError(f"{where}: not found or not visible to this user ({detail})", **kwargs)
        if status == 409:
            return ConflictError(f"{where}: version conflict ({detail})", **kwargs)
        if status == 429:
            retry_after = response.headers.get("Retry-After", "none")
            return RateLimitedError(
                f"{where}: still rate limited after the retries (Retry-After: {retry_after}; {detail})",
                **kwargs,
            )
        if status >= 500:
            return ServiceUnavailableError(f"{where}: server error after the retries ({detail})", **kwargs)
        return RemoteServiceError(f"{where}: {detail}", **kwargs)

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
        data = self._send("GET", f"{self._api}/content/{page_id}", params={"expand": "body.storage,version"})
        try:
            return Page(
                page_id=str(data.get("id", page_id)),
                title=data["title"],
                version=int(data["version"]["number"]),
                body=data["body"]["storage"]["value"],
                content_type=data.get("type", "page"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteServiceError(
                f"{SERVICE} ({self.source}): page {page_id} at {self._url(f'{self._api}/content/{page_id}')} "
                f"lacks title, version.number or body.storage.value; found keys {sorted(data or {})!r}",
                service=SERVICE,
                url=self._url(f"{self._api}/content/{page_id}"),
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
        return f"{SERVICE} ({self.source}) page {page.page_id} {page.title!r} v{page.version}"

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
        url = self._url(f"{self._api}/content/{page_id}")
        raise ConflictError(
            f"{SERVICE} ({self.source}): PUT {url} still answered 409 after {conflicts} attempts: "
            f"the page keeps changing under us; nothing was written",
            service=SERVICE,
            url=url,
            status=409,
        )

    def _put(self, page: Page, body: str, *, version_comment: str | None, minor_edit: bool) -> None:
        version: dict[str, Any] = {"number": page.version + 1, "minorEdit": minor_edit}
        if version_comment:
            version["message"] = version_comment
        data = {
            "id": page.page_id,
            "type": page.content_type,
            "title": page.title,
            "version": version,
            "body": {"storage": {"value": body, "representation": "storage"}},
        }
        self._send("PUT", f"{self._api}/content/{page.page_id}", data=data)


def _error_detail(response: requests.Response) -> str:
    """Confluence's own message from an error body, else an excerpt of the body."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "reason"):
            if data.get(key):
                return str(data[key])[:EXCERPT_CHARS]
    text = " ".join((response.text or "").split())
    return repr(text[:EXCERPT_CHARS]) if text else f"{response.status_code} {response.reason}"
