"""The mattermost_notify task type on a real Prefect server, against the local fake Mattermost over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from blocks import MattermostCredentials
from deployments.integration_jobs import MattermostNotifyJob
from deployments.policy import RunPolicy
from flows.mattermost_notify import mattermost_notify_flow
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.mattermost import FakeMattermost
from tasklane.stack.sandbox import SANDBOX_CHANNEL, seed_mattermost
from tests.contracts.checker import expected_violations
from tests.flows.conftest import artifacts_of, server_logs, task_runs_of

TOKEN = "mm-bot-token-5e8a0c"
BLOCK = "tl-test-mattermost"
BAD_BLOCK = "tl-test-mattermost-bad"
NO_TEAM_BLOCK = "tl-test-mattermost-noteam"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeMattermost, dict[str, str], str]]:
    fake = FakeMattermost(bot_token=TOKEN)
    channels = seed_mattermost(fake)
    channels["private"] = fake.add_channel("private", kind="P", members=["alice"])  # without the bot
    with serve(fake.app) as url:
        MattermostCredentials(url=url, token=TOKEN, team=fake.team_name, channel=SANDBOX_CHANNEL).save(
            BLOCK, overwrite=True
        )
        MattermostCredentials(url=url, token="wrong", team=fake.team_name).save(BAD_BLOCK, overwrite=True)
        MattermostCredentials(url=url, token=TOKEN).save(NO_TEAM_BLOCK, overwrite=True)
        yield fake, channels, url


@pytest.fixture
def fake(served) -> FakeMattermost:
    fake = served[0]
    with fake.lock:
        fake.requests.clear()
    fake.clear_faults()
    return fake


def bot_posts(fake: FakeMattermost, channel_id: str) -> list[dict]:
    return [p for p in fake.posts_in(channel_id) if p["user_id"] == fake.bot_id]


def test_posts_to_the_blocks_channel_with_placeholders_and_artifact(fake: FakeMattermost, served) -> None:
    _, channels, url = served
    before = len(bot_posts(fake, channels[SANDBOX_CHANNEL]))
    job = MattermostNotifyJob(
        block=BLOCK, message="**{task}** finished on {date} ({flow_run}); keep {braces}"
    )
    state = mattermost_notify_flow(job=job, return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    posts = bot_posts(fake, channels[SANDBOX_CHANNEL])
    assert len(posts) == before + 1
    post = posts[-1]
    assert post["id"] == result["post_id"]
    assert post["message"].startswith("**mattermost_notify** finished on 20") and post["message"].endswith(
        "; keep {braces}"
    )
    assert result["permalink"] == f"{url}/tasklane/pl/{post['id']}"
    artifacts = {a.key: a.data for a in artifacts_of(state.state_details.flow_run_id)}
    assert set(artifacts) == {"mattermost-post-mattermost-notify", "mattermost-notify"}
    assert post["id"] in artifacts["mattermost-post-mattermost-notify"]
    assert f'"post_id": "{post["id"]}"' in artifacts["mattermost-notify"]  # the run's result
    assert TOKEN not in "\n".join(server_logs(state.state_details.flow_run_id))


def test_channel_by_id_and_reply_in_thread(fake: FakeMattermost, served) -> None:
    channels = served[1]
    root = fake.inject_post("alice", channels["town-square"], "deploy started")
    job = MattermostNotifyJob(
        block=NO_TEAM_BLOCK, channel=channels["town-square"], message="done", root_id=root["id"]
    )
    state = mattermost_notify_flow(job=job, return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["permalink"] is None  # no team known: no permalink, the id is in the artifact
    replies = fake.replies_to(root["id"])
    assert [r["message"] for r in replies] == ["done"] and replies[0]["user_id"] == fake.bot_id


def test_refused_token_fails_at_once(fake: FakeMattermost) -> None:
    started = time.monotonic()
    state = mattermost_notify_flow(
        job=MattermostNotifyJob(block=BAD_BLOCK, channel="town-square", message="hi"),
        policy=RunPolicy(retries=3, retry_delays=[5, 5, 5]),
        return_state=True,
    )
    assert state.is_failed() and "401" in state.message
    assert time.monotonic() - started < 5
    assert fake.count(status=401) == 1
    assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 1


def test_a_channel_the_bot_may_not_post_in_fails_at_once_saying_so(fake: FakeMattermost, served) -> None:
    channels = served[1]
    state = mattermost_notify_flow(
        job=MattermostNotifyJob(block=BLOCK, channel=channels["private"], message="hi"),
        policy=RunPolicy(retries=2, retry_delays=[5, 5]),
        return_state=True,
    )
    assert state.is_failed() and "@tasklane-bot may not post in channel" in state.message
    assert "add it to the channel" in state.message and fake.count(method="POST", status=403) == 1
    assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 1
    assert fake.posts_in(channels["private"]) == []


def test_unknown_channel_and_missing_team_fail_at_once(fake: FakeMattermost) -> None:
    policy = RunPolicy(retries=2, retry_delays=[5, 5])
    unknown = mattermost_notify_flow(
        job=MattermostNotifyJob(block=BLOCK, channel="no-such-channel", message="hi"),
        policy=policy,
        return_state=True,
    )
    assert unknown.is_failed() and "404" in unknown.message
    no_team = mattermost_notify_flow(
        job=MattermostNotifyJob(block=NO_TEAM_BLOCK, channel="town-square", message="hi"),
        policy=policy,
        return_state=True,
    )
    assert no_team.is_failed() and "needs a team" in no_team.message
    for state in (unknown, no_team):
        assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 1


def test_rate_limits_and_server_errors_are_retried_and_posted_once(
    fake: FakeMattermost, served, no_backoff: None
) -> None:
    channels = served[1]
    before = len(bot_posts(fake, channels[SANDBOX_CHANNEL]))
    # 2 x 429 and 4 x 503 on creating the post: the client's 4 retries are used up by the first
    # attempt; the task's policy retries it, and the second attempt gets through.
    fake.fail_next(2, 429, retry_after=0, methods={"POST"}, path="/posts")
    fake.fail_next(4, 503, methods={"POST"}, path="/posts")
    with expected_violations(r"answer (429|503) breaks"):  # the API description lists neither
        state = mattermost_notify_flow(
            job=MattermostNotifyJob(block=BLOCK, message="exactly once"),
            policy=RunPolicy(retries=2, retry_delays=[0.1, 0.1]),
            return_state=True,
        )
    assert state.is_completed(), state.message
    assert task_runs_of(state.state_details.flow_run_id)[0].run_count == 2
    posts = bot_posts(fake, channels[SANDBOX_CHANNEL])
    assert [p["message"] for p in posts[before:]] == ["exactly once"]
