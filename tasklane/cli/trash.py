"""`tasklane trash list|restore|purge`: deleted tasks, kept `trash.retention_days` (settings `trash:`).

`tasklane delete` moves tasks here (`tasklane.tasks.trash`); a restored task is the same task
(same deployment, schedules and next runs, dependencies, alerts, runs and history); the
maintenance flow purges what has been here longer than the retention.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from tasklane.cli._shared import (
    cli_audited,
    console,
    err,
    prefect_client,
    run_reporting_errors,
    target_of,
    when,
)
from tasklane.settings import get_settings

app = typer.Typer()


trash_app = typer.Typer(
    help="Deleted tasks, kept `trash.retention_days` (default 30): list, restore, purge.",
    no_args_is_help=True,
)
app.add_typer(trash_app, name="trash")


@trash_app.command("list")
def trash_list() -> None:
    """The tasks in the trash: when each was deleted, when it is purged, and who depends on it."""
    settings = get_settings()

    async def go():
        from tasklane.tasks.trash import list_trash

        async with prefect_client() as client:
            return await list_trash(client, target_of(settings))

    entries = run_reporting_errors(go())
    if not entries:
        console.print("the trash is empty")
        return
    keep = timedelta(days=settings.trash.retention_days)
    table = Table("name", "group", "deleted", "purged after", "was", "home", "depended on by")
    for entry in entries:
        table.add_row(
            entry.name,
            entry.group or "-",
            when(entry.trashed_at),
            when(entry.trashed_at + keep if entry.trashed_at else None),
            "enabled" if entry.was_enabled else "disabled",
            entry.home or "-",
            ", ".join(entry.downstream) or "-",
        )
    console.print(table)


@trash_app.command("restore")
def trash_restore(name: str) -> None:
    """Bring a task back from the trash: the same task, its schedules, next runs, dependencies,
    alerts and history; enabled again if it was enabled when deleted."""
    settings = get_settings()

    async def go():
        from tasklane.tasks.trash import find_trashed, restore_deployment

        async with prefect_client() as client:
            deployment = await find_trashed(client, name, target_of(settings))
            async with cli_audited(client, "task.restored", deployment=deployment) as record:
                restored = await restore_deployment(client, deployment, target_of(settings))
                record["result"] = "ok" if restored.enabled else "ok; stays disabled"
            return restored

    restored = run_reporting_errors(go())
    state = "enabled" if restored.enabled else "disabled, as it was when deleted"
    console.print(f"restored {restored.name} ({state})", highlight=False)
    if restored.missing_upstream:
        console.print(
            f"warning: it runs after {', '.join(restored.missing_upstream)}, which "
            f"{'is' if len(restored.missing_upstream) == 1 else 'are'} gone or in the trash",
            highlight=False,
        )


@trash_app.command("purge")
def trash_purge(
    name: Annotated[str | None, typer.Argument(help="One task (default: the whole trash).")] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> None:
    """Delete tasks in the trash for good (their deployments and automations; runs stay)."""
    settings = get_settings()
    target = target_of(settings)

    async def chosen():
        from tasklane.tasks.trash import purge

        async with prefect_client() as client:
            return await purge(client, target, name, dry_run=True)

    names = run_reporting_errors(chosen())
    if not names:
        console.print("the trash is empty")
        return
    if not yes and not typer.confirm(f"purge {len(names)} task(s) for good: {', '.join(names)}?"):
        raise typer.Exit(1)

    async def go():
        from tasklane.tasks.trash import purge

        async with prefect_client() as client:
            purged = []
            for one in names:
                async with cli_audited(client, "task.purged", one, diff=False):
                    purged += await purge(client, target, one)
            return purged

    console.print(f"purged: {', '.join(run_reporting_errors(go()))}", highlight=False)


def refuse_trashed_name(name: str) -> None:
    """Exit with an error if a task in the trash holds `name` (`tasklane new`): restore or purge it
    first. Without a configured, reachable server there is nothing to check (`apply` refuses it)."""
    import asyncio

    import httpx
    from prefect.settings import PREFECT_API_URL

    from deployments.errors import DeploymentsError

    if not PREFECT_API_URL.value():
        return  # no server configured: no ephemeral one is started just for this check
    settings = get_settings()

    async def go() -> None:
        from tasklane.tasks.trash import check_not_trashed

        async with prefect_client() as client:
            await check_not_trashed(client, name, target_of(settings))

    try:
        asyncio.run(go())
    except DeploymentsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except httpx.HTTPError:
        return
