"""Tables of a Confluence page body: find one, read its rows as records, upsert or append rows.

Pure functions over a storage body (a string): no HTTP here. A table is found by the text of the
heading directly above it or by its header cells (`TableLocator`); its rows come back as records
(one dict per row, keyed by the header cells). Writing rows back rewrites only the cells and rows
that change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from integrations.confluence.storage import (
    TableSpan,
    append_position,
    apply_edits,
    cell_markup,
    fold,
    normalize,
    row_markup,
    scan,
)
from integrations.errors import TableNotFoundError, TableShapeError

SERVICE = "confluence"


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

    def matches(self, table: TableSpan) -> bool:
        if self.heading and (table.heading is None or fold(table.heading) != fold(self.heading)):
            return False
        if self.headers:
            have = {fold(h) for h in table.header_texts()}
            if not all(fold(h) in have for h in self.headers):
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
        for t in scan(body)
    ]


def _locate(body: str, locator: TableLocator, where: str) -> TableSpan:
    tables = scan(body)
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


def _headers(table: TableSpan, where: str) -> list[str]:
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
        key = normalize(row.get(key_column, ""))
        if not key:
            raise TableShapeError(
                f"{where}: row {number} to write has no value for key column {key_column!r}"
            )
        matches = [i for i, values in enumerate(current) if normalize(values[key_index]) == key]
        if matches:
            touched = False
            for i in matches:
                for column, value in row.items():
                    c = names.index(column)
                    if normalize(current[i][c]) != normalize(value):
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
        span = data_rows[i]
        missing: dict[int, str] = {}
        for c, value in columns.items():
            if c < len(span.cells):
                cell = span.cells[c]
                if cell.inner_start is None:
                    edits.append((cell.start, cell.end, f"<{cell.tag}>{cell_markup(value)}</{cell.tag}>"))
                else:
                    edits.append((cell.inner_start, cell.inner_end or cell.inner_start, cell_markup(value)))
            else:
                missing[c] = value
        if missing:
            extra = range(len(span.cells), max(missing) + 1)
            markup = "".join(f"<td>{cell_markup(missing.get(c, ''))}</td>" for c in extra)
            edits.append((span.close_start, span.close_start, markup))
    if appended:
        at = append_position(table)
        edits.append((at, at, "".join(row_markup(values) for values in appended)))
    return TableEdit(
        body=apply_edits(body, edits),
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
    at = append_position(table)
    markup = "".join(row_markup([row.get(name, "") for name in names]) for row in checked)
    return TableEdit(body=apply_edits(body, [(at, at, markup)]), appended=len(checked))
