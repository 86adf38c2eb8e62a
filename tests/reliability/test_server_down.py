"""The Prefect server stopped for two minutes while schedules are due, then restarted.

Three tasks share one schedule, every 15 s from 20 s after the stop until 65 s after it, so
four runs of each fall due while the server is down, every one of them more than the
61 s missed-run grace late when the server is back. The worker stays up throughout, failing
to poll. Afterwards, per the task's `missed` policy:

- run_all: all four runs ran;
- run_once: only the latest of the four ran; the three before it ended Skipped;
- skip: none ran; all four ended Skipped;

and no run ran twice, and the server created no run twice for one scheduled time.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from deployments.pool import PoolSpec, ensure_work_pool
from tasklane.stack import processes as stack
from tasklane.stack.peers._server import free_port
from tasklane.stack.postgres import database_url
from tests import conftest

DOWNTIME_SECONDS = 120
FIRST_DUE_AFTER_STOP = 20  # beyond the worker's prefetch, so no run is taken before the stop
EVERY_SECONDS = 15
DUE_DURING_DOWNTIME = 4
POLICIES = ("run_all", "run_once", "skip")
# From the apply to the first due time: the worker's start, then the stop FIRST_DUE_AFTER_STOP before.
LEAD = timedelta(seconds=FIRST_DUE_AFTER_STOP + 45)
WORKER_START_SECONDS = 15  # the worker must be up and polling before the server stops
SETUP_ATTEMPTS = 3


def write_catalog(path: Path, marker: Path, start: datetime) -> None:
    end = start + timedelta(seconds=EVERY_SECONDS * (DUE_DURING_DOWNTIME - 1))
    path.write_text(
        "tasks:\n"
        + "".join(
            f"  - name: missed-{policy}\n"
            "    type: shell\n"
            f"    command: 'echo \"missed-{policy} $PREFECT__FLOW_RUN_ID\" >> {marker}'\n"
            f"    missed: {policy}\n"
            f"    schedule: {{every: {EVERY_SECONDS}s, start: '{start:%Y-%m-%dT%H:%M:%S}',"
            f" end: '{end:%Y-%m-%dT%H:%M:%S}', timezone: UTC}}\n"
            for policy in POLICIES
        )
    )


@pytest.mark.timeout(900)  # setup may start again under load (SETUP_ATTEMPTS)
def test_runs_due_while_the_server_is_down_follow_the_missed_policy(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path / "stack"
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    # A database of its own (the session's server must not schedule these runs meanwhile).
    database = "sqlite" if conftest.TEST_DATABASE == "sqlite" else conftest.fresh_database("server_down")
    marker = tmp_path / "ran"
    catalog = tmp_path / "tasks.yaml"
    server = stack.start_server(home, "127.0.0.1", port, database_url=database_url(home, database), ui=False)
    worker = None
    try:
        with temporary_settings({PREFECT_API_URL: api_url}):

            async def setup() -> tuple[dict[str, object], datetime]:
                async with get_client() as client:
                    await ensure_work_pool(client, PoolSpec("downtime", 6, conftest.PRIORITY_QUEUES))
                    for _attempt in range(SETUP_ATTEMPTS):
                        # Times are fixed only now that the server is up: the scheduler creates
                        # no run for a time already past.
                        first_due = datetime.now(UTC).replace(microsecond=0) + LEAD
                        write_catalog(catalog, marker, first_due)
                        await apply(client, load_catalog([catalog]), Target("downtime", "UTC", "downtime"))
                        deployments = {d.name: d.id for d in await client.read_deployments()}
                        ids = FlowRunFilterDeploymentId(any_=list(deployments.values()))
                        # The server's scheduler creates the runs ahead; all must be there while
                        # there is still time to start the worker before the stop.
                        too_late = first_due - timedelta(seconds=FIRST_DUE_AFTER_STOP + WORKER_START_SECONDS)
                        while datetime.now(UTC) < too_late:
                            runs = await client.read_flow_runs(
                                flow_run_filter=FlowRunFilter(deployment_id=ids)
                            )
                            if len(runs) >= DUE_DURING_DOWNTIME * len(POLICIES):
                                return deployments, first_due
                            await asyncio.sleep(1)
                        # A loaded machine took too long to apply or to schedule: the premise
                        # of the test (all runs scheduled, the worker up before the stop) did
                        # not hold, so start again from no runs at later times.
                        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(deployment_id=ids))
                        print(f"only {len(runs)} runs scheduled in time; setting up again")
                        for run in runs:
                            await client.delete_flow_run(run.id)
                    raise AssertionError(f"the runs were not scheduled in time in {SETUP_ATTEMPTS} attempts")

            deployments, first_due = asyncio.run(setup())
            stop_at = first_due - timedelta(seconds=FIRST_DUE_AFTER_STOP)
            worker = stack.start_worker(home, api_url, "downtime", name="patient-worker", query_seconds=1)
            time.sleep(max(0.0, (stop_at - datetime.now(UTC)).total_seconds()))
            stack.stop_process_tree(server.pid)
            time.sleep(DOWNTIME_SECONDS)
            url = database_url(home, database)
            server = stack.start_server(home, "127.0.0.1", port, database_url=url, ui=False)

            async def settled() -> dict[str, list]:
                async with get_client() as client:
                    # 12 runs, one at a time per task, on a loaded CI machine
                    deadline = time.monotonic() + 400
                    while True:
                        by_task = {
                            name: await client.read_flow_runs(
                                flow_run_filter=FlowRunFilter(
                                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])
                                )
                            )
                            for name, deployment_id in deployments.items()
                        }
                        runs = [r for task_runs in by_task.values() for r in task_runs]
                        if all(r.state and r.state.is_final() for r in runs):
                            return by_task
                        assert time.monotonic() < deadline, Counter(r.state_name for r in runs)
                        await asyncio.sleep(2)

            by_task = asyncio.run(settled())
    finally:
        if worker is not None:
            stack.stop_process_tree(worker.pid)
        stack.stop_process_tree(server.pid)

    ran = Counter(line.split()[1] for line in marker.read_text().splitlines()) if marker.exists() else {}
    assert set(ran.values()) <= {1}, f"a run ran twice: {ran}"
    for policy in POLICIES:
        runs = sorted(by_task[f"missed-{policy}"], key=lambda r: r.expected_start_time)
        times = [r.expected_start_time for r in runs]
        assert len(times) == len(set(times)) == DUE_DURING_DOWNTIME, (policy, times)
        outcome = [(r.state_name, str(r.id) in ran) for r in runs]
        expected = {
            "run_all": [("Completed", True)] * 4,
            "run_once": [("Skipped", False)] * 3 + [("Completed", True)],
            "skip": [("Skipped", False)] * 4,
        }[policy]
        assert outcome == expected, (policy, outcome)
