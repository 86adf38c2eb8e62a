"""`tasklane.runtime.worker`: the pool's own flow-run events wake the worker, so new work and freed
slots do not wait for its poll. The worker here polls once a minute: every run below would wait
up to that minute on a polling-only worker (Prefect's own `prefect worker start`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from tasklane.tasks.lookup import run_task
from tests.conftest import API_URL, TEST_HOME, make_pool, run

POLL_SECONDS = 60
RUNS = 3


def test_new_runs_and_freed_slots_wake_the_worker(prefect_server: str, tmp_path: Path, project: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    from tasklane.stack import processes as stack
    pool = make_pool(f"tasklane-wake-{project}", 1)  # one run at a time: each next one needs a freed slot
    catalog = tmp_path / "tasks.yaml"
    job = f"{{name: {project}-job, type: shell, command: 'sleep 1', max_concurrent: 5}}"
    catalog.write_text(f"tasks:\n  - {job}\n")
    run(_apply(catalog, pool, project))
    worker = stack.start_worker(TEST_HOME, API_URL, pool, name=f"wake-{project}", query_seconds=POLL_SECONDS)
    try:

        async def queue_and_finish() -> list:
            async with get_client() as client:
                # The worker's first poll, at its start, finds nothing: from here on only its
                # next poll, a minute away, or an event can start the runs.
                deadline = time.monotonic() + 60
                while not await client.read_workers_for_work_pool(pool):
                    assert time.monotonic() < deadline, "the worker did not register within 60 s"
                    await asyncio.sleep(0.5)
                started = time.monotonic()
                ids = [(await run_task(client, f"{project}-job")).id for _ in range(RUNS)]
                while True:
                    runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id={"any_": ids}))
                    if all(r.state and r.state.is_final() for r in runs):
                        return sorted(runs, key=lambda r: r.start_time)
                    assert time.monotonic() - started < POLL_SECONDS - 10, [r.state_name for r in runs]
                    await asyncio.sleep(0.3)

        runs = run(queue_and_finish())
    finally:
        stack.stop_process_tree(worker.pid)
    assert [r.state_name for r in runs] == ["Completed"] * RUNS
    # Each run started soon after the one before it ended: the Completed event woke the worker.
    pairs = zip(runs, runs[1:], strict=False)
    gaps = [(later.start_time - earlier.end_time).total_seconds() for earlier, later in pairs]
    assert max(gaps) < 10, gaps


async def _apply(catalog: Path, pool: str, project: str) -> None:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        await apply(client, load_catalog([catalog]), Target(pool, "UTC", project))
