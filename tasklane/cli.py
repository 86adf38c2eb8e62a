"""`tasklane`: validate and apply the task catalog, list, show and run tasks, run the stack.

It talks to the Prefect server that Prefect's own settings name (PREFECT_API_URL, the
project's prefect.toml written by `tasklane up`, or the active profile).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from deployments.apply import Target
from deployments.catalog import Catalog, load_catalog
from deployments.errors import DeploymentsError
from deployments.pool import PoolSpec
from tasklane.settings import Settings, get_settings

app = typer.Typer(
    help="Tasklane: a task catalog on Prefect 3.", no_args_is_help=True, pretty_exceptions_enable=False
)
# Wide when piped, so tables and messages are not folded at 80 columns in logs and tests.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
T = TypeVar("T")

PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Catalog files or directories (default: the settings' catalog)."),
]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn the errors a user can act on into one clear line."""
    try:
        return asyncio.run(coro)
    except DeploymentsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        from prefect.settings import PREFECT_API_URL

        err.print(
            f"[red]error:[/red] cannot reach the Prefect server at {PREFECT_API_URL.value()} ({exc}); "
            "is `make up` running?",
            highlight=False,
        )
        raise typer.Exit(3) from None


def _target(settings: Settings) -> Target:
    return Target(work_pool=settings.pool.name, timezone=settings.timezone, project=settings.project)


def _pool(settings: Settings) -> PoolSpec:
    return PoolSpec(settings.pool.name, settings.pool.concurrency, dict(settings.pool.queues))


def _load(paths: list[Path] | None, settings: Settings) -> Catalog:
    try:
        if paths:
            return load_catalog(paths, required=True)
        return load_catalog(list(settings.catalog), required=False)
    except DeploymentsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _client():
    from prefect.client.orchestration import get_client

    return get_client()


@app.command()
def validate(paths: PathsArg = None) -> None:
    """Check the catalog; print every problem with its file, task and field."""
    catalog = _load(paths, get_settings())
    console.print(f"ok: {len(catalog.tasks)} tasks in {len(catalog.files)} files")


@app.command(name="apply")
def apply_command(
    paths: PathsArg = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan, change nothing.")] = False,
    prune: Annotated[bool, typer.Option(help="Delete deployments of tasks no longer in the catalog.")] = True,
) -> None:
    """Create, update and remove deployments so the server holds exactly the catalog."""
    settings = get_settings()
    catalog = _load(paths, settings)

    async def go():
        from deployments.apply import apply, plan
        from deployments.pool import ensure_work_pool

        async with _client() as client:
            if dry_run:
                return [], await plan(client, catalog, _target(settings), prune=prune)
            pool_changes = await ensure_work_pool(client, _pool(settings))
            return pool_changes, await apply(client, catalog, _target(settings), prune=prune)

    pool_changes, result = _run(go())
    for line in pool_changes:
        console.print(f"~ {line}")
    for change in result.changes:
        if change.action != "unchanged":
            console.print(str(change), highlight=False)
    counts = {
        a: sum(c.action == a for c in result.changes) for a in ("create", "update", "delete", "unchanged")
    }
    verb = "would change" if dry_run else "applied"
    console.print(
        f"{verb}: {counts['create']} created, {counts['update']} updated, "
        f"{counts['delete']} deleted, {counts['unchanged']} unchanged"
    )


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


@app.command(name="list")
def list_command() -> None:
    """Tasks on the server: type, group, priority, schedule, next run, last state."""
    settings = get_settings()

    async def go():
        from tasklane.tasks.lookup import list_tasks

        async with _client() as client:
            return await list_tasks(client, _target(settings))

    rows = _run(go())
    table = Table("name", "type", "group", "priority", "schedule", "next run", "last state")
    for row in rows:
        table.add_row(
            row.name + ("" if row.enabled else " (disabled)"),
            row.type or "-",
            row.group or "-",
            row.priority or "-",
            row.schedule,
            _when(row.next_run),
            row.last_state or "-",
        )
    console.print(table)


@app.command()
def show(name: str) -> None:
    """One task: its deployment, parameters, schedules and recent runs."""

    async def go():
        from tasklane.tasks.lookup import show_task
        from tasklane.tasks.manage import downstream_of

        async with _client() as client:
            return await show_task(client, name), await downstream_of(client, name)

    detail, downstream = _run(go())
    row, deployment = detail.row, detail.deployment
    console.print(f"[bold]{row.name}[/bold]  ({row.type}, group {row.group}, priority {row.priority})")
    if deployment.description:
        console.print(deployment.description)
    console.print(f"deployment: {deployment.id}  queue: {deployment.work_queue_name}  enabled: {row.enabled}")
    console.print(f"schedule: {row.schedule}   next run: {_when(row.next_run)}")
    upstream = [t.split(":", 1)[1] for t in deployment.tags if t.startswith("upstream:")]
    console.print(f"runs after: {', '.join(upstream) or '-'}   runs before: {', '.join(downstream) or '-'}")
    console.print("parameters:")
    console.print(yaml.safe_dump(deployment.parameters, sort_keys=False).rstrip(), highlight=False)
    if detail.recent_runs:
        table = Table("run", "state", "started", "duration")
        for run in detail.recent_runs:
            table.add_row(
                str(run.id),
                run.state_name or "-",
                _when(run.start_time),
                f"{run.total_run_time.total_seconds():.1f}s",
            )
        console.print(table)


NameArg = Annotated[str | None, typer.Argument(help="Task name (or use --group).")]
GroupOpt = Annotated[str | None, typer.Option("--group", "-g", help="Every task of this group.")]


def _set_enabled(name: str | None, group: str | None, enabled: bool) -> None:
    settings = get_settings()

    async def go():
        from tasklane.tasks.manage import set_enabled, tasks_by_name_or_group

        async with _client() as client:
            found = await tasks_by_name_or_group(client, _target(settings), name, group)
            return found, await set_enabled(client, found, enabled)

    found, changed = _run(go())
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
    """Delete a task's (or a group's) deployment; its run history stays on the server."""
    settings = get_settings()

    async def find():
        from tasklane.tasks.manage import tasks_by_name_or_group

        async with _client() as client:
            return await tasks_by_name_or_group(client, _target(settings), name, group)

    found = _run(find())
    names = ", ".join(d.name for d in found)
    if not yes and not typer.confirm(f"delete {len(found)} task(s): {names}?"):
        raise typer.Exit(1)

    async def go():
        from tasklane.tasks.manage import delete_tasks

        async with _client() as client:
            return await delete_tasks(client, found)

    console.print(f"deleted: {', '.join(_run(go()))}")


@app.command()
def clone(name: str, new_name: str) -> None:
    """Copy a task under a new name (same type, parameters, schedules, queue)."""

    async def go():
        from tasklane.tasks.manage import clone_task

        async with _client() as client:
            return await clone_task(client, name, new_name)

    console.print(f"cloned {name} as {new_name} ({_run(go())})")


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

        async with _client() as client:
            return await export_tasks(client, _target(settings), group)

    text = yaml.safe_dump(_run(go()), sort_keys=False, allow_unicode=True)
    if output:
        output.write_text(text)
        console.print(f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command()
def cancel(run_or_task: Annotated[str, typer.Argument(help="A flow run id, or a task name.")]) -> None:
    """Stop a run (or every due or running run of a task); a shell job's processes are killed."""

    async def go():
        from tasklane.tasks.manage import cancel as cancel_runs

        async with _client() as client:
            return await cancel_runs(client, run_or_task)

    runs = _run(go())
    console.print(f"cancelling {len(runs)} run(s): {', '.join(r.name for r in runs) or '-'}")


@app.command()
def explain(run_or_task: Annotated[str, typer.Argument(help="A flow run id, or a task name.")]) -> None:
    """Why a run is waiting or late: which limit is full, which queue, whether a worker polls."""

    async def go():
        from tasklane.tasks.manage import explain as explain_run

        async with _client() as client:
            return await explain_run(client, run_or_task)

    console.print(_run(go()).sentence, highlight=False)


template_app = typer.Typer(help="Task templates: built-in and templates/*.yaml.", no_args_is_help=True)
app.add_typer(template_app, name="template")


def _templates(settings: Settings):
    from deployments.templates import load_templates

    try:
        return load_templates(list(settings.templates))
    except DeploymentsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _template(name: str, settings: Settings):
    templates = _templates(settings)
    if name not in templates:
        err.print(f"[red]error:[/red] no template named {name!r} (known: {', '.join(sorted(templates))})")
        raise typer.Exit(2)
    return templates[name]


@template_app.command("list")
def template_list(
    category: Annotated[str | None, typer.Option("--category", "-c")] = None,
) -> None:
    """Templates by category: name, where it comes from, what it makes."""
    templates = _templates(get_settings())
    table = Table("name", "category", "source", "description")
    for template in sorted(templates.values(), key=lambda t: (t.category, t.name)):
        if category and template.category != category:
            continue
        table.add_row(template.name, template.category, template.where, template.description)
    console.print(table)


@template_app.command("show")
def template_show(
    name: str,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="The template file, to copy and edit.")] = False,
) -> None:
    """A template's parameters, the task it makes and an example."""
    from deployments.templates import describe, template_yaml

    template = _template(name, get_settings())
    text = template_yaml(template) if as_yaml else describe(template)
    console.print(text, highlight=False, markup=False)


@app.command()
def new(
    name: str,
    from_template: Annotated[str, typer.Option("--from", help="Template name.")],
    set_values: Annotated[list[str] | None, typer.Option("--set", help="PARAM=VALUE (repeatable).")] = None,
    into: Annotated[Path | None, typer.Option("--into", help="Append the task to this catalog file.")] = None,
) -> None:
    """Make a task from a template: print its YAML, or append it to a catalog file."""
    from deployments.templates import append_task, new_task_yaml, parse_set_options

    settings = get_settings()
    template = _template(from_template, settings)
    try:
        values = parse_set_options(set_values or [])
        if into is None:
            sys.stdout.write(new_task_yaml(template, name, values))
            return
        existing = load_catalog(list(settings.catalog), required=False).by_name()
        if name in existing:
            err.print(f"[red]error:[/red] a task named {name!r} is already in the catalog")
            raise typer.Exit(2)
        append_task(into, template, name, values)
    except DeploymentsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"added task {name} to {into}; run `tasklane apply`")


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

        async with _client() as client:
            flow_run = await run_task(client, name, overrides)
            console.print(f"created run {flow_run.name} ({flow_run.id})", highlight=False)
            if not wait:
                return flow_run

            def show_log(log) -> None:
                stamp = log.timestamp.strftime("%H:%M:%S")
                console.print(f"{stamp} {log.message}", highlight=False, markup=False)

            return await follow_run(client, flow_run.id, on_log=show_log)

    flow_run = _run(go())
    if wait:
        state = flow_run.state
        console.print(f"{name}: {state.name if state else '?'} {state.message or '' if state else ''}")
        raise typer.Exit(0 if state and state.is_completed() else 1)


@app.command()
def preview(
    name: Annotated[str | None, typer.Argument(help="A task of the catalog.")] = None,
    spec: Annotated[
        str | None, typer.Option("--spec", help="A schedule spec, e.g. '{daily: [\"02:30\"]}'.")
    ] = None,
    count: Annotated[int, typer.Option("-n", help="How many runs.")] = 10,
    start: Annotated[
        str | None, typer.Option("--from", help="ISO date-time to start from (default now).")
    ] = None,
) -> None:
    """The next runs of a task's schedules (or of --spec), in the schedule's zone and in UTC."""
    from datetime import UTC, datetime

    from deployments.schedules import parse_spec_text
    from deployments.schedules import preview as preview_spec

    settings = get_settings()
    if (name is None) == (spec is None):
        err.print("[red]error:[/red] give a task NAME or --spec, not both")
        raise typer.Exit(2)
    try:
        after = datetime.fromisoformat(start) if start else datetime.now(UTC)
        if spec is not None:
            specs = [parse_spec_text(spec)]
        else:
            task = _load(None, settings).by_name().get(name or "")
            if task is None:
                err.print(f"[red]error:[/red] no task named {name!r} in the catalog")
                raise typer.Exit(2)
            specs = task.schedule
            if not specs:
                console.print(f"{name} has no schedule: it runs when started (or after its upstream tasks).")
                return
        runs = sorted(
            {
                (t.astimezone(UTC), t)
                for s in specs
                for t in preview_spec(s, count, after=after, default_timezone=settings.timezone)
            },
            key=lambda pair: pair[0],
        )[:count]
    except ValidationError as exc:
        for detail in exc.errors():
            where = ".".join(map(str, detail["loc"])) or "schedule"
            err.print(
                f"[red]error:[/red] --spec {where}: {detail['msg'].removeprefix('Value error, ')}",
                highlight=False,
            )
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    table = Table("#", "local time", "UTC")
    for index, (utc, local) in enumerate(runs, 1):
        table.add_row(
            str(index), local.strftime("%Y-%m-%d %H:%M:%S %Z (%z)"), utc.strftime("%Y-%m-%d %H:%M:%S")
        )
    console.print(table)


@app.command()
def listen() -> None:
    """Answer chat commands (run, status, list, report, help) addressed to the Mattermost bot."""
    from integrations.errors import AuthenticationError
    from tasklane.chat.bot import run_listener

    settings = get_settings()
    config = settings.listen
    try:
        run_listener(
            config.block,
            config.allowed_users,
            config.allowed_channels,
            config.channels,
            config.reconnect_interval,
            target=_target(settings),
        )
    except (ValueError, AuthenticationError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("stopped.")


def _since(text: str | None):
    """'2026-11-01', an ISO date-time, or a duration back from now ('7d', '12h')."""
    from datetime import UTC, datetime

    from deployments.schedules import parse_duration

    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    except ValueError:
        pass
    try:
        return datetime.now(UTC) - parse_duration(text)
    except ValueError:
        err.print(
            f"[red]error:[/red] {text!r} is not a date-time (ISO) or a duration back from now (7d, 12h)"
        )
        raise typer.Exit(2) from None


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

        async with _client() as client:
            return await read_history(client, task, group, state, _since(since), _since(until), limit)

    records = _run(go())
    table = Table("task", "run", "state", "start", "duration", "message")
    for r in records:
        duration = f"{r.duration:.1f}s" if r.duration is not None else "-"
        table.add_row(r.task, r.run_id, r.state, _when(r.start), duration, (r.message or "")[:60])
    console.print(table)


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

        async with _client() as client:
            return await task_stats(client, since, until, task=task, group=group)

    result = _run(go())
    if as_json:
        sys.stdout.write(result.to_json(indent=2) + "\n")
    else:
        console.print(stats_markdown(result), highlight=False, markup=False)
    if charts:
        charts.mkdir(parents=True, exist_ok=True)
        chart_runs_per_day(result, charts / "runs-per-day.png")
        console.print(f"wrote {charts / 'runs-per-day.png'}")


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

        async with _client() as client:
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

    _run(go())


@app.command()
def report(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Collect and render, publish nothing.")] = False,
) -> None:
    """Publish the runs finished since the last report to the configured targets, now."""
    from flows.report import report_flow

    outcome = _run(report_flow(dry_run=dry_run))
    console.print(yaml.safe_dump(outcome, sort_keys=False, default_flow_style=False)[:4000], highlight=False)


token_app = typer.Typer(help="API tokens (bearer tokens with a role).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    name: str,
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, operator or admin.")],
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Limit to these groups.")] = None,
) -> None:
    """Create a token (shown once; only its hash is kept)."""
    from tasklane.api import create_token

    try:
        token = create_token(name, role, group or None, get_settings())
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"token {name!r} ({role}); it is shown only now:")
    sys.stdout.write(token + "\n")


@token_app.command("list")
def token_list() -> None:
    """Token names, roles and groups (never the tokens)."""
    from tasklane.api import list_tokens

    for item in list_tokens(get_settings()):
        console.print(item, highlight=False)


@token_app.command("revoke")
def token_revoke(name: str) -> None:
    """Delete a token."""
    from tasklane.api import revoke_token

    console.print("revoked" if revoke_token(name, get_settings()) else f"no token named {name!r}")


@app.command()
def api() -> None:
    """Serve the seeds' REST API over the Prefect server (port: TASKLANE_API__PORT, default 8300)."""
    from tasklane.api import serve

    serve(get_settings())


@app.command()
def types() -> None:
    """The installed task types (built-in and from plugins)."""
    from deployments.task_types import registered_task_types

    for task_type in registered_task_types().values():
        fields = ", ".join(task_type.job_model.model_fields)
        console.print(f"[bold]{task_type.name}[/bold]: {task_type.description}  ({fields})")


@app.command()
def up(
    no_worker: Annotated[bool, typer.Option("--no-worker", help="Start no worker.")] = False,
) -> None:
    """Start the local stack: server, pool, blocks, catalog, worker. Ctrl-C stops it all."""
    from tasklane.stack import processes as stack_mod
    from tasklane.stack.up import bring_up

    settings = get_settings()
    running = stack_mod.running_supervisor(settings.home)
    if running:
        err.print(f"[red]error:[/red] a stack is already running (pid {running}); `make down` first")
        raise typer.Exit(2)
    the_stack = stack_mod.Stack(settings.home)
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    # SIGINT explicitly too: a shell starting `tasklane up` in the background (`make up &`,
    # a script's `&`) hands it SIGINT ignored, and Python keeps an inherited SIG_IGN.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        bring_up(settings, the_stack, console, start_worker=not no_worker)
        console.print("Ctrl-C or `make down` stops everything.")
        while True:
            for managed in the_stack.processes:
                if managed.process.poll() is not None:
                    err.print(f"[red]{managed.name} exited ({managed.process.returncode}); see {managed.log}")
                    raise typer.Exit(1)
            time.sleep(1)
    except KeyboardInterrupt:
        console.print("stopping…")
    except stack_mod.StackError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        the_stack.stop()
        console.print("stopped.")


@app.command()
def down() -> None:
    """Stop what `tasklane up` started (from any terminal)."""
    from tasklane.stack.processes import stop_recorded

    stopped = stop_recorded(get_settings().home)
    console.print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
