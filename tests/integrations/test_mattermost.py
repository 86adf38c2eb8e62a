"""integrations.mattermost driven through mattermostdriver and websockets against the fake Mattermost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from integrations.errors import (
    AuthenticationError,
    NotFoundError,
    ServiceUnavailableError,
)
from integrations.mattermost import (
    ChatCommand,
    CommandListener,
    Mattermost,
    make_mattermost_driver,
    parse_command,
)
from integrations.mattermost.rest import MAX_MESSAGE_CHARS
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.mattermost import FakeMattermost
from tests.contracts.checker import expected_violations

# The API description lists no 429 or 5xx answers: a test that provokes them expects that.
UNLISTED_STATUS = r"answer (429|5\d\d) breaks"

BOT = "tasklane-bot"


@pytest.fixture()
def fake() -> FakeMattermost:
    fake = FakeMattermost(team_name="ops", bot_username=BOT)
    fake.add_user("alice", token="alice-token", password="alice-password")
    fake.add_user("mallory", token="mallory-token")
    fake.add_channel("town-square", display_name="Town Square")
    fake.add_channel("builds")
    fake.add_channel("secret", kind="P", members=["alice"])  # private, without the bot
    fake.add_channel("lobby", members=["alice"])  # public, without the bot
    return fake


@pytest.fixture()
def base_url(fake: FakeMattermost) -> Iterator[str]:
    with serve(fake.app) as url:
        yield url


def connect(url: str, *, token: str | None = "bot-token", **kwargs) -> Mattermost:
    driver = make_mattermost_driver(
        url, token=token, source="mattermost/main", timeout=5, backoff_factor=0.01, max_backoff=0.05, **kwargs
    )
    return Mattermost(driver, source="mattermost/main")


@pytest.fixture()
def mm(base_url: str) -> Mattermost:
    return connect(base_url)


def channel(fake: FakeMattermost, name: str) -> str:
    return next(c["id"] for c in fake.channels.values() if c["name"] == name)


# --- posting -----------------------------------------------------------------------------------


def test_post_to_a_channel_by_id(mm: Mattermost, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    post_id = mm.post_message("**backup** finished in 3 s", channel_id=town)
    post = fake.posts[post_id]
    assert post["channel_id"] == town and post["user_id"] == fake.bot_id
    assert post["message"] == "**backup** finished in 3 s"
    assert post["pending_post_id"].startswith(fake.bot_id + ":")  # lets the server merge a resend


def test_post_to_a_channel_by_team_and_name_in_a_thread(mm: Mattermost, fake: FakeMattermost) -> None:
    root = mm.post_message("nightly report", team="ops", channel="builds")
    reply = mm.post_message("details", team="ops", channel="builds", root_id=root)
    assert fake.posts[root]["channel_id"] == channel(fake, "builds")
    assert fake.posts[reply]["root_id"] == root
    assert fake.count(path="/channels/name/builds") == 1  # the channel id is looked up once


def test_login_with_user_and_password(base_url: str, fake: FakeMattermost) -> None:
    mm = connect(base_url, token=None, login_id="alice", password="alice-password")
    assert mm.login()["username"] == "alice"
    post_id = mm.post_message("hi", team="ops", channel="town-square")
    assert fake.posts[post_id]["user_id"] == fake.user_id("alice")


def test_a_bot_logging_in_with_a_password_is_refused(base_url: str) -> None:
    mm = connect(base_url, token=None, login_id=BOT, password="bot-password")
    with pytest.raises(AuthenticationError, match="users/login answered 401.*Bot login is forbidden"):
        mm.login()


def test_a_channel_the_bot_may_not_post_in_fails_saying_so(mm: Mattermost, fake: FakeMattermost) -> None:
    with pytest.raises(AuthenticationError) as caught:
        mm.post_message("x", channel_id=channel(fake, "secret"))
    message = str(caught.value)
    assert caught.value.status == 403 and f"@{BOT} may not post in channel" in message
    assert "add it to the channel" in message and "'mattermost/main'" in message and mm.url in message
    assert fake.posts_in(channel(fake, "secret")) == []
    # A public channel of its team takes the bot's posts without its joining (create_post_public).
    assert mm.post_message("x", channel_id=channel(fake, "lobby"))


@pytest.mark.parametrize("letter", ["x", "é", "🙂"])  # 1, 2 and 4 bytes: the server counts runes
def test_a_long_message_is_cut_to_what_the_server_takes(
    mm: Mattermost, fake: FakeMattermost, letter: str
) -> None:
    text = letter * 20000
    post = fake.posts[mm.post_message(text, channel_id=channel(fake, "builds"))]
    kept, note = post["message"].split("\n")
    assert len(post["message"]) == MAX_MESSAGE_CHARS and set(kept) == {letter}
    assert note == f"… [cut: {20000 - len(kept)} more characters]"
    assert mm.post_message(letter * MAX_MESSAGE_CHARS, channel_id=channel(fake, "builds"))  # not cut


def test_a_resend_after_a_lost_answer_is_recognised_by_the_server(
    mm: Mattermost, fake: FakeMattermost
) -> None:
    town = channel(fake, "town-square")
    mm.login()
    fake.fail_next(1, 504, methods={"POST"}, path="/posts", processed=True)  # created, answer lost
    with expected_violations(UNLISTED_STATUS):
        post_id = mm.post_message("exactly once", channel_id=town)
    assert [p["id"] for p in fake.posts_in(town)] == [post_id]
    assert fake.count(method="POST", path="/posts") == 2  # resent once, with the same pending_post_id


def test_no_resend_once_the_server_would_take_it_for_a_new_post(base_url: str, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    fake.pending_post_ttl = 0.0  # the server has forgotten the pending_post_id by the time of a resend
    mm = connect(base_url, post_resend_window=0.0)
    mm.login()
    fake.fail_next(1, 504, methods={"POST"}, path="/posts", processed=True)
    with expected_violations(UNLISTED_STATUS), pytest.raises(ServiceUnavailableError, match="not resent"):
        mm.post_message("at most once", channel_id=town)
    assert [p["message"] for p in fake.posts_in(town)] == ["at most once"]
    # A 429 proves the post was not looked at: it is resent, whenever that is.
    fake.fail_next(1, 429, retry_after=0, methods={"POST"}, path="/posts")
    with expected_violations(UNLISTED_STATUS):
        mm.post_message("after the limit", channel_id=town)
    assert [p["message"] for p in fake.posts_in(town)] == ["at most once", "after the limit"]


def test_unknown_channel_is_not_found(mm: Mattermost) -> None:
    with pytest.raises(NotFoundError, match="/teams/name/ops/channels/name/nope answered 404"):
        mm.post_message("x", team="ops", channel="nope")


def test_401_fails_at_once_naming_url_and_block(base_url: str, fake: FakeMattermost) -> None:
    mm = connect(base_url, token="revoked")
    with pytest.raises(AuthenticationError) as caught:
        mm.post_message("x", channel_id=channel(fake, "town-square"))
    message = str(caught.value)
    assert f"{base_url}/api/v4/users/me" in message and "'mattermost/main'" in message
    assert fake.count() == 1


def test_429_retry_after_is_honoured(mm: Mattermost, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    mm.login()
    fake.fail_next(1, 429, retry_after=1, path="/posts")
    started = time.monotonic()
    with expected_violations(UNLISTED_STATUS):
        post_id = mm.post_message("after the limit", channel_id=town)
    assert time.monotonic() - started >= 1.0
    assert fake.count(status=429) == 1 and [p["id"] for p in fake.posts_in(town)] == [post_id]


def test_5xx_is_retried_and_nothing_lost_or_doubled(mm: Mattermost, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    fake.fail_next(2, 503)
    with expected_violations(UNLISTED_STATUS):
        mm.post_message("one", channel_id=town)
    fake.fail_next(2, 502, path="/posts")
    with expected_violations(UNLISTED_STATUS):
        mm.post_message("two", channel_id=town)
    assert [p["message"] for p in fake.posts_in(town)] == ["one", "two"]
    assert fake.count(status=503) == 2 and fake.count(status=502) == 2


def test_5xx_that_persists_fails(mm: Mattermost, fake: FakeMattermost) -> None:
    mm.login()
    fake.fail_next(10, 500, path="/posts")
    with (
        expected_violations(UNLISTED_STATUS),
        pytest.raises(ServiceUnavailableError, match=r"posts answered 500"),
    ):
        mm.post_message("x", channel_id=channel(fake, "town-square"))
    assert fake.count(method="POST", path="/posts") == 5


# --- commands ----------------------------------------------------------------------------------


def test_parse_command() -> None:
    assert parse_command("run  nightly backup ") == ("run", "nightly backup")
    assert parse_command("Status x") == ("status", "x")
    assert parse_command("report") == ("report", None)
    assert parse_command("status") is None and parse_command("") is None


class Recorder:
    """A handler that records the commands it got and answers each."""

    def __init__(self) -> None:
        self.commands: list[ChatCommand] = []
        self.lock = threading.Lock()

    def __call__(self, command: ChatCommand) -> str:
        with self.lock:
            self.commands.append(command)
        if command.argument == "explode":
            raise RuntimeError("no such flow")
        if command.argument == "echo":
            return f"@{BOT} run echo"  # the bot's own post must never be taken for a command
        return f"ok: {command.name} {command.argument or ''}".strip()

    def texts(self) -> list[str]:
        with self.lock:
            return [c.text for c in self.commands]


def listener_for(mm: Mattermost, handler: Recorder, **kwargs) -> CommandListener:
    kwargs.setdefault("allowed_users", {"alice"})
    return CommandListener(mm, handler, reconnect_interval=0.05, max_reconnect_interval=0.4, **kwargs)


def bot_replies(fake: FakeMattermost, post_id: str) -> list[str]:
    return [p["message"] for p in fake.replies_to(post_id) if p["user_id"] == fake.bot_id]


def test_commands_run_exactly_once_across_two_dropped_connections(
    mm: Mattermost, fake: FakeMattermost
) -> None:
    town = channel(fake, "town-square")
    handler = Recorder()
    with listener_for(mm, handler, channels={town}) as listener:
        assert listener.connected.wait(5)
        dm = fake.direct_channel("alice")
        commands = [fake.inject_post("alice", town, f"@{BOT} run first")]
        commands.append(fake.inject_post("alice", dm, "list"))  # a direct channel: no mention needed
        assert fake.wait_for(lambda: len(handler.commands) == 2)

        # First drop, and the server stays away a while: these are posted while disconnected.
        fake.websocket_available = False
        connects_before = fake.ws_connects
        fake.drop_connections()
        assert fake.wait_for(lambda: not listener.connected.is_set())
        commands.append(fake.inject_post("alice", town, f"@{BOT} run second"))
        commands.append(fake.inject_post("alice", dm, "status second"))
        commands.append(fake.inject_post("alice", town, f"@{BOT}: report", root_id=commands[0]["id"]))
        time.sleep(1.0)
        attempts = fake.ws_connects - connects_before
        assert 2 <= attempts <= 8  # backoff from 0.05 s doubling to 0.4 s, not a tight loop
        assert len(handler.commands) == 2
        fake.websocket_available = True
        assert fake.wait_for(lambda: len(handler.commands) == 5)

        # Second drop, the server back at once; one post races the reconnect.
        fake.drop_connections()
        commands.append(fake.inject_post("alice", town, f"@{BOT} run third"))
        assert fake.wait_for(lambda: listener.connections == 3)
        commands.append(fake.inject_post("alice", town, f"@{BOT} run fourth"))
        assert fake.wait_for(lambda: len(handler.commands) == 7)
        assert fake.wait_for(lambda: all(bot_replies(fake, c["id"]) for c in commands))
        time.sleep(0.3)  # anything repeated would show up now

    assert handler.texts() == [
        "run first",
        "list",
        "run second",
        "status second",
        "report",
        "run third",
        "run fourth",
    ]
    # Every answer is in the command's thread (a reply in a thread goes to that thread's root).
    assert bot_replies(fake, commands[1]["id"]) == ["ok: list"]
    assert bot_replies(fake, commands[4]["id"]) == bot_replies(fake, commands[0]["id"])
    assert bot_replies(fake, commands[0]["id"]) == ["ok: run first", "ok: report"]
    for command in commands[2:4] + commands[5:]:
        assert len(bot_replies(fake, command["id"])) == 1
    assert listener.error is None and listener.connections == 3
    # Both reconnects caught up over REST, in the channel listened to and in the direct channel.
    assert fake.count(method="GET", path=f"/channels/{town}/posts") == 2
    assert fake.count(method="GET", path=f"/channels/{dm}/posts") == 2


def test_a_failing_catch_up_is_retried_on_the_next_connection(mm: Mattermost, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    handler = Recorder()
    with listener_for(mm, handler, channels={town}) as listener:
        assert listener.connected.wait(5)
        fake.websocket_available = False
        fake.drop_connections()
        assert fake.wait_for(lambda: not listener.connected.is_set())
        posted = fake.inject_post("alice", town, f"@{BOT} run while-away")
        # The catch-up's REST call fails even after its retries: the listener must come back for it.
        fake.fail_next(5, 503, path=f"/channels/{town}/posts")
        with expected_violations(UNLISTED_STATUS):
            fake.websocket_available = True
            assert fake.wait_for(lambda: bot_replies(fake, posted["id"]))
        time.sleep(0.3)
    assert handler.texts() == ["run while-away"]
    assert fake.count(status=503) == 5 and listener.connections == 3


def test_refusal_for_a_user_not_allowed(mm: Mattermost, fake: FakeMattermost) -> None:
    town, builds = channel(fake, "town-square"), channel(fake, "builds")
    handler = Recorder()
    with listener_for(mm, handler, allowed_channels={builds}) as listener:
        assert listener.connected.wait(5)
        refused = fake.inject_post("mallory", town, f"@{BOT} run payroll")
        welcome = fake.inject_post("mallory", builds, f"@{BOT} run build")  # anyone may, in builds
        assert fake.wait_for(lambda: bot_replies(fake, refused["id"]) and bot_replies(fake, welcome["id"]))
    assert handler.texts() == ["run build"]
    assert bot_replies(fake, refused["id"])[0].startswith("Sorry @mallory, you are not allowed")
    assert listener.refusals == 1


def test_help_errors_and_own_posts(mm: Mattermost, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    handler = Recorder()
    with listener_for(mm, handler) as listener:
        assert listener.connected.wait(5)
        ignored = fake.inject_post("alice", town, "run nothing")  # not addressed to the bot
        helped = fake.inject_post("alice", town, f"@{BOT} help")
        confused = fake.inject_post("alice", town, f"@{BOT} dance")
        failed = fake.inject_post("alice", town, f"@{BOT} run explode")
        echoed = fake.inject_post("alice", town, f"@{BOT} run echo")
        assert fake.wait_for(
            lambda: all(bot_replies(fake, p["id"]) for p in (helped, confused, failed, echoed))
        )
        time.sleep(0.3)
    assert handler.texts() == ["run explode", "run echo"]  # the bot's "@tasklane-bot run echo" is not one
    assert not bot_replies(fake, ignored["id"])
    assert "`run NAME`" in bot_replies(fake, helped["id"])[0]
    assert bot_replies(fake, confused["id"])[0].startswith("I did not understand `dance`")
    assert bot_replies(fake, failed["id"]) == ["Sorry, `run explode` failed: RuntimeError: no such flow"]


def test_a_server_down_at_start_is_waited_for(mm: Mattermost, fake: FakeMattermost) -> None:
    fake.fail_next(5, 502, path="/users/me")  # the first login fails even after its retries
    with expected_violations(UNLISTED_STATUS), listener_for(mm, Recorder()) as listener:
        assert listener.connected.wait(5)
    assert listener.error is None and fake.count(status=502) == 5


def test_refused_token_stops_the_listener(mm: Mattermost, fake: FakeMattermost, base_url: str) -> None:
    mm.login()  # the REST login succeeds; then the token is revoked before the websocket connects
    fake.tokens.pop("bot-token")
    listener = listener_for(mm, Recorder())
    thread = listener.start()
    thread.join(5)
    assert not thread.is_alive() and isinstance(listener.error, AuthenticationError)
    message = str(listener.error)
    assert "refused the token" in message and "(mattermost/main)" in message
    assert base_url.replace("http://", "ws://") + "/api/v4/websocket" in message
    assert "closed the connection without answering" in message and "users/me answered 401" in message
    assert fake.ws_auth_failures == 1 and fake.ws_connects == 1  # no reconnecting


def test_a_token_revoked_while_listening_stops_the_listener(mm: Mattermost, fake: FakeMattermost) -> None:
    listener = listener_for(mm, Recorder())
    thread = listener.start()
    assert listener.connected.wait(5)
    fake.tokens.pop("bot-token")
    fake.drop_connections()  # the next connection meets the refusal
    thread.join(5)
    assert not thread.is_alive() and isinstance(listener.error, AuthenticationError)
    assert fake.ws_connects == 2 and fake.ws_auth_failures == 1


def test_stop_is_prompt(mm: Mattermost) -> None:
    listener = listener_for(mm, Recorder())
    thread = listener.start()
    assert listener.connected.wait(5)
    started = time.monotonic()
    listener.stop(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 2.0
    assert listener.error is None
