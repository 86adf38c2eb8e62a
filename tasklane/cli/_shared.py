"""`tasklane`: validate and apply the task catalog, list, show and run tasks, run the stack.

It talks to the Prefect server that Prefect's own settings name (PREFECT_API_URL, the
project's prefect.toml written by `tasklane up`, or the active profile).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console

from deployments.apply import Target
from deployments.catalog import Catalog, load_catalog
from deployments.errors import DeploymentsError
from deployments.pool import PoolSpec
from tasklane.settings import Settings

# Wide when piped, so tables and messages are not folded at 80 columns in logs and tests.
console = Console(width=None if sys.stdout.isatty() else 160)


err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


T = TypeVar("T")


NameArg = Annotated[str | None, typer.Argument(help="Task name (or use --group).")]
GroupOpt = Annotated[str | None, typer.Option("--group", "-g", help="Every task of this group.")]
PathsArg = Annotated[
    list[Path] | None,
    typer.Argument(help="Catalog files or directories (default: the settings' catalog)."),
]


def run_reporting_errors(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn the errors a user can act on into one clear line."""
    try:
        return asyncio.run(coro)
    except DeploymentsError as exc:  # tasklane.history's HistoryError (an unknown run, ...) among them
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


def target_of(settings: Settings) -> Target:
    return Target(work_pool=settings.pool.name, timezone=settings.timezone, project=settings.project)


def pool_of(settings: Settings) -> PoolSpec:
    return PoolSpec(settings.pool.name, settings.pool.concurrency, dict(settings.pool.queues))


def load_catalog_or_exit(paths: list[Path] | None, settings: Settings) -> Catalog:
    try:
        if paths:
            return load_catalog(paths, required=True)
        return load_catalog(list(settings.catalog), required=False)
    except DeploymentsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def prefect_client():
    from prefect.client.orchestration import get_client

    return get_client()


def when(value, zone: str | None = None) -> str:
    """A time as `2026-01-01 02:00:00 CET`: in `zone` (an IANA name) if given and known."""
    if not value:
        return "-"
    if zone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            value = value.astimezone(ZoneInfo(zone))
        except (ZoneInfoNotFoundError, ValueError):
            pass  # an unknown zone: the time as it came (UTC from the server)
    return value.strftime("%Y-%m-%d %H:%M:%S %Z")


def cli_audited(client, action: str, task: str | None = None, *, deployment=None, **options: Any):
    """`tasklane.tasks.audit.audited` by the user running the CLI (`os:<user>`): the change the
    `async with` block makes is one audit event, labelled with the deployment's project (else the
    settings'). `deployment`: the task changed (its name, id, and definition before -> after);
    `options`: `audited`'s (change, before, resource, diff)."""
    from tasklane.settings import get_settings
    from tasklane.tasks.audit import audited, os_actor, project_of

    project = get_settings().project
    if deployment is not None:
        project = project_of(deployment, project)
        task = task or deployment.name
        options.setdefault("deployment_id", deployment.id)
    return audited(action, task, os_actor(), project=project, client=client, **options)


async def apply_audited(client, catalog: Catalog, target: Target, *, prune: bool = True):
    """`deployments.apply.apply` by the user running the CLI: one audit event per task it
    created, updated or deleted (`tasklane.tasks.audit.audit_apply`); the plan it carried out."""
    from tasklane.tasks.audit import audit_apply, os_actor

    return await audit_apply(client, catalog, target, os_actor(), prune=prune)


def audited_call(
    action: str,
    operate: Callable[[], T],
    *,
    resource: str,
    change: Any = None,
    result_of: Callable[[T], str] | None = None,
) -> T:
    """`operate()`, a change that needs no Prefect client (an API token's), as one audit event by
    the user running the CLI; `result_of` words the outcome from what `operate` returned."""

    async def go() -> T:
        async with cli_audited(None, action, resource=resource, change=change) as record:
            value = operate()
            if result_of is not None:
                record["result"] = result_of(value)
        return value

    return asyncio.run(go())


async def audit_each(client, action: str, deployments, operate, *, change: Any = None) -> list[str]:
    """`await operate([deployment])` for each deployment, each as one audit event (`cli_audited`);
    the names it changed (one that needed no change is audited as "ok; unchanged")."""
    done: list[str] = []
    for deployment in deployments:
        async with cli_audited(client, action, deployment=deployment, change=change) as record:
            names = await operate([deployment])
            if not names:
                record["result"] = "ok; unchanged"
        done += names
    return done




def since_or_exit(text: str | None):
    """'2026-11-01', an ISO date-time, or a duration back from now ('7d', '12h'); else exit 2."""
    from deployments.schedules.clock import parse_moment

    try:
        return None if text is None else parse_moment(text)
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None




