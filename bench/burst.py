"""Burst and dependency delay.

Burst: 100 runs due in the same second on a pool limited to 5 runs at once. Time to drain
(the due second -> the last run Completed) and runs per minute, for a Tasklane shell task and
for the same job as a bare Prefect deployment, one after the other on the same server; each
side has its own worker (Tasklane's as `make up` runs it; bare: Prefect's defaults, polling
every 10 s). Ratio = Tasklane drain time / bare drain time (target <= 1.2).

Dependency delay: a task `down` with `depends_on: [up]`; `up` runs N times one after the
other; delay = `up` Completed -> `down` Running, from the server's state history (target
p95 < 2 s).

    .venv/bin/python -m bench.burst [RUNS] [DEPENDENCY_RUNS]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

POOL_LIMIT = 5
LEAD_SECONDS = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def drain(client, deployment_id, parameters: dict, runs: int) -> tuple[float, int]:
    """Schedule `runs` runs at one second; return (seconds from it to the last final state, failures)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId
    from prefect.states import Scheduled

    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD_SECONDS)
    for _ in range(runs):
        await client.create_flow_run_from_deployment(
            deployment_id, parameters=parameters, state=Scheduled(scheduled_time=due)
        )
    run_filter = FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]))
    while True:
        flow_runs = await client.read_flow_runs(flow_run_filter=run_filter, limit=runs + 10)
        if all(r.state and r.state.is_final() for r in flow_runs):
            break
        await asyncio.sleep(0.5)
    last_end = max(r.end_time for r in flow_runs)
    failures = sum(r.state_name != "Completed" for r in flow_runs)
    return (last_end - due).total_seconds(), failures


async def dependency_delays(client, n: int) -> list[float]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    from tasklane.tasks.lookup import find_task, run_task

    down = await find_task(client, "down")
    delays: list[float] = []
    for _ in range(n):
        upstream = await run_task(client, "up")
        while not (await client.read_flow_run(upstream.id)).state.is_final():
            await asyncio.sleep(0.2)
        completed = (await client.read_flow_run(upstream.id)).state.timestamp
        deadline = time.monotonic() + 60
        while True:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[down.id]))
            )
            started = [r for r in runs if r.start_time and r.start_time >= completed]
            done = [r for r in started if r.state and r.state.is_final()]
            if done:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the downstream task did not run within 60 s")
            await asyncio.sleep(0.2)
        states = await client.read_flow_run_states(done[0].id)
        running = next(s.timestamp for s in states if s.name == "Running")
        delays.append((running - completed).total_seconds())
        print(f"  up Completed -> down Running: {delays[-1]:.2f} s", flush=True)
    return delays


async def main(out: Path, runs: int, dependency_runs: int, api_url: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.types.entrypoint import EntrypointType

    from bench._stack import start_bare_worker
    from bench.bare_flow import BARE_JOB_VARIABLES, bare_shell
    from deployments.apply import Target, apply
    from deployments.catalog import load_catalog
    from deployments.pool import PoolSpec, ensure_work_pool
    from tasklane.stack import processes as stack
    from tasklane.tasks.lookup import find_task

    catalog = out / "tasks.yaml"
    catalog.write_text(
        "tasks:\n"
        f"  - {{name: burst, type: shell, command: 'true', max_concurrent: {runs}}}\n"
        "  - {name: up, type: shell, command: 'true'}\n"
        "  - {name: down, type: shell, command: 'true', depends_on: [up]}\n"
    )
    async with get_client() as client:
        await ensure_work_pool(client, PoolSpec("bare", POOL_LIMIT, {"medium": 1}, launch=False))
        await apply(client, load_catalog([catalog]), Target("tasklane-bench", "UTC", "bench"))
        burst = await find_task(client, "burst")
        bare = await bare_shell.ato_deployment(
            name="burst-bare",
            work_pool_name="bare",
            entrypoint_type=EntrypointType.MODULE_PATH,
            job_variables=BARE_JOB_VARIABLES,
        )
        bare_id = await bare.aapply()

        print(f"dependency delay, {dependency_runs} runs of up -> down:", flush=True)
        delays = await dependency_delays(client, dependency_runs)

        print(f"\nburst: {runs} runs due in one second, pool limit {POOL_LIMIT}", flush=True)
        t_seconds, t_failed = await drain(client, burst.id, burst.parameters, runs)
        print(f"  tasklane drained in {t_seconds:.1f} s", flush=True)
        bare_worker = start_bare_worker(api_url, "bare")
        try:
            b_seconds, b_failed = await drain(client, bare_id, {"command": "true"}, runs)
        finally:
            stack.stop_process_tree(bare_worker.pid)
        print(f"  bare     drained in {b_seconds:.1f} s", flush=True)

    print(f"\nburst, {runs} runs due in one second, pool limit {POOL_LIMIT} (2 cores, SQLite)")
    for label, seconds, failed in (("tasklane", t_seconds, t_failed), ("bare", b_seconds, b_failed)):
        rate = runs / seconds * 60
        print(f"  {label:9s} drain {seconds:6.1f} s   {rate:6.1f} runs/min   not Completed: {failed}")
    print(f"  ratio tasklane/bare = {t_seconds / b_seconds:.2f}  (target <= 1.2)")
    print(
        f"dependency delay (up Completed -> down Running), n={len(delays)}: "
        f"median {statistics.median(delays):.2f} s, p95 {percentile(delays, 0.95):.2f} s, "
        f"max {max(delays):.2f} s  (target p95 < 2 s)"
    )


if __name__ == "__main__":
    from bench._stack import bench_stack

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    dependency_count = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    # `make up`'s worker settings (config.yaml worker.query_seconds / prefetch_seconds); read as
    # numbers here: importing the settings would import Prefect before its API URL is set.
    with bench_stack(
        "tasklane-bench", concurrency=POOL_LIMIT, query_seconds=2.0, prefetch_seconds=15.0
    ) as url:
        started = time.monotonic()
        asyncio.run(main(Path(tempfile.mkdtemp(prefix="tasklane-burst-")), count, dependency_count, url))
        print(f"(took {time.monotonic() - started:.0f} s)")
