"""`tasklane stats` and `tasklane report`: statistics of runs, and the report published now."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml
from rich.table import Table

from tasklane.cli._shared import GroupOpt, console, err, prefect_client, run_reporting_errors

if TYPE_CHECKING:
    from integrations.report import Figures, Stats

app = typer.Typer()


STATS_COLUMNS = ("runs", "ok", "failed", "cancelled", "success", "avg s", "p95 s", "runs/day")


def _figure_cells(figures: Figures) -> list[str]:
    def number(value: float | None, unit: str = "") -> str:
        return "-" if value is None else f"{value:.1f}{unit}"

    return [
        str(figures.runs),
        str(figures.successes),
        str(figures.failures),
        str(figures.cancelled),
        number(figures.success_rate, "%"),
        number(figures.avg_duration),
        number(figures.p95_duration),
        f"{figures.runs_per_day:.2f}",
    ]


def stats_tables(stats: Stats) -> list[Table]:
    """The statistics as rich tables: all runs, per group, per task."""
    window = f"{stats.since:%Y-%m-%d %H:%M} – {stats.until:%Y-%m-%d %H:%M} UTC"
    tables = []
    for title, scope, rows in (
        (f"Task statistics {window}", "scope", {"all": stats.overall}),
        ("Per group", "group", stats.per_group),
        ("Per task", "task", stats.per_task),
    ):
        table = Table(scope, *STATS_COLUMNS, title=title, title_justify="left")
        for column in table.columns[1:]:
            column.justify = "right"
        for name, figures in rows.items():
            table.add_row(name, *_figure_cells(figures))
        tables.append(table)
    return tables


@app.command()
def stats(
    days: Annotated[int, typer.Option("--days", "-d", min=1, help="The last N days.")] = 7,
    task: Annotated[str | None, typer.Option("--task", "-t")] = None,
    group: GroupOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (keys below).")] = False,
    as_markdown: Annotated[
        bool, typer.Option("--markdown", help="Markdown tables (as the report's artifact).")
    ] = False,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Write PNG charts into this directory.")
    ] = None,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Read every ended run into the run ledger again first (it keeps itself current).",
        ),
    ] = False,
) -> None:
    """Runs, successes, failures, success rate, average/p95 duration and runs per day, over the
    runs that ended in the last N days (today included), overall, per group and per task.

    Runs per day count the days a task existed in the window (from its deployment's creation);
    a group's and the whole's, from their oldest task's.

    --json prints one object: since, until (ISO 8601, UTC); overall, per_task {name: figures},
    per_group {name: figures}, where figures are runs, successes, failures, cancelled,
    success_rate (percent or null), avg_duration, p50_duration, p95_duration (seconds or null), runs_per_day,
    by_state {state name: runs}; per_day {YYYY-MM-DD: {state name: runs}}.

    The figures come from the run ledger, a local copy of every ended run's state and times that
    keeps itself current from the server (--rebuild reads it again from scratch).
    """
    from integrations.report import chart_runs_per_day, day_window, stats_markdown

    if as_json and as_markdown:
        err.print("[red]error:[/red] --json or --markdown, not both")
        raise typer.Exit(2)
    since, until = day_window(days)

    async def go():
        from tasklane.history.ledger import ledger_for
        from tasklane.history.ledger import rebuild as rebuild_ledger
        from tasklane.history.stats import task_stats

        async with prefect_client() as client:
            if rebuild:
                held = await rebuild_ledger(client, ledger_for(client))
                err.print(f"rebuilt the run ledger: {held} ended runs")
            return await task_stats(client, since, until, task=task, group=group)

    result = run_reporting_errors(go())
    if as_json:
        sys.stdout.write(result.to_json(indent=2) + "\n")
    elif as_markdown:
        console.print(stats_markdown(result), highlight=False, markup=False)
    else:
        for table in stats_tables(result):
            console.print(table)
    if charts:
        charts.mkdir(parents=True, exist_ok=True)
        chart_runs_per_day(result, charts / "runs-per-day.png")
        # Beside --json, on stderr: stdout is the JSON alone.
        (err if as_json else console).print(f"wrote {charts / 'runs-per-day.png'}")


@app.command()
def report(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Collect and render, publish nothing.")] = False,
) -> None:
    """Publish the runs finished since the last report to the configured targets, now."""
    from flows.report import report_flow

    outcome = run_reporting_errors(report_flow(dry_run=dry_run))
    console.print(yaml.safe_dump(outcome, sort_keys=False, default_flow_style=False)[:4000], highlight=False)
