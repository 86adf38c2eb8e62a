"""The catalog: `tasklane validate`, `apply`, `preview`, `types`, `template list|show`, `new`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from deployments.catalog import load_catalog
from deployments.errors import DeploymentsError, problems_from_validation
from tasklane.cli._shared import (
    PathsArg,
    apply_audited,
    console,
    err,
    load_catalog_or_exit,
    pool_of,
    prefect_client,
    run_reporting_errors,
    target_of,
)
from tasklane.settings import Settings, get_settings

app = typer.Typer()


@app.command()
def validate(paths: PathsArg = None) -> None:
    """Check the catalog; print every problem with its file, task and field.

    Beyond loading: Python tasks' scripts are compiled and their callables imported (in a subprocess);
    a task's own `pool:` is looked up on the server, its job variables checked against the pool's type.
    """
    from deployments.errors import CatalogError
    from deployments.python_check import python_code_problems

    catalog = load_catalog_or_exit(paths, get_settings())
    problems = python_code_problems(catalog)
    if any(task.pool is not None for task in catalog.tasks):
        from deployments.task_pool import pool_problems

        async def on_server():
            async with prefect_client() as client:
                return await pool_problems(client, catalog.tasks, catalog.files_of)

        problems += run_reporting_errors(on_server())
    if problems:
        err.print(
            f"[red]error:[/red] {CatalogError(problems, outcome='the code does not load')}", highlight=False
        )
        raise typer.Exit(2)
    console.print(f"ok: {len(catalog.tasks)} tasks in {len(catalog.files)} files")


@app.command(name="apply")
def apply_command(
    paths: PathsArg = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan, change nothing.")] = False,
    prune: Annotated[bool, typer.Option(help="Delete deployments of tasks no longer in the catalog.")] = True,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch", help="Apply now, then again a moment after each save of a catalog file; Ctrl-C stops."
        ),
    ] = False,
) -> None:
    """Create, update and remove deployments so the server holds exactly the catalog."""
    settings = get_settings()
    if not watch:
        _apply_once(paths, settings, dry_run=dry_run, prune=prune)
        return
    _apply_watching(paths, settings, dry_run=dry_run, prune=prune)


def _apply_once(paths: list[Path] | None, settings: Settings, *, dry_run: bool, prune: bool) -> None:
    """Load, plan and (unless `dry_run`) apply the catalog, printing the plan; exit 2 on a mistake."""
    catalog = load_catalog_or_exit(paths, settings)

    async def go():
        from deployments.apply import plan
        from deployments.pool import ensure_work_pool

        async with prefect_client() as client:
            if dry_run:
                return [], await plan(client, catalog, target_of(settings), prune=prune)
            pool_changes = await ensure_work_pool(client, pool_of(settings))
            return pool_changes, await apply_audited(client, catalog, target_of(settings), prune=prune)

    pool_changes, result = run_reporting_errors(go())
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


def _apply_watching(paths: list[Path] | None, settings: Settings, *, dry_run: bool, prune: bool) -> None:
    """`apply`, then again on each batch of saved catalog files, until Ctrl-C (or SIGTERM).

    A catalog with a mistake applies nothing: its problems are printed and the watch goes on."""
    import signal
    import threading
    from datetime import datetime

    from deployments.catalog_watch import catalog_changes, watched_roots

    watched = list(paths) if paths else list(settings.catalog)
    if not watched_roots(watched):
        err.print(
            "[red]error:[/red] nothing to watch: no catalog file or folder (nor its folder) exists: "
            + ", ".join(str(p) for p in watched),
            highlight=False,
        )
        raise typer.Exit(2)

    # Ctrl-C, or SIGTERM from `make up`'s stop: an apply under way finishes first (an apply cut
    # short between its changes would leave the server half-way), then the watch ends.
    stopping = threading.Event()

    def stop(_signum, _frame) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    def attempt() -> None:
        try:
            _apply_once(paths, settings, dry_run=dry_run, prune=prune)
        except typer.Exit:
            err.print("nothing applied; fix the catalog and save again", highlight=False)

    attempt()
    if not stopping.is_set():
        console.print(f"watching {', '.join(str(p) for p in watched)} (Ctrl-C stops)", highlight=False)
        for changed in catalog_changes(watched, stop_event=stopping):
            names = ", ".join(sorted(_shown(p) for p in changed))
            console.print(f"{datetime.now():%H:%M:%S} changed: {names}", highlight=False)
            attempt()
            if stopping.is_set():
                break
    console.print("stopped watching")


def _shown(path: Path) -> str:
    """A path relative to the working directory where it is below it (as the catalog names files)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


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
        from tasklane.cli.trash import refuse_trashed_name

        refuse_trashed_name(name)
        append_task(into, template, name, values)
    except DeploymentsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    console.print(f"added task {name} to {into}; run `tasklane apply`")


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
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object (keys below).")] = False,
) -> None:
    """The next runs of a task's schedules (or of --spec), in the schedule's zone and in UTC.

    --json prints one object: task (its name, or null for --spec), schedules (each spec as
    validated, its fields as the catalog writes them), runs [{local (ISO 8601 with the schedule
    zone's offset), utc (ISO 8601), timezone (IANA)}]; a task without a schedule has none.
    """
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
            task = load_catalog_or_exit(None, settings).by_name().get(name or "")
            if task is None:
                err.print(f"[red]error:[/red] no task named {name!r} in the catalog")
                raise typer.Exit(2)
            specs = task.schedule
            if not specs:
                if as_json:
                    sys.stdout.write(json.dumps({"task": name, "schedules": [], "runs": []}, indent=2) + "\n")
                    return
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
        for problem in problems_from_validation(exc, "--spec", None, found="never"):
            where = problem.field or "schedule"
            err.print(f"[red]error:[/red] --spec {where}: {problem.message}", highlight=False)
        raise typer.Exit(2) from None
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    if as_json:
        document = {
            "task": name,
            "schedules": [s.model_dump(mode="json", exclude_none=True) for s in specs],
            "runs": [
                {"local": local.isoformat(), "utc": utc.isoformat(), "timezone": str(local.tzinfo)}
                for utc, local in runs
            ],
        }
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table("#", "local time", "UTC")
    for index, (utc, local) in enumerate(runs, 1):
        table.add_row(
            str(index), local.strftime("%Y-%m-%d %H:%M:%S %Z (%z)"), utc.strftime("%Y-%m-%d %H:%M:%S")
        )
    console.print(table)


@app.command()
def types() -> None:
    """The installed task types (built-in and from plugins)."""
    from deployments.task_types import registered_task_types

    for task_type in registered_task_types().values():
        # As the catalog writes them: a field's alias (`json`), not its Python name.
        fields = ", ".join(info.alias or n for n, info in task_type.job_model.model_fields.items())
        console.print(f"[bold]{task_type.name}[/bold]: {task_type.description}  ({fields})")
