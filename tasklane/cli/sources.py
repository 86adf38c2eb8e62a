"""External task sources: `tasklane sources list`, `sources sync NAME`, `sources show NAME`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tasklane.cli._shared import console, err, prefect_client, run_reporting_errors, target_of
from tasklane.settings import Settings, get_settings
from tasklane.settings.sources import SourceSettings

app = typer.Typer()
sources_app = typer.Typer(help="External task sources (settings `sources:`).", no_args_is_help=True)
app.add_typer(sources_app, name="sources")


def _source(name: str, settings: Settings) -> SourceSettings:
    for source in settings.sources:
        if source.name == name:
            return source
    known = ", ".join(s.name for s in settings.sources) or "none"
    err.print(f"[red]error:[/red] no source named {name!r} in settings `sources:` (known: {known})")
    raise typer.Exit(2)


def _where(source: SourceSettings) -> str:
    if source.kind == "directory":
        return str(source.path)
    if source.kind == "http":
        return source.url or ""
    return f"page {source.page_id}, table {source.table!r} (block {source.block})"


@sources_app.command("list")
def list_sources() -> None:
    """Each source: its kind, where it reads, its interval, when it last synced and what it holds."""
    from tasklane.tasks.sources import read_record

    settings = get_settings()
    if not settings.sources:
        console.print("no sources in settings `sources:`")
        return
    table = Table("name", "kind", "reads", "every", "last synced", "tasks", "bad rows", "state")
    for source in settings.sources:
        record = read_record(settings.home, source.name)
        state = (
            "never synced"
            if record is None
            else ("ok" if record.reachable else f"unreachable: {record.error}")
        )
        table.add_row(
            source.name,
            source.kind,
            _where(source),
            f"{source.interval_seconds:g}s",
            (record.synced_at if record else None) or "-",
            str(len(record.tasks)) if record else "-",
            str(len(record.problems)) if record else "-",
            state,
        )
    console.print(table)


@sources_app.command("sync")
def sync(name: str) -> None:
    """Read the source now: create, update and trash its tasks; report its bad rows."""
    from tasklane.tasks.sources import sync_source

    settings = get_settings()
    source = _source(name, settings)

    async def go():
        async with prefect_client() as client:
            return await sync_source(client, source, target_of(settings), settings.home)

    result = run_reporting_errors(go())
    for change in result.changes:
        console.print(change, highlight=False, markup=False)
    for problem in result.problems:
        err.print(f"[yellow]skipped:[/yellow] {problem}", highlight=False, markup=True)
    if not result.reachable or result.error:
        err.print(
            f"[red]error:[/red] {result.summary() if not result.reachable else result.error}", highlight=False
        )
        raise typer.Exit(1)
    console.print(result.summary(), highlight=False)


@sources_app.command("show")
def show(name: Annotated[str, typer.Argument(help="A source of settings `sources:`.")]) -> None:
    """A source's settings, its last sync, the tasks it holds and its bad rows."""
    from tasklane.tasks.sources import read_record

    settings = get_settings()
    source = _source(name, settings)
    record = read_record(settings.home, name)
    console.print(f"[bold]{source.name}[/bold] ({source.kind}) reads {_where(source)}", highlight=False)
    console.print(f"polled every {source.interval_seconds:g}s", highlight=False)
    if record is None:
        console.print("never synced: `tasklane sources sync " + name + "`", highlight=False)
        return
    console.print(f"last attempt: {record.attempted_at}; last synced: {record.synced_at or 'never'}")
    if not record.reachable:
        console.print(f"unreachable: {record.error} (its tasks are kept)", highlight=False)
    console.print(f"tasks ({len(record.tasks)}): " + (", ".join(record.tasks) or "none"), highlight=False)
    for problem in record.problems:
        console.print(f"bad row: {problem}", highlight=False, markup=False)
