"""Tasks on the server: `tasklane list`, `show`, `enable`, `disable`, `delete`, `clone`,
`export`, `run`."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
import yaml
from rich.table import Table

from deployments.policy import POLICY_SOURCE_LABEL, describe_run_policy
from tasklane.cli._shared import (
    GroupOpt,
    NameArg,
    audit_each,
    cli_audited,
    console,
    err,
    prefect_client,
    run_reporting_errors,
    target_of,
)
from tasklane.settings import get_settings

if TYPE_CHECKING:
    from tasklane.tasks.lookup import TaskRow

# States a run is put back in when it cannot start yet: `run --wait` says why (`explain`).
WAIT_STATE_NAMES = frozenset({"AwaitingConcurrencySlot", "Late"})

app = typer.Typer()


def local_time(value: datetime | None) -> str:
    """A time as the task's zone shows it, with the zone's offset: `2026-05-01 02:00 +08:00`,
    `2026-05-01 02:00 UTC` (`-` for none)."""
    if value is None:
        return "-"
    offset = value.strftime("%z")
    zone = "UTC" if offset in ("", "+0000", "-0000") else f"{offset[:3]}:{offset[3:]}"
    return f"{value:%Y-%m-%d %H:%M} {zone}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def row_json(row: TaskRow) -> dict[str, Any]:
    """A row of `tasklane list --json` (its keys are listed in the command's help)."""
    return {
        "name": row.name,
        "type": row.type,
        "group": row.group,
        "priority": row.priority,
        "enabled": row.enabled,
        "schedule": row.schedule,
        "timezone": row.timezone,
        "next_run": _iso(row.next_run),
        "last_state": row.last_state,
        "last_ended": _iso(row.last_run),
        "running_state": row.running_state,
        "running_since": _iso(row.running_since),
        "deployment_id": str(row.deployment_id),
    }


def _in_flight(row: TaskRow) -> str:
    return f"{row.running_state} since {local_time(row.running_since)}" if row.running_state else "-"


def _outcome(row: TaskRow) -> str:
    """The last outcome and when it ended; a run in flight on a line of its own below it."""
    text = f"{row.last_state} {local_time(row.last_run)}" if row.last_state else "-"
    return text + (f"\n{_in_flight(row)}" if row.running_state else "")


@app.command(name="list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list of the rows (keys below).")] = False,
) -> None:
    """Tasks on the server: type, group, priority, schedule, next run, last outcome.

    The last outcome is the state of the latest run that ended (Completed, Failed, TimedOut,
    Crashed, Cancelled, ...) and when it ended; a run still pending or running is shown below it
    ("Running since ..."), never instead of it. Schedules read as the catalog writes them; times
    are in the zone of the task's schedule, with its UTC offset.

    --json prints a list of objects with the keys: name, type, group, priority, enabled (bool),
    schedule (as the catalog writes it), timezone (IANA), next_run, last_state, last_ended,
    running_state, running_since (ISO 8601 with the zone's offset, or null), deployment_id.
    """
    settings = get_settings()

    async def go():
        from tasklane.tasks.lookup import list_tasks

        async with prefect_client() as client:
            return await list_tasks(client, target_of(settings))

    rows = run_reporting_errors(go())
    if as_json:
        sys.stdout.write(json.dumps([row_json(row) for row in rows], indent=2, ensure_ascii=False) + "\n")
        return
    table = Table("name", "type", "group", "priority", "schedule", "next run", "last outcome")
    for row in rows:
        table.add_row(
            row.name + ("" if row.enabled else " (disabled)"),
            row.type or "-",
            row.group or "-",
            row.priority or "-",
            row.schedule,
            local_time(row.next_run),
            _outcome(row),
        )
    console.print(table, highlight=False)


@app.command()
def show(name: str) -> None:
    """One task: its deployment, parameters, schedules, last outcome and recent runs."""
    settings = get_settings()

    async def go():
        from tasklane.tasks.lookup import show_task
        from tasklane.tasks.manage import downstream_of

        async with prefect_client() as client:
            detail = await show_task(client, name, timezone=settings.timezone)
            return detail, await downstream_of(client, name)

    detail, downstream = run_reporting_errors(go())
    row, deployment = detail.row, detail.deployment
    zone = ZoneInfo(row.timezone)
    console.print(f"[bold]{row.name}[/bold]  ({row.type}, group {row.group}, priority {row.priority})")
    if deployment.description:
        console.print(deployment.description)
    console.print(f"deployment: {deployment.id}  queue: {deployment.work_queue_name}  enabled: {row.enabled}")
    next_run = f"{local_time(row.next_run)} ({row.timezone})" if row.next_run else "-"
    console.print(f"schedule: {row.schedule}   next run: {next_run}", highlight=False)
    last = f"{row.last_state} (ended {local_time(row.last_run)})" if row.last_state else "- (none ended yet)"
    console.print(f"last state: {last}   in flight: {_in_flight(row)}", highlight=False)
    upstream = [t.split(":", 1)[1] for t in deployment.tags if t.startswith("upstream:")]
    console.print(f"runs after: {', '.join(upstream) or '-'}   runs before: {', '.join(downstream) or '-'}")
    # The effective timeout and retries, and whether the task or settings `execution` set them.
    policy = (deployment.parameters or {}).get("policy") or {}
    for line in describe_run_policy(policy, (deployment.labels or {}).get(POLICY_SOURCE_LABEL)):
        console.print(line, highlight=False)
    console.print("parameters:")
    console.print(yaml.safe_dump(deployment.parameters, sort_keys=False).rstrip(), highlight=False)
    if detail.recent_runs:
        table = Table("run", "id", "state", "started", "duration")
        for run in detail.recent_runs:
            started = run.start_time.astimezone(zone) if run.start_time else None
            table.add_row(
                run.name,
                str(run.id),
                run.state_name or "-",
                local_time(started),
                f"{run.total_run_time.total_seconds():.1f}s",
            )
        console.print(table)


def _set_enabled(name: str | None, group: str | None, enabled: bool) -> None:
    settings = get_settings()

    async def go():
        from functools import partial

        from tasklane.tasks.manage import set_enabled, tasks_by_name_or_group

        async with prefect_client() as client:
            found = await tasks_by_name_or_group(client, target_of(settings), name, group)
            action = "task.enabled" if enabled else "task.disabled"
            switch = partial(set_enabled, client, enabled=enabled)
            return found, await audit_each(client, action, found, switch, change={"enabled": enabled})

    found, changed = run_reporting_errors(go())
    word = "enabled" if enabled else "disabled"
    console.print(f"{word}: {', '.join(changed) or 'nothing (already ' + word + ')'} ({len(found)} matched)")


@app.command()
def enable(name: NameArg = None, group: GroupOpt = None) -> None:
    """Resume a task's (or a group's) schedules and triggers."""
    _set_enabled(name, group, True)


@app.command()
def disable(name: NameArg = None, group: GroupOpt = None) -> None:
    """Pause a task's (or a group's) schedules without deleting them; manual runs still work."""
    _set_enabled(name, group, False)


@app.command()
def delete(
    name: NameArg = None,
    group: GroupOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete a task (or a group): it goes to the trash for `trash.retention_days`, where
    `tasklane trash restore NAME` brings it back as the same task (schedules, runs, history)."""
    settings = get_settings()
    target = target_of(settings)

    async def find():
        from tasklane.tasks.manage import tasks_by_name_or_group
        from tasklane.tasks.trash import dependents

        async with prefect_client() as client:
            found = await tasks_by_name_or_group(client, target, name, group)
            return found, await dependents(client, found, target)

    found, downstream = run_reporting_errors(find())
    names = ", ".join(d.name for d in found)
    for upstream, others in downstream.items():
        them = "it" if len(others) == 1 else "them"
        console.print(
            f"warning: {', '.join(others)} depend{'s' if len(others) == 1 else ''} on {upstream}: "
            f"{upstream}'s runs will not trigger {them} while it is in the trash",
            highlight=False,
        )
    if not yes and not typer.confirm(f"delete {len(found)} task(s): {names}?"):
        raise typer.Exit(1)

    async def go():
        from tasklane.tasks.trash import trash_tasks

        async with prefect_client() as client:

            async def trash(one):
                return (await trash_tasks(client, one, target)).names

            return await audit_each(client, "task.deleted", found, trash)

    deleted = run_reporting_errors(go())
    days = f"{settings.trash.retention_days:g}"
    console.print(
        f"deleted: {', '.join(deleted)} (in the trash for {days} days: `tasklane trash restore NAME` "
        "brings one back)",
        highlight=False,
    )


@app.command()
def clone(name: str, new_name: str) -> None:
    """Copy a task under a new name (same type, parameters, schedules, queue)."""

    async def go():
        from tasklane.tasks.manage import clone_task

        async with prefect_client() as client:
            async with cli_audited(client, "task.cloned", new_name, change={"from": name}) as record:
                record["deployment_id"] = await clone_task(client, name, new_name)
            return record["deployment_id"]

    console.print(f"cloned {name} as {new_name} ({run_reporting_errors(go())})")


@app.command()
def detach(name: str) -> None:
    """Take a task over from the catalog file that defines it: from now on it is changed through
    the API (or the CLI), and `apply` reports the file's entry as a conflict until it is removed."""
    settings = get_settings()

    async def go():
        from deployments.ownership import API_HOME, describe_home
        from tasklane.tasks.manage import detach_task

        async with prefect_client() as client:
            async with cli_audited(client, "task.detached", name) as record:
                before = await detach_task(client, name, target_of(settings))
                record["change"] = {"home": {"before": before, "after": API_HOME}}
            return describe_home(before)

    console.print(f"detached {name} from {run_reporting_errors(go())}: the API owns it now")


@app.command()
def export(
    group: GroupOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """The catalog YAML of the tasks the server holds."""
    settings = get_settings()

    async def go():
        from tasklane.tasks.manage import export_tasks

        async with prefect_client() as client:
            return await export_tasks(client, target_of(settings), group)

    text = yaml.safe_dump(run_reporting_errors(go()), sort_keys=False, allow_unicode=True)
    if output:
        output.write_text(text)
        console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


def _parse_params(params: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            err.print(f"[red]error:[/red] --param {item!r} is not KEY=VALUE")
            raise typer.Exit(2)
        overrides[key] = yaml.safe_load(raw) if raw else ""
    return overrides


@app.command()
def run(
    name: str,
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=VALUE (YAML value).")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stream the logs; exit with the run's outcome.")
    ] = False,
) -> None:
    """Run a task now (alone: its dependencies are not involved)."""
    overrides = _parse_params(param or [])

    async def go():
        from tasklane.history.logs import follow_run
        from tasklane.tasks.lookup import run_task
        from tasklane.tasks.manage import explain

        async with prefect_client() as client:
            change = {"run": True, "overrides": overrides} if overrides else {"run": True}
            async with cli_audited(client, "task.run", name, change=change) as record:
                flow_run = await run_task(client, name, overrides)
                record.update(deployment_id=flow_run.deployment_id, result=f"ok; run {flow_run.id}")
            console.print(f"created run {flow_run.name} ({flow_run.id})", highlight=False)
            if not wait:
                return flow_run

            worker_lines: set[str] = set()

            def show_log(log) -> None:
                if log.message.startswith("Aborted submission of flow run"):
                    return  # the worker's word for "it must wait": show_wait says why, once
                if log.message.startswith("Worker '"):
                    if log.message in worker_lines:
                        return  # a waiting run is submitted again every few seconds: say it once
                    worker_lines.add(log.message)
                stamp = log.timestamp.strftime("%H:%M:%S")
                console.print(f"{stamp} {log.message}", highlight=False, markup=False)

            explained: set[str] = set()

            async def show_wait(current) -> None:
                # A run that has to wait (its task's limit, a full pool...) goes back to a
                # Scheduled state; say why in the words of `tasklane explain`, once per reason.
                state = current.state
                if state.name not in WAIT_STATE_NAMES or state.name in explained:
                    return  # a waiting run is tried again every few seconds: say it once
                explained.add(state.name)
                sentence = (await explain(client, str(current.id))).sentence
                stamp = datetime.now().strftime("%H:%M:%S")
                console.print(f"{stamp} waiting: {sentence}", highlight=False, markup=False)

            return await follow_run(client, flow_run.id, on_log=show_log, on_state=show_wait)

    flow_run = run_reporting_errors(go())
    if wait:
        state = flow_run.state
        console.print(f"{name}: {state.name if state else '?'} {state.message or '' if state else ''}")
        raise typer.Exit(0 if state and state.is_completed() else 1)
