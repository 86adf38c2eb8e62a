"""Statistics of runs: per task, group and day over a window (`task_stats`, the CLI's
`tasklane stats` and the report), and counts by state from the server's own aggregate
(`state_counts`, `/flow_runs/history`), whatever the history's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prefect.client.orchestration import PrefectClient

from integrations.report import Stats, compute_stats
from tasklane.history.runs import RunQuery, finished_runs, post_json
from tasklane.settings.reports import TASKLANE_TAG


async def task_stats(
    client: PrefectClient,
    since: datetime,
    until: datetime | None = None,
    *,
    task: str | None = None,
    group: str | None = None,
    tags: Iterable[str] = (TASKLANE_TAG,),
) -> Stats:
    """Statistics of the runs that ended in [since, until) (until: now), per task, group and overall."""
    until = until or datetime.now(UTC)
    # finished_runs' window is (after, until]; stats' is [since, until): widen by a microsecond each side.
    found = await finished_runs(
        client, since - timedelta(microseconds=1), until, tags=tags, task=task, group=group
    )
    return compute_stats(found, since, until)


STATS_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class StateCount:
    """Runs in one state (name and type) and their run time in seconds."""

    name: str
    type: str
    runs: int
    seconds: float


async def state_counts(client: PrefectClient, query: RunQuery) -> list[StateCount]:
    """Runs by state in `query`'s window, in one aggregate query on the server.

    Prefect's `/flow_runs/history` with a single interval: the same cost for ten runs or a
    hundred thousand. An expected-start window defaults to [2000-01-01, now): runs still
    Scheduled in the future are left out.
    """
    if query.window == "expected_start_time":
        start, end = query.since or STATS_EPOCH, query.until or datetime.now(UTC)
        query = query.replace(since=None, until=None)  # the aggregate's own window
    else:
        start, end = STATS_EPOCH, datetime.now(UTC) + timedelta(days=1)
    if end <= start:
        return []
    body = {
        **query.filters(indexed=True),
        "history_start": start.isoformat(),
        "history_end": end.isoformat(),
        "history_interval_seconds": max((end - start).total_seconds(), 1.0),
    }
    counts: dict[tuple[str, str], StateCount] = {}
    for interval in await post_json(client, "/flow_runs/history", body):
        for state in interval["states"]:
            key = (state["state_name"], state["state_type"])
            seen = counts.get(key)
            runs = state["count_runs"] + (seen.runs if seen else 0)
            seconds = float(state["sum_estimated_run_time"] or 0) + (seen.seconds if seen else 0.0)
            counts[key] = StateCount(key[0], key[1], runs, seconds)
    return list(counts.values())
