"""Mattermost messages and a chat-command listener, over mattermostdriver. Plain Python, no Prefect.

- `Mattermost.post_message` posts markdown to a channel (by id, or by team and channel name),
  optionally as a reply in a thread, and returns the post id.
- `CommandListener` is what ``tasklane listen`` runs: it listens on the Mattermost websocket for
  ``run NAME``, ``status NAME``, ``list``, ``report`` and ``help`` addressed to the bot (``@bot``
  mention, or any message in a direct channel), lets only allowed users or channels issue them,
  calls a ``handler(command) -> str`` and answers in the command's thread. When the server drops
  the connection it reconnects with exponential backoff and fetches, over REST, the posts made
  while it was away, so that no command is lost and none is run twice.

What the library does, and what is added here:

- mattermostdriver's REST client calls ``requests.get/post`` directly (no session, so no retry
  adapter can be mounted), never retries, and raises ``requests.HTTPError`` for 429 and 5xx.
  `make_mattermost_driver` gives the `Driver` a client class that sends through one
  ``requests.Session`` with a bounded urllib3 ``Retry`` (429 honouring Retry-After, 5xx with
  exponential backoff) and maps the final answer to `integrations.errors`: 401/403 raise
  `AuthenticationError` at once, naming the URL and the caller's ``source`` label. Posts carry a
  ``pending_post_id``, which the server uses to de-duplicate a resent post.
- mattermostdriver 7.3.2's ``Websocket`` does connect and receive events with websockets 16 on
  ``ws://``, but it is not usable here: for ``wss://`` it builds a *server-side* TLS context
  (``ssl.Purpose.CLIENT_AUTH``), which Python 3.10+ refuses for a client connection; it never
  closes the sockets it opens; it reconnects only at a fixed delay and never fetches what was
  posted meanwhile; ``disconnect()`` takes effect only at the next message or timeout; a refused
  token makes it wait forever; and ``Driver.init_websocket`` runs ``asyncio.get_event_loop()``,
  which has no loop in a worker thread. `CommandListener` therefore speaks the Mattermost v4
  websocket protocol itself with the ``websockets`` library (authentication_challenge, ``posted``
  events whose ``data.post`` is a JSON string), and uses the `Driver` for REST.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import websockets
from mattermostdriver import Driver
from mattermostdriver.client import Client
from requests.adapters import HTTPAdapter

from integrations.errors import (
    AuthenticationError,
    NotFoundError,
    RateLimitedError,
    RemoteServiceError,
    ServiceUnavailableError,
    ServiceUnreachableError,
)
from integrations.retrying import bounded_retry

log = logging.getLogger(__name__)

SERVICE = "Mattermost"
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_FACTOR = 0.5
DEFAULT_MAX_BACKOFF = 30.0
DEFAULT_MAX_RETRY_AFTER = 120.0
MAX_MESSAGE_CHARS = 16383  # the server's limit on a post's message
EXCERPT_CHARS = 300

__all__ = [
    "COMMANDS",
    "ChatCommand",
    "CommandListener",
    "Mattermost",
    "make_mattermost_driver",
    "parse_command",
]


# --- REST client ----------------------------------------------------------------------------------


class _RetryingClient(Client):
    """mattermostdriver's client, sending through a session with bounded retries and our errors."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.source: str = options.get("tasklane_source", "mattermost")
        self.session = requests.Session()
        self.session.mount(f"{options['scheme']}://", HTTPAdapter(max_retries=options["tasklane_retry"]))

    def make_request(
        self,
        method: str,
        endpoint: str,
        options: Any = None,
        params: dict[str, Any] | None = None,
        data: Any = None,
        files: Any = None,
        basepath: str | None = None,
    ) -> requests.Response:
        base = self.url
        if basepath:
            base = f"{self._options['scheme']}://{self._options['url']}:{self._options['port']}{basepath}"
        url = base + endpoint
        method = method.upper()
        try:
            response = self.session.request(
                method,
                url,
                headers=self.auth_header(),
                json=options if options else None,
                params=params or None,
                data=data or None,
                files=files,
                timeout=self.request_timeout,
                verify=self._verify,
                auth=self._auth() if self._auth is not None else None,
            )
        except requests.RequestException as exc:
            raise ServiceUnreachableError(
                f"{SERVICE} ({self.source}): {method} {url} got no response: {exc}", service=SERVICE, url=url
            ) from exc
        if response.status_code >= 400:
            raise _error(self.source, method, url, response)
        return response


def _error(source: str, method: str, url: str, response: requests.Response) -> RemoteServiceError:
    status = response.status_code
    try:
        body = response.json()
        detail = str(body.get("message") or body.get("id") or body)[:EXCERPT_CHARS]
    except (ValueError, AttributeError):
        detail = repr(" ".join(response.text.split())[:EXCERPT_CHARS]) or f"{status} {response.reason}"
    where = f"{SERVICE} ({source}): {method} {url} answered {status}"
    kwargs: dict[str, Any] = {"service": SERVICE, "url": url, "status": status}
    if status in (401, 403):
        return AuthenticationError(
            f"{where}: {detail}; check the token (or login) of '{source}' and the bot's permissions", **kwargs
        )
    if status == 404:
        return NotFoundError(f"{where}: not found ({detail})", **kwargs)
    if status == 429:
        retry_after = response.headers.get("Retry-After", "none")
        return RateLimitedError(
            f"{where}: still rate limited after the retries (Retry-After: {retry_after}; {detail})", **kwargs
        )
    if status >= 500:
        return ServiceUnavailableError(f"{where}: server error after the retries ({detail})", **kwargs)
    return RemoteServiceError(f"{where}: {detail}", **kwargs)


def _server_options(url: str) -> dict[str, Any]:
    """mattermostdriver's url/scheme/port/basepath options from a server URL (http, https, ws, wss)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Mattermost server URL {url!r} is not an http(s) or ws(s) URL with a host")
    path = parts.path.rstrip("/")
    for suffix in ("/api/v4/websocket", "/api/v4"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return {
        "scheme": scheme,
        "url": parts.hostname,
        "port": parts.port or (443 if scheme == "https" else 80),
        "basepath": f"{path}/api/v4",
    }


def make_mattermost_driver(
    url: str,
    *,
    token: str | None = None,
    login_id: str | None = None,
    password: str | None = None,
    source: str = "mattermost",
    timeout: float = 30.0,
    verify_tls: bool = True,
    retries: int = DEFAULT_RETRIES,
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
    max_backoff: float = DEFAULT_MAX_BACKOFF,
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
) -> Driver:
    """A mattermostdriver `Driver` whose REST calls retry 429/5xx (bounded) and raise our errors.

    Args:
        url: The server, e.g. ``https://mattermost.example.com`` (``wss://`` and ``ws://`` are
            read as ``https://`` and ``http://``; a path prefix is kept).
        token: A personal access token or bot token (preferred).
        login_id: User name or e-mail, with `password`, when there is no token.
        password: Password for `login_id`.
        source: A label for error messages: the block the credentials come from.
        timeout: Seconds per request.
        verify_tls: Verify the server's certificate.
        retries: How often a 429 or 5xx answer, or a failed connection, is retried.
        backoff_factor: Exponential backoff base in seconds when no Retry-After is given.
        max_backoff: Cap of one backoff sleep, seconds.
        max_retry_after: Cap of one Retry-After sleep, seconds.

    Returns:
        The driver, not yet logged in; `Mattermost.login` logs in.

    Examples:
        >>> driver = make_mattermost_driver("wss://mattermost.example.com", token="abc", source="mm/main")
        >>> driver.client.url
        'https://mattermost.example.com:443/api/v4'
    """
    if not token and not (login_id and password):
        raise ValueError(f"Mattermost ({source}): give a token, or a login_id and a password")
    # POST too: the only POSTs sent are the login and new posts, and a new post carries a
    # pending_post_id, by which the server recognises a resend of a post it already created.
    retry = bounded_retry(retries, backoff_factor, max_backoff, max_retry_after, any_method=True)
    options = {
        **_server_options(url),
        "token": token,
        "login_id": login_id,
        "password": password,
        "verify": verify_tls,
        "request_timeout": timeout,
        "tasklane_source": source,
        "tasklane_retry": retry,
    }
    return Driver(options, client_cls=_RetryingClient)


class Mattermost:
    """Post messages and read what the listener needs, over a `Driver` from `make_mattermost_driver`.

    Args:
        driver: The driver (logged in on first use).
        source: A label for error messages: the block the credentials come from.

    Examples:
        >>> mm = Mattermost(make_mattermost_driver("https://mm.example.com", token="t"), source="mm/main")
        >>> mm.source
        'mm/main'
    """

    def __init__(self, driver: Driver, *, source: str = "mattermost") -> None:
        self.driver = driver
        self.source = source
        self._me: dict[str, Any] | None = None
        self._channel_ids: dict[tuple[str, str], str] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._users: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._last_pending_ms = 0
        client = driver.client
        if isinstance(client, _RetryingClient):
            client.source = source

    @property
    def url(self) -> str:
        """The REST base URL, e.g. ``https://mm.example.com:443/api/v4``."""
        return self.driver.client.url

    def login(self) -> dict[str, Any]:
        """Log in (or check the token) and return the bot's own user.

        Raises:
            AuthenticationError: the token or password was refused.
        """
        if self._me is None:
            me = self.driver.login()
            if not isinstance(me, dict) or "id" not in me:
                raise RemoteServiceError(
                    f"{SERVICE} ({self.source}): login at {self.url} returned no user: "
                    f"{str(me)[:EXCERPT_CHARS]!r}",
                    service=SERVICE,
                    url=self.url,
                )
            self._me = me
        return self._me

    @property
    def me(self) -> dict[str, Any]:
        return self.login()

    def channel_id(self, team: str, channel: str) -> str:
        """The id of channel `channel` (its name, as in the URL) of team `team` (its name).

        Raises:
            NotFoundError: no such team or channel visible to the bot.
        """
        key = (team, channel)
        if key not in self._channel_ids:
            self.login()
            data = self.driver.channels.get_channel_by_name_and_team_name(team, channel)
            self._channel_ids[key] = data["id"]
            self._channels[data["id"]] = data
        return self._channel_ids[key]

    def channel(self, channel_id: str) -> dict[str, Any]:
        """A channel by id (cached)."""
        if channel_id not in self._channels:
            self.login()
            self._channels[channel_id] = self.driver.channels.get_channel(channel_id)
        return self._channels[channel_id]

    def user(self, user_id: str) -> dict[str, Any]:
        """A user by id (cached)."""
        if user_id not in self._users:
            self.login()
            self._users[user_id] = self.driver.users.get_user(user_id)
        return self._users[user_id]

    def post_message(
        self,
        message: str,
        *,
        channel_id: str | None = None,
        team: str | None = None,
        channel: str | None = None,
        root_id: str | None = None,
        props: dict[str, Any] | None = None,
    ) -> str:
        """Post markdown to a channel, optionally as a reply in a thread; return the new post's id.

        Give either `channel_id`, or `team` and `channel` (names). A message longer than the
        server accepts is cut, and says so.

        Raises:
            AuthenticationError: 401/403 (bad token, or the bot may not post there).
            NotFoundError: no such team or channel.
            RateLimitedError, ServiceUnavailableError, ServiceUnreachableError: after the retries.

        Examples:
            >>> mm.post_message("**backup** finished", team="ops", channel="town-square")  # doctest: +SKIP
            'h5x7wpjxbfrxdn3s6wb1ztedna'
            >>> root = "h5x7wpjxbfrxdn3s6wb1ztedna"
            >>> mm.post_message("details…", channel_id="c1", root_id=root)  # doctest: +SKIP
            'qj1dfsd3x3gmdcx8yzh1npq7ua'
        """
        if channel_id is None:
            if not (team and channel):
                raise ValueError("post_message needs channel_id, or team and channel")
            channel_id = self.channel_id(team, channel)
        me = self.login()
        if len(message) > MAX_MESSAGE_CHARS:
            note = f"\n… [cut: {len(message) - MAX_MESSAGE_CHARS + 40} more characters]"
            message = message[: MAX_MESSAGE_CHARS - len(note)] + note
        payload: dict[str, Any] = {
            "channel_id": channel_id,
            "message": message,
            "pending_post_id": self._pending_post_id(me["id"]),
        }
        if root_id:
            payload["root_id"] = root_id
        if props:
            payload["props"] = props
        post = self.driver.posts.create_post(payload)
        return post["id"]

    def _pending_post_id(self, user_id: str) -> str:
        # The web app's format; unique per post so that only a resend of the same post is merged.
        with self._lock:
            self._last_pending_ms = max(int(time.time() * 1000), self._last_pending_ms + 1)
            return f"{user_id}:{self._last_pending_ms}"

    def posts_since(self, channel_id: str, since_ms: int) -> list[dict[str, Any]]:
        """Posts of a channel created or changed after `since_ms` (epoch milliseconds), oldest first."""
        self.login()
        data = self.driver.posts.get_posts_for_channel(channel_id, params={"since": int(since_ms)})
        posts = list((data or {}).get("posts", {}).values())
        return sorted(posts, key=lambda p: (p.get("create_at", 0), p.get("id", "")))


# --- commands -----------------------------------------------------------------------------------

COMMANDS: dict[str, str] = {
    "run": "run NAME: start task NAME now",
    "status": "status NAME: the last runs of task NAME",
    "list": "list: the tasks and their schedules",
    "report": "report: a summary of the runs since the last report",
    "help": "help: this text",
}
_NEEDS_ARGUMENT = {"run", "status"}


@dataclass(frozen=True)
class ChatCommand:
    """A command addressed to the bot, as the handler receives it."""

    name: str  # run, status, list, report or help
    argument: str | None  # the task name of run/status; free text after list/report
    text: str  # the command as typed, without the mention
    post_id: str
    root_id: str  # the thread the answer goes to
    channel_id: str
    user_id: str
    username: str


def parse_command(text: str) -> tuple[str, str | None] | None:
    """``(name, argument)`` of a command text, or None when it is not a well-formed command.

    Examples:
        >>> parse_command("run nightly-backup")
        ('run', 'nightly-backup')
        >>> parse_command("  LIST ")
        ('list', None)
        >>> parse_command("run") is None, parse_command("dance") is None
        (True, True)
    """
    words = text.strip().split(maxsplit=1)
    if not words:
        return None
    name = words[0].lower()
    argument = words[1].strip() if len(words) > 1 else None
    if name not in COMMANDS or (name in _NEEDS_ARGUMENT and not argument):
        return None
    return name, argument


def help_text(botname: str) -> str:
    lines = [f"Commands (mention @{botname}, or write to me directly):"]
    lines += [f"- `{usage.split(':')[0]}`:{usage.split(':', 1)[1]}" for usage in COMMANDS.values()]
    return "\n".join(lines)


# --- listener -----------------------------------------------------------------------------------


class CommandListener:
    """Listen for chat commands to the bot and answer them in their thread; reconnect, lose none.

    A post is a command when it is in a direct channel with the bot, or starts with ``@botname``.
    It is obeyed when its author (user name or id) is in `allowed_users` or its channel in
    `allowed_channels`; others get a polite refusal. With both empty, nobody may issue commands.
    ``help`` and malformed commands are answered here; ``run``, ``status``, ``list`` and
    ``report`` go to `handler`, whose returned text (markdown) is the answer. The handler runs in a
    worker thread, one command at a time; it should start work and return, not wait for it.

    Exactly once: every post id is remembered (the last `seen_limit` ones). After a reconnect,
    the posts made since the last one seen (less `catchup_overlap_ms`, for clock skew between
    cluster nodes) are fetched over REST, for the channels in `channels` and `allowed_channels`
    and every channel a post was seen in, before the new connection's events are read; posts
    already seen are skipped. Commands posted before the listener first connected are not run.

    Args:
        mattermost: The REST side (its driver's token also authenticates the websocket).
        handler: ``handler(command) -> str``.
        channels: Channel ids to listen in (direct channels always count); empty: all.
        allowed_users: User names or user ids allowed to issue commands.
        allowed_channels: Channel ids in which anyone may issue commands.
        reconnect_interval: First delay before reconnecting, seconds (seed 000's
            ``mattermost.reconnect_interval``); doubled after each failed attempt.
        max_reconnect_interval: Cap of that delay, seconds.
        catchup_overlap_ms: How far before the last seen post the catch-up starts.
        seen_limit: How many post ids are remembered for de-duplication.

    Examples:
        >>> def handler(command: ChatCommand) -> str:
        ...     return f"would {command.name} {command.argument or ''}".strip()
        >>> mm = Mattermost(make_mattermost_driver("https://mm.example.com", token="t"))
        >>> listener = CommandListener(mm, handler, allowed_users={"alice"}, reconnect_interval=5)
        >>> listener.start()  # doctest: +SKIP
        >>> listener.stop()  # doctest: +SKIP
    """

    def __init__(
        self,
        mattermost: Mattermost,
        handler: Callable[[ChatCommand], str],
        *,
        channels: Iterable[str] = (),
        allowed_users: Iterable[str] = (),
        allowed_channels: Iterable[str] = (),
        reconnect_interval: float = 5.0,
        max_reconnect_interval: float = 300.0,
        catchup_overlap_ms: int = 5000,
        seen_limit: int = 10000,
        auth_timeout: float = 10.0,
    ) -> None:
        self.mattermost = mattermost
        self.handler = handler
        self.channels = set(channels)
        self.allowed_users = {u.lstrip("@").lower() for u in allowed_users}
        self.allowed_channels = set(allowed_channels)
        self.reconnect_interval = reconnect_interval
        self.max_reconnect_interval = max_reconnect_interval
        self.catchup_overlap_ms = catchup_overlap_ms
        self.seen_limit = seen_limit
        self.auth_timeout = auth_timeout
        self.connected = threading.Event()  # set while a connection is authenticated and caught up
        self.error: BaseException | None = None  # why a background listener stopped, if not stop()
        self.connections = 0  # successful connections so far
        self.commands_handled = 0
        self.refusals = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._known_channels: set[str] = set(self.channels) | set(self.allowed_channels)
        self._watermark_ms: int | None = None  # create_at of the newest post seen
        self._started_ms: int | None = None
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._ws: Any = None
        self._thread: threading.Thread | None = None
        self._mention: re.Pattern[str] | None = None
        self._me: dict[str, Any] = {}
        if not self.allowed_users and not self.allowed_channels:
            log.warning("Mattermost listener: no allowed users or channels; every command will be refused")

    # -- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        """Listen until `stop` is called (blocks).

        Raises:
            AuthenticationError: the token was refused (over REST or on the websocket).
        """
        asyncio.run(self._main())

    def _login(self) -> None:
        me = self.mattermost.login()
        self._me = me
        self._mention = re.compile(rf"^\s*@{re.escape(me['username'])}(?![\w.-])[\s:,]*", re.IGNORECASE)

    def start(self) -> threading.Thread:
        """Run in a background thread; `error` holds what stopped it other than `stop`."""

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # noqa: BLE001 - kept for the caller, who decides
                self.error = exc
                log.error("Mattermost listener stopped: %s", exc)

        self._thread = threading.Thread(target=target, name="mattermost-listener", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening: close the connection, end `run`, join the background thread.

        A command being handled is finished (and answered) first.
        """
        self._stop.set()
        loop, wakeup = self._loop, self._wakeup
        if loop is not None and wakeup is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wakeup.set)
            except RuntimeError:
                pass  # the loop finished meanwhile: nothing left to wake
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"Mattermost listener did not stop within {timeout:g} s")

    def __enter__(self) -> CommandListener:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- connection loop ------------------------------------------------------------------

    def _websocket_url(self) -> str:
        options = self.mattermost.driver.options
        scheme = "wss" if options["scheme"] == "https" else "ws"
        return f"{scheme}://{options['url']}:{options['port']}{options['basepath']}/websocket"

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        if self._stop.is_set():
            return
        delay = self.reconnect_interval
        url = self._websocket_url()
        while not self._stop.is_set():
            try:
                if self._mention is None:
                    # In the loop: a server that is down when the listener starts is waited for too.
                    await asyncio.to_thread(self._login)
                async with websockets.connect(
                    url, open_timeout=self.auth_timeout, close_timeout=2, max_size=2**23
                ) as ws:
                    self._ws = ws
                    await self._authenticate(ws)
                    delay = self.reconnect_interval  # a good connection resets the backoff
                    self.connections += 1
                    if self._started_ms is None:
                        self._started_ms = int(time.time() * 1000)
                    else:
                        await self._catch_up()
                    self.connected.set()
                    log.info("Mattermost listener connected to %s (connection %d)", url, self.connections)
                    await self._read(ws)
            except AuthenticationError:
                raise
            except (
                OSError,
                TimeoutError,
                ValueError,
                websockets.WebSocketException,
                RemoteServiceError,
            ) as exc:
                # RemoteServiceError: REST look-ups failed after their own retries; ValueError: a
                # websocket answer that is not JSON. Both: start over with a fresh connection.
                log.warning("Mattermost listener: connection to %s lost or refused: %s", url, exc)
            finally:
                self._ws = None
                self.connected.clear()
            if self._stop.is_set():
                break
            pause = delay * random.uniform(0.9, 1.1)
            log.info("Mattermost listener: reconnecting in %.2f s", pause)
            try:
                await asyncio.wait_for(self._wakeup.wait(), timeout=pause)
            except TimeoutError:
                pass
            delay = min(delay * 2, self.max_reconnect_interval)

    async def _authenticate(self, ws: Any) -> None:
        token = self.mattermost.driver.client.token
        await ws.send(json.dumps({"seq": 1, "action": "authentication_challenge", "data": {"token": token}}))
        async with asyncio.timeout(self.auth_timeout):
            while True:
                message = json.loads(await ws.recv())
                if message.get("seq_reply") == 1:
                    if message.get("status") == "OK":
                        return
                    error = message.get("error") or {}
                    raise AuthenticationError(
                        f"{SERVICE} ({self.mattermost.source}): the websocket at {self._websocket_url()} "
                        f"refused the token: {error.get('message') or error.get('id') or message}",
                        service=SERVICE,
                        url=self._websocket_url(),
                        status=error.get("status_code"),
                    )
                # The hello event may come before the challenge's answer; nothing to do with it.

    async def _read(self, ws: Any) -> None:
        stop_waiter = asyncio.ensure_future(self._wakeup.wait()) if self._wakeup else None
        try:
            while not self._stop.is_set():
                receive = asyncio.ensure_future(ws.recv())
                waiting = {receive} | ({stop_waiter} if stop_waiter else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if receive not in done:
                    receive.cancel()
                    await ws.close()
                    return
                await self._on_message(receive.result())
        finally:
            if stop_waiter is not None:
                stop_waiter.cancel()

    async def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("Mattermost listener: a websocket message is not JSON: %r", raw[:EXCERPT_CHARS])
            return
        if message.get("event") != "posted":
            return
        data = message.get("data") or {}
        try:
            post = json.loads(data.get("post") or "{}")
        except ValueError:
            log.warning("Mattermost listener: a posted event's post is not JSON: %r", data.get("post"))
            return
        sender = (data.get("sender_name") or "").lstrip("@")
        await self._consider(post, channel_type=data.get("channel_type"), username=sender or None, live=True)

    async def _catch_up(self) -> None:
        """Posts made while disconnected, from REST, oldest first; those already seen are skipped."""
        since = (self._watermark_ms if self._watermark_ms is not None else self._started_ms) or 0
        since = max(0, since - self.catchup_overlap_ms)
        posts: list[dict[str, Any]] = []
        for channel_id in sorted(self._known_channels):
            try:
                posts += await asyncio.to_thread(self.mattermost.posts_since, channel_id, since)
            except (AuthenticationError, NotFoundError) as exc:
                if isinstance(exc, AuthenticationError) and exc.status != 403:
                    raise  # the token itself was refused: stop
                # The bot left or lost that channel: nothing to catch up there, now or later.
                log.warning("Mattermost listener: no longer reading channel %s: %s", channel_id, exc)
                self._known_channels.discard(channel_id)
        posts.sort(key=lambda p: (p.get("create_at", 0), p.get("id", "")))
        fresh = [p for p in posts if p.get("id") not in self._seen]
        if fresh:
            log.info("Mattermost listener: %d post(s) made while disconnected", len(fresh))
        for post in fresh:
            await self._consider(post, channel_type=None, username=None, live=False)

    # -- one post -------------------------------------------------------------------------

    def _remember(self, post_id: str) -> bool:
        """True the first time a post id is seen."""
        if post_id in self._seen:
            return False
        self._seen[post_id] = None
        while len(self._seen) > self.seen_limit:
            self._seen.popitem(last=False)
        return True

    async def _consider(
        self, post: dict[str, Any], *, channel_type: str | None, username: str | None, live: bool
    ) -> None:
        post_id = post.get("id")
        channel_id = post.get("channel_id", "")
        if not post_id or post_id in self._seen:
            return
        if channel_id:
            self._known_channels.add(channel_id)
        create_at = int(post.get("create_at") or 0)
        if (
            post.get("user_id") == self._me.get("id")
            or post.get("type")  # system messages (joins, header changes...)
            or post.get("delete_at")
            # Fetched, but older than our first connection: meant for an earlier listener, if any.
            # (Live events are new by definition; their create_at is the server's clock, not ours.)
            or (not live and self._started_ms is not None and create_at < self._started_ms)
        ):
            self._done_with(post_id, create_at)
            return
        # The look-ups below may fail (RemoteServiceError, after their retries). The post is then
        # not yet marked as seen, nor the watermark moved past it: the connection is dropped and
        # the catch-up after reconnecting fetches it again.
        if channel_type is None:
            channel_type = (await asyncio.to_thread(self.mattermost.channel, channel_id)).get("type", "O")
        direct = channel_type == "D"
        message = post.get("message") or ""
        assert self._mention is not None
        mention = self._mention.match(message)
        if (not direct and self.channels and channel_id not in self.channels) or (
            not direct and mention is None
        ):
            self._done_with(post_id, create_at)
            return
        text = message[mention.end() :] if mention else message
        if username is None:
            user = await asyncio.to_thread(self.mattermost.user, post.get("user_id", ""))
            username = user.get("username", "")
        # From here on the command counts as taken: it is never run twice, even if answering fails.
        self._done_with(post_id, create_at)
        root_id = post.get("root_id") or post_id
        await self._obey(post, text.strip(), channel_id, root_id, username)

    def _done_with(self, post_id: str, create_at: int) -> None:
        self._remember(post_id)
        self._watermark_ms = max(self._watermark_ms or 0, create_at)

    async def _obey(
        self, post: dict[str, Any], text: str, channel_id: str, root_id: str, username: str
    ) -> None:
        user_id = post.get("user_id", "")
        allowed = (
            username.lower() in self.allowed_users
            or user_id.lower() in self.allowed_users
            or channel_id in self.allowed_channels
        )
        if not allowed:
            self.refusals += 1
            log.info("Mattermost listener: refused %r from @%s in %s", text, username, channel_id)
            await self._reply(
                channel_id,
                root_id,
                f"Sorry @{username}, you are not allowed to give me commands here. "
                "Ask a Tasklane admin to add you to the allowed users.",
            )
            return
        parsed = parse_command(text)
        botname = self._me.get("username", "bot")
        if parsed is None or parsed[0] == "help":
            prefix = "" if parsed else f"I did not understand `{text[:100]}`.\n"
            await self._reply(channel_id, root_id, prefix + help_text(botname))
            return
        command = ChatCommand(
            name=parsed[0],
            argument=parsed[1],
            text=text,
            post_id=post["id"],
            root_id=root_id,
            channel_id=channel_id,
            user_id=user_id,
            username=username,
        )
        self.commands_handled += 1
        try:
            answer = await asyncio.to_thread(self.handler, command)
        except Exception as exc:  # noqa: BLE001 - the user is told; the listener keeps listening
            log.exception("Mattermost listener: handler failed on %r from @%s", text, username)
            answer = f"Sorry, `{text[:100]}` failed: {type(exc).__name__}: {exc}"
        await self._reply(channel_id, root_id, answer or "(no answer)")

    async def _reply(self, channel_id: str, root_id: str, message: str) -> None:
        try:
            await asyncio.to_thread(
                self.mattermost.post_message, message, channel_id=channel_id, root_id=root_id
            )
        except RemoteServiceError as exc:
            # The command has run; resending it later would run it twice. Say so in the log.
            log.error(
                "Mattermost listener: could not answer in thread %s of %s: %s", root_id, channel_id, exc
            )
