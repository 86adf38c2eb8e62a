"""The fake Mattermost refuses what the real server refuses, with its answers, REST and websocket.

Each test sends what the real server rejects and expects what it answers (sources in
tests/fakes/README.md (mattermost)); requests the API description itself forbids are wrapped in
`expected_violations`, so the contract check confirms that they are forbidden.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import nullcontext

import pytest
import requests
import websockets
from websockets.sync.client import connect as ws_connect

from tasklane.stack.peers._server import serve
from tasklane.stack.peers.mattermost import MAX_POST_RUNES, PER_PAGE_MAX, FakeMattermost
from tests.contracts.checker import expected_violations

TOKEN = "bot-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
NO_REPLY = 0.3  # seconds a test waits to be sure nothing comes


@pytest.fixture
def fake() -> FakeMattermost:
    fake = FakeMattermost(team_name="ops")
    fake.add_user("alice", token="alice-token", password="alice-password")
    fake.add_channel("town-square")
    fake.add_channel("secret", kind="P", members=["alice"])  # the bot is not in it
    fake.add_channel("lobby", members=["alice"])  # public; the bot is not in it either
    return fake


@pytest.fixture
def url(fake: FakeMattermost) -> Iterator[str]:
    with serve(fake.app) as base:
        yield base


def channel(fake: FakeMattermost, name: str) -> str:
    return next(c["id"] for c in fake.channels.values() if c["name"] == name)


def api(url: str, method: str, path: str, **kwargs) -> requests.Response:
    kwargs.setdefault("headers", BEARER)
    return requests.request(method, f"{url}/api/v4{path}", timeout=5, **kwargs)


def assert_app_error(answer: requests.Response, status: int, error_id: str) -> None:
    """The real error body: model.AppError with its id, message, request id and status."""
    body = answer.json()
    assert answer.status_code == status and body["id"] == error_id and body["status_code"] == status
    assert body["message"] and body["request_id"] and body["detailed_error"] == ""


def post(url: str, channel_id: str, message: str = "hi", **fields) -> requests.Response:
    return api(url, "POST", "/posts", json={"channel_id": channel_id, "message": message, **fields})


# --- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer revoked"}, {"Authorization": "Basic Ym90OmJvdC1wYXNzd29yZA=="}],
    ids=["no-token", "unknown-token", "basic-auth"],
)
def test_a_request_without_a_good_token_gets_401_session_expired(url: str, headers: dict) -> None:
    with expected_violations("Security") if "Bearer" not in str(headers) else nullcontext():
        answer = api(url, "GET", "/users/me", headers=headers)
    assert_app_error(answer, 401, "api.context.session_expired.app_error")


def test_the_bearer_scheme_is_read_in_any_case_and_token_too(url: str) -> None:
    assert api(url, "GET", "/users/me", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200
    with expected_violations("Security"):  # the description knows the bearer scheme only
        assert api(url, "GET", "/users/me", headers={"Authorization": f"Token {TOKEN}"}).status_code == 200


def test_a_token_in_the_query_string_is_refused_for_a_session(url: str) -> None:
    with expected_violations("Security"):
        answer = api(url, "GET", "/users/me", headers={}, params={"access_token": TOKEN})
    assert_app_error(answer, 401, "api.context.token_provided.app_error")


def test_a_cookie_session_needs_the_csrf_header_to_write(url: str, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    session = requests.Session()
    login = session.post(
        f"{url}/api/v4/users/login",
        json={"login_id": "alice", "password": "alice-password"},
        headers={"X-Requested-With": "XMLHttpRequest"},
        timeout=5,
    )
    assert {"MMAUTHTOKEN", "MMUSERID", "MMCSRF"} <= set(session.cookies.keys())
    csrf = session.cookies["MMCSRF"]
    body = {"channel_id": town, "message": "by cookie"}
    with expected_violations("Security"):  # the description knows the bearer token only
        assert session.get(f"{url}/api/v4/users/me", timeout=5).json()["id"] == login.json()["id"]
        refused = session.post(f"{url}/api/v4/posts", json=body, timeout=5)
        with_csrf = session.post(f"{url}/api/v4/posts", json=body, headers={"X-CSRF-Token": csrf}, timeout=5)
        with_xhr = session.post(
            f"{url}/api/v4/posts", json=body, headers={"X-Requested-With": "XMLHttpRequest"}, timeout=5
        )
        # The cookie wins over a header: a good bearer token does not mend a CSRF refusal.
        both = session.post(f"{url}/api/v4/posts", json=body, headers=BEARER, timeout=5)
    assert_app_error(refused, 401, "api.context.session_expired.app_error")
    assert_app_error(both, 401, "api.context.session_expired.app_error")
    assert (with_csrf.status_code, with_xhr.status_code) == (201, 201)
    assert [p["message"] for p in fake.posts_in(town)] == ["by cookie", "by cookie"]


# --- login -------------------------------------------------------------------------------------


def login(url: str, login_id: str, password: str, **headers: str) -> requests.Response:
    return requests.post(
        f"{url}/api/v4/users/login",
        json={"login_id": login_id, "password": password},
        headers=headers,
        timeout=5,
    )


def test_login_answers_200_with_the_token_in_a_header_and_no_cookie(url: str, fake: FakeMattermost) -> None:
    answer = login(url, "alice", "alice-password")
    assert answer.status_code == 200 and answer.json()["username"] == "alice"
    assert fake.tokens[answer.headers["Token"]] == fake.user_id("alice")
    assert "set-cookie" not in answer.headers  # cookies only for X-Requested-With: XMLHttpRequest
    assert api(url, "GET", "/users/me", headers={"Authorization": f"Bearer {answer.headers['Token']}"}).ok


@pytest.mark.parametrize(
    ("login_id", "password", "error_id"),
    [
        ("alice", "wrong", "api.user.login.invalid_credentials_email_username"),
        ("nobody", "x", "api.user.login.invalid_credentials_email_username"),
        ("tasklane-bot", "bot-password", "api.user.login.bot_login_forbidden.app_error"),
    ],
    ids=["bad-password", "unknown-user", "bot"],
)
def test_login_refusals(url: str, login_id: str, password: str, error_id: str) -> None:
    assert_app_error(login(url, login_id, password), 401, error_id)


# --- users and channels ------------------------------------------------------------------------


def test_users_by_id_name_and_me(url: str, fake: FakeMattermost) -> None:
    alice = fake.user_id("alice")
    assert api(url, "GET", "/users/me").json()["id"] == fake.bot_id
    assert api(url, "GET", f"/users/{alice}").json()["username"] == "alice"
    assert api(url, "GET", "/users/username/alice").json()["id"] == alice
    assert_app_error(api(url, "GET", "/users/username/nobody"), 404, "app.user.missing_account.const")
    assert_app_error(api(url, "GET", f"/users/{'z' * 26}"), 404, "app.user.missing_account.const")
    assert_app_error(api(url, "GET", "/users/not-an-id"), 400, "api.context.invalid_url_param.app_error")


def test_channels_the_caller_may_not_read(url: str, fake: FakeMattermost) -> None:
    secret, lobby = channel(fake, "secret"), channel(fake, "lobby")
    # By name, a private channel the caller is not in does not exist; a public one is readable.
    missing = "app.channel.get_by_name.missing.app_error"
    assert_app_error(api(url, "GET", "/teams/name/ops/channels/name/secret"), 404, missing)
    assert_app_error(api(url, "GET", "/teams/name/ops/channels/name/nope"), 404, missing)
    assert api(url, "GET", "/teams/name/ops/channels/name/lobby").json()["id"] == lobby
    # By id: 403 for the private one, 404 for an unknown one.
    assert_app_error(api(url, "GET", f"/channels/{secret}"), 403, "api.context.permissions.app_error")
    assert_app_error(api(url, "GET", f"/channels/{'z' * 26}"), 404, "app.channel.get.existing.app_error")
    assert_app_error(api(url, "GET", f"/channels/{secret}/posts"), 403, "api.context.permissions.app_error")
    alice = {"Authorization": "Bearer alice-token"}
    assert api(url, "GET", "/teams/name/ops/channels/name/secret", headers=alice).json()["id"] == secret


# --- posts -------------------------------------------------------------------------------------


def test_posting_needs_the_channel_or_a_public_channel_of_the_team(url: str, fake: FakeMattermost) -> None:
    assert_app_error(post(url, channel(fake, "secret")), 403, "api.context.permissions.app_error")
    assert_app_error(post(url, "z" * 26), 403, "api.context.permissions.app_error")
    assert post(url, channel(fake, "lobby")).status_code == 201  # create_post_public
    assert fake.posts_in(channel(fake, "secret")) == []


@pytest.mark.parametrize("letter", ["x", "é", "🙂"], ids=["1-byte", "2-byte", "4-byte"])
def test_a_message_may_have_16383_runes_not_one_more(url: str, fake: FakeMattermost, letter: str) -> None:
    town = channel(fake, "town-square")
    assert post(url, town, letter * MAX_POST_RUNES).status_code == 201
    assert_app_error(post(url, town, letter * (MAX_POST_RUNES + 1)), 400, "model.post.is_valid.msg.app_error")
    assert len(fake.posts_in(town)) == 1


def test_a_reply_needs_a_root_post_that_is_no_reply(url: str, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    root = post(url, town).json()["id"]
    reply = post(url, town, root_id=root)
    assert reply.status_code == 201 and reply.json()["root_id"] == root
    root_error = "api.post.create_post.root_id.app_error"
    assert_app_error(post(url, town, root_id="z" * 26), 400, root_error)
    assert_app_error(post(url, town, root_id=reply.json()["id"]), 400, root_error)


def test_a_pending_post_id_is_recognised_for_the_ttl_only(url: str, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    fake.pending_post_ttl = 0.5
    first = post(url, town, "once", pending_post_id=f"{fake.bot_id}:1")
    again = post(url, town, "once", pending_post_id=f"{fake.bot_id}:1")
    assert (first.status_code, again.status_code) == (201, 201) and again.json()["id"] == first.json()["id"]
    time.sleep(0.6)
    later = post(url, town, "once", pending_post_id=f"{fake.bot_id}:1")
    assert later.json()["id"] != first.json()["id"]
    assert [p["message"] for p in fake.posts_in(town)] == ["once", "once"]


def test_a_bots_post_is_marked_from_bot(url: str, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    assert post(url, town, props={"card": "x"}).json()["props"] == {"card": "x", "from_bot": "true"}
    answer = api(
        url,
        "POST",
        "/posts",
        json={"channel_id": town, "message": "m"},
        headers={"Authorization": "Bearer alice-token"},
    )
    assert answer.json()["props"] == {}


def test_channel_posts_pages_are_capped_at_200(url: str, fake: FakeMattermost) -> None:
    town = channel(fake, "town-square")
    for n in range(PER_PAGE_MAX + 5):
        fake._create_post(fake.bot_id, town, f"m{n}")
    page = api(url, "GET", f"/channels/{town}/posts", params={"per_page": 500}).json()
    assert len(page["order"]) == PER_PAGE_MAX
    assert len(api(url, "GET", f"/channels/{town}/posts").json()["order"]) == 60
    newest = max(p["create_at"] for p in fake.posts_in(town))
    since = api(url, "GET", f"/channels/{town}/posts", params={"since": newest - 1}).json()
    assert [since["posts"][i]["message"] for i in since["order"]] == [f"m{PER_PAGE_MAX + 4}"]


def test_rate_limited_answer(url: str, fake: FakeMattermost) -> None:
    fake.fail_next(1, 429, retry_after=3)
    with expected_violations(r"answer 429 breaks"):  # the description lists no 429
        answer = api(url, "GET", "/users/me")
    assert answer.status_code == 429 and answer.text == "limit exceeded\n"
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["Retry-After"] == "3" and answer.headers["X-Ratelimit-Reset"] == "3"
    assert answer.headers["X-Ratelimit-Limit"] and answer.headers["X-Ratelimit-Remaining"] == "0"


# --- websocket ---------------------------------------------------------------------------------


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/api/v4/websocket"


def challenge(ws, token: object, seq: int = 1) -> None:
    ws.send(json.dumps({"seq": seq, "action": "authentication_challenge", "data": {"token": token}}))


def receive(ws) -> dict:
    return json.loads(ws.recv(timeout=5))


def assert_closed_without_a_word(ws) -> None:
    with pytest.raises(websockets.ConnectionClosedError) as caught:
        ws.recv(timeout=5)
    assert caught.value.rcvd is None  # no close frame: the client reports 1006


def test_a_good_challenge_gets_hello_then_ok(url: str, fake: FakeMattermost) -> None:
    with ws_connect(ws_url(url)) as ws:
        challenge(ws, TOKEN)
        hello = receive(ws)
        assert (
            hello["event"] == "hello" and hello["seq"] == 0 and hello["broadcast"]["user_id"] == fake.bot_id
        )
        assert receive(ws) == {"status": "OK", "seq_reply": 1}
        fake.inject_post("alice", channel(fake, "town-square"), "hi")
        posted = receive(ws)
        assert posted["event"] == "posted" and json.loads(posted["data"]["post"])["message"] == "hi"


@pytest.mark.parametrize("token", ["revoked", None, 42], ids=["refused", "missing", "not-a-string"])
def test_a_refused_challenge_closes_the_connection_without_a_reply(
    url: str, fake: FakeMattermost, token
) -> None:
    with ws_connect(ws_url(url)) as ws:
        challenge(ws, token)
        assert_closed_without_a_word(ws)
    assert fake.connections() == 0


def test_nothing_is_answered_before_authentication(url: str) -> None:
    with ws_connect(ws_url(url)) as ws:
        ws.send(json.dumps({"seq": 1, "action": "get_statuses"}))
        ws.send(json.dumps({"seq": 0, "action": "user_typing"}))
        with pytest.raises(TimeoutError):
            ws.recv(timeout=NO_REPLY)
        challenge(ws, TOKEN, seq=2)  # still open: the challenge works afterwards
        assert receive(ws)["event"] == "hello" and receive(ws) == {"status": "OK", "seq_reply": 2}


def test_errors_are_answered_once_authenticated(url: str) -> None:
    with ws_connect(ws_url(url), additional_headers=BEARER) as ws:
        assert receive(ws)["event"] == "hello"  # a token in the upgrade request: no challenge needed
        ws.send(json.dumps({"seq": 0, "action": "user_typing"}))
        assert receive(ws)["error"]["id"] == "api.web_socket_router.bad_seq.app_error"
        ws.send(json.dumps({"seq": 5, "action": "no_such_action"}))
        answer = receive(ws)
        assert answer["status"] == "FAIL" and answer["seq_reply"] == 5
        assert answer["error"]["id"] == "api.web_socket_router.bad_action.app_error"
        challenge(ws, "revoked", seq=6)  # a second challenge is ignored, whatever its token
        with pytest.raises(TimeoutError):
            ws.recv(timeout=NO_REPLY)


def test_a_message_that_is_not_json_ends_the_connection(url: str) -> None:
    with ws_connect(ws_url(url), additional_headers=BEARER) as ws:
        assert receive(ws)["event"] == "hello"
        ws.send("not json")
        assert_closed_without_a_word(ws)
