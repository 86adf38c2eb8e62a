"""`tasklane.runtime.engine`: prefetched runs start their job at their time, never before it.

How late is measured in bench/lateness, not here; this checks the property that must always
hold: the worker (prefetch 15 s) takes the runs seconds early, and every job's command still
starts at or after its scheduled instant.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from deployments.pool import launch_command
from tasklane.tasks.lookup import find_task
from tests.conftest import run

RUNS = 3


def test_the_pool_starts_runs_with_the_launcher(work_pool: str) -> None:
    from prefect.client.orchestration import get_client

    async def command() -> str:
        async with get_client() as client:
            pool = await client.read_work_pool(work_pool)
            return pool.base_job_template["variables"]["properties"]["command"]["default"]

    assert run(command()) == launch_command()


@pytest.mark.timeout(180)
def test_prefetched_runs_never_start_early(worker: str, work_pool: str, tmp_path: Path, project: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled

    catalog = tmp_path / "tasks.yaml"
    catalog.write_text(
        f"tasks:\n  - {{name: {project}-stamp, type: shell, command: 'true', max_concurrent: 5}}\n"
    )

    async def schedule() -> dict[Path, datetime]:
        due: dict[Path, datetime] = {}
        async with get_client() as client:
            await apply(client, load_catalog([catalog]), Target(work_pool, "UTC", project))
            task = await find_task(client, f"{project}-stamp")
            # Fractional due times: the server's whole-second rounding would start some early.
            first = datetime.now(UTC) + timedelta(seconds=12.3)
            for i in range(RUNS):
                stamp = tmp_path / f"started-{i}"
                due[stamp] = first + timedelta(seconds=2.7 * i)
                job = dict(task.parameters["job"], command=f"date +%s.%N > {stamp}")
                await client.create_flow_run_from_deployment(
                    task.id,
                    parameters={**task.parameters, "job": job},
                    state=Scheduled(scheduled_time=due[stamp]),
                )
        return due

    due = run(schedule())
    deadline = time.monotonic() + 150
    while not all(stamp.exists() and stamp.read_text().strip() for stamp in due):
        assert time.monotonic() < deadline, [s.name for s in due if not s.exists()]
        time.sleep(0.5)
    early = {s.name: float(s.read_text()) - when.timestamp() for s, when in due.items()}
    assert all(seconds >= 0 for seconds in early.values()), early


def test_runs_are_forked_from_the_workers_zygote(
    worker: str, work_pool: str, tmp_path: Path, project: str
) -> None:
    """The stack's worker runs under tasklane.runtime.warm_start: a run's process is the zygote's child."""
    import os

    from tasklane.tasks.lookup import run_task

    parent = tmp_path / "flow-process-parent"
    catalog = tmp_path / "tasks.yaml"
    # $PPID is the flow-run process (prefect-shell's shell is its child); field 4 of its stat, its parent.
    catalog.write_text(
        f"tasks:\n  - name: {project}-parent\n    type: shell\n"
        f"    command: \"awk '{{print $4}}' /proc/$PPID/stat > {parent}\"\n"
    )

    async def go() -> str:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            await apply(client, load_catalog([catalog]), Target(work_pool, "UTC", project))
            flow_run = await run_task(client, f"{project}-parent")
            deadline = time.monotonic() + 120
            while not (state := (await client.read_flow_run(flow_run.id)).state).is_final():
                assert time.monotonic() < deadline, "the run did not finish"
                time.sleep(0.5)
            return state.name

    assert run(go()) == "Completed"
    assert parent.read_text().strip() == os.environ["TASKLANE_TEST_ZYGOTE_PID"]
