"""Mattermost over REST with mattermostdriver: post messages, look up channels, users and posts.

- `Mattermost.post_message` posts markdown to a channel (by id, or by team and channel name),
  optionally as a reply in a thread, and returns the post id.
- mattermostdriver's REST client calls ``requests.get/post`` directly (no session, so no retry
  adapter can be mounted), never retries, and raises ``requests.HTTPError`` for 429 and 5xx.
  `make_mattermost_driver` gives the `Driver` a client class that sends through one
  ``requests.Session`` with the integrations' one bounded `RetryPolicy` (429 honouring
  Retry-After, 5xx with exponential backoff) and maps the final answer to `integrations.errors`:
  401/403 raise `AuthenticationError` at once, naming the URL and the caller's ``source`` label.
  Posts carry a ``pending_post_id``, which the server uses to de-duplicate a resent post.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Unpack
from urllib.parse import urlsplit

import requests
from mattermostdriver import Driver
from mattermostdriver.client import Client

from integrations import _http
from integrations._http import RetryOptions, RetryPolicy

SERVICE = "mattermost"
MAX_MESSAGE_CHARS = 16383  # the server's limit on a post's message


class _RetryingClient(Client):
    """mattermostdriver's client, sending through a session with bounded retries and our errors."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        self.source: str = options.get("tasklane_source", "mattermost")
        self.session = requests.Session()
        # POST too: the only POSTs sent are the login and new posts, and a new post carries a
        # pending_post_id, by which the server recognises a resend of a post it already created.
        _http.mount_retries(
            self.session,
            f"{options['scheme']}://",
            options["tasklane_retry"],
            service=SERVICE,
            methods=_http.ANY_METHOD,
        )

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
    **retry: Unpack[RetryOptions],
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
        "verify": verify_tls,
        "request_timeout": timeout,
        "tasklane_source": source,
        "tasklane_retry": RetryPolicy.same_for_all(**retry),
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
