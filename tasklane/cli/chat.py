"""`tasklane listen`: run the Mattermost chat bot (`tasklane.chat.bot`)."""

from __future__ import annotations

import typer

from tasklane.cli._shared import console, err, target_of
from tasklane.settings import get_settings

app = typer.Typer()


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
            target=target_of(settings),
        )
    except (ValueError, AuthenticationError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        console.print("stopped.")
