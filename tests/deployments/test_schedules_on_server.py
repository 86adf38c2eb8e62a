"""The Prefect server schedules runs exactly when `preview` says, DST days included.

Specs are applied to a real server; the server's own scheduling code (the
`POST /deployments/{id}/schedule` endpoint, which runs the same `schedule_runs` as its
scheduler service) creates the runs up to a date past the next DST changes; their expected
start times must equal the preview, run for run. Crons that run many times a day are scheduled
in windows around the next DST changes instead (`WINDOWS`): a cron counting elapsed time runs
in both passes of a repeated hour, and none of a skipped one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from deployments.schedules import preview
from tests.conftest import TEST_POOL, run

UNTIL = datetime(2027, 4, 10, tzinfo=UTC)
SPECS = {
    # unbounded: compiled to crons; New York and Berlin jump forward in March 2027
    "berlin-daily": {"daily": ["02:30", "14:00"], "timezone": "Europe/Berlin"},
    "newyork-daily": {"daily": ["02:30"], "timezone": "America/New_York"},
    "sydney-weekly": {"weekly": {"days": ["sun", "wed"], "at": ["02:30"]}, "timezone": "Australia/Sydney"},
    "monthly-last": {"monthly": {"days": [15, "last"], "at": ["06:00"]}, "timezone": "America/New_York"},
    # bounded around the Berlin spring-forward day: an rrule with corrections
    "berlin-window": {
        "daily": ["02:30"],
        "timezone": "Europe/Berlin",
        "start": "2027-03-25T00:00",
        "end": "2027-03-31T23:59",
    },
    "every-90m": {"every": "1h30m"},
    # crons counting elapsed time (a schedule for the repeated hours' second passes; the rrule
    # form where Prefect's cron would fire a skipped time at a time the cron lacks), and fixed ones
    "newyork-half-hourly": {"cron": "*/30 * * * *", "timezone": "America/New_York"},
    "newyork-0115": {"cron": "15 1 * * *", "timezone": "America/New_York"},
    "newyork-0230": {"cron": "30 2 * * *", "timezone": "America/New_York"},
    "berlin-two-hourly": {"cron": "0 */2 * * *", "timezone": "Europe/Berlin"},
}
# (start, end) windows around the DST changes after the test runs (UTC), for the crons above.
NEW_YORK_WINDOWS = [
    (datetime(2027, 3, 14, 4, tzinfo=UTC), datetime(2027, 3, 15, 10, tzinfo=UTC)),
    (datetime(2027, 11, 7, 3, tzinfo=UTC), datetime(2027, 11, 8, 10, tzinfo=UTC)),
]
BERLIN_WINDOWS = [
    (datetime(2027, 3, 27, 22, tzinfo=UTC), datetime(2027, 3, 28, 12, tzinfo=UTC)),
    (datetime(2027, 10, 30, 21, tzinfo=UTC), datetime(2027, 10, 31, 12, tzinfo=UTC)),
]
WINDOWS = {
    "newyork-half-hourly": NEW_YORK_WINDOWS,
    "newyork-0115": NEW_YORK_WINDOWS,
    "newyork-0230": NEW_YORK_WINDOWS,
    "berlin-two-hourly": BERLIN_WINDOWS,
}


@pytest.fixture(autouse=True)
def _pool(work_pool: str) -> None:
    """Apply needs the pool; no worker: nothing here should run."""


def test_server_runs_equal_the_preview(tmp_path: Path, project: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterExpectedStartTime,
    )
    from prefect.client.schemas.sorting import FlowRunSort

    catalog = tmp_path / "tasks.yaml"
    tasks = [
        {"name": f"{project}-{key}", "type": "shell", "command": "true", "schedule": spec}
        for key, spec in SPECS.items()
    ]
    catalog.write_text(yaml.safe_dump({"tasks": tasks}))
    loaded = load_catalog([catalog])
    start = datetime.now(UTC)

    async def scheduled(client: Any, deployment_id: Any, begin: datetime, end: datetime) -> list[datetime]:
        """The server's runs of the deployment from `begin` to `end`, as its own code schedules them."""
        response = await client._client.post(
            f"/deployments/{deployment_id}/schedule",
            # min_time/min_runs make it fill the whole horizon, not just the next few runs.
            json={
                "start_time": begin.isoformat(),
                "end_time": end.isoformat(),
                "min_time": (end - begin).total_seconds(),
                "min_runs": 400,
                "max_runs": 400,
            },
        )
        response.raise_for_status()
        times: list[datetime] = []
        offset = 0
        while True:
            page = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
                    expected_start_time=FlowRunFilterExpectedStartTime(after_=begin, before_=end),
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=200,
                offset=offset,
            )
            times += [r.expected_start_time.astimezone(UTC) for r in page]
            if len(page) < 200:
                return sorted(set(times))
            offset += 200

    def windows_of(name: str) -> list[tuple[datetime, datetime]]:
        horizon = UNTIL if "every" not in name else datetime(2026, 12, 10, tzinfo=UTC)
        return WINDOWS.get(name.removeprefix(f"{project}-"), [(start, horizon)])

    async def go() -> tuple[dict[str, list[list[datetime]]], dict[str, list[str]]]:
        found: dict[str, list[list[datetime]]] = {}
        slugs: dict[str, list[str]] = {}
        async with get_client() as client:
            await apply(client, loaded, Target(TEST_POOL, "UTC", project))
            for task in loaded.tasks:
                deployment = await client.read_deployment_by_name(f"shell/{task.name}")
                slugs[task.name] = sorted(s.slug for s in deployment.schedules)
                found[task.name] = [
                    await scheduled(client, deployment.id, *window) for window in windows_of(task.name)
                ]
        return found, slugs

    server, slugs = run(go())
    for task in loaded.tasks:
        for (begin, end), times in zip(windows_of(task.name), server[task.name], strict=True):
            assert times, task.name
            expected = preview(task.schedule[0], len(times) + 1, after=begin, default_timezone="UTC")
            assert times == [t.astimezone(UTC) for t in expected if t <= end], (task.name, begin)
    # Each schedule is named in Prefect's UI after the spec as written.
    assert slugs[f"{project}-newyork-half-hourly"] == [
        "cron-every30-x-x-x-x-america-new-york",
        "cron-every30-x-x-x-x-america-new-york-fall-back",
    ]
    assert slugs[f"{project}-every-90m"] == ["every-1h30m"]
    assert slugs[f"{project}-berlin-daily"] == [
        "daily-0230-1400-europe-berlin-1",
        "daily-0230-1400-europe-berlin-2",
    ]
    half_hourly, fixed = server[f"{project}-newyork-half-hourly"], server[f"{project}-newyork-0115"]
    fall_back = half_hourly[1]
    # 2027-11-07: 01:00 and 01:30 EDT (05:00Z, 05:30Z), then again EST (06:00Z, 06:30Z).
    assert {datetime(2027, 11, 7, h, m, tzinfo=UTC) for h in (5, 6) for m in (0, 30)} <= set(fall_back)
    assert (
        datetime(2027, 11, 7, 5, 15, tzinfo=UTC) in fixed[1]
        and datetime(2027, 11, 7, 6, 15, tzinfo=UTC) not in fixed[1]
    )
    # 2027-03-14: 02:00 and 02:30 do not exist; 01:30 EST (06:30Z) is followed by 03:00 EDT (07:00Z).
    spring = half_hourly[0]
    assert spring[spring.index(datetime(2027, 3, 14, 6, 30, tzinfo=UTC)) + 1] == datetime(
        2027, 3, 14, 7, tzinfo=UTC
    )
    assert (
        datetime(2027, 3, 14, 7, 30, tzinfo=UTC) in server[f"{project}-newyork-0230"][0]
    )  # 02:30 -> 03:30 EDT
    (berlin,) = server[f"{project}-berlin-window"]
    assert len(berlin) == 7 and datetime(2027, 3, 28, 1, 30, tzinfo=UTC) in berlin  # 02:30 -> 03:30 CEST
    assert datetime(2027, 3, 14, 7, 30, tzinfo=UTC) in server[f"{project}-newyork-daily"][0]  # -> 03:30 EDT
    assert datetime(2027, 3, 28, 1, 30, tzinfo=UTC) in server[f"{project}-berlin-daily"][0]
