"""`tasklane listen`: chat commands from the fake Mattermost become operations on a real Prefect server."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from blocks import MattermostCredentials
from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from integrations.errors import AuthenticationError
from integrations.mattermost import ChatCommand
from tasklane.chat.bot import build_command_handler, make_listener
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.mattermost import FakeMattermost
from tasklane.stack.sandbox import SANDBOX_CHANNEL, seed_mattermost
from tests.conftest import TEST_POOL, run

TOKEN = "mm-listen-token-91c3"
BLOCK = "tl-test-listen"
CATALOG = """
tasks:
  - name: {p}-notify
    type: mattermost_notify
    group: chat
    block: {block}
    message: "hello from {{task}}"
  - name: {p}-export
    type: jira_export
    group: chat
    block: {block}
    root_key: DEMO-1
    link_types: [blocks]
  - name: {p}-page
    type: confluence_table
    group: chat
    block: {block}
    page_id: "1001"
    table_heading: Task results
    key_column: Task
    rows: [{{Task: x, Status: "{{date}}"}}]
    run_columns: {{Last run: "{{flow_run}}"}}
  - name: {p}-echo
    type: shell
    group: ops
    command: echo hi
    schedule: {{every: 1h}}
"""


@pytest.fixture(scope="module")
def served_mattermost() -> Iterator[tuple[FakeMattermost, dict[str, str], str]]:
    fake = FakeMattermost(bot_token=TOKEN)
    channels = seed_mattermost(fake)
    fake.add_user("bob")
    with serve(fake.app) as url:
        MattermostCredentials(url=url, token=TOKEN, team=fake.team_name, channel=SANDBOX_CHANNEL).save(
            BLOCK, overwrite=True
        )
        yield fake, channels, url


@pytest.fixture
def mattermost(served_mattermost) -> tuple[FakeMattermost, dict[str, str]]:
    return served_mattermost[0], served_mattermost[1]


@pytest.fixture
def target(work_pool: str, project: str, tmp_path: Path) -> Iterator[Target]:
    """A project of its own with a task of each integration type and a shell task on the server.

    Afterwards its deployments and their runs are deleted, so that no run this test left
    Scheduled is picked up later by the session's worker.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    from deployments.apply import read_task_deployments

    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(CATALOG.format(p=project, block=BLOCK)))
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)

    async def deploy() -> None:
        async with get_client() as client:
            await apply(client, load_catalog([path]), target)

    async def remove() -> None:
        async with get_client() as client:
            deployments = await read_task_deployments(client, target)
            ids = [d.id for d in deployments.values()]
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=ids))
            )
            for flow_run in runs:
                await client.delete_flow_run(flow_run.id)
            for deployment_id in ids:
                await client.delete_deployment(deployment_id)

    run(deploy())
    yield target
    run(remove())


def command(name: str, argument: str | None = None) -> ChatCommand:
    text = f"{name} {argument or ''}".strip()
    return ChatCommand(name, argument, text, "post1", "post1", "chan1", "user1", "alice")


def flow_runs_of(task: str, target: Target) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    from tasklane.tasks.lookup import find_task

    async def go() -> list:
        async with get_client() as client:
            deployment = await find_task(client, task, target)
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
            )

    return run(go())


def test_handler_maps_list_status_report_run_and_unknown(target: Target, project: str) -> None:
    handler = build_command_handler(target)
    listing = handler(command("list"))
    assert f"{project}-notify" in listing and f"{project}-echo" in listing and "mattermost_notify" in listing
    assert f"{project}-echo" not in handler(command("list", "chat"))  # filtered by group
    assert "No tasks matching" in handler(command("list", "zzz"))
    for task_type in ("jira_export", "confluence_table", "mattermost_notify"):
        assert f"| {task_type} |" in listing
    status = handler(command("status", f"{project}-echo"))
    assert f"**{project}-echo** (shell, group ops" in status and "no runs yet" in status

    started = handler(command("run", f"{project}-notify"))
    assert started.startswith(f"Started **{project}-notify** for @alice") and "/runs/flow-run/" in started
    (flow_run,) = flow_runs_of(f"{project}-notify", target)
    assert "manual" in flow_run.tags and flow_run.name in started
    # No worker here: the run stays Scheduled, which status shows as the next run.
    # The run just started is either still due ("next run") or already picked up by the worker.
    after = handler(command("status", f"{project}-notify"))
    assert "next run: -" not in after or flow_run.name in after

    report = handler(command("report"))
    assert f"| {project}-notify |" in report and f"| {project}-echo |" in report and "no runs" in report
    # The server checks run parameters against each flow's schema: every integration type passes.
    for task in ("export", "page"):
        assert handler(command("run", f"{project}-{task}")).startswith(f"Started **{project}-{task}**")
    unknown = handler(command("run", "no-such-task"))
    assert unknown.startswith("Sorry @alice: no task named 'no-such-task'")


def test_run_command_posted_in_mattermost_runs_the_task_on_a_worker(
    mattermost, target: Target, project: str, worker: str
) -> None:
    """Chat → flow run → the process worker runs the mattermost_notify flow → its post lands."""
    fake, channels = mattermost
    town = channels["town-square"]
    listener = make_listener(
        BLOCK, allowed_users=["alice"], channels=["town-square"], target=target, reconnect_interval=0.2
    )
    assert listener.channels == {town}
    with listener:
        assert listener.connected.wait(10), listener.error
        asked = fake.inject_post("alice", town, f"@tasklane-bot run {project}-notify")
        assert fake.wait_for(lambda: len(fake.replies_to(asked["id"])) == 1, timeout=15)
        answer = fake.replies_to(asked["id"])[-1]
        assert answer["user_id"] == fake.bot_id and answer["message"].startswith(
            f"Started **{project}-notify**"
        )
        (flow_run,) = flow_runs_of(f"{project}-notify", target)
        assert flow_run.name in answer["message"]

        refused = fake.inject_post("bob", town, f"@tasklane-bot run {project}-notify")
        assert fake.wait_for(lambda: len(fake.replies_to(refused["id"])) == 1, timeout=15)
        assert "not allowed" in fake.replies_to(refused["id"])[-1]["message"]
    assert len(flow_runs_of(f"{project}-notify", target)) == 1

    reports = channels[SANDBOX_CHANNEL]
    assert fake.wait_for(
        lambda: any(p["message"] == f"hello from {project}-notify" for p in fake.posts_in(reports)),
        timeout=60,
    ), "the worker did not run the notify flow within 60 s"


def test_run_is_audited_as_the_chat_user(target: Target, project: str) -> None:
    """The bot's run is one audit event by `chat:<username>`; a run of an unknown task too, failed."""
    from tasklane.tasks.audit import read_audit
    from tests.conftest import with_client
    from tests.tasklane.api.conftest import wait_for

    handler = build_command_handler(target)
    assert handler(command("run", f"{project}-echo")).startswith(f"Started **{project}-echo** for @alice")
    assert handler(command("run", f"{project}-nope")).startswith("Sorry @alice: no task named")

    def events():
        rows = with_client(lambda client: read_audit(client, project, actor="chat:alice"))
        return rows if len(rows) >= 2 else None

    rows = wait_for(events, timeout=60, interval=1)
    ran = next(r for r in rows if r["task"] == f"{project}-echo")
    (flow_run,) = [r for r in flow_runs_of(f"{project}-echo", target) if "manual" in r.tags]
    assert ran["event"] == "tasklane.task.run" and ran["actor"] == "chat:alice" and ran["role"] is None
    assert ran["result"] == f"ok; run {flow_run.id}" and ran["change"]["run"] is True
    missing = next(r for r in rows if r["task"] == f"{project}-nope")
    assert missing["result"].startswith("failed: no task named")
    assert with_client(lambda client: read_audit(client, project, actor="chat:bob")) == []


def test_missing_block_and_unresolvable_channel_are_explained(mattermost) -> None:
    with pytest.raises(ValueError, match="no-such-block"):
        make_listener("no-such-block", allowed_users=["alice"])
    MattermostCredentials(url="http://127.0.0.1:9", token=TOKEN).save("tl-test-listen-noteam", overwrite=True)
    with pytest.raises(ValueError, match="has no team"):
        make_listener("tl-test-listen-noteam", channels=["town-square"])


def test_listen_stops_when_the_token_is_refused_naming_the_block_and_the_server(served_mattermost) -> None:
    """A real server closes the websocket without a word on a refused token: the listener asks
    over REST, and stops with an error naming the block and the server instead of reconnecting."""
    fake, _, url = served_mattermost
    listener = make_listener(BLOCK, allowed_users=["alice"], reconnect_interval=0.05)
    listener.mattermost.login()  # the token is good at start, then revoked
    connects = fake.ws_connects
    bot = fake.tokens.pop(TOKEN)
    try:
        with pytest.raises(AuthenticationError) as caught:
            listener.run()
    finally:
        fake.tokens[TOKEN] = bot
    message = str(caught.value)
    assert f"mattermost-credentials/{BLOCK}" in message and url.replace("http://", "ws://") in message
    assert "refused the token" in message and "renew the token" in message
    assert fake.ws_connects == connects + 1  # one try, no reconnecting
