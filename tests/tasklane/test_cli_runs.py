"""`tasklane logs|cancel|explain|history|upcoming` in process (typer's runner) on the real test
server: a run named by id, by name or by its task; the past apart from the runs to come; state
words as the old systems meant them.

Runs are made through the client (a deployment without a work pool, so no worker takes them),
their states set directly; each test's names carry a tag of their own.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from typer.testing import CliRunner

from tests.conftest import with_client

FAR = datetime(2099, 1, 1, 1, 0, tzinfo=UTC)  # 02:00 in Berlin (CET)


def tasklane(*args: str):
    """The command in process; its result (exit code, stdout, stderr, any exception)."""
    from tasklane.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "250"})


def no_traceback(result) -> None:
    """The command ended by itself (an exit code), not by an exception it let through."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output + result.stderr


@dataclass
class Made:
    task: str
    first: UUID  # Completed, the older run named `<tag>-banana-scallop`
    second: UUID  # Failed, the task's latest started run
    due: UUID  # Scheduled an hour ago, never started
    future: UUID  # Scheduled in 2099
    waiting: UUID  # another task's run, Scheduled a minute ago (explained, then cancelled)
    twin_old: UUID
    twin_new: UUID
    tag: str


async def _make(client, tag: str) -> Made:
    from prefect.client.schemas.actions import DeploymentScheduleCreate, LogCreate
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.states import Completed, Crashed, Failed, Running, Scheduled

    flow_id = await client.create_flow_from_name("tl-cli-runs-test")
    task = f"hello-{tag}"
    deployment = await client.create_deployment(
        flow_id=flow_id,
        name=task,
        tags=["tasklane", f"group:{tag}"],
        # Inactive: the server's scheduler makes no runs of it; its zone is the runs' zone.
        schedules=[
            DeploymentScheduleCreate(
                schedule=CronSchedule(cron="0 2 * * *", timezone="Europe/Berlin"), active=False
            )
        ],
    )

    async def finished(name: str, final, line: str | None = None) -> UUID:
        run = await client.create_flow_run_from_deployment(deployment, name=name)
        await client.set_flow_run_state(run.id, Running(), force=True)
        if line:
            stamp = datetime.now(UTC)
            await client.create_logs(
                [LogCreate(name="t", level=20, message=line, timestamp=stamp, flow_run_id=run.id)]
            )
        await client.set_flow_run_state(run.id, final, force=True)
        return run.id

    first = await finished(f"{tag}-banana-scallop", Completed(), "the first run says hi")
    twin_old = await finished(f"{tag}-twin", Completed(), "older twin")
    twin_new = await finished(f"{tag}-twin", Completed(), "newer twin")
    await finished(f"{tag}-crashed", Crashed(message="killed"))
    await finished(f"{tag}-timedout", Failed(name="TimedOut", message="the job timed out"))
    second = await finished(f"{tag}-second", Failed(message="boom"), "the second run says hi")
    due = await client.create_flow_run_from_deployment(
        deployment, name=f"{tag}-due", state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(hours=1))
    )
    future = await client.create_flow_run_from_deployment(
        deployment, name=f"{tag}-future", state=Scheduled(scheduled_time=FAR)
    )
    other = await client.create_deployment(flow_id=flow_id, name=f"other-{tag}", tags=["tasklane"])
    waiting = await client.create_flow_run_from_deployment(
        other, name=f"{tag}-waiting", state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(minutes=1))
    )
    return Made(task, first, second, due.id, future.id, waiting.id, twin_old, twin_new, tag)


@pytest.fixture(scope="module")
def made(prefect_server: str) -> Made:
    tag = f"r{uuid.uuid4().hex[:8]}"
    return with_client(lambda client: _make(client, tag))


@pytest.mark.parametrize(
    ("ref", "says", "not_says"),
    [
        ("{tag}-banana-scallop", "the first run says hi", "second"),  # a run name
        ("hello-{tag}", "the second run says hi", "first"),  # a task: its latest started run
        ("{first}", "the first run says hi", "second"),  # a run id
        ("{tag}-twin", "newer twin", "older twin"),  # two runs of one name: the newest
    ],
    ids=["run-name", "task-name", "run-id", "ambiguous-name"],
)
def test_logs_finds_the_run_by_name_task_or_id(made: Made, ref: str, says: str, not_says: str) -> None:
    result = tasklane("logs", ref.format(tag=made.tag, first=made.first))
    no_traceback(result)
    assert result.exit_code == 0, result.output + result.stderr
    assert says in result.stdout and not_says not in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("logs", "no-such-run-or-task"),
            "no run or task named 'no-such-run-or-task': expected a run id, a run name",
        ),
        (("logs", str(uuid.UUID(int=7))), "no run or task named '00000000-0000-0000-0000-000000000007'"),
        (("logs", "hello-{tag}", "--level", "LOUD"), "unknown log level 'LOUD': expected one of DEBUG"),
        (("cancel", "no-such-run-or-task"), "no run or task named 'no-such-run-or-task'"),
        (("explain", "no-such-run-or-task"), "no run or task named 'no-such-run-or-task'"),
        (("history", "--state", "faild"), "unknown state 'faild': expected one of finished, pending"),
    ],
    ids=["logs-name", "logs-uuid", "logs-level", "cancel", "explain", "history-state"],
)
def test_bad_input_is_one_line_not_a_traceback(made: Made, args: tuple[str, ...], message: str) -> None:
    result = tasklane(*(a.format(tag=made.tag) for a in args))
    no_traceback(result)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.split()), result.stderr


def test_explain_and_cancel_take_a_run_name(made: Made) -> None:
    from prefect.client.schemas.objects import StateType

    explained = tasklane("explain", f"{made.tag}-waiting")
    no_traceback(explained)
    assert explained.exit_code == 0
    assert f"run {made.tag}-waiting of other-{made.tag} is" in explained.stdout
    assert "belongs to no work pool" in explained.stdout

    finished = tasklane("cancel", f"{made.tag}-banana-scallop")
    assert finished.exit_code == 0 and "is Completed: nothing to cancel" in finished.stdout

    cancelled = tasklane("cancel", f"{made.tag}-waiting")
    no_traceback(cancelled)
    assert cancelled.exit_code == 0 and f"cancelling 1 run(s): {made.tag}-waiting" in cancelled.stdout
    state = with_client(lambda client: client.read_flow_run(made.waiting)).state
    assert state.type in (StateType.CANCELLING, StateType.CANCELLED)


def _history(made: Made, *args: str) -> list[dict]:
    result = tasklane("history", "--task", made.task, "--json", *args)
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def test_history_is_the_past_and_upcoming_the_runs_to_come(made: Made) -> None:
    from tasklane.cli.runs import HISTORY_JSON_KEYS

    past = _history(made)
    ids = [row["id"] for row in past]
    assert str(made.future) not in ids  # still to come: not history
    assert str(made.second) in ids and str(made.first) in ids
    assert str(made.due) in ids  # past due, never started: history (late)
    assert all(list(row) == list(HISTORY_JSON_KEYS) for row in past)
    failed = next(row for row in past if row["id"] == str(made.second))
    assert (failed["state"], failed["state_type"], failed["status"]) == ("Failed", "FAILED", "failed")
    assert failed["start"] and failed["end"] and failed["duration"] >= 0

    table = tasklane("history", "--group", made.tag)
    assert table.exit_code == 0 and f"{made.tag}-banana-scallop" in table.stdout
    assert f"{made.tag}-future" not in table.stdout

    upcoming = tasklane("upcoming", "--task", made.task)
    assert upcoming.exit_code == 0, upcoming.output
    assert f"{made.tag}-future" in upcoming.stdout and f"{made.tag}-second" not in upcoming.stdout
    assert "2099-01-01 02:00:00 CET" in upcoming.stdout  # in the schedule's zone
    rows = json.loads(tasklane("upcoming", "--group", made.tag, "--json").stdout)
    assert [(r["id"], r["due"], r["timezone"]) for r in rows] == [
        (str(made.future), FAR.isoformat(), "Europe/Berlin")
    ]


@pytest.mark.parametrize(
    ("word", "states"),
    [
        ("finished", ["Completed", "Completed", "Completed", "Crashed", "TimedOut", "Failed"]),
        ("done", ["Completed", "Completed", "Completed"]),  # the old systems' DONE: succeeded
        ("success", ["Completed", "Completed", "Completed"]),
        ("failed", ["Crashed", "TimedOut", "Failed"]),  # failed, crashed or timed out
        ("TIMED_OUT", ["TimedOut"]),
        ("crashed", ["Crashed"]),
    ],
)
def test_state_words_mean_what_the_old_systems_meant(made: Made, word: str, states: list[str]) -> None:
    rows = _history(made, "--state", word)
    assert sorted(row["state"] for row in rows) == sorted(states)


def test_history_help_lists_every_state_word_with_its_prefect_states() -> None:
    from tasklane.history.statuses import STATE_WORDS

    shown = " ".join(tasklane("history", "--help").stdout.split())
    for word, meaning in STATE_WORDS.items():
        assert f"{word} {meaning.states} — {meaning.meaning}" in shown
    assert "--json prints a JSON list" in shown and "state_type" in shown
