"""`tasklane user add|list|remove|passwd`: the console's users, their roles and passwords."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from tasklane.cli._shared import audited_call, console, err
from tasklane.settings import get_settings

app = typer.Typer()

user_app = typer.Typer(
    help="Console users (a password, a role, optional group grants).", no_args_is_help=True
)
app.add_typer(user_app, name="user")

PasswordStdin = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of standard input."),
]


def _password(from_stdin: bool) -> str:
    """The new password: stdin's first line, else asked twice (hidden)."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc}", highlight=False)
    return typer.Exit(2)


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option("--role", "-r", help="viewer, operator or admin.")],
    group: Annotated[list[str] | None, typer.Option("--group", "-g", help="Limit to these groups.")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a user who signs in to the console (only the password's argon2 hash is kept)."""
    from tasklane.console.users import UserError, user_store

    store = user_store(get_settings())
    password = _password(password_stdin)
    try:
        audited_call(
            "user.created",
            lambda: store.add(name, role, password, group or None),
            resource=f"tasklane.user.{name}",
            change={"role": role, "groups": group or []},
        )
    except UserError as exc:
        raise _fail(exc) from None
    groups = f", groups {', '.join(sorted(set(group)))}" if group else ""
    console.print(f"user {name!r} ({role}{groups}) added", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """User names, roles and groups (never a password or its hash)."""
    from tasklane.console.users import user_store

    users = user_store(get_settings()).list()
    if not users:
        console.print("no users (`tasklane user add NAME --role R` adds one)")
    for item in users:
        groups = ",".join(item.get("groups") or []) or "-"
        console.print(
            f"{item['name']}\t{item['role']}\tgroups: {groups}\tsince {item['created_at']}", highlight=False
        )


@user_app.command("remove")
def user_remove(name: str) -> None:
    """Remove a user (their sessions end with it)."""
    from tasklane.console.users import user_store

    store = user_store(get_settings())
    removed = audited_call(
        "user.removed",
        lambda: store.remove(name),
        resource=f"tasklane.user.{name}",
        change={"remove": name},
        result_of=lambda done: "ok" if done else "ok; no such user",
    )
    if not removed:
        raise _fail(ValueError(f"no user {name!r}"))
    console.print(f"user {name!r} removed", highlight=False)


@user_app.command("passwd")
def user_passwd(name: str, password_stdin: PasswordStdin = False) -> None:
    """Set a user's password (their other sessions end)."""
    from tasklane.console.users import UserError, user_store

    store = user_store(get_settings())
    if store.get(name) is None:
        raise _fail(ValueError(f"no user {name!r} (`tasklane user list` lists them)"))
    password = _password(password_stdin)
    try:
        audited_call(
            "user.password_changed",
            lambda: store.set_password(name, password),
            resource=f"tasklane.user.{name}",
            change={"password": "changed"},
        )
    except UserError as exc:
        raise _fail(exc) from None
    console.print(f"password of {name!r} changed", highlight=False)
