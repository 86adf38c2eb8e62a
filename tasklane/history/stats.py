"""Statistics of runs: per task, group and day over a window (`task_stats`, the CLI's
`tasklane stats` and the report), and counts by state from the server's own aggregate
(`state_counts`, `/flow_runs/history`), whatever the history's size.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

from integrations.report import RunRecord, Stats, compute_stats
from tasklane.history.ledger import current_ledger, ledger_stats, scope_of
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
    created: dict[str, datetime] | None = None,
) -> Stats:
    """Statistics of the runs that ended in [since, until) (until: now), per task, group and overall.

    `created`: when the deployment of each task name was made, where the caller has read them
    already (the others are read here).

    Tasklane's runs (its tag, a project's, a group's) are counted from the run ledger
    (`tasklane.history.ledger`, kept current from the server); runs selected by other tags are
    read from the server one by one. Runs per day count the days each task existed in the window
    (`rates_over_lifetime`), so a task made yesterday that runs every hour shows 24, not 24 / 7.
    """
    until = until or datetime.now(UTC)
    scope = scope_of(tags)
    if scope is not None:
        project, tag_group = scope
        if tag_group is not None and group is not None and tag_group != group:
            return compute_stats([], since, until)  # two different groups: no run is in both
        ledger = await current_ledger(client)
        assert ledger is not None  # built if it was empty
        counted = await asyncio.to_thread(
            ledger_stats, ledger, since, until, project=project, task=task, group=group or tag_group
        )
        stats, first_seen, groups = counted.stats, counted.first_seen, counted.groups
    else:
        # finished_runs' window is (after, until]; stats' is [since, until): widen by a microsecond each side.
        found = await finished_runs(
            client, since - timedelta(microseconds=1), until, tags=tags, task=task, group=group
        )
        stats = compute_stats(found, since, until)
        first_seen, groups = lifetimes(found)
    known = dict(created or {})
    known.update(await created_times(client, [name for name in stats.per_task if name not in known]))
    return rates_over_lifetime(stats, first_seen, groups, known)


async def created_times(client: PrefectClient, names: list[str]) -> dict[str, datetime]:
    """When the deployment of each task name was created (the earliest, where projects share a
    name); a name without a deployment (deleted for good) is left out."""
    found = []
    for start in range(0, len(names), 100):
        chunk = names[start : start + 100]
        found += await client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=chunk)), limit=200
        )
    return created_of(found)


def created_of(deployments: Iterable[Any]) -> dict[str, datetime]:
    """name -> when its deployment was created (the earliest of a name), for `task_stats(created=)`."""
    created: dict[str, datetime] = {}
    for deployment in deployments:
        if deployment.created is None:
            continue
        # A plain datetime: Prefect hands out pendulum's on Python < 3.13, which mix badly.
        made = datetime.fromtimestamp(deployment.created.timestamp(), UTC)
        seen = created.get(deployment.name)
        created[deployment.name] = made if seen is None else min(seen, made)
    return created


# The shortest lifetime runs per day are counted over: a task made a minute ago that ran once
# has not shown a rate of 1440 a day.
MIN_RATE_DAYS = 1 / 24


def lifetimes(records: Sequence[RunRecord]) -> tuple[dict[str, datetime], dict[str, str]]:
    """Per task: its first start or end among `records`, and the group of its latest one."""
    first_seen: dict[str, datetime] = {}
    groups: dict[str, str] = {}
    for record in records:
        groups[record.task] = record.group or "default"
        moments = [m for m in (record.start, record.end) if m is not None]
        if moments:
            seen = first_seen.get(record.task)
            first_seen[record.task] = min(moments) if seen is None else min(seen, *moments)
    return first_seen, groups


def rates_over_lifetime(
    stats: Stats, first_seen: dict[str, datetime], groups: dict[str, str], created: dict[str, datetime]
) -> Stats:
    """`stats` with runs per day over the part of [since, until) each scope existed in: a task from
    its deployment's creation (or its first run there, if earlier: a task re-created under its
    name), a group and the whole from their oldest task's; a task without a deployment, the
    whole window. At least MIN_RATE_DAYS. `first_seen` and `groups` as `lifetimes` gives them."""
    born = {name: created[name] for name in stats.per_task if name in created}
    for name in born:
        if name in first_seen:
            born[name] = min(born[name], first_seen[name])
    for name in stats.per_task:
        born.setdefault(name, stats.since)

    def rate(runs: int, start: datetime) -> float:
        days = (stats.until - max(start, stats.since)) / timedelta(days=1)
        return round(runs / max(days, MIN_RATE_DAYS), 3)

    for name, figures in stats.per_task.items():
        figures.runs_per_day = rate(figures.runs, born[name])
    for name, figures in stats.per_group.items():
        members = [born[t] for t, g in groups.items() if g == name and t in born]
        figures.runs_per_day = rate(figures.runs, min(members, default=stats.since))
    stats.overall.runs_per_day = rate(stats.overall.runs, min(born.values(), default=stats.since))
    return stats


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
