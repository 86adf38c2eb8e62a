"""The JIRA_TASK_EXP workbook: "Root Issues" and "Child Issues" sheets (openpyxl, no Prefect).

Headers are bold on a fill, frozen, and carry an autofilter; the Key and Link columns are
hyperlinks to the issue in Jira (Root Key / Parent Key stay plain text: two more hyperlinks per
row add ~20% to the write time and little value, since those rows carry their own links); dates
are real Excel dates (UTC, timezone-naive, because Excel has no time zones) with a number format;
progress is a real percentage. The file is written next to its destination and renamed over it,
so a reader never sees half a workbook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook

from integrations._xlsx import (
    DATE_FORMAT,
    DATETIME_FORMAT,
    PERCENT_FORMAT,
    excel_datetime,
    save_atomically,
    write_sheet,
)
from integrations.jira import Issue, IssueTree

__all__ = [
    "CHILD_SHEET",
    "DATE_FORMAT",
    "DATETIME_FORMAT",
    "PERCENT_FORMAT",
    "ROOT_SHEET",
    "ExcelReport",
    "excel_datetime",
    "write_issue_tree_xlsx",
]

ROOT_SHEET = "Root Issues"
CHILD_SHEET = "Child Issues"


@dataclass(frozen=True)
class ExcelReport:
    """Where the workbook went and how many rows each sheet got (headers not counted)."""

    path: Path
    root_rows: int
    child_rows: int


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
    write_sheet(
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
    write_sheet(
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
    save_atomically(workbook, destination)
    return ExcelReport(path=destination, root_rows=len(root_rows), child_rows=len(child_rows))
