"""A fake Mattermost server (API v4 REST and websocket), enough for mattermostdriver and the listener.

REST, with the real paths and payload shapes:

- ``POST /api/v4/users/login`` (answers a session token in the ``Token`` header),
- ``GET  /api/v4/users/me``, ``/api/v4/users/{id}``, ``/api/v4/users/username/{name}``,
- ``GET  /api/v4/teams/name/{team}/channels/name/{channel}``, ``/api/v4/channels/{id}``,
- ``POST /api/v4/posts`` (201; a repeated ``pending_post_id`` returns the first post, as the real
  server de-duplicates resends),
- ``GET  /api/v4/channels/{id}/posts?since=`` (a PostList of the posts updated after ``since``).

Every REST call needs ``Authorization: Bearer <token>`` (or the ``MMAUTHTOKEN`` cookie); a bad
token gets the real 401 body.

Websocket ``/api/v4/websocket``, the real protocol: the client sends
``{"seq": 1, "action": "authentication_challenge", "data": {"token": ...}}``; the server answers
``{"status": "OK", "seq_reply": 1}`` and a ``hello`` event (seq 0), then ``posted`` events whose
``data.post`` is the post as a JSON *string*, to the members of the post's channel.

Test hooks: create users and channels, inject a post as a user (broadcast like a real post),
drop every websocket connection, refuse new websocket connections for a while (the server is
"down"), the next N REST calls answered 429 (Retry-After) or 5xx, counters.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response

from tasklane.stack.peers._server import count_requests, wait_until

SERVER_VERSION = "9.11.0.9.11.0.fake.false"
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_id() -> str:
    """A 26-character id like Mattermost's."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(26))


def _app_error(status: int, error_id: str, message: str) -> JSONResponse:
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


@dataclass
class _Fault:
    status: int
    retry_after: str | None
    methods: frozenset[str] | None
    path: str | None


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
    bot_password: str = "bot-password"
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
        self._pending: dict[str, str] = {}
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
        """A channel of the team (members: usernames; None: everyone)."""
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
            if pending and pending in self._pending:
                return self.posts[self._pending[pending]], False
            now = self._now_ms()
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
                "props": props or {},
                "hashtags": "",
                "pending_post_id": pending,
                "reply_count": 0,
                "last_reply_at": 0,
                "participants": None,
                "metadata": {},
            }
            self.posts[post["id"]] = post
            if pending:
                self._pending[pending] = post["id"]
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
    ) -> None:
        """Answer the next `count` REST calls (of `methods`, whose path contains `path`) with `status`."""
        fault = _Fault(
            status,
            None if retry_after is None else str(retry_after),
            frozenset(methods) if methods else None,
            path,
        )
        with self.lock:
            self._faults.extend([fault] * count)

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

    def _token_of(self, headers: Any, cookies: dict[str, str]) -> str | None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "token") and value.strip():
            return value.strip()
        return cookies.get("MMAUTHTOKEN")

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.lock:
            if self._faults:
                fault = self._faults[0]
                if (fault.methods is None or method in fault.methods) and (
                    fault.path is None or fault.path in path
                ):
                    return self._faults.popleft()
        return None

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="fake Mattermost")
        app.state.peer_contract = "mattermost"  # the API description its traffic is checked against
        fake = self

        @app.middleware("http")
        async def faults_auth_and_counts(request: Request, call_next: Any) -> Response:
            method, path = request.method, request.url.path
            fault = fake._take_fault(method, path)
            if fault is not None:
                if fault.status == 429:
                    headers = {"X-Ratelimit-Limit": "10", "X-Ratelimit-Remaining": "0"}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = fault.retry_after
                        headers["X-Ratelimit-Reset"] = fault.retry_after
                    response: Response = Response("limit exceeded\n", status_code=429, headers=headers)
                else:
                    response = _app_error(
                        fault.status, "api.fake.unavailable", "Service temporarily unavailable"
                    )
            elif path == "/api/v4/users/login":
                response = await call_next(request)
            else:
                token = fake._token_of(request.headers, request.cookies)
                user_id = fake.tokens.get(token or "")
                if user_id is None:
                    response = _app_error(
                        401,
                        "api.context.session_expired.app_error",
                        "Invalid or expired session, please login again.",
                    )
                else:
                    request.state.user_id = user_id
                    response = await call_next(request)
            with fake.lock:
                fake.requests.append((method, path, response.status_code))
                fake.statuses[response.status_code] += 1
            return response

        @app.post("/api/v4/users/login")
        async def login(request: Request) -> Response:
            body = await request.json()
            username = body.get("login_id", "")
            if not username or fake.passwords.get(username) != body.get("password"):
                return _app_error(
                    401,
                    "api.user.login.invalid_credentials_email_username",
                    "Enter a valid email or username and/or password.",
                )
            token = new_id()
            user_id = fake.user_id(username)
            with fake.lock:
                fake.tokens[token] = user_id
                user = dict(fake.users[user_id])
            response = JSONResponse(user, headers={"Token": token})
            response.set_cookie("MMAUTHTOKEN", token, httponly=True)
            return response

        @app.get("/api/v4/users/me")
        def me(request: Request) -> Response:
            with fake.lock:
                return JSONResponse(fake.users[request.state.user_id])

        @app.get("/api/v4/users/username/{username}")
        def user_by_name(username: str) -> Response:
            with fake.lock:
                for user in fake.users.values():
                    if user["username"] == username:
                        return JSONResponse(user)
            return _app_error(
                404, "app.user.missing_account.const", "We couldn't find an existing account matching."
            )

        @app.get("/api/v4/users/{user_id}")
        def user(user_id: str) -> Response:
            with fake.lock:
                if user_id in fake.users:
                    return JSONResponse(fake.users[user_id])
            return _app_error(
                404, "app.user.missing_account.const", "We couldn't find an existing account matching."
            )

        @app.get("/api/v4/teams/name/{team}/channels/name/{name}")
        def channel_by_name(team: str, name: str) -> Response:
            with fake.lock:
                if team == fake.team["name"]:
                    for channel in fake.channels.values():
                        if channel["name"] == name and channel["team_id"] == fake.team["id"]:
                            return JSONResponse(channel)
            return _app_error(404, "app.channel.get_by_name.missing.app_error", "Channel does not exist.")

        @app.get("/api/v4/channels/{channel_id}")
        def channel(channel_id: str) -> Response:
            with fake.lock:
                if channel_id in fake.channels:
                    return JSONResponse(fake.channels[channel_id])
            return _app_error(
                404, "app.channel.get.existing.app_error", "Unable to find the existing channel."
            )

        @app.post("/api/v4/posts")
        def create_post(request: Request, body: dict[str, Any]) -> Response:
            channel_id = body.get("channel_id", "")
            message = body.get("message", "")
            with fake.lock:
                known = channel_id in fake.channels
                root_id = body.get("root_id") or ""
                root_ok = not root_id or root_id in fake.posts
            if not known:
                return _app_error(
                    403, "api.context.permissions.app_error", "You do not have the appropriate permissions."
                )
            if not root_ok:
                return _app_error(400, "api.post.create_post.root_id.app_error", "Invalid RootId parameter.")
            if not message and not body.get("file_ids"):
                return _app_error(400, "model.post.is_valid.msg.app_error", "Invalid Message.")
            post, created = fake._create_post(
                request.state.user_id,
                channel_id,
                message,
                root_id,
                body.get("props"),
                body.get("pending_post_id", ""),
            )
            if created:
                fake._broadcast_posted(post)
            return JSONResponse(post, status_code=201)

        @app.get("/api/v4/channels/{channel_id}/posts")
        def channel_posts(channel_id: str, since: int = 0, page: int = 0, per_page: int = 60) -> Response:
            with fake.lock:
                if channel_id not in fake.channels:
                    return _app_error(
                        404, "app.channel.get.existing.app_error", "Unable to find the existing channel."
                    )
                posts = [p for p in fake.posts.values() if p["channel_id"] == channel_id]
                if since:
                    posts = [p for p in posts if p["update_at"] > since]
                posts.sort(key=lambda p: p["create_at"], reverse=True)
                if not since:
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
                while True:
                    text = await ws.receive_text()
                    try:
                        message = json.loads(text)
                    except ValueError:
                        continue
                    seq = message.get("seq")
                    if message.get("action") == "authentication_challenge":
                        token = (message.get("data") or {}).get("token", "")
                        user_id = fake.tokens.get(token)
                        if user_id is None:
                            with fake.lock:
                                fake.ws_auth_failures += 1
                            await connection.reply(
                                {
                                    "status": "FAIL",
                                    "seq_reply": seq,
                                    "error": {
                                        "id": "api.web_socket_router.not_authenticated.app_error",
                                        "message": "No websocket authentication token found or invalid.",
                                        "detailed_error": "",
                                        "status_code": 401,
                                    },
                                }
                            )
                            continue
                        connection.user_id = user_id
                        await connection.reply({"status": "OK", "seq_reply": seq})
                        await connection.send_event(
                            "hello",
                            {
                                "server_version": SERVER_VERSION,
                                "connection_id": new_id(),
                                "server_hostname": "fake",
                            },
                            {"omit_users": None, "user_id": user_id, "channel_id": "", "team_id": ""},
                        )
                    elif connection.user_id:
                        await connection.reply({"status": "OK", "seq_reply": seq})
            except WebSocketDisconnect:
                pass
            finally:
                with fake.lock:
                    fake._connections.discard(connection)

        return app
