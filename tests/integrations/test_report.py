"""Report logic without Prefect: summaries, templates, rows, statistics, charts, Excel, the results table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from openpyxl import load_workbook

from integrations.report import (
    RunRecord,
    compute_stats,
    percentile,
    render_template,
    summarise,
    table_rows,
    template_environment,
    upsert_results,
    write_report_xlsx,
)
from tasklane.reports import MESSAGE_TEMPLATE_DIR
from tasklane.settings.reports import DEFAULT_REPORT_COLUMNS as DEFAULT_COLUMNS

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def record(i: int, state: str, task: str = "backup", group: str = "ops", seconds: float = 10.0) -> RunRecord:
    start = T0 + timedelta(hours=i)
    return RunRecord(
        run_id=f"00000000-0000-0000-0000-{i:012d}",
        run_name=f"run-{i}",
        task=task,
        group=group,
        state=state,
        state_type={"TimedOut": "FAILED"}.get(state, state.upper()),
        start=start,
        end=start + timedelta(seconds=seconds),
        duration=seconds,
        message="disk full" if state != "Completed" else "",
        link=f"http://ui/runs/flow-run/{i}",
    )


RECORDS = [
    record(0, "Completed", seconds=5),
    record(1, "Failed", seconds=7),
    record(2, "TimedOut", seconds=60),
    record(30, "Completed", task="sync", group="etl", seconds=1),
    record(31, "Cancelled", task="sync", group="etl", seconds=2),
]


def test_summary_counts_and_failures() -> None:
    summary = summarise(RECORDS, T0, T0 + timedelta(days=2))
    assert summary.by_state == {"Completed": 2, "Failed": 1, "TimedOut": 1, "Cancelled": 1}
    assert [r.run_name for r in summary.failures] == ["run-1", "run-2"] and summary.succeeded == 2


def test_statistics_per_task_group_overall() -> None:
    stats = compute_stats(RECORDS, T0, T0 + timedelta(days=2))
    assert (stats.overall.runs, stats.overall.successes, stats.overall.failures, stats.overall.cancelled) == (
        5,
        2,
        2,
        1,
    )
    assert stats.overall.success_rate == 40.0 and stats.overall.runs_per_day == 2.5
    assert stats.overall.avg_duration == 15.0 and stats.overall.p95_duration == 60
    assert stats.overall.p50_duration == 5 and stats.per_task["sync"].p50_duration == 1
    assert stats.per_task["sync"].runs == 2 and stats.per_group["ops"].failures == 2
    assert stats.per_day == {
        "2024-03-01": {"Completed": 1, "Failed": 1, "TimedOut": 1},
        "2024-03-02": {"Completed": 1, "Cancelled": 1},
    }
    assert percentile([5, 1, 3], 50) == 3 and percentile([], 95) is None
    assert compute_stats(RECORDS, T0 + timedelta(days=1), T0 + timedelta(days=2)).overall.runs == 2


def test_rows_and_templates_can_be_replaced(tmp_path: Path) -> None:
    env = template_environment(MESSAGE_TEMPLATE_DIR)
    rows = table_rows(RECORDS[:2], DEFAULT_COLUMNS, env)
    assert list(rows[0]) == list(DEFAULT_COLUMNS)
    assert (
        rows[1]["State"] == "Failed"
        and rows[1]["Start"] == "2024-03-01 13:00:00Z"
        and rows[1]["Duration (s)"] == "7.0"
    )
    custom = table_rows(RECORDS[:1], {"Run id": "{{ run.run_id }}", "What": "{{ run.task | upper }}"}, env)
    assert custom == [{"Run id": RECORDS[0].run_id, "What": "BACKUP"}]

    summary = summarise(RECORDS, T0, T0 + timedelta(days=2))
    default = render_template(
        env,
        "mattermost.md.j2",
        summary=summary,
        title="Report",
        report_url=None,
        confluence_url=None,
        max_failures=1,
    )
    assert (
        "5 runs" in default and "**Failed** 1" in default and "[run-1](http://ui/runs/flow-run/1)" in default
    )
    assert "… and 1 more" in default
    (tmp_path / "mattermost.md.j2").write_text("{{ summary.total }} runs, {{ summary.failed }} failed")
    mine = template_environment(MESSAGE_TEMPLATE_DIR, tmp_path)
    assert render_template(mine, "mattermost.md.j2", summary=summary) == "5 runs, 2 failed\n"
    assert "# Report" in render_template(
        mine,
        "report.md.j2",
        summary=summary,
        title="Report",
        targets={"excel": "x"},
        stats_markdown="",
        max_failures=5,
    )


def test_workbook_has_runs_stats_and_charts(tmp_path: Path) -> None:
    from integrations.report import chart_durations, chart_runs_per_day

    stats = compute_stats(RECORDS, T0, T0 + timedelta(days=2))
    charts = [chart_runs_per_day(stats, tmp_path / "a.png"), chart_durations(RECORDS, tmp_path / "b.png")]
    report = write_report_xlsx(RECORDS, tmp_path / "out" / "r.xlsx", stats=stats, charts=charts)
    book = load_workbook(report.path)
    assert book.sheetnames == ["Runs", "Stats", "Charts"]
    runs = list(book["Runs"].iter_rows(min_row=2, values_only=True))
    assert len(runs) == 5 and runs[2][4] == "TimedOut" and runs[2][7] == 60
    assert book["Runs"]["J2"].hyperlink.target == "http://ui/runs/flow-run/0"
    assert [r[:3] for r in book["Stats"].iter_rows(min_row=2, max_row=2, values_only=True)] == [
        ("overall", "all", 5)
    ]
    assert len(book["Charts"]._images) == 2


def test_results_table_is_created_then_upserted_by_run_id() -> None:
    from integrations.confluence import ConfluencePages, make_confluence_client, read_table
    from tasklane.stack.peers._server import serve
    from tasklane.stack.peers.confluence import FakeConfluence

    fake = FakeConfluence()
    fake.add_page("77", "Results", "<p>intro</p>")
    env = template_environment(MESSAGE_TEMPLATE_DIR)
    with serve(fake.app) as url:
        pages = ConfluencePages(make_confluence_client(url, "bot", "bot-password"))
        headers = list(DEFAULT_COLUMNS)
        first = upsert_results(pages, "77", "Runs", headers, table_rows(RECORDS[:3], DEFAULT_COLUMNS, env))
        again = upsert_results(pages, "77", "Runs", headers, table_rows(RECORDS[1:], DEFAULT_COLUMNS, env))
    assert first["appended"] == 3 and again["appended"] == 2 and again["updated"] == 0
    rows = read_table(fake.body("77"), "Runs").rows
    assert [r["Run id"] for r in rows] == [r.run_id for r in RECORDS]
    assert fake.body("77").startswith("<p>intro</p><h2>Runs</h2>")
