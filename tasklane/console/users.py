"""The console's users: names, roles, group grants and argon2 password hashes, in a file.

`console-users.json` under the Tasklane home (mode 0600), kept like the API's tokens
(`tasklane.api.auth.TokenStore`): a file the account running Tasklane alone can write, not a
Prefect Variable anyone reaching the open-source server could read and change. Only argon2id
hashes are stored (argon2-cffi's `PasswordHasher` with its defaults), never a password.

A user is a `tasklane.api.auth.Caller` (name, role, groups): the console checks the same roles
(viewer < operator < admin) and group grants the API checks for a token.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tasklane.api.auth import ROLES, Caller

USERS_FILE = "console-users.json"
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
# Verified against when the name is unknown, so a wrong name takes as long as a wrong password
# (the answer's timing does not tell which names exist).
_DUMMY_HASH = _hasher.hash("tasklane-console-no-such-user")


class UserError(ValueError):
    """A user that cannot be made or changed as asked (the message says why)."""


@dataclass(frozen=True)
class User:
    """A console user as stored (the hash included: never shown, never sent to a browser)."""

    name: str
    role: str
    groups: tuple[str, ...]
    password_hash: str

    @property
    def caller(self) -> Caller:
        return Caller(self.name, self.role, self.groups)  # type: ignore[arg-type]

    @property
    def fingerprint(self) -> str:
        """A short digest of the hash: a session carries it, so a new password ends old sessions."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters (got {len(password)})")


class UserStore:
    """The users of one file, re-read when the file changes (a user added while the API runs)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._users: dict[str, User] = {}

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"users": []}

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp: tuple[float, int] | None = (stat.st_mtime, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and (stamp is not None or not self._users):
            return
        with self._lock:
            self._users = {
                entry["name"]: User(
                    entry["name"], entry["role"], tuple(entry.get("groups") or ()), entry["argon2"]
                )
                for entry in self._read().get("users", [])
            }
            self._stamp = stamp

    def get(self, name: str) -> User | None:
        self._refresh()
        return self._users.get(name)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user, if `password` is theirs; None otherwise (unknown name or wrong password)."""
        user = self.get(name)
        try:
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user

    def add(self, name: str, role: str, password: str, groups: list[str] | None = None) -> None:
        """Add a user (an existing name is refused: `set_password` changes a password)."""
        if role not in ROLES:
            raise UserError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        if not name or not name.strip() or name != name.strip() or ":" in name:
            raise UserError(
                f"a user name must be non-empty, without surrounding spaces or ':' (got {name!r})"
            )
        check_password(password)
        with self._lock:
            entries = self._read().get("users", [])
            if any(e["name"] == name for e in entries):
                raise UserError(
                    f"user {name!r} exists already (`tasklane user passwd {name}` changes a password)"
                )
            now = datetime.now(UTC).isoformat()
            entries.append(
                {
                    "name": name,
                    "role": role,
                    "groups": sorted(set(groups or [])),
                    "argon2": _hasher.hash(password),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            self._write(entries)

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        with self._lock:
            entries = self._read().get("users", [])
            for entry in entries:
                if entry["name"] == name:
                    entry["argon2"] = _hasher.hash(password)
                    entry["updated_at"] = datetime.now(UTC).isoformat()
                    break
            else:
                raise UserError(f"no user {name!r}")
            self._write(entries)

    def remove(self, name: str) -> bool:
        with self._lock:
            entries = self._read().get("users", [])
            kept = [e for e in entries if e["name"] != name]
            if len(kept) == len(entries):
                return False
            self._write(kept)
        return True

    def list(self) -> list[dict[str, Any]]:
        """name, role, groups, created_at and updated_at of each user (never the hash)."""
        keys = ("name", "role", "groups", "created_at", "updated_at")
        return [{k: e.get(k) for k in keys} for e in self._read().get("users", [])]

    def _write(self, entries: list[dict[str, Any]]) -> None:
        """Replace the file at once (readable by its owner only); the caller holds the lock."""
        write_private(self.path, json.dumps({"users": entries}, indent=2))
        self._stamp = None


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, mode 0600, replacing it at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)  # an old temporary file keeps its mode through O_TRUNC
    os.replace(tmp, path)


def users_path(home: Path) -> Path:
    return Path(home) / USERS_FILE


def user_store(settings=None) -> UserStore:
    """The store of the settings' home (default: `get_settings()`)."""
    from tasklane.settings import get_settings

    settings = settings or get_settings()
    return UserStore(users_path(Path(settings.home)))
