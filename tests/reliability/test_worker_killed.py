"""A worker (and with it the run's process) killed with SIGKILL mid-run.

The run must not stay Running forever: the heartbeat automation marks it Crashed, and the
task's crash-retry automation puts it back in line, so with retries it runs again and
completes on another worker.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from tasklane.stack import processes as stack
from tasklane.stack.processes import descendants
from tasklane.tasks.lookup import run_task
from tests.conftest import API_URL, TEST_HOME, make_pool, run

POOL = "tasklane-crash"


@pytest.fixture
def crash_pool(prefect_server: str) -> str:
    return make_pool(POOL, 2)


def test_sigkilled_run_ends_crashed_and_runs_again(crash_pool: str, tmp_path: Path, project: str) -> None:
    from prefect.client.orchestration import get_client

    marker = tmp_path / "attempts"
    catalog = tmp_path / "tasks.yaml"
    catalog.write_text(
        "tasks:\n"
        f"  - name: {project}-victim\n"
        "    type: shell\n"
        f"    command: 'echo started >> {marker}; sleep 15; echo finished'\n"
        "    retry: {max_retries: 1, retry_delay: 1}\n"
    )

    async def setup():
        async with get_client() as client:
            await apply(client, load_catalog([catalog]), Target(crash_pool, "UTC", project))
            return await run_task(client, f"{project}-victim")

    flow_run = run(setup())
    first = stack.start_worker(TEST_HOME, API_URL, crash_pool, name="doomed-worker", query_seconds=1)
    deadline = time.monotonic() + 90
    while not marker.exists():
        assert time.monotonic() < deadline, "the first attempt never started"
        time.sleep(0.2)
    time.sleep(1)
    # The host dies: the worker, the flow-run process and the job, all at once.
    for pid in [first.pid, *descendants(first.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    first.process.wait(timeout=10)

    async def states_until_done() -> list[str]:
        seen: list[str] = []
        async with get_client() as client:
            deadline = time.monotonic() + 300
            while True:
                current = await client.read_flow_run(flow_run.id)
                if not seen or seen[-1] != current.state_name:
                    seen.append(current.state_name)
                if current.state.is_completed() or (current.state.is_final() and current.run_count > 2):
                    return seen
                assert time.monotonic() < deadline, f"states so far: {seen}"
                await asyncio.sleep(1)

    second = stack.start_worker(TEST_HOME, API_URL, crash_pool, name="rescue-worker", query_seconds=1)
    try:
        seen = run(states_until_done())
    finally:
        stack.stop_process_tree(second.pid)
    assert seen[-1] == "Completed", seen

    async def history() -> list[str]:
        async with get_client() as client:
            return [s.name for s in await client.read_flow_run_states(flow_run.id)]

    names = run(history())  # the transitions can be quicker than the polling above
    assert "Crashed" in names and "AwaitingRetry" in names, names
    assert marker.read_text().count("started") == 2
