"""Mattermost over REST with mattermostdriver: post messages, look up channels, users and posts.

- `Mattermost.post_message` posts markdown to a channel (by id, or by team and channel name),
  optionally as a reply in a thread, and returns the post id.
- mattermostdriver's REST client calls ``requests.get/post`` directly (no session, so no retry
  adapter can be mounted), never retries, and raises ``requests.HTTPError`` for 429 and 5xx.
  `make_mattermost_driver` gives the `Driver` a client class that sends through one
  ``requests.Session`` with the integrations' one bounded `RetryPolicy` (429 honouring
  Retry-After, 5xx with exponential backoff) and maps the final answer to `integrations.errors`:
  401/403 raise `AuthenticationError` at once, naming the URL and the caller's ``source`` label.
- Posts carry a ``pending_post_id``: for 30 s after the first send the server answers a resend
  carrying it with the post it already created (app/post.go ``deduplicateCreatePost``). A post is
  therefore resent only within that window (`POST_RESEND_WINDOW`), unless the answer proves it
  was not created (429: the rate limiter answers before the post is looked at; no connection).
- A message longer than the server's limit (16,383 runes, that is Python characters) is cut, and
  says so; a channel the bot may not post in fails saying which and why.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any, Self, Unpack
from urllib.parse import urlsplit

import requests
from mattermostdriver import Driver
from mattermostdriver.client import Client
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from integrations import _http
from integrations._http import RetryOptions, RetryPolicy
from integrations.errors import AuthenticationError, ServiceUnavailableError, ServiceUnreachableError

SERVICE = "mattermost"
MAX_MESSAGE_CHARS = 16383  # model.PostMessageMaxRunesV2: the server counts runes, as len() does
PENDING_POST_TTL = 30.0  # how long the server remembers a pending_post_id (pendingPostIDsCacheTTL)
# Resends of a post stop this long after its first send, leaving room for the last one's trip.
POST_RESEND_WINDOW = PENDING_POST_TTL - 10.0

# When the request being sent by this thread was first sent (read by `_PostResends`, which
# urllib3 calls in the sending thread).
_first_send = threading.local()


class _PostResends(_http._LoggedRetry):
    """urllib3's retries of ``POST .../posts``, resending only while the server de-duplicates.

    A resend carries the first send's ``pending_post_id``, by which the server answers with the post
    it already created, but only for `PENDING_POST_TTL` after the first send. A failure that may
    have left a post behind (a 5xx, an answer that never came) is therefore resent only until
    `window` seconds after the first send (the wait before the resend included); a 429 (the rate
    limiter answers before the post is looked at) and a refused connection are resent as usual.
    """

    window: float = POST_RESEND_WINDOW

    @classmethod
    def of(cls, retry: Retry, window: float) -> _PostResends:
        """`retry` (the policy's), resending posts within `window` seconds only."""
        made = copy.copy(retry)
        made.__class__ = cls  # same attributes; only `increment` and `new` differ
        assert isinstance(made, cls)
        made.window = window
        return made

    def new(self, **kw: Any) -> Self:
        made = super().new(**kw)
        made.window = self.window
        return made

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> Self:
        not_created = (response is not None and response.status == 429) or (
            error is not None and self._is_connection_error(error)
        )
        started = getattr(_first_send, "at", None)
        if method == "POST" and not not_created and started is not None:
            wait = (self.get_retry_after(response) if response is not None else None) or min(
                self.backoff_max, self.backoff_factor * 2 ** len(self.history)
            )
            if time.monotonic() - started + wait >= self.window:
                # Out of retries for this one: urllib3 hands back the last answer (or the error).
                raise MaxRetryError(_pool, url or "", error or ResponseError("post not resent"))
        return super().increment(method, url, response, error, _pool, _stacktrace)


class _RetryingClient(Client):
    """mattermostdriver's client, sending through a session with bounded retries and our errors."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.source: str = options.get("tasklane_source", "mattermost")
        self.session = requests.Session()
        # POST too: besides new posts (below), the only POST sent is the login, which creates
        # nothing that a resend could double.
        policy: RetryPolicy = options["tasklane_retry"]
        _http.mount_retries(
            self.session, f"{options['scheme']}://", policy, service=SERVICE, methods=_http.ANY_METHOD
        )
        # New posts (the longest prefix wins): resent only while the server would de-duplicate.
        posts = f"{options['scheme']}://{options['url']}:{options['port']}{options['basepath']}/posts"
        retry = policy.urllib3_retry(service=SERVICE, methods=_http.ANY_METHOD)
        window = options.get("tasklane_post_resend_window", POST_RESEND_WINDOW)
        self.session.mount(posts, HTTPAdapter(max_retries=_PostResends.of(retry, window)))

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

        def send() -> requests.Response:
            _first_send.at = time.monotonic()
            return self.session.request(
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

        return _http.checked_request(send, service=SERVICE, source=self.source, method=method, url=url)


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
    post_resend_window: float = POST_RESEND_WINDOW,
    **retry: Unpack[RetryOptions],
) -> Driver:
    """A mattermostdriver `Driver` whose REST calls retry 429/5xx (bounded) and raise our errors.

    Args:
        url: The server, e.g. ``https://mattermost.example.com`` (``wss://`` and ``ws://`` are
            read as ``https://`` and ``http://``; a path prefix is kept).
        token: A personal access token or bot token (preferred).
        login_id: User name or e-mail, with `password`, when there is no token (not a bot's: the
            server refuses a bot's password login).
        password: Password for `login_id`.
        source: A label for error messages: the block the credentials come from.
        timeout: Seconds per request.
        verify_tls: Verify the server's certificate.
        post_resend_window: Seconds after a post's first send within which it may be resent after
            a failure that may have created it (the server recognises a resend for 30 s).
        retry: ``retries``, ``backoff_factor``, ``max_backoff``, ``max_retry_after`` of 429 and
            5xx answers and lost connections (see `RetryOptions`).

    Returns:
        The driver, not yet logged in; `Mattermost.login` logs in.

    Examples:
        >>> driver = make_mattermost_driver("wss://mattermost.example.com", token="abc", source="mm/main")
        >>> driver.client.url
        'https://mattermost.example.com:443/api/v4'
    """
    if not token and not (login_id and password):
        raise ValueError(f"Mattermost ({source}): give a token, or a login_id and a password")
    options = {
        **_server_options(url),
        "token": token,
        "login_id": login_id,
        "password": password,
        # The driver sends it as the login's "token", which the API takes as a string only; the
        # server reads a missing one as "", so "" says the same, within the description.
        "mfa_token": "",
        "verify": verify_tls,
        "request_timeout": timeout,
        "tasklane_source": source,
        "tasklane_retry": RetryPolicy.same_for_all(**retry),
        "tasklane_post_resend_window": post_resend_window,
    }
    return Driver(options, client_cls=_RetryingClient)


def cut_message(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`message`, or as much of its start as fits in `limit` characters with a note of how many
    more were cut.

    Examples:
        >>> cut = cut_message("x" * 100, limit=40)
        >>> len(cut), cut.splitlines()[-1]
        (40, '… [cut: 88 more characters]')
        >>> cut_message("short", limit=40)
        'short'
    """
    if len(message) <= limit:
        return message
    kept = limit
    while True:  # the note's length depends on the number it shows: settle it (two rounds at most)
        note = f"\n… [cut: {len(message) - kept} more characters]"
        if kept + len(note) <= limit:
            return message[:kept] + note
        kept = limit - len(note)


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
                raise _http.unexpected_response(
                    service=SERVICE,
                    source=self.source,
                    request=f"logging in at {self.url}",
                    expected="a user",
                    found=repr(_http.excerpt(str(me))),
                    url=self.url,
                )
            self._me = me
        return self._me

    @property
    def me(self) -> dict[str, Any]:
        return self.login()

    def check_token(self) -> None:
        """Ask the server now (not the cached login) whether it still takes the token.

        Raises:
            AuthenticationError: it does not (401).
            RemoteServiceError: the server could not say (5xx, no answer...).
        """
        self.driver.users.get_user("me")

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
        server accepts is cut, and says so (`cut_message`). A failure that may have created the
        post is resent (with the same ``pending_post_id``) only while the server would recognise
        the resend; after that the error says the post was not resent.

        Raises:
            AuthenticationError: 401 (bad token), or 403: the bot may not post in that channel.
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
        payload: dict[str, Any] = {
            "channel_id": channel_id,
            "message": cut_message(message),
            "pending_post_id": self._pending_post_id(me["id"]),
        }
        if root_id:
            payload["root_id"] = root_id
        if props:
            payload["props"] = props
        started = time.monotonic()
        try:
            post = self.driver.posts.create_post(payload)
        except AuthenticationError as exc:
            if exc.status != 403:
                raise
            where = f"channel {channel!r} ({channel_id})" if channel else f"channel {channel_id}"
            raise AuthenticationError(
                f"{_http.label(SERVICE, self.source)}: the bot @{me.get('username', '?')} may not post in "
                f"{where} on {self.url}: add it to the channel (a private or direct channel needs its "
                f"membership). {exc}",
                service=SERVICE,
                url=exc.url,
                status=403,
            ) from exc
        except (ServiceUnavailableError, ServiceUnreachableError) as exc:
            window = self.driver.options.get("tasklane_post_resend_window", POST_RESEND_WINDOW)
            if time.monotonic() - started < window:
                raise
            raise type(exc)(
                f"{exc}; not resent after {window:g} s: the server may have created the post, and it "
                f"recognises a resend only for {PENDING_POST_TTL:g} s after the first send",
                service=exc.service,
                url=exc.url,
                status=exc.status,
            ) from exc
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
