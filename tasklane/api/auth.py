"""API tokens and roles.

A token is shown once, when it is created, and only its sha256 is stored, in a JSON file under
the Tasklane home (`api-tokens.json`, mode 0600). Why a file and not a Prefect Variable: the
open-source Prefect server has no authentication, so anyone who can reach its API could read
*and write* a Variable, adding an admin token of their own; the file is writable only by the
account that runs Tasklane, works before the server is up, and never shows in the Prefect UI.
sha256 (not a slow password hash) is enough because tokens are 256 random bits, not passwords.

Roles, each including the one before: `viewer` reads; `operator` also runs, enables, disables
and reports; `admin` also creates, edits and deletes tasks, uses templates and starts/stops the
scheduler. A token may be limited to some task groups: it then sees and acts on those only.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from tasklane.api.settings import load_api_settings
from tasklane.settings import get_settings

ROLES = ("viewer", "operator", "admin")
Role = Literal["viewer", "operator", "admin"]
TOKEN_PREFIX = "tl_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's name (never the token), role and group grants."""

    name: str
    role: Role
    groups: tuple[str, ...] = field(default_factory=tuple)

    def has(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def can_see(self, group: str | None) -> bool:
        return not self.groups or (group or "default") in self.groups


class TokenStore:
    """The hashed tokens of one file, re-read when the file changes (a token made while the API runs)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[float, int] | None = None
        self._by_hash: dict[str, Caller] = {}

    def _read(self) -> dict:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"tokens": []}

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and (stamp is not None or not self._by_hash):
            return
        with self._lock:
            document = self._read()
            self._by_hash = {
                entry["sha256"]: Caller(entry["name"], entry["role"], tuple(entry.get("groups") or ()))
                for entry in document.get("tokens", [])
            }
            self._stamp = stamp

    def caller(self, token: str) -> Caller | None:
        self._refresh()
        return self._by_hash.get(_hash(token))

    def create(self, name: str, role: str, groups: list[str] | None = None) -> str:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        if not name or not name.strip():
            raise ValueError("a token needs a name")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            document = self._read()
            entries = [e for e in document.get("tokens", []) if e["name"] != name]
            entries.append(
                {
                    "name": name,
                    "role": role,
                    "groups": sorted(set(groups or [])),
                    "sha256": _hash(token),
                    "created_at": datetime.now(UTC).isoformat(),
                }
            )
            self._write(entries)
        return token

    def revoke(self, name: str) -> bool:
        with self._lock:
            document = self._read()
            entries = document.get("tokens", [])
            kept = [e for e in entries if e["name"] != name]
            if len(kept) == len(entries):
                return False
            self._write(kept)
        return True

    def _write(self, entries: list[dict]) -> None:
        """Replace the token file at once (readable by its owner only); the caller holds the lock."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"tokens": entries}, out, indent=2)
        os.replace(tmp, self.path)
        self._stamp = None

    def list(self) -> list[dict]:
        """name, role, groups and created_at of each token (never the hash)."""
        return [
            {k: e.get(k) for k in ("name", "role", "groups", "created_at")}
            for e in self._read().get("tokens", [])
        ]


def _store(settings=None) -> TokenStore:
    settings = settings or get_settings()
    api = getattr(settings, "api", None) or load_api_settings()
    return TokenStore(api.tokens_path(Path(settings.home)))


def create_token(name: str, role: str, groups: list[str] | None = None, settings=None) -> str:
    """Create (or replace) the token `name` with this role and group grants; return it (shown once).

    For `tasklane token create NAME --role R [--group G ...]`.
    """
    return _store(settings).create(name, role, groups)


def revoke_token(name: str, settings=None) -> bool:
    """Delete the token `name`; whether it existed. For `tasklane token revoke NAME`."""
    return _store(settings).revoke(name)


def list_tokens(settings=None) -> list[dict]:
    """The tokens' names, roles and groups. For `tasklane token list`."""
    return _store(settings).list()
