"""A fake Mattermost server (API v4 REST and websocket) as strict as the real one where it matters.

Long on purpose: one server, REST and websocket sharing one state (users, sessions, channels,
posts, connections); split, each half would reach into the other's internals.

What the real server does, each point from its source (the table with the sources and the test
of each row is tests/fakes/README.md (mattermost); the traffic is checked against the vendored API
description in the tests, tests/contracts/mattermost/):

- Auth: the ``MMAUTHTOKEN`` cookie first, then ``Authorization: Bearer <t>`` (or ``Token <t>``);
  a token in ``?access_token=`` is refused for a non-OAuth session. A cookie-authenticated
  request other than GET needs ``X-CSRF-Token`` (the session's) or ``X-Requested-With:
  XMLHttpRequest``. A missing, unknown or refused token: 401 ``api.context.session_expired``.
- ``POST /api/v4/users/login``: no token needed; 200 with the user and the session token in the
  ``Token`` header (cookies only for ``X-Requested-With: XMLHttpRequest``); bots may not log in
  with a password; bad credentials: 401.
- ``GET /api/v4/users/me``, ``/users/{id}``, ``/users/username/{name}``: 400 for a malformed id,
  404 for an unknown user.
- ``GET /api/v4/teams/name/{team}/channels/name/{channel}``: 404 for an unknown channel and for a
  private one the caller is not in; ``GET /api/v4/channels/{id}``: 404 unknown, 403 not readable.
- ``POST /api/v4/posts`` (201): 403 unless the caller is in the channel (a public channel of its
  team is enough); 400 for a message over 16,383 runes, for a root post that does not exist or is
  a reply itself; a ``pending_post_id`` seen within the last 30 s returns the post it created
  instead of a second one; a bot's posts get ``props.from_bot = "true"``.
- ``GET /api/v4/channels/{id}/posts``: ``page``/``per_page`` (60, at most 200), or every post
  changed after ``since`` (at most 1000); 403 when the channel is not readable.
- 429: ``limit exceeded``, text/plain, with ``X-Ratelimit-*`` and ``Retry-After``.

Websocket ``/api/v4/websocket``: a token in the upgrade request (cookie or header) authenticates
at once; else the client sends ``{"seq": 1, "action": "authentication_challenge", "data":
{"token": ...}}``. On a good token the server sends the ``hello`` event (seq 0), then ``{"status":
"OK", "seq_reply": 1}``, then ``posted`` events (``data.post`` a JSON *string*) to the members of
the post's channel. On a refused or missing token it closes the connection without a reply and
without a close frame (the client sees 1006). Before authentication nothing is answered.

Test hooks (`FakeMattermost`): users, channels and members; a post injected as a user (broadcast
like a real one); drop every websocket connection; refuse new ones for a while
(`websocket_available`); the next N REST calls answered 429 (Retry-After) or 5xx, before the
request is handled or after (the answer lost on the way back, `processed=True`); counters.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import string
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from tasklane.stack.peers._server import count_requests, wait_until

SERVER_VERSION = "9.11.0.9.11.0.fake.false"
MAX_POST_RUNES = 16383  # model.PostMessageMaxRunesV2 = 65535 bytes / 4
PENDING_POST_TTL = 30.0  # app/post.go pendingPostIDsCacheTTL
PER_PAGE_DEFAULT, PER_PAGE_MAX = 60, 200  # web/params.go
SINCE_LIMIT = 1000  # GetPostsSince returns at most this many posts
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID = re.compile(r"^[a-z0-9]{26}$")
_PERMISSIONS = ("api.context.permissions.app_error", "You do not have the appropriate permissions.")
_SESSION_EXPIRED = (
    "api.context.session_expired.app_error",
    "Invalid or expired session, please login again.",
)


def new_id() -> str:
    """A 26-character id like Mattermost's."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def app_error(status: int, error_id: str, message: str) -> JSONResponse:
    """The real error body (model.AppError, its detailed_error wiped as outside developer mode)."""
    return JSONResponse(
        {
            "id": error_id,
            "message": message,
            "detailed_error": "",
            "request_id": new_id(),
            "status_code": status,
        },
        status_code=status,
    )


def _invalid_url_param(name: str) -> JSONResponse:
    return app_error(
        400, "api.context.invalid_url_param.app_error", f"Invalid or missing {name} parameter in request URL."
    )


@dataclass
class _Fault:
    status: int
    retry_after: str | None
    methods: frozenset[str] | None
    path: str | None
    processed: bool  # handled first, then the answer replaced (lost on its way back)


@dataclass(eq=False)
class _Connection:
    websocket: WebSocket
    loop: asyncio.AbstractEventLoop
    lock: asyncio.Lock
    user_id: str | None = None
    seq: int = 0

    async def send_event(self, event: str, data: dict[str, Any], broadcast: dict[str, Any]) -> None:
        async with self.lock:
            message = {"event": event, "data": data, "broadcast": broadcast, "seq": self.seq}
            self.seq += 1
            await self.websocket.send_text(json.dumps(message))

    async def reply(self, payload: dict[str, Any]) -> None:
        async with self.lock:
            await self.websocket.send_text(json.dumps(payload))


@dataclass
class FakeMattermost:
    """The fake's state and test hooks; `app` is the ASGI app to serve with `_server.serve`.

    Users are all members of the one team; a channel's `members` are user ids (None: everyone).

    Examples:
        >>> fake = FakeMattermost()
        >>> alice = fake.add_user("alice", token="alice-token")
        >>> town = fake.add_channel("town-square")
        >>> fake.inject_post("alice", town, "hello")["message"]
        'hello'
    """

    team_name: str = "tasklane"
    bot_username: str = "tasklane-bot"
    bot_token: str = "bot-token"
    bot_password: str = "bot-password"  # kept, but refused: a bot may not log in with a password
    pending_post_ttl: float = PENDING_POST_TTL
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user id
    passwords: dict[str, str] = field(default_factory=dict)  # username -> password
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, set[str] | None] = field(default_factory=dict)  # channel -> user ids (None: all)
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    websocket_available: bool = True
    ws_connects: int = 0
    ws_auth_failures: int = 0

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.team = {
            "id": new_id(),
            "name": self.team_name,
            "display_name": self.team_name.title(),
            "type": "O",
        }
        self._csrf: dict[str, str] = {}  # token -> the session's CSRF token
        self._pending: dict[str, tuple[str, float]] = {}  # pending_post_id -> (post id, expiry)
        self._faults: deque[_Fault] = deque()
        self._connections: set[_Connection] = set()
        self._last_ms = 0
        self.bot_id = self.add_user(
            self.bot_username, token=self.bot_token, password=self.bot_password, is_bot=True
        )
        self.app = self._build_app()

    # -- state ----------------------------------------------------------------------------

    def _now_ms(self) -> int:
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return self._last_ms

    def add_user(
        self, username: str, *, token: str | None = None, password: str | None = None, is_bot: bool = False
    ) -> str:
        now = self._now_ms()
        user_id = new_id()
        with self.lock:
            self.users[user_id] = {
                "id": user_id,
                "create_at": now,
                "update_at": now,
                "delete_at": 0,
                "username": username,
                "auth_data": "",
                "auth_service": "",
                "email": f"{username}@example.com",
                "nickname": "",
                "first_name": "",
                "last_name": "",
                "position": "",
                "roles": "system_user",
                "locale": "en",
                "is_bot": is_bot,
            }
            if token:
                self.tokens[token] = user_id
            if password:
                self.passwords[username] = password
        return user_id

    def user_id(self, username: str) -> str:
        with self.lock:
            return next(u["id"] for u in self.users.values() if u["username"] == username)

    def add_channel(
        self, name: str, *, display_name: str | None = None, kind: str = "O", members: list[str] | None = None
    ) -> str:
        """A channel of the team: kind O (public), P (private) or D (direct); members are
        usernames (None: everyone)."""
        now = self._now_ms()
        channel_id = new_id()
        with self.lock:
            self.channels[channel_id] = {
                "id": channel_id,
                "create_at": now,
                "update_at": now,
                "delete_at": 0,
                "team_id": self.team["id"] if kind in ("O", "P") else "",
                "type": kind,
                "display_name": display_name or name,
                "name": name,
                "header": "",
                "purpose": "",
                "last_post_at": 0,
                "total_msg_count": 0,
                "extra_update_at": 0,
                "creator_id": self.bot_id,
                "scheme_id": None,
                "props": None,
                "group_constrained": None,
                "shared": None,
                "total_msg_count_root": 0,
                "policy_id": None,
                "last_root_post_at": 0,
            }
            self.members[channel_id] = None if members is None else {self.user_id(m) for m in members}
        return channel_id

    def direct_channel(self, username: str) -> str:
        """The direct channel between the bot and `username`."""
        other = self.user_id(username)
        name = "__".join(sorted([self.bot_id, other]))
        with self.lock:
            for channel in self.channels.values():
                if channel["name"] == name:
                    return channel["id"]
        return self.add_channel(name, display_name="", kind="D", members=[self.bot_username, username])

    def is_member(self, user_id: str, channel_id: str) -> bool:
        with self.lock:
            members = self.members.get(channel_id)
            return members is None or user_id in members

    def may_read(self, user_id: str, channel_id: str) -> bool:
        """Members read a channel; anyone of the team reads a public one."""
        with self.lock:
            return self.channels[channel_id]["type"] == "O" or self.is_member(user_id, channel_id)

    def _create_post(
        self,
        user_id: str,
        channel_id: str,
        message: str,
        root_id: str = "",
        props: dict | None = None,
        pending: str = "",
    ) -> tuple[dict[str, Any], bool]:
        with self.lock:
            if pending:
                seen = self._pending.get(pending)
                if seen is not None and seen[1] > time.monotonic() and seen[0] in self.posts:
                    return self.posts[seen[0]], False
            now = self._now_ms()
            props = dict(props or {})
            if self.users[user_id]["is_bot"]:
                props["from_bot"] = "true"
            post = {
                "id": new_id(),
                "create_at": now,
                "update_at": now,
                "edit_at": 0,
                "delete_at": 0,
                "is_pinned": False,
                "user_id": user_id,
                "channel_id": channel_id,
                "root_id": root_id or "",
                "original_id": "",
                "message": message,
                "type": "",
                "props": props,
                "hashtags": "",
                "pending_post_id": pending,
                "reply_count": 0,
                "last_reply_at": 0,
                "participants": None,
                "metadata": {},
            }
            self.posts[post["id"]] = post
            if pending:
                self._pending[pending] = (post["id"], time.monotonic() + self.pending_post_ttl)
            self.channels[channel_id]["last_post_at"] = now
            self.channels[channel_id]["total_msg_count"] += 1
            return post, True

    def inject_post(
        self, username: str, channel_id: str, message: str, *, root_id: str = ""
    ) -> dict[str, Any]:
        """A post by `username`, created and broadcast as if the user had typed it."""
        post, _ = self._create_post(self.user_id(username), channel_id, message, root_id)
        self._broadcast_posted(post)
        return post

    def posts_in(self, channel_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return sorted(
                (p for p in self.posts.values() if p["channel_id"] == channel_id),
                key=lambda p: p["create_at"],
            )

    def replies_to(self, post_id: str) -> list[dict[str, Any]]:
        with self.lock:
            root = self.posts[post_id]["root_id"] or post_id
            return sorted(
                (p for p in self.posts.values() if p["root_id"] == root), key=lambda p: p["create_at"]
            )

    def by_user(self, username: str) -> list[dict[str, Any]]:
        user_id = self.user_id(username)
        with self.lock:
            return sorted(
                (p for p in self.posts.values() if p["user_id"] == user_id), key=lambda p: p["create_at"]
            )

    # -- test hooks -----------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        retry_after: int | str | None = None,
        methods: set[str] | None = None,
        path: str | None = None,
        processed: bool = False,
    ) -> None:
        """Answer the next `count` REST calls (of `methods`, whose path contains `path`) with
        `status`; with `processed`, after handling them (as a proxy whose upstream answer is lost)."""
        fault = _Fault(
            status,
            None if retry_after is None else str(retry_after),
            frozenset(methods) if methods else None,
            path,
            processed,
        )
        with self.lock:
            self._faults.extend([fault] * count)

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def connections(self) -> int:
        with self.lock:
            return sum(1 for c in self._connections if c.user_id)

    def drop_connections(self, *, code: int = 1001) -> int:
        """Close every websocket connection from the server side, as a restarting server does."""
        with self.lock:
            connections = list(self._connections)
        for connection in connections:
            future = asyncio.run_coroutine_threadsafe(connection.websocket.close(code=code), connection.loop)
            try:
                future.result(timeout=5)
            except (RuntimeError, OSError, TimeoutError):
                pass  # already closing: that is the point
        return len(connections)

    def count(self, *, method: str | None = None, status: int | None = None, path: str | None = None) -> int:
        with self.lock:
            return count_requests(self.requests, method=method, status=status, path=path)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        return wait_until(predicate, timeout)

    # -- events ---------------------------------------------------------------------------

    def _broadcast_posted(self, post: dict[str, Any]) -> None:
        with self.lock:
            channel = self.channels[post["channel_id"]]
            members = self.members.get(channel["id"])
            sender = self.users[post["user_id"]]["username"]
            mentions = [
                u["id"]
                for u in self.users.values()
                if f"@{u['username']}" in post["message"] and u["id"] != post["user_id"]
            ]
            targets = [
                c for c in self._connections if c.user_id and (members is None or c.user_id in members)
            ]
        data: dict[str, Any] = {
            "channel_display_name": channel["display_name"],
            "channel_name": channel["name"],
            "channel_type": channel["type"],
            "post": json.dumps(post),
            "sender_name": f"@{sender}",
            "set_online": True,
            "team_id": channel["team_id"],
        }
        if mentions:
            data["mentions"] = json.dumps(mentions)
        broadcast = {
            "omit_users": None,
            "user_id": "",
            "channel_id": channel["id"],
            "team_id": "",
            "connection_id": "",
            "omit_connection_id": "",
        }
        for connection in targets:
            future = asyncio.run_coroutine_threadsafe(
                connection.send_event("posted", data, broadcast), connection.loop
            )
            try:
                future.result(timeout=5)
            except Exception:  # noqa: BLE001 - a connection closing meanwhile misses the event, as for real
                with self.lock:
                    self._connections.discard(connection)

    # -- the app --------------------------------------------------------------------------

    def _session(self, token: str | None) -> str | None:
        with self.lock:
            return self.tokens.get(token or "")

    @staticmethod
    def _token_of(
        headers: Mapping[str, str], cookies: Mapping[str, str], query: Mapping[str, str]
    ) -> tuple[str, str]:
        """(token, where) as app.ParseAuthTokenFromRequest reads them: cookie, header, query."""
        if cookies.get("MMAUTHTOKEN"):
            return cookies["MMAUTHTOKEN"], "cookie"
        header = headers.get("authorization", "")
        if len(header) > 6 and header[:6].upper() == "BEARER":
            return header[7:], "header"
        if len(header) > 5 and header[:5].lower() == "token":
            return header[6:], "header"
        if query.get("access_token"):
            return query["access_token"], "query"
        return "", ""

    def _authenticate(self, request: Request) -> tuple[str | None, JSONResponse | None]:
        """The caller's user id, or the real refusal (web/handlers.go ServeHTTP)."""
        token, where = self._token_of(request.headers, request.cookies, request.query_params)
        user_id = self._session(token) if token else None
        if where == "query" and user_id is not None:
            return None, app_error(
                401,
                "api.context.token_provided.app_error",
                "Session is not OAuth but token was provided in the query string",
            )
        if user_id is None:
            return None, app_error(401, *_SESSION_EXPIRED)
        if where == "cookie" and request.method != "GET":
            with self.lock:
                csrf = self._csrf.get(token)
            if request.headers.get("x-csrf-token") != csrf and (
                request.headers.get("x-requested-with") != "XMLHttpRequest"
            ):
                return None, app_error(401, *_SESSION_EXPIRED)  # "Appears to be a CSRF attempt"
        return user_id, None

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.lock:
            if self._faults:
                fault = self._faults[0]
                if (fault.methods is None or method in fault.methods) and (
                    fault.path is None or fault.path in path
                ):
                    return self._faults.popleft()
        return None

    @staticmethod
    def _fault_answer(fault: _Fault) -> Response:
        if fault.status == 429:
            # app/ratelimit.go: throttled's headers, then http.Error(w, "limit exceeded", 429).
            headers = {"X-Ratelimit-Limit": "10", "X-Ratelimit-Remaining": "0"}
            if fault.retry_after is not None:
                headers["Retry-After"] = fault.retry_after
                headers["X-Ratelimit-Reset"] = fault.retry_after
            headers["X-Content-Type-Options"] = "nosniff"
            return Response(
                "limit exceeded\n", status_code=429, headers=headers, media_type="text/plain; charset=utf-8"
            )
        return app_error(fault.status, "api.fake.unavailable", "Service temporarily unavailable")

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake Mattermost")
        app.state.peer_contract = "mattermost"  # the API description its traffic is checked against
        fake = self

        @app.middleware("http")
        async def faults_auth_and_counts(request: Request, call_next: Any) -> Response:
            method, path = request.method, request.url.path
            fault = fake._take_fault(method, path)
            response: Response
            if fault is not None and not fault.processed:
                await request.body()  # read, as a server does, so that the contract check sees it
                response = fake._fault_answer(fault)
            elif path == "/api/v4/users/login":
                response = await call_next(request)
            else:
                user_id, refusal = fake._authenticate(request)
                if refusal is not None:
                    await request.body()  # read, as above
                    response = refusal
                else:
                    request.state.user_id = user_id
                    response = await call_next(request)
            if fault is not None and fault.processed:
                response = fake._fault_answer(fault)
            with fake.lock:
                fake.requests.append((method, path, response.status_code))
                fake.statuses[response.status_code] += 1
            return response

        @app.post("/api/v4/users/login")
        async def login(request: Request) -> Response:
            body = await request.json()
            username = body.get("login_id", "")
            with fake.lock:
                user = next((u for u in fake.users.values() if u["username"] == username), None)
                if user is not None and user["is_bot"]:
                    return app_error(
                        401, "api.user.login.bot_login_forbidden.app_error", "Bot login is forbidden."
                    )
                if user is None or fake.passwords.get(username) != body.get("password"):
                    return app_error(
                        401,
                        "api.user.login.invalid_credentials_email_username",
                        "Enter a valid email or username and/or password.",
                    )
                token, csrf = new_id(), new_id()
                fake.tokens[token] = user["id"]
                fake._csrf[token] = csrf
                user = dict(user)
            response = JSONResponse(user, headers={"Token": token})
            if request.headers.get("x-requested-with") == "XMLHttpRequest":  # app.AttachSessionCookies
                response.set_cookie("MMAUTHTOKEN", token, httponly=True)
                response.set_cookie("MMUSERID", user["id"])
                response.set_cookie("MMCSRF", csrf)
            return response

        def user_answer(user_id: str) -> Response:
            with fake.lock:
                if user_id in fake.users:
                    return JSONResponse(fake.users[user_id])
            return app_error(404, "app.user.missing_account.const", "Unable to find the user.")

        @app.get("/api/v4/users/username/{username}")
        def user_by_name(username: str) -> Response:
            with fake.lock:
                found = next((u["id"] for u in fake.users.values() if u["username"] == username), "")
            return user_answer(found)

        @app.get("/api/v4/users/{user_id}")
        def user(request: Request, user_id: str) -> Response:
            if user_id == "me":
                user_id = request.state.user_id
            elif not _ID.match(user_id):
                return _invalid_url_param("user_id")
            return user_answer(user_id)

        @app.get("/api/v4/teams/name/{team}/channels/name/{name}")
        def channel_by_name(request: Request, team: str, name: str) -> Response:
            with fake.lock:
                found = next(
                    (
                        c
                        for c in fake.channels.values()
                        if team == fake.team["name"] and c["name"] == name and c["team_id"] == fake.team["id"]
                    ),
                    None,
                )
                # A private channel the caller is not in is answered as if it did not exist.
                if found is not None and fake.may_read(request.state.user_id, found["id"]):
                    return JSONResponse(found)
            return app_error(404, "app.channel.get_by_name.missing.app_error", "Channel does not exist.")

        def readable_channel(user_id: str, channel_id: str) -> Response | None:
            """None when `user_id` may read the channel, else the refusal."""
            if not _ID.match(channel_id):
                return _invalid_url_param("channel_id")
            with fake.lock:
                if channel_id not in fake.channels:
                    return app_error(
                        404, "app.channel.get.existing.app_error", "Unable to find the existing channel."
                    )
                if not fake.may_read(user_id, channel_id):
                    return app_error(403, *_PERMISSIONS)
            return None

        @app.get("/api/v4/channels/{channel_id}")
        def channel(request: Request, channel_id: str) -> Response:
            refusal = readable_channel(request.state.user_id, channel_id)
            if refusal is not None:
                return refusal
            with fake.lock:
                return JSONResponse(fake.channels[channel_id])

        @app.post("/api/v4/posts")
        def create_post(request: Request, body: dict[str, Any]) -> Response:
            user_id = request.state.user_id
            channel_id = str(body.get("channel_id") or "")
            message = str(body.get("message") or "")
            root_id = str(body.get("root_id") or "")
            with fake.lock:
                channel = fake.channels.get(channel_id)
                # api4 userCreatePostPermissionCheckWithContext: create_post in the channel, or
                # create_post_public (every team member) in a public channel of the team.
                allowed = channel is not None and (
                    channel["type"] == "O" or fake.is_member(user_id, channel_id)
                )
                root = fake.posts.get(root_id) if root_id else None
            if not allowed:
                return app_error(403, *_PERMISSIONS)
            if root_id and (root is None or root["root_id"]):
                return app_error(400, "api.post.create_post.root_id.app_error", "Invalid RootId parameter.")
            if root is not None and root["channel_id"] != channel_id:
                return app_error(
                    500,
                    "api.post.create_post.channel_root_id.app_error",
                    "Invalid ChannelId for RootId parameter.",
                )
            if len(message) > MAX_POST_RUNES:  # model.Post.IsValid counts runes: str length
                return app_error(400, "model.post.is_valid.msg.app_error", "Invalid message.")
            post, created = fake._create_post(
                user_id,
                channel_id,
                message,
                root_id,
                body.get("props"),
                str(body.get("pending_post_id") or ""),
            )
            if created:
                fake._broadcast_posted(post)
            return JSONResponse(post, status_code=201)

        @app.get("/api/v4/channels/{channel_id}/posts")
        def channel_posts(
            request: Request, channel_id: str, since: int = 0, page: int = 0, per_page: int = PER_PAGE_DEFAULT
        ) -> Response:
            refusal = readable_channel(request.state.user_id, channel_id)
            if refusal is not None:
                return refusal
            per_page = PER_PAGE_DEFAULT if per_page < 0 else min(per_page, PER_PAGE_MAX)
            with fake.lock:
                posts = [p for p in fake.posts.values() if p["channel_id"] == channel_id]
                if since:
                    posts = sorted((p for p in posts if p["update_at"] > since), key=lambda p: p["create_at"])
                    posts = posts[:SINCE_LIMIT][::-1]
                else:
                    posts.sort(key=lambda p: p["create_at"], reverse=True)
                    posts = posts[page * per_page : (page + 1) * per_page]
                return JSONResponse(
                    {
                        "order": [p["id"] for p in posts],
                        "posts": {p["id"]: p for p in posts},
                        "next_post_id": "",
                        "prev_post_id": "",
                        "has_next": False,
                    }
                )

        @app.websocket("/api/v4/websocket")
        async def websocket(ws: WebSocket) -> None:
            with fake.lock:
                fake.ws_connects += 1
                available = fake.websocket_available
            if not available:
                await ws.close(code=1013)  # before accept: the upgrade is refused with an HTTP error
                return
            await ws.accept()
            connection = _Connection(ws, asyncio.get_running_loop(), asyncio.Lock())
            with fake.lock:
                fake._connections.add(connection)
            try:
                # A good token in the upgrade request authenticates at once (a bad one is ignored).
                token, where = fake._token_of(ws.headers, ws.cookies, {})
                if where and fake._session(token):
                    await fake._welcome(connection, fake._session(token) or "")
                while True:
                    try:
                        message = json.loads(await ws.receive_text())
                    except ValueError:
                        return  # web_conn.go readPump: a message it cannot decode ends the connection
                    if not isinstance(message, dict) or not await fake._serve_ws_message(connection, message):
                        return  # closed without a reply or close frame: the client sees 1006
            except WebSocketDisconnect:
                pass
            finally:
                with fake.lock:
                    fake._connections.discard(connection)

        return app

    async def _welcome(self, connection: _Connection, user_id: str) -> None:
        """Register an authenticated connection: the hello event (web_hub.go, on register)."""
        connection.user_id = user_id
        await connection.send_event(
            "hello",
            {"server_version": SERVER_VERSION, "connection_id": new_id(), "server_hostname": "fake"},
            {"omit_users": None, "user_id": user_id, "channel_id": "", "team_id": ""},
        )

    async def _serve_ws_message(self, connection: _Connection, message: dict[str, Any]) -> bool:
        """Answer one client message as platform/websocket_router.go does; False: close the
        connection without a reply (a refused authentication challenge)."""
        seq, action = message.get("seq"), message.get("action")
        if not action or not isinstance(seq, int) or seq <= 0:
            error = (
                ("api.web_socket_router.no_action.app_error", "No websocket action.")
                if not action
                else ("api.web_socket_router.bad_seq.app_error", "Invalid sequence for WebSocket message.")
            )
            if connection.user_id:  # the hub drops any reply to a connection not registered yet
                await connection.reply(
                    {
                        "status": "FAIL",
                        "seq_reply": seq,
                        "error": {"id": error[0], "message": error[1], "status_code": 400},
                    }
                )
            return True
        if action == "authentication_challenge":
            if connection.user_id:
                return True  # already authenticated: ignored
            token = (message.get("data") or {}).get("token")
            user_id = self._session(token) if isinstance(token, str) else None
            if user_id is None:
                with self.lock:
                    self.ws_auth_failures += 1
                return False
            await self._welcome(connection, user_id)
            await connection.reply({"status": "OK", "seq_reply": seq})
            return True
        if connection.user_id:
            await connection.reply(
                {
                    "status": "FAIL",
                    "seq_reply": seq,
                    "error": {
                        "id": "api.web_socket_router.bad_action.app_error",
                        "message": "Unknown WebSocket action.",
                        "status_code": 500,
                    },
                }
            )
        return True
