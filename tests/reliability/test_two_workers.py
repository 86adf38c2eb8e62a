"""Two workers polling one pool: 100 runs, each run exactly once.

Both workers see every run the pool offers; the server's Pending transition is what lets only
one of them take it. Each run's command appends its own flow-run id and the worker that
started it, so a run taken twice shows up twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from tasklane.stack import processes as stack
from tasklane.tasks.lookup import find_task
from tests.conftest import API_URL, TEST_HOME, make_pool, run

POOL = "tasklane-two-workers"
RUNS = 100


@pytest.fixture
def shared_pool(prefect_server: str) -> str:
    return make_pool(POOL, 8)


@pytest.mark.timeout(720)
def test_each_of_100_runs_runs_once_with_two_workers(shared_pool: str, tmp_path: Path, project: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    marker = tmp_path / "ran"
    catalog = tmp_path / "tasks.yaml"
    catalog.write_text(
        "tasks:\n"
        f"  - name: {project}-once\n"
        "    type: shell\n"
        f"    command: 'echo \"$PREFECT__FLOW_RUN_ID $PREFECT__WORKER_NAME\" >> {marker}'\n"
        "    max_concurrent: 8\n"
    )

    async def create_runs() -> tuple[object, list[str]]:
        async with get_client() as client:
            await apply(client, load_catalog([catalog]), Target(shared_pool, "UTC", project))
            task = await find_task(client, f"{project}-once")
            runs = [
                await client.create_flow_run_from_deployment(task.id, parameters=task.parameters)
                for _ in range(RUNS)
            ]
            return task.id, [str(r.id) for r in runs]

    deployment_id, run_ids = run(create_runs())
    workers = [
        stack.start_worker(TEST_HOME, API_URL, shared_pool, name=f"twin-{i}", query_seconds=1, limit=4)
        for i in (1, 2)
    ]

    async def final_states() -> list:
        async with get_client() as client:
            deadline = time.monotonic() + 600
            while True:
                runs = await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id])
                    ),
                    limit=RUNS + 10,
                )
                if all(r.state and r.state.is_final() for r in runs):
                    return runs
                assert time.monotonic() < deadline, Counter(r.state_name for r in runs)
                await asyncio.sleep(2)

    try:
        final = run(final_states())
    finally:
        for worker in workers:
            stack.stop_process_tree(worker.pid)
    states = Counter(r.state_name for r in final)
    # On a miss, say which runs and why, and what the workers printed about them.
    misses = [f"{r.id} {r.state_name}: {r.state.message}" for r in final if r.state_name != "Completed"]
    worker_logs = "\n".join(
        line
        for worker in workers
        for line in worker.log.read_text(errors="replace").splitlines()
        if any(str(r.id) in line for r in final if r.state_name != "Completed") or "Traceback" in line
    )
    explanation = "\n".join([str(states), *misses, worker_logs[-4000:]])
    assert states == Counter({"Completed": RUNS}), explanation
    lines = [line.split() for line in marker.read_text().splitlines()]
    executions = Counter(run_id for run_id, _ in lines)
    assert sorted(executions) == sorted(run_ids)
    assert set(executions.values()) == {1}, [r for r, n in executions.items() if n > 1]
    by_worker = Counter(worker for _, worker in lines)
    assert set(by_worker) == {"twin-1", "twin-2"}, by_worker  # both took part
