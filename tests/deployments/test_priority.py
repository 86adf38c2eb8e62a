"""Priority under a full pool: every waiting HIGH run starts before any waiting LOW one.

This checks what Prefect's worker really does with queue priorities when the pool's
concurrency limit (the global limit) is 1: 10 LOW runs are queued first, then 3 HIGH.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from deployments.pool import PoolSpec, ensure_work_pool
from tasklane.tasks.lookup import run_task
from tests.conftest import API_URL, TEST_HOME, run

POOL = "tasklane-priority"


@pytest.fixture
def full_pool(prefect_server: str):
    from prefect.client.orchestration import get_client

    async def make() -> None:
        async with get_client() as client:
            await ensure_work_pool(client, PoolSpec(POOL, 1, {"high": 1, "medium": 2, "low": 3}))

    run(make())
    return POOL


def test_high_runs_start_before_waiting_low_runs(full_pool: str, tmp_path: Path, project: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter

    from tasklane.stack import processes as stack
    catalog = tmp_path / "tasks.yaml"
    catalog.write_text(
        "tasks:\n"
        f"  - {{name: {project}-low, type: shell, command: 'true', priority: LOW, max_concurrent: 20}}\n"
        f"  - {{name: {project}-high, type: shell, command: 'true', priority: HIGH, max_concurrent: 20}}\n"
    )

    async def queue_runs():
        async with get_client() as client:
            await apply(client, load_catalog([catalog]), Target(full_pool, "UTC", project))
            low = [await run_task(client, f"{project}-low") for _ in range(10)]
            high = [await run_task(client, f"{project}-high") for _ in range(3)]
            return low, high

    low, high = run(queue_runs())
    worker = stack.start_worker(TEST_HOME, API_URL, full_pool, name="priority-worker", query_seconds=1)
    try:

        async def until_high_done():
            async with get_client() as client:
                deadline = time.monotonic() + 240
                while True:
                    runs = await client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(id={"any_": [r.id for r in low + high]}), limit=50
                    )
                    finished_high = [r for r in runs if r.id in high_ids and r.state and r.state.is_final()]
                    if len(finished_high) == len(high):
                        # The LOW runs still queued are not needed to show the order.
                        for r in runs:
                            if r.state and r.state.is_scheduled():
                                await client.delete_flow_run(r.id)
                        return runs
                    assert time.monotonic() < deadline, [r.state_name for r in runs]
                    await asyncio.sleep(0.5)

        high_ids = {r.id for r in high}
        runs = run(until_high_done())
    finally:
        stack.stop_process_tree(worker.pid)
    started = sorted((r for r in runs if r.start_time), key=lambda r: r.start_time)
    order = ["HIGH" if r.id in high_ids else "LOW" for r in started]
    assert order[:3] == ["HIGH"] * 3, f"start order: {order}"
