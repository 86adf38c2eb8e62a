"""History, statistics, retention and logs on a real Prefect server.

Runs are made quickly through the client: a flow run of a deployment, set Running, then set to
its final state; the server records start/end times and emits the same prefect.flow-run.* events
a worker's run would.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from tests.conftest import run


def final_state(name: str):
    from prefect.states import Cancelled, Completed, Crashed, Failed

    return {
        "Completed": lambda: Completed(),
        "Failed": lambda: Failed(message="boom"),
        "TimedOut": lambda: Failed(name="TimedOut", message="the job timed out"),
        "Crashed": lambda: Crashed(message="killed"),
        "Cancelled": lambda: Cancelled(),
    }[name]()


@pytest.fixture(autouse=True)
def _server(prefect_server: str) -> None:
    """Every test here runs against the session's real Prefect server."""


async def make_deployment(client, name: str, tags: list[str]) -> UUID:
    flow_id = await client.create_flow_from_name("tl-history-test")
    return await client.create_deployment(flow_id=flow_id, name=name, tags=tags)


async def make_runs(
    client, deployment_id: UUID, states: list[str], *, run_seconds: float = 0.0
) -> list[UUID]:
    """One finished run per entry of `states`, in order (Running first, so each has a duration).

    Each is created Running: a Scheduled one could be taken by a test worker polling the pool.
    """
    from prefect.states import Running

    ids = []
    for state in states:
        flow_run = await client.create_flow_run_from_deployment(deployment_id, state=Running())
        if run_seconds:
            await asyncio.sleep(run_seconds)
        await client.set_flow_run_state(flow_run.id, final_state(state), force=True)
        ids.append(flow_run.id)
    return ids


def scope() -> str:
    """A tag of this test only: other tests' runs on the shared server stay out of its counts."""
    return f"tl-scope-{uuid.uuid4().hex[:8]}"


def client_ctx():
    from prefect.client.orchestration import get_client

    return get_client()


def test_history_filters_by_task_group_state_and_time() -> None:
    from tasklane.history.runs import history
    from tasklane.history.statuses import state_word

    tag = scope()

    async def go():
        async with client_ctx() as client:
            a = await make_deployment(client, f"a-{tag}", ["tasklane", tag, "group:ops"])
            b = await make_deployment(client, f"b-{tag}", ["tasklane", tag, "group:etl"])
            start = datetime.now(UTC)
            await make_runs(client, a, ["Completed", "Failed", "TimedOut"])
            await make_runs(client, b, ["Completed", "Crashed"])
            tags = ["tasklane", tag]
            everything = await history(client, tags=tags)
            by_task = await history(client, task=f"a-{tag}", tags=tags)
            by_group = await history(client, group="etl", tags=tags)
            failed = await history(client, state_names=state_word("failed").names, tags=tags)
            timeout = await history(client, state_names=state_word("timeout").names, tags=tags)
            finished = await history(client, state_types=state_word("finished").types, tags=tags)
            limited = await history(client, limit=2, tags=tags)
            later = await history(client, since=datetime.now(UTC) + timedelta(minutes=1), tags=tags)
            window = await history(
                client, since=start - timedelta(seconds=1), until=datetime.now(UTC), tags=tags
            )
            return everything, by_task, by_group, failed, timeout, finished, limited, later, window

    everything, by_task, by_group, failed, timeout, finished, limited, later, window = run(go())
    assert len(everything) == 5 and len(window) == 5 and later == []
    assert {r.task for r in by_task} == {f"a-{tag}"} and len(by_task) == 3
    assert {r.group for r in by_group} == {"etl"} and sorted(r.state for r in by_group) == [
        "Completed",
        "Crashed",
    ]
    assert sorted(r.state for r in failed) == ["Crashed", "Failed", "TimedOut"]  # failed: did not succeed
    assert len(finished) == 5
    assert [r.state for r in timeout] == ["TimedOut"] and timeout[0].message == "the job timed out"
    assert len(limited) == 2
    record = everything[0]
    assert record.link and record.link.endswith(f"/runs/flow-run/{record.run_id}")
    assert all(r.duration is not None and r.duration >= 0 for r in everything)


def test_finished_runs_window_is_exclusive_then_inclusive() -> None:
    from tasklane.history.runs import finished_runs

    tag = scope()

    async def go():
        async with client_ctx() as client:
            d = await make_deployment(client, f"w-{tag}", ["tasklane", tag])
            first = await make_runs(client, d, ["Completed", "Failed"])
            records = await finished_runs(client, None, datetime.now(UTC), tags=[tag])
            boundary = records[-1].end
            second = await make_runs(client, d, ["Completed"])
            after = await finished_runs(client, boundary, datetime.now(UTC), tags=[tag])
            return first, second, records, after

    first, second, records, after = run(go())
    assert [UUID(r.run_id) for r in records] == first
    assert [UUID(r.run_id) for r in after] == second


def test_stats_match_independent_counts(tmp_path: Path) -> None:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
        FlowRunFilterTags,
    )

    from integrations.report import chart_durations, chart_runs_per_day, stats_markdown
    from tasklane.history.stats import task_stats

    tag = scope()
    plan = {"ops": ["Completed"] * 4 + ["Failed", "TimedOut"], "etl": ["Completed", "Crashed", "Cancelled"]}

    async def go():
        async with client_ctx() as client:
            since = datetime.now(UTC) - timedelta(seconds=1)
            for group, states in plan.items():
                d = await make_deployment(client, f"{group}-{tag}", ["tasklane", tag, f"group:{group}"])
                await make_runs(client, d, states)
            until = datetime.now(UTC) + timedelta(seconds=1)
            stats = await task_stats(client, since, until, tags=[tag])
            counts = {}
            for name in ("Completed", "Failed", "TimedOut", "Crashed", "Cancelled"):
                counts[name] = await client.count_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        tags=FlowRunFilterTags(all_=[tag]),
                        state=FlowRunFilterState(name=FlowRunFilterStateName(any_=[name])),
                    )
                )
            return stats, counts

    stats, counts = run(go())
    assert stats.overall.runs == sum(counts.values()) == 9
    assert stats.overall.successes == counts["Completed"] == 5
    assert stats.overall.failures == counts["Failed"] + counts["TimedOut"] + counts["Crashed"] == 3
    assert stats.overall.cancelled == counts["Cancelled"] == 1
    assert stats.overall.success_rate == round(100 * 5 / 9, 2)
    assert stats.per_group["ops"].runs == 6 and stats.per_group["ops"].successes == 4
    assert stats.per_task[f"etl-{tag}"].failures == 1
    assert sum(sum(day.values()) for day in stats.per_day.values()) == 9
    assert stats.overall.p95_duration is not None and stats.overall.p95_duration >= stats.overall.avg_duration
    assert '"overall"' in stats.to_json()
    assert "| **all** | 9 | 5 | 3 | 1 |" in stats_markdown(stats)
    for png in (chart_runs_per_day(stats, tmp_path / "a.png"), chart_durations([], tmp_path / "b.png")):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_retention_deletes_only_what_is_older_or_beyond_the_limit() -> None:
    from prefect.client.schemas.actions import ArtifactCreate
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, FlowRunFilter

    from tasklane.history.retention import purge_history
    from tasklane.settings.reports import HistorySettings

    tag = scope()

    async def go():
        async with client_ctx() as client:
            d = await make_deployment(client, f"r-{tag}", ["tasklane", tag])
            old = await make_runs(client, d, ["Completed", "Failed", "Completed"])
            await asyncio.sleep(1.1)
            middle = datetime.now(UTC)
            await asyncio.sleep(0.2)
            young = await make_runs(client, d, ["Completed", "Completed", "Failed", "Completed"])
            for flow_run_id in old + young:
                await client.create_artifact(
                    ArtifactCreate(type="markdown", data="x", flow_run_id=flow_run_id)
                )
            # "now" is 30 days after `middle`: the three old runs are past a 30-day retention.
            settings = HistorySettings(retention_days=30, max_records=3)
            dry = await purge_history(
                client, settings, tags=[tag], now=middle + timedelta(days=30), dry_run=True
            )
            assert dry.deleted == 4 and len(await client.read_artifacts()) > 0
            result = await purge_history(client, settings, tags=[tag], now=middle + timedelta(days=30))
            left = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags={"all_": [tag]}))
            artifacts_of_old = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=old + young[:1]))
            )
            artifacts_kept = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=young[1:]))
            )
            return old, young, result, left, artifacts_of_old, artifacts_kept

    old, young, result, left, artifacts_of_old, artifacts_kept = run(go())
    assert sorted(map(UUID, result.expired)) == sorted(old)
    assert list(map(UUID, result.overflow)) == [young[0]]  # the oldest beyond max_records=3
    assert sorted(r.id for r in left) == sorted(young[1:])
    assert result.artifacts == 4 and artifacts_of_old == [] and len(artifacts_kept) == 3
    assert result.kept == 3


def test_logs_read_grep_level_export_and_follow(tmp_path: Path) -> None:
    from prefect import flow, get_run_logger

    from tasklane.history.logs import export_logs, follow_logs, read_run_logs

    @flow(name="tl-logs-test")
    def chatty() -> None:
        logger = get_run_logger()
        logger.info("step one ok")
        logger.warning("disk almost FULL")
        logger.error("step two failed")

    state = chatty(return_state=True)
    run_id = state.state_details.flow_run_id
    time.sleep(1.2)  # logs are shipped in batches

    async def go():
        async with client_ctx() as client:
            every = await read_run_logs(client, run_id)
            grep = await read_run_logs(client, run_id, grep="full")
            errors = await read_run_logs(client, run_id, level="ERROR")
            count = await export_logs(client, run_id, tmp_path / "out" / "run.log", level="WARNING")
            lines: list[str] = []
            final = await follow_logs(client, run_id, lines.append, grep="step", poll_seconds=0.1)
            return every, grep, errors, count, lines, final

    every, grep, errors, count, lines, final = run(go())
    messages = [log.message for log in every]
    assert messages.index("step one ok") < messages.index("step two failed")
    assert [log.message for log in grep] == ["disk almost FULL"]
    assert [log.message for log in errors] == ["step two failed"]
    assert count == 2 and "disk almost FULL" in (tmp_path / "out" / "run.log").read_text()
    assert [line.split(maxsplit=3)[-1] for line in lines] == ["step one ok", "step two failed"]
    assert final.state.is_completed()


def test_run_query_filters_are_shaped_for_the_planner() -> None:
    from tasklane.history.runs import UNFINISHED_TYPES, RunQuery
    from tasklane.history.statuses import state_word

    query = RunQuery(tags=("tasklane",), group="ops", deployment_ids=("a", "b"), finished=True)
    page = query.filters()
    assert page["flow_runs"]["tags"] == {"all_": ["tasklane", "group:ops"]}
    # A page: deployments as an EXISTS, "finished" as NOT IN the unfinished types (no index drives it).
    assert page["deployments"] == {"id": {"any_": ["a", "b"]}} and "deployment_id" not in page["flow_runs"]
    assert page["flow_runs"]["state"] == {"type": {"not_any_": sorted(UNFINISHED_TYPES)}}
    # A count: deployments on the runs' indexed column.
    assert query.filters(indexed=True)["flow_runs"]["deployment_id"] == {"any_": ["a", "b"]}
    timeout = state_word("timeout").names
    window = RunQuery(
        state_names=timeout, since=datetime(2024, 1, 1, tzinfo=UTC), window="end_time"
    ).filters()
    assert window["flow_runs"]["state"] == {"name": {"any_": ["TimedOut"]}}
    assert window["flow_runs"]["end_time"] == {"after_": "2024-01-01T00:00:00+00:00"}


def test_pages_counts_first_runs_and_state_counts_agree() -> None:
    from prefect.states import Scheduled

    from tasklane.history.runs import RunQuery, count_runs, first_runs, page_runs
    from tasklane.history.stats import state_counts

    tag = scope()

    async def go():
        async with client_ctx() as client:
            a = await make_deployment(client, f"pa-{tag}", ["tasklane", tag])
            b = await make_deployment(client, f"pb-{tag}", ["tasklane", tag])
            c = await make_deployment(client, f"pc-{tag}", ["tasklane", tag])
            ran_a = await make_runs(client, a, ["Completed", "Failed", "Completed"])
            ran_b = await make_runs(client, b, ["Crashed"])
            later = datetime.now(UTC) + timedelta(hours=1)
            await client.create_flow_run_from_deployment(a, state=Scheduled(scheduled_time=later))
            query = RunQuery(tags=(tag,), deployment_ids=(a, b, c))
            finished = query.replace(finished=True)
            total, page = await page_runs(client, finished, limit=2)
            everything = await count_runs(client, query)
            last = await first_runs(client, query.replace(excluded_types=("SCHEDULED",)), [a, b, c])
            upcoming = await first_runs(
                client, query.replace(state_types=("SCHEDULED",)), [a, b, c], sort="EXPECTED_START_TIME_ASC"
            )
            counts = await state_counts(client, finished.replace(until=datetime.now(UTC)))
            return ran_a, ran_b, total, page, everything, last, upcoming, counts, (a, b, c)

    ran_a, ran_b, total, page, everything, last, upcoming, counts, (a, b, c) = run(go())
    assert (total, everything) == (4, 5) and len(page) == 2
    assert [r.id for r in page] == [ran_b[0], ran_a[2]]  # newest first
    assert last[a].id == ran_a[2] and last[b].id == ran_b[0] and last[c] is None
    assert upcoming[a] is not None and upcoming[b] is None and upcoming[c] is None
    assert {(s.name, s.runs) for s in counts} == {("Completed", 2), ("Failed", 1), ("Crashed", 1)}


def test_read_run_logs_pages_by_offset_and_limit() -> None:
    from prefect import flow, get_run_logger

    from tasklane.history.logs import read_run_logs

    @flow(name="tl-logs-page-test")
    def counting() -> None:
        logger = get_run_logger()
        for i in range(6):
            logger.info("line %d %s", i, "even" if i % 2 == 0 else "odd")

    run_id = counting(return_state=True).state_details.flow_run_id
    time.sleep(1.2)  # logs are shipped in batches

    async def go():
        async with client_ctx() as client:
            every = await read_run_logs(client, run_id, grep="line")
            page = await read_run_logs(client, run_id, offset=1, limit=2)
            evens = await read_run_logs(client, run_id, grep="even", offset=1, limit=5)
            return every, page, evens

    every, page, evens = run(go())
    assert [log.message for log in every] == [f"line {i} {'even' if i % 2 == 0 else 'odd'}" for i in range(6)]
    assert len(page) == 2
    assert [log.message for log in evens] == ["line 2 even", "line 4 even"]


def test_past_and_upcoming_split_the_runs_at_now() -> None:
    from tasklane.history.runs import RunQuery

    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    early, late = now - timedelta(days=1), now + timedelta(days=1)
    assert RunQuery().past(now).filters()["flow_runs"]["expected_start_time"] == {"before_": now.isoformat()}
    assert RunQuery(until=early).past(now).until == early and RunQuery(until=late).past(now).until == now
    upcoming = RunQuery().upcoming(now)
    assert upcoming.since is not None and now < upcoming.since < now + timedelta(milliseconds=1)
    assert RunQuery(since=late).upcoming(now).since == late
    ended = RunQuery(window="end_time").past(now)
    assert ended.window == "expected_start_time"  # the split is by expected start, whatever the window


def test_history_is_the_past_and_upcoming_the_runs_to_come_in_their_zone() -> None:
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.states import Scheduled

    from tasklane.history.runs import history, upcoming

    tag = scope()
    far = datetime(2099, 1, 1, 1, 0, tzinfo=UTC)

    async def go():
        async with client_ctx() as client:
            flow_id = await client.create_flow_from_name("tl-history-test")
            zoned = CronSchedule(cron="0 2 * * *", timezone="Asia/Tokyo")
            d = await client.create_deployment(
                flow_id=flow_id,
                name=f"u-{tag}",
                tags=["tasklane", tag],
                schedules=[DeploymentScheduleCreate(schedule=zoned, active=False)],
            )
            (done,) = await make_runs(client, d, ["Completed"])
            due = await client.create_flow_run_from_deployment(
                d, state=Scheduled(scheduled_time=datetime.now(UTC) - timedelta(minutes=5))
            )
            later = []
            for days in (2, 1):  # made out of order: listed soonest first
                run_ = await client.create_flow_run_from_deployment(
                    d, state=Scheduled(scheduled_time=far + timedelta(days=days))
                )
                later.append(run_.id)
            past = await history(client, tags=["tasklane", tag])
            to_come = await upcoming(client, tags=["tasklane", tag])
            return done, due.id, later, past, to_come

    done, due, later, past, to_come = run(go())
    assert [UUID(r.run_id) for r in past] == [done, due]  # newest first; the runs to come are not there
    assert [UUID(r.run_id) for r in to_come] == [later[1], later[0]]
    assert to_come[0].due == far + timedelta(days=1) and to_come[0].timezone == "Asia/Tokyo"
    assert to_come[0].task == f"u-{tag}" and to_come[0].state == "Scheduled"


def test_resolve_run_by_id_name_or_task() -> None:
    from prefect.states import Scheduled

    from tasklane.history.runs import HistoryError, UnknownRunError, find_run, resolve_run

    tag = scope()

    async def go():
        async with client_ctx() as client:
            task = await make_deployment(client, f"t-{tag}", ["tasklane", tag])
            stranger = await make_deployment(client, f"s-{tag}", [tag])  # not a Tasklane task
            first, last = await make_runs(client, task, ["Completed", "Failed"])
            await client.update_flow_run(first, name=f"{tag}-named")
            outsider = await client.create_flow_run_from_deployment(stranger, name=f"{tag}-outsider")
            # The same name as a Tasklane run, newer: the Tasklane run still comes first.
            await client.create_flow_run_from_deployment(stranger, name=f"{tag}-named")
            never = await make_deployment(client, f"n-{tag}", ["tasklane", tag])
            await client.create_flow_run_from_deployment(
                never, state=Scheduled(scheduled_time=datetime.now(UTC) + timedelta(days=1))
            )
            found = {
                "id": await resolve_run(client, str(last)),
                "name": await resolve_run(client, f"{tag}-named"),
                "task": await resolve_run(client, f"t-{tag}"),
                "other": await resolve_run(client, f"{tag}-outsider"),
                "strict": await find_run(client, f"{tag}-outsider", any_run=False),
            }
            errors = {}
            for ref in ("nothing-" + tag, str(uuid.uuid4()), f"n-{tag}"):
                try:
                    await resolve_run(client, ref)
                except HistoryError as exc:
                    errors[ref] = exc
            return first, last, outsider.id, found, errors

    first, last, outsider, found, errors = run(go())
    assert found["id"].id == last and found["name"].id == first and found["task"].id == last
    assert found["other"].id == outsider and found["strict"] is None
    unknown = [e for e in errors.values() if isinstance(e, UnknownRunError)]
    assert len(unknown) == 2 and all("expected a run id, a run name" in str(e) for e in unknown)
    assert "has no run that started yet" in str(errors[f"n-{tag}"])


@pytest.mark.parametrize("word", ["finished", "done", "success", "failed", "timeout", "pending", "cancelled"])
def test_a_state_word_selects_the_runs_shown_with_that_status(word: str) -> None:
    from prefect.client.schemas.objects import StateType

    from tasklane.history.runs import UNFINISHED_TYPES
    from tasklane.history.statuses import (
        FINAL_STATUSES,
        SCHEDULER_STATUS,
        STATUS_BY_STATE_NAME,
        state_word,
        status_of_state,
    )

    meaning = state_word(word)
    if meaning.types:  # a kind of state: every name of those types
        final = {t.value for t in StateType if t.value not in UNFINISHED_TYPES}
        assert word == "finished" and set(meaning.types) == final == {
            "COMPLETED",
            "FAILED",
            "CRASHED",
            "CANCELLED",
        }
        return
    shown = {
        name
        for name in STATUS_BY_STATE_NAME
        if word in (status_of_state(name).lower(), SCHEDULER_STATUS[status_of_state(name)])
    }
    assert set(meaning.names) == shown
    assert word != "done" or all(status_of_state(n) in FINAL_STATUSES for n in meaning.names)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("DONE", ("Cached", "Completed")),
        ("timed_out", ("TimedOut",)),
        ("Late", ("Late",)),
        ("canceled", None),
    ],
)
def test_state_word_reads_any_case_and_aliases(text: str, names: tuple[str, ...] | None) -> None:
    from tasklane.history.statuses import state_word

    assert state_word(text).names == (names or state_word("cancelled").names)


def test_unknown_state_word_and_log_level_say_what_was_expected() -> None:
    from tasklane.history.logs import level_number
    from tasklane.history.runs import HistoryError
    from tasklane.history.statuses import state_word

    with pytest.raises(HistoryError, match="unknown state 'faild': expected one of finished, pending"):
        state_word("faild")
    with pytest.raises(HistoryError, match="unknown log level 'LOUD': expected one of DEBUG"):
        level_number("LOUD")


@pytest.mark.parametrize(
    ("settled", "reads", "rare_found"), [(None, 2, True), (lambda i, boundary: True, 1, False)]
)
def test_first_runs_reads_a_sorted_page_per_round_for_those_not_met(settled, reads, rare_found) -> None:
    """A busy deployment fills the first page; the rare one is met on a second page of its own
    (no read per deployment), unless `settled` says its answer is known without it."""
    from tasklane.history import runs as runs_module
    from tasklane.history.runs import RunQuery, first_runs

    tag = scope()
    calls: list[str] = []

    async def go():
        async with client_ctx() as client:
            rare = await make_deployment(client, f"rare-{tag}", ["tasklane", tag])
            busy = await make_deployment(client, f"busy-{tag}", ["tasklane", tag])
            (rare_run,) = await make_runs(client, rare, ["Completed"])
            await make_runs(client, busy, ["Completed"] * 9)
            counted = runs_module.post_json

            async def counting(client, path, body):
                calls.append(path)
                return await counted(client, path, body)

            runs_module.post_json = counting  # type: ignore[assignment]
            try:
                query = RunQuery(tags=(tag,), finished=True, window="end_time")
                found = await first_runs(client, query, [busy, rare], sort="END_TIME_DESC", settled=settled)
            finally:
                runs_module.post_json = counted  # type: ignore[assignment]
            return found, busy, rare, rare_run

    found, busy, rare, rare_run = run(go())
    assert found[busy] is not None
    assert (found[rare] is not None and found[rare].id == rare_run) is rare_found
    assert calls == ["/flow_runs/filter"] * reads
