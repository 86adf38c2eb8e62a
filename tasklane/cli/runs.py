"""Runs: `tasklane history`, `upcoming`, `logs`, `cancel`, `explain`.

A run is named by its id, its name (as `tasklane run` prints it and Prefect's UI shows it) or
its task's name (`tasklane.history.runs.resolve_run`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tasklane.cli._shared import (
    GroupOpt,
    cli_audited,
    console,
    err,
    prefect_client,
    run_reporting_errors,
    since_or_exit,
    when,
)
from tasklane.history.statuses import state_words_help

app = typer.Typer()

RunArg = Annotated[
    str,
    typer.Argument(
        metavar="RUN",
        help="A run id, a run name (as `tasklane run` prints it), or a task name (its latest started run).",
    ),
]


@app.command()
def cancel(
    run_or_task: Annotated[
        str,
        typer.Argument(
            metavar="RUN",
            help="A run id or run name, or a task name (every due or running run of the task).",
        ),
    ],
) -> None:
    """Stop a run (or every due or running run of a task); a shell job's processes are killed."""

    async def go():
        from tasklane.history.runs import find_run
        from tasklane.tasks.manage import cancel as cancel_runs

        async with prefect_client() as client:
            # A run names its task only through its deployment: until that is read, the run.
            flow_run = await find_run(client, run_or_task)
            task, resource = (None, f"tasklane.run.{flow_run.id}") if flow_run else (run_or_task, None)
            change = {"cancel": run_or_task}
            audit = cli_audited(client, "task.cancelled", task, resource=resource, change=change)
            async with audit as record:
                runs = await cancel_runs(client, str(flow_run.id) if flow_run else run_or_task)
                record["result"] = f"ok; {len(runs)} run(s): {', '.join(r.name for r in runs) or '-'}"[:500]
                if flow_run is not None and flow_run.deployment_id is not None:
                    deployment = await client.read_deployment(flow_run.deployment_id)
                    record.update(task=deployment.name, deployment_id=deployment.id)
            return flow_run, runs

    flow_run, runs = run_reporting_errors(go())
    if flow_run is not None and not runs:
        state = flow_run.state_name or "without state"
        console.print(f"run {flow_run.name} is {state}: nothing to cancel", highlight=False)
        return
    console.print(f"cancelling {len(runs)} run(s): {', '.join(r.name for r in runs) or '-'}", highlight=False)


@app.command()
def explain(
    run_or_task: Annotated[
        str,
        typer.Argument(
            metavar="RUN",
            help="A run id or run name, or a task name (its run waiting longest).",
        ),
    ],
) -> None:
    """Why a run is waiting or late: which limit is full, which queue, whether a worker polls."""

    async def go():
        from tasklane.tasks.manage import explain as explain_run

        async with prefect_client() as client:
            return await explain_run(client, run_or_task)

    console.print(run_reporting_errors(go()).sentence, highlight=False)


# `tasklane history --json`: one object per run, these keys in this order.
HISTORY_JSON_KEYS = {
    "id": "the run's id",
    "name": "the run's name",
    "task": "its task",
    "group": "the task's group (null: none)",
    "state": "Prefect's state name (Completed, Failed, TimedOut, Late, ...)",
    "state_type": "Prefect's state type (COMPLETED, FAILED, SCHEDULED, ...)",
    "status": "the REST API's status word (success, failed, running, pending, cancelled)",
    "start": "when it started, ISO 8601 (null: it never started)",
    "end": "when it ended (null: it has not)",
    "duration": "seconds from start to end (null: not both)",
    "message": "the state's message",
    "link": "the run in Prefect's UI",
}


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def _history_row(record) -> dict[str, Any]:
    from prefect.client.schemas.objects import StateType

    from tasklane.history.statuses import SCHEDULER_STATUS, status_of_state

    kind = StateType(record.state_type) if record.state_type in StateType.__members__ else None
    row = {
        "id": record.run_id,
        "name": record.run_name,
        "task": record.task,
        "group": record.group,
        "state": record.state,
        "state_type": record.state_type,
        "status": SCHEDULER_STATUS[status_of_state(record.state, kind)],
        "start": _iso(record.start),
        "end": _iso(record.end),
        "duration": record.duration,
        "message": record.message,
        "link": record.link,
    }
    assert list(row) == list(HISTORY_JSON_KEYS)  # the documented keys are the printed ones
    return row


def _keys_help() -> str:
    return "\n".join(f"  {key:<10}  {meaning}" for key, meaning in HISTORY_JSON_KEYS.items())


HISTORY_HELP = f"""The past runs of the tasks, newest first (by expected start): finished, running, due
and late runs; runs still to come are `tasklane upcoming`'s.

A run's name or id works with `tasklane logs`, `cancel` and `explain`.

\b
--state takes one of these words (any case), each the Prefect states it means:
{state_words_help()}

\b
--json prints a JSON list, one object per run, with these keys:
{_keys_help()}
"""


@app.command(help=HISTORY_HELP)
def history(
    task: Annotated[str | None, typer.Option("--task", "-t")] = None,
    group: GroupOpt = None,
    state: Annotated[
        str | None,
        typer.Option("--state", "-s", help="finished, success, failed, running, pending, ... (below)."),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO date-time or '7d'.")] = None,
    until: Annotated[str | None, typer.Option("--until")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list (keys below).")] = False,
) -> None:
    async def go():
        from tasklane.history.runs import history as read_history
        from tasklane.history.statuses import state_word

        word = state_word(state) if state is not None else None
        async with prefect_client() as client:
            return await read_history(
                client,
                task,
                group,
                state_names=(word.names or None) if word else None,
                state_types=(word.types or None) if word else None,
                since=since_or_exit(since),
                until=since_or_exit(until),
                limit=limit,
            )

    records = run_reporting_errors(go())
    if as_json:
        sys.stdout.write(json.dumps([_history_row(r) for r in records], indent=2) + "\n")
        return
    if not records:
        console.print("no runs (runs still to come: tasklane upcoming)", highlight=False)
        return
    table = Table("task", "run", "id", "state", "start", "duration", "message")
    for r in records:
        duration = f"{r.duration:.1f}s" if r.duration is not None else "-"
        message = (r.message or "")[:60]
        table.add_row(r.task, r.run_name, r.run_id, r.state, when(r.start), duration, message)
    console.print(table)


@app.command()
def upcoming(
    task: Annotated[str | None, typer.Option("--task", "-t")] = None,
    group: GroupOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="A JSON list: id, name, task, group, state, due (UTC, ISO 8601), timezone, link."
        ),
    ] = False,
) -> None:
    """The runs still to come, soonest first, each at its time in the zone of the schedule that
    made it (UTC when none is known)."""

    async def go():
        from tasklane.history.runs import upcoming as read_upcoming

        async with prefect_client() as client:
            return await read_upcoming(client, task, group, limit)

    runs = run_reporting_errors(go())
    if as_json:
        rows = [
            {
                "id": r.run_id,
                "name": r.run_name,
                "task": r.task,
                "group": r.group,
                "state": r.state,
                "due": _iso(r.due),
                "timezone": r.timezone,
                "link": r.link,
            }
            for r in runs
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    if not runs:
        console.print("no runs to come", highlight=False)
        return
    table = Table("task", "run", "due", "state")
    for r in runs:
        table.add_row(r.task, r.run_name, when(r.due, r.timezone), r.state)
    console.print(table)


@app.command()
def logs(
    run: RunArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    grep: Annotated[str | None, typer.Option("--grep")] = None,
    level: Annotated[
        str | None, typer.Option("--level", help="Minimum level: DEBUG, INFO, WARNING...")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Export to this file.")] = None,
) -> None:
    """A run's logs: search, follow live, or export to a file."""

    async def go():
        from tasklane.history.logs import (
            export_logs,
            follow_logs,
            format_log,
            level_number,
            read_run_logs,
        )
        from tasklane.history.runs import resolve_run

        level_number(level)  # a bad level is said before anything is read
        async with prefect_client() as client:
            flow_run = await resolve_run(client, run)
            if run.strip() != str(flow_run.id):
                # Named by name or task: say which run this is (on stderr; stdout stays the logs).
                err.print(
                    f"run {flow_run.name} ({flow_run.id}), {flow_run.state_name or 'without state'}",
                    highlight=False,
                    markup=False,
                )
            if output is not None:
                count = await export_logs(client, flow_run.id, output, grep=grep, level=level)
                console.print(f"wrote {count} lines to {output}")
            elif follow:
                await follow_logs(
                    client,
                    flow_run.id,
                    lambda line: console.print(line, markup=False, highlight=False),
                    grep=grep,
                    level=level,
                )
            else:
                for log in await read_run_logs(client, flow_run.id, grep=grep, level=level):
                    console.print(format_log(log), markup=False, highlight=False)

    run_reporting_errors(go())
