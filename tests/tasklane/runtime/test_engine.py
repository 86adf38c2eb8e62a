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


@pytest.mark.timeout(180)
def test_runs_are_named_after_their_task_and_time_and_keep_their_results_under_its_key(
    worker: str, work_pool: str, tmp_path: Path, project: str
) -> None:
    """A run the server schedules (randomly named) is renamed when it starts; a manual run is
    named when it is created. Both keep their result, or why they failed, under the task's key."""
    import re
    from zoneinfo import ZoneInfo

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.states import Scheduled

    from tasklane.tasks.lookup import run_task

    name = f"{project}-Backup"
    tokyo = ZoneInfo("Asia/Tokyo")
    catalog = tmp_path / "tasks.yaml"
    # The schedule's only run is months away: it gives the task its zone, not a run.
    catalog.write_text(
        f"tasks:\n  - {{name: {name}, type: shell, command: 'echo saved', max_concurrent: 2,\n"
        "     schedule: {cron: '0 2 1 1 *', timezone: Asia/Tokyo}}\n"
    )

    async def finished(client, flow_run_id):
        deadline = time.monotonic() + 120
        while not (found := await client.read_flow_run(flow_run_id)).state.is_final():
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.5)
        return found

    async def go():
        async with get_client() as client:
            await apply(client, load_catalog([catalog]), Target(work_pool, "UTC", project))
            task = await find_task(client, name)
            due = datetime.now(UTC) + timedelta(seconds=3)
            scheduled = await client.create_flow_run_from_deployment(
                task.id, state=Scheduled(scheduled_time=due)
            )
            manual = await run_task(client, name, {"command": "echo disk full; exit 3"})
            runs = [await finished(client, scheduled.id), await finished(client, manual.id)]
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[f"{project}-backup"]))
            )
            return scheduled, manual, runs, artifacts

    scheduled, manual, (scheduled_done, manual_done), artifacts = run(go())
    assert scheduled_done.state.is_completed()
    expected = f"{name}-{scheduled_done.expected_start_time.astimezone(tokyo):%Y%m%d-%H%M}"
    assert scheduled.name != expected and scheduled_done.name == expected
    assert re.fullmatch(rf"{name}-\d{{8}}-\d{{4}}", manual.name) and manual_done.name == manual.name
    named_at = datetime.strptime(manual.name.removeprefix(f"{name}-"), "%Y%m%d-%H%M").replace(tzinfo=tokyo)
    assert timedelta(0) <= manual.created - named_at < timedelta(minutes=1)
    assert manual_done.state.is_failed()
    assert manual_done.state.message == "exited with code 3: `echo disk full; exit 3`; last output: disk full"
    by_run = {a.flow_run_id: a.data for a in artifacts}
    assert set(by_run) == {scheduled.id, manual.id}
    assert '"exit_code": 0' in by_run[scheduled.id] and "exited with code 3" in by_run[manual.id]
