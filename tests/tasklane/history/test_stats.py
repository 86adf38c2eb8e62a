"""`tasklane.history.stats`: runs per day over the days a task existed in the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.report import RunRecord, compute_stats

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = SINCE + timedelta(days=7)


def runs(task: str, group: str, count: int, first_end: datetime) -> list[RunRecord]:
    """`count` Completed runs of a minute each, ending an hour apart from `first_end`."""
    ends = [first_end + timedelta(hours=i) for i in range(count)]
    return [
        RunRecord(
            f"{task}-{i}",
            f"r{i}",
            task,
            group,
            "Completed",
            "COMPLETED",
            end - timedelta(minutes=1),
            end,
            60.0,
        )
        for i, end in enumerate(ends)
    ]


RECORDS = [
    *runs("old", "ops", 14, SINCE + timedelta(hours=1)),  # made before the window: 7 days
    *runs("new", "ops", 10, UNTIL - timedelta(days=1)),  # made 2 days before the end
    *runs("gone", "etl", 7, SINCE + timedelta(days=3)),  # its deployment is gone: the window
    *runs("young", "etl", 1, UNTIL - timedelta(minutes=5)),  # made 10 minutes ago: an hour at least
    *runs("again", "etl", 3, SINCE + timedelta(days=4)),  # re-made after its first runs here
]
CREATED = {
    "old": SINCE - timedelta(days=30),
    "new": UNTIL - timedelta(days=2),
    "young": UNTIL - timedelta(minutes=10),
    "again": UNTIL - timedelta(hours=1),
}


@pytest.mark.parametrize(
    ("scope", "name", "per_day"),
    [
        ("per_task", "old", 14 / 7),
        ("per_task", "new", 10 / 2),
        ("per_task", "gone", 7 / 7),
        ("per_task", "young", 1 / (1 / 24)),
        ("per_task", "again", 3 / (3 + 1 / 24 / 60)),  # from its first run's start
        ("per_group", "ops", 24 / 7),  # from its oldest task's creation
        ("per_group", "etl", 11 / 7),  # `gone` counts the whole window
    ],
)
def test_runs_per_day_count_the_days_a_task_existed(scope: str, name: str, per_day: float) -> None:
    from tasklane.history.stats import lifetimes, rates_over_lifetime

    stats = rates_over_lifetime(compute_stats(RECORDS, SINCE, UNTIL), *lifetimes(RECORDS), CREATED)
    assert getattr(stats, scope)[name].runs_per_day == round(per_day, 3)
    assert stats.overall.runs_per_day == round(35 / 7, 3)


def test_task_stats_reads_when_each_task_was_made(prefect_server: str) -> None:
    """On a real server: a task made a moment ago with 3 runs runs 3 an hour, not 3 a week."""
    import uuid

    from prefect.states import Completed, Running

    from tasklane.history.stats import task_stats
    from tests.conftest import with_client

    tag = f"tl-stats-{uuid.uuid4().hex[:8]}"

    async def go(client):
        since = datetime.now(UTC) - timedelta(days=6)
        flow_id = await client.create_flow_from_name("tl-stats-test")
        made = await client.create_deployment(flow_id=flow_id, name=f"s-{tag}", tags=["tasklane", tag])
        for _ in range(3):
            flow_run = await client.create_flow_run_from_deployment(made, state=Running())
            await client.set_flow_run_state(flow_run.id, Completed(), force=True)
        return await task_stats(client, since, datetime.now(UTC) + timedelta(seconds=1), tags=[tag])

    stats = with_client(go)
    assert stats.per_task[f"s-{tag}"].runs == 3
    assert stats.per_task[f"s-{tag}"].runs_per_day == 3 * 24  # over an hour, the least it counts
    assert stats.overall.runs_per_day == 3 * 24
