"""Excel plumbing shared by the Jira export and the run report (openpyxl, no Prefect).

Headers bold on a fill, frozen and autofiltered; real Excel dates and percentages; hyperlinks;
column widths judged on the first rows; the file written next to its destination and renamed
over it, so a reader never sees half a workbook.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from copy import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import Cell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

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


def write_sheet(sheet: Any, columns: list[tuple[str, str]], rows: Iterable[list[Any]]) -> int:
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


def save_atomically(workbook: Workbook, destination: Path) -> None:
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
