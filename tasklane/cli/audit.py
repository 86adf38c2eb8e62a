"""`tasklane audit`: who changed what, from the CLI, the REST API or the chat bot, newest first.

The same events as the API's `GET /api/scheduler/audit` (`tasklane.tasks.audit.read_audit`).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tasklane.cli._shared import console, prefect_client, run_reporting_errors, since_or_exit, when
from tasklane.settings import get_settings

app = typer.Typer()


@app.command(name="audit")
def audit_command(
    task: Annotated[str | None, typer.Option("--task", "-t", help="Only this task's events.")] = None,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor", "-a", help="Only this actor's: os:USER (CLI), token:NAME (API), chat:USER; os:* any."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="ISO date-time or a duration back ('7d', the default).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=1000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="The events as JSON.")] = False,
) -> None:
    """The audit trail: time, actor, action, task, outcome and the task's definition before -> after."""
    settings = get_settings()
    start = since_or_exit(since)

    async def go():
        from tasklane.tasks.audit import read_audit

        async with prefect_client() as client:
            return await read_audit(
                client, settings.project, since=start, task=task, actor=actor, limit=limit
            )

    rows = run_reporting_errors(go())
    if as_json:
        payload = [{**row, "occurred": row["occurred"].isoformat()} for row in rows]
        console.print_json(json.dumps(payload, default=str, ensure_ascii=False))
        return
    from tasklane.tasks.audit import describe_diff

    if not rows:
        console.print("no audit events" + (f" since {when(start)}" if start else " in the last 7 days"))
        return
    for row in rows:
        where = row["task"] or row["resource"]
        line = f"{when(row['occurred'])}  {row['actor'] or '-'}  {row['action']}  {where}  {row['result']}"
        console.print(line, highlight=False, markup=False)
        details = describe_diff(row["diff"])
        if not details and row["change"] not in (None, {}):
            details = [json.dumps(row["change"], default=str, ensure_ascii=False)[:300]]
        for detail in details:
            console.print(f"    {detail}", highlight=False, markup=False)
