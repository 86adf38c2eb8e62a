"""The console's users file: argon2 hashes only, owner-readable, roles checked."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tasklane.console.users import UserError, UserStore, users_path

PASSWORD = "s3cret-enough"


@pytest.fixture
def store(tmp_path: Path) -> UserStore:
    return UserStore(users_path(tmp_path))


def test_a_user_is_stored_as_an_argon2_hash_in_a_0600_file(store: UserStore) -> None:
    store.add("alice", "operator", PASSWORD, ["ops", "ops"])
    text = store.path.read_text()
    assert PASSWORD not in text
    (entry,) = json.loads(text)["users"]
    assert entry["argon2"].startswith("$argon2id$")
    assert entry["groups"] == ["ops"]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert store.authenticate("alice", PASSWORD).caller.has("operator")
    assert store.authenticate("alice", PASSWORD).caller.can_see("ops")
    assert not store.authenticate("alice", PASSWORD).caller.can_see("finance")
    assert store.authenticate("alice", "wrong password") is None
    assert store.authenticate("nobody", PASSWORD) is None
    assert "argon2" not in store.list()[0]


def test_a_new_password_changes_the_fingerprint_and_the_old_one_stops_working(store: UserStore) -> None:
    store.add("alice", "viewer", PASSWORD)
    before = store.get("alice").fingerprint
    store.set_password("alice", "another-password")
    assert store.get("alice").fingerprint != before
    assert store.authenticate("alice", PASSWORD) is None
    assert store.authenticate("alice", "another-password") is not None


def test_a_store_sees_users_another_process_added(tmp_path: Path) -> None:
    serving, cli = UserStore(users_path(tmp_path)), UserStore(users_path(tmp_path))
    assert serving.get("bob") is None
    cli.add("bob", "admin", PASSWORD)
    assert serving.get("bob").role == "admin"
    assert cli.remove("bob") and not cli.remove("bob")
    assert serving.get("bob") is None


@pytest.mark.parametrize(
    ("name", "role", "password", "says"),
    [
        ("carol", "root", PASSWORD, "unknown role 'root'"),
        ("", "viewer", PASSWORD, "user name"),
        ("token:x", "viewer", PASSWORD, "user name"),
        ("carol", "viewer", "short", "at least 8 characters"),
    ],
)
def test_bad_users_are_refused_with_the_reason(store: UserStore, name, role, password, says) -> None:
    with pytest.raises(UserError, match=says):
        store.add(name, role, password)
    assert not store.path.exists()


def test_a_name_is_added_once(store: UserStore) -> None:
    store.add("dave", "viewer", PASSWORD)
    with pytest.raises(UserError, match="exists already"):
        store.add("dave", "admin", PASSWORD)
    assert store.get("dave").role == "viewer"
