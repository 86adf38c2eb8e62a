"""`tasklane user add|list|passwd|remove`: the console's users from the command line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasklane.cli import users as users_cli
from tasklane.console.users import UserStore, users_path
from tasklane.settings import Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: str) -> Path:
    monkeypatch.setattr(users_cli, "get_settings", lambda: Settings(home=tmp_path))
    return tmp_path


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(users_cli.app, ["user", *args], input=input)


def test_add_list_passwd_remove(home: Path) -> None:
    store = UserStore(users_path(home))
    added = run(
        "add", "alice", "--role", "operator", "--group", "ops", "--password-stdin", input="first-password\n"
    )
    assert added.exit_code == 0, added.output
    assert "user 'alice' (operator, groups ops) added" in added.output
    assert store.authenticate("alice", "first-password").caller.groups == ("ops",)

    # Asked twice, hidden, when not given on stdin.
    prompted = run("add", "bob", "--role", "viewer", input="bob-password\nbob-password\n")
    assert prompted.exit_code == 0, prompted.output
    assert store.authenticate("bob", "bob-password") is not None

    listed = run("list")
    assert re.search(r"^alice\s+operator\s+groups: ops\s+since 20", listed.output, re.M), listed.output
    assert re.search(r"^bob\s+viewer\s+groups: -", listed.output, re.M), listed.output
    assert "argon2" not in listed.output

    changed = run("passwd", "alice", "--password-stdin", input="second-password\n")
    assert changed.exit_code == 0 and store.authenticate("alice", "second-password") is not None
    assert store.authenticate("alice", "first-password") is None

    assert run("remove", "alice").exit_code == 0
    assert store.get("alice") is None


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("add", "carol", "--role", "boss", "--password-stdin"), "long-enough-pw\n", "unknown role 'boss'"),
        (("add", "carol", "--role", "viewer", "--password-stdin"), "short\n", "at least 8 characters"),
        (("passwd", "nobody", "--password-stdin"), "long-enough-pw\n", "no user 'nobody'"),
        (("remove", "nobody"), None, "no user 'nobody'"),
    ],
)
def test_mistakes_say_what_is_wrong_and_exit_2(home: Path, args, stdin, says) -> None:
    result = run(*args, input=stdin)
    assert result.exit_code == 2
    assert says in result.output
    assert "Traceback" not in result.output
