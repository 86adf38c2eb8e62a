"""Sessions, CSRF tokens and the slowing down of failed sign-ins.

A session is a cookie signed with itsdangerous (what Starlette's SessionMiddleware signs with),
HttpOnly, SameSite=Lax, Secure when the console is served over https, good for
`SESSION_SECONDS`. It holds the user's name, the fingerprint of their password hash (a new
password ends every older session) and the session's CSRF token; the user's role and groups
are read from the users file on every request, so a change of role counts at once. A browser
gets a session before it signs in too (its CSRF token guards the sign-in form), and a new one
when it signs in.

The signing secret is made once and kept in `console-secret` under the Tasklane home (0600).

CSRF: every POST carries the session's token, in the form's `csrf` field or htmx's
`X-CSRF-Token` header (`hx-headers` on the page's body); missing or wrong -> 403.

Failed sign-ins, per user name and client address: the first `FREE_FAILURES` cost nothing; each
one after locks that name from that address for 2^(n - FREE_FAILURES - 1) seconds (1, 2, 4, ...,
at most `MAX_LOCK_SECONDS`), during which a sign-in is refused (429) without its password being
checked. A success forgets the failures. Kept in memory: a restart forgives.
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from tasklane.console.users import write_private

SECRET_FILE = "console-secret"
COOKIE = "tasklane_console"
SESSION_SECONDS = 12 * 3600
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
FREE_FAILURES = 3
MAX_LOCK_SECONDS = 15 * 60


def load_secret(home: Path) -> str:
    """The console's signing secret, made (0600) the first time."""
    path = Path(home) / SECRET_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    if not text:
        text = secrets.token_urlsafe(48)
        write_private(path, text + "\n")
    elif path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return text


@dataclass(frozen=True)
class Session:
    csrf: str
    user: str | None = None
    fingerprint: str | None = None


def new_session(user: str | None = None, fingerprint: str | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(24), user=user, fingerprint=fingerprint)


class Sessions:
    """Reads and writes the session cookie."""

    def __init__(self, secret: str, max_age: int = SESSION_SECONDS):
        self._serializer = URLSafeTimedSerializer(secret, salt="tasklane.console.session")
        self.max_age = max_age

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = self._serializer.loads(raw, max_age=self.max_age)
            return Session(csrf=str(data["c"]), user=data.get("u"), fingerprint=data.get("f"))
        except (BadSignature, KeyError, TypeError):
            return None

    def write(self, response: Response, request: Request, session: Session) -> None:
        value = self._serializer.dumps({"c": session.csrf, "u": session.user, "f": session.fingerprint})
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )

    def clear(self, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/")


def signed_out(session: Session) -> Session:
    return replace(session, user=None, fingerprint=None)


def csrf_ok(session: Session | None, sent: str | None) -> bool:
    return bool(session and sent) and hmac.compare_digest(session.csrf.encode(), str(sent).encode())


class LoginThrottle:
    """Failed sign-ins per (user name, client address), and the lock they earn (see the module)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], tuple[int, float]] = {}

    @staticmethod
    def _key(name: str, client: str) -> tuple[str, str]:
        return name.strip().lower(), client

    def wait_seconds(self, name: str, client: str) -> float:
        """How long this name is still locked from this address (0: it may try)."""
        with self._lock:
            count, last = self._failures.get(self._key(name, client), (0, 0.0))
        if count <= FREE_FAILURES:
            return 0.0
        lock = min(2.0 ** (count - FREE_FAILURES - 1), MAX_LOCK_SECONDS)
        return max(0.0, last + lock - self.clock())

    def failed(self, name: str, client: str) -> None:
        key = self._key(name, client)
        with self._lock:
            count, _ = self._failures.get(key, (0, 0.0))
            self._failures[key] = (count + 1, self.clock())
            if len(self._failures) > 10_000:  # bounded: forget the oldest
                oldest = min(self._failures, key=lambda k: self._failures[k][1])
                del self._failures[oldest]

    def succeeded(self, name: str, client: str) -> None:
        with self._lock:
            self._failures.pop(self._key(name, client), None)
