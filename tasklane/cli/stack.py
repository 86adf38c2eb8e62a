"""The local stack: `tasklane up` (server, pool, blocks, catalog, worker, sandbox, API),
`tasklane down`, and `tasklane api` (the REST API alone)."""

from __future__ import annotations

import signal
import time
from typing import Annotated

import typer

from deployments.errors import DeploymentsError
from tasklane.cli._shared import console, err
from tasklane.settings import get_settings

app = typer.Typer()


@app.command()
def api() -> None:
    """Serve the old systems' REST API over the Prefect server (port: TASKLANE_API__PORT, default 8300)."""
    from tasklane.api import serve

    serve(get_settings())


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
    except DeploymentsError as exc:
        # A bad catalog or setting (e.g. history.maintenance_cron): say which, stop what started.
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
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
