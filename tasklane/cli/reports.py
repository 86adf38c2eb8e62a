"""`tasklane stats` and `tasklane report`: statistics of runs, and the report published now."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml

from tasklane.cli._shared import GroupOpt, console, prefect_client, run_reporting_errors

app = typer.Typer()


@app.command()
def stats(
    days: Annotated[int, typer.Option("--days", "-d", help="The last N days.")] = 7,
    task: Annotated[str | None, typer.Option("--task", "-t")] = None,
    group: GroupOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Write PNG charts into this directory.")
    ] = None,
) -> None:
    """Runs, successes, failures, success rate, average/p95 duration and runs per day."""
    from integrations.report import chart_runs_per_day, day_window, stats_markdown

    since, until = day_window(days)

    async def go():
        from tasklane.history.stats import task_stats

        async with prefect_client() as client:
            return await task_stats(client, since, until, task=task, group=group)

    result = run_reporting_errors(go())
    if as_json:
        sys.stdout.write(result.to_json(indent=2) + "\n")
    else:
        console.print(stats_markdown(result), highlight=False, markup=False)
    if charts:
        charts.mkdir(parents=True, exist_ok=True)
        chart_runs_per_day(result, charts / "runs-per-day.png")
        console.print(f"wrote {charts / 'runs-per-day.png'}")


@app.command()
def report(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Collect and render, publish nothing.")] = False,
) -> None:
    """Publish the runs finished since the last report to the configured targets, now."""
    from flows.report import report_flow

    outcome = run_reporting_errors(report_flow(dry_run=dry_run))
    console.print(yaml.safe_dump(outcome, sort_keys=False, default_flow_style=False)[:4000], highlight=False)
