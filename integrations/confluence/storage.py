"""Confluence storage format: find the tables of a page body with exact offsets, and splice it.

Storage format is XHTML with Confluence's ac:/ri: elements. A regular-expression tokenizer over
the original string gives exact offsets of every tag, which is what splicing needs; a full parser
(BeautifulSoup, html.parser) would either lose offsets or re-serialise the document. Comments,
CDATA sections (code macros) and processing instructions are skipped whole, so markup-looking
text inside them is never taken for a table. Writing replaces spans of the original string
(`apply_edits`): every byte outside them stays exactly as Confluence returned it.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bs4 import BeautifulSoup

from integrations.errors import TableShapeError

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
class Cell:
    tag: str
    start: int
    end: int = -1
    inner_start: int | None = None  # None: self-closing <td/>
    inner_end: int | None = None
    merged: bool = False
    text: str = ""


@dataclass
class Row:
    start: int
    end: int = -1
    close_start: int = -1  # where </tr> starts: new cells go there
    cells: list[Cell] = field(default_factory=list)


@dataclass
class TableSpan:
    index: int
    start: int
    heading: str | None
    end: int = -1
    rows: list[Row] = field(default_factory=list)
    tbody_open: int | None = None  # where the last <tbody> starts
    tbody_close: int | None = None  # where the last </tbody> starts

    def header_texts(self) -> list[str]:
        return [cell.text for cell in self.rows[0].cells] if self.rows else []


def normalize(text: str) -> str:
    """Whitespace collapsed within lines, blank lines dropped: how cell text is compared."""
    lines = (" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def fold(text: str) -> str:
    return normalize(text).casefold()


def fragment_text(fragment: str) -> str:
    """The visible text of a storage fragment: <br/> and block ends become line breaks."""
    if "<" not in fragment:
        # Plain text (the common case): no parser needed, and none to warn that it looks like a URL.
        return normalize(html.unescape(fragment))
    soup = BeautifulSoup(fragment, "html.parser")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.append("\n")
    return normalize(soup.get_text())


def scan(body: str) -> list[TableSpan]:
    """Every table of a storage body (nested ones too), in document order, with exact offsets."""
    tables: list[TableSpan] = []
    open_tables: list[TableSpan] = []
    open_rows: dict[int, Row] = {}
    open_cells: dict[int, Cell] = {}
    heading: str | None = None
    heading_open: tuple[str, int] | None = None

    def close_cell(table: TableSpan, at: int, end: int) -> None:
        cell = open_cells.pop(table.index, None)
        if cell is not None:
            cell.end = end
            cell.inner_end = at
            cell.text = fragment_text(body[cell.inner_start : at])

    def close_row(table: TableSpan, at: int, end: int) -> None:
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
                heading = fragment_text(body[heading_open[1] : start])
                heading_open = None
        elif name == "table":
            if not closing and not selfclose:
                span = TableSpan(index=len(tables), start=start, heading=heading)
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
                row = Row(start=start)
                table.rows.append(row)
                if selfclose:
                    row.close_start, row.end = start, end
                else:
                    open_rows[table.index] = row
            else:
                close_row(table, start, end)
        elif name in ("td", "th"):
            open_row = open_rows.get(table.index)
            if open_row is None:
                continue
            if not closing:
                close_cell(table, start, start)  # an unclosed previous cell ends here
                merged = any(int(n) > 1 for n in _SPAN_ATTR.findall(match.group("attrs") or ""))
                cell = Cell(tag=name, start=start, merged=merged)
                open_row.cells.append(cell)
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


# --- writing ---------------------------------------------------------------------------------------


def cell_markup(value: Any) -> str:
    """Storage markup of one cell's text: escaped, control characters replaced, lines as <br />."""
    text = "" if value is None else str(value)
    # XML 1.0 forbids these characters; Confluence would refuse the whole page with a 400.
    text = _XML_INVALID.sub("\ufffd", text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br />".join(html.escape(line, quote=False) for line in lines)


def row_markup(values: Sequence[Any]) -> str:
    return "<tr>" + "".join(f"<td>{cell_markup(v)}</td>" for v in values) + "</tr>"


def apply_edits(body: str, edits: list[tuple[int, int, str]]) -> str:
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


def append_position(table: TableSpan) -> int:
    """Right after the last row, unless that row is not in the (last) body: then into the body."""
    last = table.rows[-1]
    if table.tbody_close is not None and table.tbody_open is not None and last.start < table.tbody_open:
        return table.tbody_close  # e.g. only a <thead> row so far and an empty <tbody>
    return last.end
