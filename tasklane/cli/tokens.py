"""`tasklane token create|list|revoke`: the REST API's bearer tokens and their roles."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tasklane.cli._shared import audited_call, console, err
from tasklane.settings import get_settings

app = typer.Typer()


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
        token = audited_call(
            "token.created",
            lambda: create_token(name, role, group or None, get_settings()),
            resource=f"tasklane.token.{name}",
            change={"role": role, "groups": group or []},
        )
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

    revoked = audited_call(
        "token.revoked",
        lambda: revoke_token(name, get_settings()),
        resource=f"tasklane.token.{name}",
        change={"revoke": name},
        result_of=lambda done: "ok" if done else "ok; no such token",
    )
    console.print("revoked" if revoked else f"no token named {name!r}")
