"""The chat-command listener that ``tasklane listen`` runs, over the Mattermost websocket.

`CommandListener` listens on the Mattermost websocket for ``run NAME``, ``status NAME``, ``list``,
``report`` and ``help`` addressed to the bot (``@bot`` mention, or any message in a direct
channel), lets only allowed users or channels issue them, calls a ``handler(command) -> str`` and
answers in the command's thread. When the server drops the connection it reconnects with
exponential backoff and fetches, over REST, the posts made while it was away, so that no command
is lost and none is run twice.

mattermostdriver 7.3.2's ``Websocket`` does connect and receive events with websockets 16 on
``ws://``, but it is not usable here: for ``wss://`` it builds a *server-side* TLS context
(``ssl.Purpose.CLIENT_AUTH``), which Python 3.10+ refuses for a client connection; it never
closes the sockets it opens; it reconnects only at a fixed delay and never fetches what was
posted meanwhile; ``disconnect()`` takes effect only at the next message or timeout; a refused
token makes it wait forever; and ``Driver.init_websocket`` runs ``asyncio.get_event_loop()``,
which has no loop in a worker thread. `CommandListener` therefore speaks the Mattermost v4
websocket protocol itself with the ``websockets`` library (authentication_challenge, ``posted``
events whose ``data.post`` is a JSON string), and uses the `Driver` for REST (`Mattermost`).
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
from typing import Any

import websockets

from integrations._http import EXCERPT_CHARS, service_name
from integrations.errors import AuthenticationError, NotFoundError, RemoteServiceError
from integrations.mattermost.commands import ChatCommand, help_text, parse_command
from integrations.mattermost.rest import SERVICE, Mattermost

log = logging.getLogger("integrations.mattermost")


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
        """Send the authentication challenge and wait for its answer.

        A real server answers a good token with ``{"status": "OK", "seq_reply": 1}`` (after the
        hello event), and a refused one by closing the connection without a word
        (platform/websocket_router.go), which looks like a dropped connection: the token is
        then checked over REST, and a refused one stops the listener (reconnecting cannot help).

        Raises:
            AuthenticationError: the token was refused.
            websockets.ConnectionClosed: the connection dropped (the token is good, or the
                server could not say).
        """
        token = self.mattermost.driver.client.token
        await ws.send(json.dumps({"seq": 1, "action": "authentication_challenge", "data": {"token": token}}))
        try:
            async with asyncio.timeout(self.auth_timeout):
                while True:
                    message = json.loads(await ws.recv())
                    if message.get("seq_reply") == 1:
                        if message.get("status") == "OK":
                            return
                        error = message.get("error") or {}
                        raise self._refused(
                            f"it answered {error.get('message') or error.get('id') or message}",
                            error.get("status_code"),
                        )
                    # The hello event comes before the challenge's answer; nothing to do with it.
        except websockets.ConnectionClosed as closed:
            try:
                await asyncio.to_thread(self.mattermost.check_token)
            except AuthenticationError as exc:
                code = closed.rcvd.code if closed.rcvd else 1006  # 1006: no close frame at all
                raise self._refused(
                    f"it closed the connection without answering (code {code}), and {exc}", exc.status
                ) from exc
            except RemoteServiceError:
                pass  # the server is in trouble: a reconnect will tell more
            raise

    def _refused(self, what: str, status: int | None) -> AuthenticationError:
        where = f"{service_name(SERVICE)} ({self.mattermost.source})"
        return AuthenticationError(
            f"{where}: the server refused the token: when the listener gave it to the websocket at "
            f"{self._websocket_url()}, {what}. The listener stops (reconnecting cannot help): renew "
            f"the token in {self.mattermost.source!r}.",
            service=SERVICE,
            url=self._websocket_url(),
            status=status,
        )

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
