"""`make up`: bring the whole local stack up, in order, and say where the UI is."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from rich.console import Console

from deployments.apply import Target
from deployments.catalog import load_catalog
from deployments.platform import deploy_platform
from deployments.pool import PoolSpec, ensure_work_pool
from tasklane.console.users import write_private
from tasklane.settings import Settings
from tasklane.stack import processes as stack_mod
from tasklane.stack.postgres import Cluster, database_url
from tasklane.tasks.audit import audit_apply, os_actor

PREFECT_TOML = Path("prefect.toml")


def write_project_prefect_toml(
    api_url: str, path: Path = PREFECT_TOML, auth_string: str | None = None
) -> None:
    """Point every Prefect client started in this directory (CLI, `prefect ...`) at the stack.

    Prefect 3 reads `prefect.toml` from the working directory; environment variables
    (PREFECT_API_URL, PREFECT_API_AUTH_STRING) still win, so another server can always be chosen
    explicitly. With the server's basic auth (`auth_string`) the file carries it as
    `[api] auth_string`, which Prefect's clients send, and is readable by its owner only.
    """
    text = (
        "# Written by `tasklane up`: Prefect clients in this directory use the local stack.\n"
        f'[api]\nurl = "{api_url}"\n'
    )
    if auth_string:
        write_private(path, text + f"auth_string = {json.dumps(auth_string)}\n")
    else:
        path.write_text(text)


async def _prepare(settings: Settings, api_url: str, auth_string: str | None) -> list[str]:
    from prefect.client.orchestration import PrefectClient

    async with PrefectClient(api_url, auth_string=auth_string) as client:
        pool = PoolSpec(settings.pool.name, settings.pool.concurrency, dict(settings.pool.queues))
        lines = await ensure_work_pool(client, pool)
        catalog = load_catalog(list(settings.catalog), required=False)
        target = Target(settings.pool.name, settings.timezone, settings.project)
        result = await audit_apply(client, catalog, target, os_actor())  # on the audit trail
        lines += [str(c) for c in result.pending]
        lines.append(f"catalog: {len(catalog.tasks)} tasks ({len(result.pending)} changed)")
        platform = await deploy_platform(client, settings)
        lines += [str(c) for c in platform.pending] + [str(platform)]
        return lines


def bring_up(settings: Settings, stack: stack_mod.Stack, console: Console, *, start_worker: bool) -> None:
    """Server, pool and queues, blocks, catalog, worker; each step reported as it lands."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    api_url = settings.server.api_url
    if stack_mod.server_answers(api_url):
        raise stack_mod.StackError(
            f"something already answers at {api_url}; stop it or set TASKLANE_SERVER__PORT"
        )
    database = settings.server.database
    if database == "postgres":
        cluster = Cluster(home)
        stack.processes.append(cluster.start(progress=lambda line: console.print(line, highlight=False)))
        stack.record()
        where = f"PostgreSQL {cluster.display_url()}"
    elif database == "sqlite":
        where = f"SQLite {home}/prefect.db"
    else:
        scheme, _, rest = database.partition("://")
        where = f"{scheme}://{rest.rsplit('@', 1)[-1]}"  # without credentials
    console.print(f"starting the Prefect server on {settings.server.ui_url} (database: {where})…")
    auth = _server_auth(settings, console)
    auth_string = auth.auth_string if auth else None
    stack.processes.append(
        stack_mod.start_server(
            home,
            settings.server.host,
            settings.server.port,
            database_url=database_url(home, settings.server.database),
            auth_string=auth_string,
        )
    )
    stack.record()
    write_project_prefect_toml(api_url, auth_string=auth_string)
    stack_mod.register_blocks(home, api_url, auth_string)
    console.print("blocks registered")
    if settings.sandbox:
        from tasklane.stack.sandbox import start_sandbox

        sandbox = start_sandbox(home, api_url=api_url)
        stack.processes.append(sandbox.managed)
        stack.record()
        console.print(
            f"sandbox (blocks {sandbox.block_name!r}): Jira {sandbox.jira_url}, "
            f"Confluence {sandbox.confluence_url}, Mattermost {sandbox.mattermost_url}"
        )
    # This process read Prefect's settings before the server existed: without the URL here,
    # Prefect's events client (the audit trail of this apply) would start a temporary server of
    # its own and the audit events would land there, not on the stack's server.
    updates = {PREFECT_API_URL: api_url, **({PREFECT_API_AUTH_STRING: auth_string} if auth_string else {})}
    with temporary_settings(updates):
        lines = asyncio.run(_prepare(settings, api_url, auth_string))
    for line in lines:
        console.print(f"  {line}", highlight=False)
    if start_worker:
        stack.processes.append(
            stack_mod.start_worker(
                home,
                api_url,
                settings.pool.name,
                query_seconds=settings.worker.query_seconds,
                prefetch_seconds=settings.worker.prefetch_seconds,
                auth_string=auth_string,
            )
        )
        stack.record()
        console.print(f"worker polling pool {settings.pool.name!r} (logs: {home}/logs/worker.log)")
    from tasklane.api import load_api_settings

    api = load_api_settings()
    stack.processes.append(
        stack_mod.start_process(
            "api", ["tasklane", "api"], stack_mod.prefect_env(api_url, home, auth_string=auth_string), home
        )
    )
    stack.record()
    console.print(f"REST API on http://{api.host}:{api.port} (tokens: `tasklane token create NAME --role R`)")
    # Live reload: a saved catalog file is applied a moment later, its plan in the log.
    stack.processes.append(
        stack_mod.start_process(
            "catalog-watch",
            ["tasklane", "apply", "--watch"],
            stack_mod.prefect_env(api_url, home, auth_string=auth_string),
            home,
        )
    )
    stack.record()
    console.print(f"catalog watched: a saved change is applied (plan: {home}/logs/catalog-watch.log)")
    console.print("\n[bold green]Tasklane is up.[/bold green]")
    console.print(f"  Console:    http://{api.host}:{api.port}/  (users: `tasklane user add NAME --role R`)")
    console.print(f"  Prefect UI: {settings.server.ui_url}", highlight=False)


def _server_auth(settings: Settings, console: Console) -> stack_mod.ServerAuth | None:
    """Prefect's basic auth when the server answers beyond loopback (its UI and API are for admins);
    the credentials are shown the first time only, with where they are kept."""
    if not stack_mod.beyond_loopback(settings.server.host):
        return None
    auth = stack_mod.server_auth(settings.home)
    if auth.created:
        console.print(
            f"Prefect's server listens on {settings.server.host}: basic auth is on for its API and UI.\n"
            f"  credentials: {auth.auth_string}  (user:password, the whole string is what Prefect's UI "
            f"asks for; shown this once, kept in {auth.path}, mode 0600, and in "
            f"{PREFECT_TOML.resolve()} for this directory's Prefect clients)",
            highlight=False,
        )
    else:
        console.print(
            f"Prefect's server listens on {settings.server.host}: basic auth is on "
            f"(credentials in {auth.path})",
            highlight=False,
        )
    return auth
