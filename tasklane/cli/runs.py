"""Runs: `tasklane history`, `logs`, `cancel`, `explain`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.table import Table

from tasklane.cli._shared import (
    GroupOpt,
    cli_audited,
    console,
    prefect_client,
    run_reporting_errors,
    since_or_exit,
    when,
)

app = typer.Typer()


@app.command()
def cancel(run_or_task: Annotated[str, typer.Argument(help="A flow run id, or a task name.")]) -> None:
    """Stop a run (or every due or running run of a task); a shell job's processes are killed."""

    async def go():
        from tasklane.tasks.manage import cancel as cancel_runs

        async with prefect_client() as client:
            # A run id names its task only through the run's deployment: until then, the run.
            is_run = _is_uuid(run_or_task)
            task, resource = (None, f"tasklane.run.{run_or_task}") if is_run else (run_or_task, None)
            change = {"cancel": run_or_task}
            audit = cli_audited(client, "task.cancelled", task, resource=resource, change=change)
            async with audit as record:
                runs = await cancel_runs(client, run_or_task)
                record["result"] = f"ok; {len(runs)} run(s): {', '.join(r.name for r in runs) or '-'}"[:500]
                if is_run and runs and runs[0].deployment_id is not None:
                    deployment = await client.read_deployment(runs[0].deployment_id)
                    record.update(task=deployment.name, deployment_id=deployment.id)
            return runs

    runs = run_reporting_errors(go())
    console.print(f"cancelling {len(runs)} run(s): {', '.join(r.name for r in runs) or '-'}")


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


@app.command()
def explain(run_or_task: Annotated[str, typer.Argument(help="A flow run id, or a task name.")]) -> None:
    """Why a run is waiting or late: which limit is full, which queue, whether a worker polls."""

    async def go():
        from tasklane.tasks.manage import explain as explain_run

        async with prefect_client() as client:
            return await explain_run(client, run_or_task)

    console.print(run_reporting_errors(go()).sentence, highlight=False)


@app.command()
def history(
    task: Annotated[str | None, typer.Option("--task", "-t")] = None,
    group: GroupOpt = None,
    state: Annotated[
        str | None, typer.Option("--state", "-s", help="Completed, Failed, TimedOut, done...")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO date-time or '7d'.")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 50,
) -> None:
    """Runs of the tasks, newest first, filtered by task, group, state and time."""

    async def go():
        from tasklane.history.runs import history as read_history

        async with prefect_client() as client:
            window = since_or_exit(since), since_or_exit(until)
            return await read_history(client, task, group, state, *window, limit)

    records = run_reporting_errors(go())
    table = Table("task", "run", "state", "start", "duration", "message")
    for r in records:
        duration = f"{r.duration:.1f}s" if r.duration is not None else "-"
        table.add_row(r.task, r.run_id, r.state, when(r.start), duration, (r.message or "")[:60])
    console.print(table)


@app.command()
def logs(
    run_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    grep: Annotated[str | None, typer.Option("--grep")] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="Minimum level: DEBUG, INFO, WARNING...")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Export to this file.")] = None,
) -> None:
    """A run's logs: search, follow live, or export to a file."""

    async def go():
        from tasklane.history.logs import export_logs, follow_logs, format_log, read_run_logs

        async with prefect_client() as client:
            if output is not None:
                count = await export_logs(client, run_id, output, grep=grep, level=level)
                console.print(f"wrote {count} lines to {output}")
            elif follow:
                await follow_logs(
                    client,
                    run_id,
                    lambda line: console.print(line, markup=False, highlight=False),
                    grep=grep,
                    level=level,
                )
            else:
                for log in await read_run_logs(client, run_id, grep=grep, level=level):
                    console.print(format_log(log), markup=False, highlight=False)

    run_reporting_errors(go())
