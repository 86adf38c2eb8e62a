"""The JIRA_TASK_EXP workbook: "Root Issues" and "Child Issues" sheets (openpyxl, no Prefect).

Headers are bold on a fill, frozen, and carry an autofilter; the Key and Link columns are
hyperlinks to the issue in Jira (Root Key / Parent Key stay plain text: two more hyperlinks per
row add ~20% to the write time and little value, since those rows carry their own links); dates
are real Excel dates (UTC, timezone-naive, because Excel has no time zones) with a number format;
progress is a real percentage. The file is written next to its destination and renamed over it,
so a reader never sees half a workbook.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from copy import copy
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from integrations.jira import Issue, IssueTree

ROOT_SHEET = "Root Issues"
CHILD_SHEET = "Child Issues"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DATE_FORMAT = "yyyy-mm-dd"
PERCENT_FORMAT = "0.0%"
HEADER_FONT = Font(bold=True, color="FFFFFF")
HEADER_FILL = PatternFill(fill_type="solid", start_color="FF305496", end_color="FF305496")
HYPERLINK_FONT = Font(color="FF0563C1", underline="single")
HEADER_ALIGNMENT = Alignment(vertical="center")
_NUMBER_FORMATS = {"datetime": DATETIME_FORMAT, "date": DATE_FORMAT, "percent": PERCENT_FORMAT}
MIN_WIDTH, MAX_WIDTH = 8, 60
# Widths are judged on the first rows only: measuring 5,000 summaries costs more than it helps.
WIDTH_SAMPLE_ROWS = 500


@dataclass(frozen=True)
class ExcelReport:
    """Where the workbook went and how many rows each sheet got (headers not counted)."""

    path: Path
    root_rows: int
    child_rows: int


def excel_datetime(value: datetime | None) -> datetime | None:
    """An aware datetime as the naive UTC datetime Excel can store (naive ones are taken as UTC).

    Examples:
        >>> from datetime import timedelta, timezone
        >>> excel_datetime(datetime(2024, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1))))
        datetime.datetime(2024, 3, 1, 8, 30)
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _browse(base_url: str) -> Callable[[str | None], str | None]:
    def link(key: str | None) -> str | None:
        return f"{base_url}/browse/{key}" if key else None

    return link


def write_issue_tree_xlsx(tree: IssueTree | Sequence[IssueTree], path: str | Path) -> ExcelReport:
    """Write the tree(s) to an .xlsx at `path`, atomically.

    "Root Issues": Key, Summary, Type, Status, Priority, Assignee, Created, Updated, Due,
    Children Total, Children Done, Progress %, Link — one row per root; the children columns count
    every issue below the root (all levels), "done" meaning status category Done; Progress % is
    blank for a root without children.

    "Child Issues": Key, Root Key, Parent Key, Level, Summary, Type, Status, Assignee, Priority,
    Created, Updated, Link — depth first under each root.

    Args:
        tree: one tree, or several (e.g. one per root ticket) written into the same two sheets.
        path: destination; its directory is created when missing; an existing file is replaced.

    Returns:
        The path written and the row counts.

    Raises:
        ValueError: `path` does not end in ``.xlsx``.
        OSError: the directory cannot be created or written (the destination is left untouched).

    Examples:
        >>> report = write_issue_tree_xlsx(tree, "out/demo.xlsx")  # doctest: +SKIP
        >>> report.root_rows, report.child_rows  # doctest: +SKIP
        (3, 9)
    """
    trees = [tree] if isinstance(tree, IssueTree) else list(tree)
    destination = Path(path)
    if destination.suffix.lower() != ".xlsx":
        raise ValueError(f"the Jira export must be an .xlsx file, got {str(destination)!r}")

    workbook = Workbook(write_only=True)
    roots_sheet = workbook.create_sheet(ROOT_SHEET)
    children_sheet = workbook.create_sheet(CHILD_SHEET)

    root_rows: list[tuple[Issue, tuple[int, int], Callable[[str | None], str | None]]] = []
    child_rows: list[tuple[Issue, Callable[[str | None], str | None]]] = []
    for one in trees:
        browse = _browse(one.base_url)
        for root in one.roots:
            root_rows.append((root, one.progress(root.key), browse))
        child_rows.extend((issue, browse) for issue in one.children)

    root_columns = [
        ("Key", "link"),
        ("Summary", "text"),
        ("Type", "text"),
        ("Status", "text"),
        ("Priority", "text"),
        ("Assignee", "text"),
        ("Created", "datetime"),
        ("Updated", "datetime"),
        ("Due", "date"),
        ("Children Total", "int"),
        ("Children Done", "int"),
        ("Progress %", "percent"),
        ("Link", "link"),
    ]
    _write_sheet(
        roots_sheet,
        root_columns,
        (
            [
                (issue.key, browse(issue.key)),
                issue.summary,
                issue.type,
                issue.status,
                issue.priority,
                issue.assignee,
                excel_datetime(issue.created),
                excel_datetime(issue.updated),
                issue.due,
                total,
                done,
                (done / total) if total else None,
                (issue.url, issue.url),
            ]
            for issue, (total, done), browse in root_rows
        ),
    )
    child_columns = [
        ("Key", "link"),
        ("Root Key", "text"),
        ("Parent Key", "text"),
        ("Level", "int"),
        ("Summary", "text"),
        ("Type", "text"),
        ("Status", "text"),
        ("Assignee", "text"),
        ("Priority", "text"),
        ("Created", "datetime"),
        ("Updated", "datetime"),
        ("Link", "link"),
    ]
    _write_sheet(
        children_sheet,
        child_columns,
        (
            [
                (issue.key, browse(issue.key)),
                issue.root_key,
                issue.parent_key,
                issue.level,
                issue.summary,
                issue.type,
                issue.status,
                issue.assignee,
                issue.priority,
                excel_datetime(issue.created),
                excel_datetime(issue.updated),
                (issue.url, issue.url),
            ]
            for issue, browse in child_rows
        ),
    )
    _save_atomically(workbook, destination)
    return ExcelReport(path=destination, root_rows=len(root_rows), child_rows=len(child_rows))


def _write_sheet(sheet: Any, columns: list[tuple[str, str]], rows: Iterable[list[Any]]) -> int:
    """Stream `rows` into a write-only sheet; return how many were written.

    Write-only mode streams rows straight to XML: about 4x faster than the normal mode on
    5,000 rows. Its price is that everything in the sheet's head (column widths, the frozen pane)
    must be set before the first row, hence the rows are materialised and measured first.
    """
    materialised = list(rows)
    kinds = [kind for _, kind in columns]
    widths = [len(header) for header, _ in columns]
    for values in materialised[:WIDTH_SAMPLE_ROWS]:
        for index, (value, kind) in enumerate(zip(values, kinds, strict=True)):
            shown = value[0] if kind == "link" else value
            widths[index] = max(widths[index], _display_width(shown, kind))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(MAX_WIDTH, max(MIN_WIDTH, width + 2))
    sheet.freeze_panes = "A2"
    last_row = len(materialised) + 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{last_row}"

    header_row = []
    for index, (header, _) in enumerate(columns, start=1):
        cell = Cell(sheet, row=1, column=index, value=header)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = HEADER_ALIGNMENT
        header_row.append(cell)
    sheet.append(header_row)

    styles = {}
    for kind, number_format in _NUMBER_FORMATS.items():
        template = Cell(sheet)
        template.number_format = number_format
        styles[kind] = template._style
    template = Cell(sheet)
    template.font = HYPERLINK_FONT
    styles["link"] = template._style

    for row_number, values in enumerate(materialised, start=2):
        out: list[Any] = []
        for index, (value, kind) in enumerate(zip(values, kinds, strict=True), start=1):
            if kind == "link":
                text, target = value
                if not (text and target):
                    out.append(text)
                    continue
                # A Cell built with its real coordinates: the hyperlink's ref is taken from them.
                cell = Cell(sheet, row=row_number, column=index, value=text)
                cell.hyperlink = target
                # Copying a prepared style array is the openpyxl idiom for styling many cells the
                # same way; assigning a Font per cell hashes it into the style table every time.
                cell._style = copy(styles["link"])
                out.append(cell)
            elif value is not None and kind in _NUMBER_FORMATS:
                cell = Cell(sheet, row=row_number, column=index, value=value)
                cell._style = copy(styles[kind])
                out.append(cell)
            elif isinstance(value, str):
                # Jira text may carry control characters (pasted from terminals); XML 1.0 and
                # thus openpyxl refuse them, and one bad summary must not sink the whole export.
                out.append(ILLEGAL_CHARACTERS_RE.sub("", value))
            else:
                out.append(value)
        sheet.append(out)
    return len(materialised)


def _display_width(value: Any, kind: str) -> int:
    if value is None:
        return 0
    if kind == "datetime":
        return len("2024-01-01 00:00")
    if kind == "date" or isinstance(value, date):
        return len("2024-01-01")
    if kind == "percent":
        return len("100.0%")
    return len(str(value))


def _save_atomically(workbook: Workbook, destination: Path) -> None:
    """Save to a temporary file in the destination's directory, fsync it, then rename it over."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    # Same directory: os.replace is atomic only within one file system.
    handle, temporary = tempfile.mkstemp(
        prefix=f".{destination.name}.", suffix=".tmp", dir=destination.parent
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            workbook.save(stream)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp creates the file 0600; give the report the permissions of the file it replaces,
        # or the usual rw-r--r-- for a new one, so whoever reads the reports can open it.
        mode = destination.stat().st_mode & 0o777 if destination.exists() else 0o644
        os.chmod(temporary, mode)
        os.replace(temporary, destination)
    except BaseException:
        # Leave no half-written temporary behind; the destination was never touched.
        Path(temporary).unlink(missing_ok=True)
        raise
