"""The Prefect server schedules runs exactly when `preview` says, DST days included.

Specs are applied to a real server; the server's own scheduling code (the
`POST /deployments/{id}/schedule` endpoint, which runs the same `schedule_runs` as its
scheduler service) creates the runs up to a date past the next DST changes; their expected
start times must equal the preview, run for run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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
}


@pytest.fixture(autouse=True)
def _pool(work_pool: str) -> None:
    """Apply needs the pool; no worker: nothing here should run."""


def test_server_runs_equal_the_preview(tmp_path: Path, project: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.client.schemas.sorting import FlowRunSort

    catalog = tmp_path / "tasks.yaml"
    tasks = [
        {"name": f"{project}-{key}", "type": "shell", "command": "true", "schedule": spec}
        for key, spec in SPECS.items()
    ]
    catalog.write_text(yaml.safe_dump({"tasks": tasks}))
    loaded = load_catalog([catalog])
    start = datetime.now(UTC)

    async def go() -> dict[str, list[datetime]]:
        found: dict[str, list[datetime]] = {}
        async with get_client() as client:
            await apply(client, loaded, Target(TEST_POOL, "UTC", project))
            for task in loaded.tasks:
                deployment = await client.read_deployment_by_name(f"shell/{task.name}")
                horizon = UNTIL if "every" not in task.name else datetime(2026, 12, 10, tzinfo=UTC)
                response = await client._client.post(
                    f"/deployments/{deployment.id}/schedule",
                    # min_time/min_runs make it fill the whole horizon, not just the next few runs.
                    json={
                        "start_time": start.isoformat(),
                        "end_time": horizon.isoformat(),
                        "min_time": (horizon - start).total_seconds(),
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
                            deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id])
                        ),
                        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                        limit=200,
                        offset=offset,
                    )
                    times += [r.expected_start_time.astimezone(UTC) for r in page]
                    if len(page) < 200:
                        break
                    offset += 200
                found[task.name] = sorted(set(times))
        return found

    server = run(go())
    for task in loaded.tasks:
        times = server[task.name]
        assert times, task.name
        expected = preview(task.schedule[0], len(times), after=start, default_timezone="UTC")
        assert times == [t.astimezone(UTC) for t in expected], task.name
    berlin = server[f"{project}-berlin-window"]
    assert len(berlin) == 7 and datetime(2027, 3, 28, 1, 30, tzinfo=UTC) in berlin  # 02:30 -> 03:30 CEST
    assert datetime(2027, 3, 14, 7, 30, tzinfo=UTC) in server[f"{project}-newyork-daily"]  # -> 03:30 EDT
    assert datetime(2027, 3, 28, 1, 30, tzinfo=UTC) in server[f"{project}-berlin-daily"]
