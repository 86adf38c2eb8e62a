"""integrations/jira_excel.py: the workbook read back with openpyxl, cell by cell."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest

from integrations.jira import Issue, IssueTree, TreeOptions, fetch_issue_tree, make_jira_client
from integrations.jira_excel import (
    CHILD_SHEET,
    DATE_FORMAT,
    DATETIME_FORMAT,
    PERCENT_FORMAT,
    ROOT_SHEET,
    excel_datetime,
    write_issue_tree_xlsx,
)
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.jira import demo_issues, make_fake_jira

ROOT_HEADERS = [
    "Key",
    "Summary",
    "Type",
    "Status",
    "Priority",
    "Assignee",
    "Created",
    "Updated",
    "Due",
    "Children Total",
    "Children Done",
    "Progress %",
    "Link",
]
CHILD_HEADERS = [
    "Key",
    "Root Key",
    "Parent Key",
    "Level",
    "Summary",
    "Type",
    "Status",
    "Assignee",
    "Priority",
    "Created",
    "Updated",
    "Link",
]


@pytest.fixture(scope="module")
def demo_tree() -> IssueTree:
    app = make_fake_jira(cloud=False, users={"bot": "pw"}, issues=demo_issues(cloud=False))
    with serve(app) as url:
        client = make_jira_client(url, "bot", "pw", cloud=False)
        return fetch_issue_tree(
            client, project_key="DEMO", options=TreeOptions(link_types=("blocks", "relates to"))
        )


def test_workbook_read_back_cell_by_cell(demo_tree: IssueTree, tmp_path: Path) -> None:
    destination = tmp_path / "reports" / "demo.xlsx"
    report = write_issue_tree_xlsx(demo_tree, destination)

    assert report.path == destination and (report.root_rows, report.child_rows) == (3, 9)
    assert sorted(p.name for p in destination.parent.iterdir()) == ["demo.xlsx"]  # no temporary left
    book = openpyxl.load_workbook(destination)
    assert book.sheetnames == [ROOT_SHEET, CHILD_SHEET]
    roots, children = book[ROOT_SHEET], book[CHILD_SHEET]

    # Headers: exact, bold, filled, frozen, filtered.
    assert [c.value for c in roots[1]] == ROOT_HEADERS
    assert [c.value for c in children[1]] == CHILD_HEADERS
    for sheet in (roots, children):
        header = sheet["A1"]
        assert header.font.b is True
        assert header.fill.fill_type == "solid" and header.fill.fgColor.rgb == "FF305496"
        assert sheet.freeze_panes == "A2"
    assert roots.auto_filter.ref == "A1:M4"
    assert children.auto_filter.ref == "A1:L10"
    assert roots.max_row == 4 and children.max_row == 10

    # A root row, value by value.
    base = demo_tree.base_url
    row = {h: c for h, c in zip(ROOT_HEADERS, roots[2], strict=True)}
    assert row["Key"].value == "DEMO-1"
    assert row["Key"].hyperlink.target == f"{base}/browse/DEMO-1"
    assert row["Key"].font.u == "single"
    assert row["Link"].value == f"{base}/browse/DEMO-1" and row["Link"].hyperlink.target == row["Link"].value
    assert [row[h].value for h in ("Summary", "Type", "Status", "Priority", "Assignee")] == [
        "Checkout revamp",
        "Epic",
        "In Progress",
        "High",
        "Alice Martin",
    ]
    created = row["Created"]
    assert created.is_date and isinstance(created.value, datetime) and created.value.tzinfo is None
    assert created.value == datetime(2024, 3, 1, 8, 30)
    assert created.number_format == DATETIME_FORMAT
    assert row["Updated"].value == datetime(2024, 3, 21, 8, 30)
    assert (
        row["Due"].is_date
        and row["Due"].value == datetime(2024, 6, 30)
        and row["Due"].number_format == DATE_FORMAT
    )
    # DEMO-1 has 7 issues below it (3 levels, links included), 2 of them done.
    assert (row["Children Total"].value, row["Children Done"].value) == (7, 2)
    assert (
        row["Progress %"].value == pytest.approx(2 / 7) and row["Progress %"].number_format == PERCENT_FORMAT
    )

    by_key = {r[0].value: r for r in roots.iter_rows(min_row=2)}
    assert [by_key["DEMO-8"][i].value for i in (9, 10, 11)] == [2, 2, 1]
    assert [by_key["DEMO-11"][i].value for i in (9, 10, 11)] == [0, 0, None]  # no children: no progress
    assert by_key["DEMO-11"][8].value is None  # no due date: an empty cell, not a 1900 date

    # Child rows: depth first, with root, parent and level.
    listed = [(r[0].value, r[1].value, r[2].value, r[3].value) for r in children.iter_rows(min_row=2)]
    assert listed == [
        ("DEMO-2", "DEMO-1", "DEMO-1", 1),
        ("DEMO-3", "DEMO-1", "DEMO-2", 2),
        ("DEMO-4", "DEMO-1", "DEMO-2", 2),
        ("OPS-1", "DEMO-1", "DEMO-2", 2),
        ("DEMO-5", "DEMO-1", "DEMO-1", 1),
        ("DEMO-6", "DEMO-1", "DEMO-5", 2),
        ("DEMO-7", "DEMO-1", "DEMO-6", 3),
        ("DEMO-9", "DEMO-8", "DEMO-8", 1),
        ("DEMO-10", "DEMO-8", "DEMO-9", 2),
    ]
    ops = children["A5"]
    assert ops.value == "OPS-1" and ops.hyperlink.target == f"{base}/browse/OPS-1"
    assert children["H5"].value == "Eve Fox" and children["I5"].value == "Medium"
    assert children["H4"].value is None  # DEMO-4 is unassigned
    assert children["J2"].number_format == DATETIME_FORMAT and children["J2"].value == datetime(
        2024, 3, 2, 8, 30
    )

    # Widths: wide enough for the content, summaries capped.
    assert roots.column_dimensions["B"].width == len("Crash on empty cart") + 2
    assert roots.column_dimensions["G"].width == len("2024-01-01 00:00") + 2
    assert children.column_dimensions["A"].width == len("DEMO-10") + 2


def _issue(key: str, **changes: object) -> Issue:
    values: dict[str, object] = {
        "key": key,
        "summary": f"Summary of {key}",
        "type": "Task",
        "status": "Done",
        "status_category": "done",
        "priority": None,
        "assignee": None,
        "created": datetime(2024, 5, 1, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
        "updated": None,
        "due": date(2024, 5, 31),
        "parent_key": None,
        "root_key": key,
        "level": 0,
        "url": f"https://jira.example.com/browse/{key}",
    }
    values.update(changes)
    return Issue(**values)  # type: ignore[arg-type]


def test_times_are_converted_to_naive_utc_and_bad_characters_dropped(tmp_path: Path) -> None:
    tree = IssueTree(
        roots=(_issue("X-1", summary="tab\there, bell\x07 and vertical\x0btab"),),
        children=(),
        base_url="https://jira.example.com",
    )
    path = write_issue_tree_xlsx(tree, tmp_path / "x.xlsx").path
    cells = openpyxl.load_workbook(path)[ROOT_SHEET][2]
    assert cells[1].value == "tab\there, bell and verticaltab"
    assert cells[6].value == datetime(2024, 5, 2, 1, 30)  # 23:30 at UTC-2 is 01:30 UTC next day
    assert cells[7].value is None
    assert excel_datetime(datetime(2024, 1, 1, tzinfo=UTC)) == datetime(2024, 1, 1)


def test_long_summaries_are_capped_in_width(tmp_path: Path) -> None:
    tree = IssueTree(
        roots=(_issue("X-1", summary="word " * 60),), children=(), base_url="https://jira.example.com"
    )
    path = write_issue_tree_xlsx(tree, tmp_path / "x.xlsx").path
    assert openpyxl.load_workbook(path)[ROOT_SHEET].column_dimensions["B"].width == 60


def test_a_failed_write_leaves_the_previous_file_alone(
    demo_tree: IssueTree, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "demo.xlsx"
    write_issue_tree_xlsx(demo_tree, destination)
    before = destination.read_bytes()

    real_save = openpyxl.Workbook.save

    def broken_save(self: openpyxl.Workbook, stream: object) -> None:
        real_save(self, stream)  # the bytes reach the temporary file, then the disk "fills up"
        raise OSError("disk full")

    monkeypatch.setattr(openpyxl.Workbook, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        write_issue_tree_xlsx(demo_tree, destination)
    assert destination.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["demo.xlsx"]


def test_refuses_a_non_xlsx_destination(demo_tree: IssueTree, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.xlsx"):
        write_issue_tree_xlsx(demo_tree, tmp_path / "demo.csv")
