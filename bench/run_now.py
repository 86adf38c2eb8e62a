"""Run-now overhead: N trivial shell tasks through Tasklane vs the same job on bare Prefect.

Both go through the same server and the same process worker in the same run, one run at a
time and interleaved, so drift hits both alike. Measured: flow run created -> Completed.

    .venv/bin/python -m bench.run_now [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

POOL = "bench"


async def wait_completed(client, flow_run_id) -> float:
    from prefect.client.schemas.objects import StateType

    while True:
        flow_run = await client.read_flow_run(flow_run_id)
        if flow_run.state and flow_run.state.is_final():
            if flow_run.state.type != StateType.COMPLETED:
                raise RuntimeError(f"run {flow_run_id} ended {flow_run.state.name}: {flow_run.state.message}")
            return time.perf_counter()
        await asyncio.sleep(0.05)


async def main(n: int) -> None:
    from prefect.client.orchestration import get_client
    from prefect.types.entrypoint import EntrypointType

    from bench.bare_flow import BARE_JOB_VARIABLES, bare_shell
    from deployments.apply import Target, apply
    from deployments.catalog import load_catalog
    from tasklane.tasks.lookup import run_task

    catalog_path = Path(tempfile.mkdtemp()) / "tasks.yaml"
    catalog_path.write_text("tasks:\n  - {name: trivial, type: shell, command: 'true'}\n")
    bare = await bare_shell.ato_deployment(
        name="bare",
        work_pool_name=POOL,
        work_queue_name="medium",
        entrypoint_type=EntrypointType.MODULE_PATH,
        job_variables=BARE_JOB_VARIABLES,
    )
    bare_id = await bare.aapply()
    tasklane_times: list[float] = []
    bare_times: list[float] = []
    async with get_client() as client:
        await apply(client, load_catalog([catalog_path]), Target(POOL, "UTC", "bench"))
        # Run 0 of each is a warm-up: the first process start pays for cold imports.
        for i in range(n + 1):
            started = time.perf_counter()
            flow_run = await run_task(client, "trivial")
            t_took = await wait_completed(client, flow_run.id) - started
            started = time.perf_counter()
            flow_run = await client.create_flow_run_from_deployment(bare_id)
            b_took = await wait_completed(client, flow_run.id) - started
            if i:
                tasklane_times.append(t_took)
                bare_times.append(b_took)
            note = "  (warm-up)" if not i else ""
            print(f"  run {i:2d}: tasklane {t_took:5.2f} s   bare {b_took:5.2f} s{note}", flush=True)
    t_med, b_med = statistics.median(tasklane_times), statistics.median(bare_times)
    print(f"\nrun-now, created -> Completed, N={n} each, 2 cores")
    print(
        f"  tasklane   median {t_med:.2f} s  (min {min(tasklane_times):.2f}, max {max(tasklane_times):.2f})"
    )
    print(f"  bare       median {b_med:.2f} s  (min {min(bare_times):.2f}, max {max(bare_times):.2f})")
    print(f"  ratio tasklane/bare = {t_med / b_med:.2f}  (target <= 1.2)")


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    from bench._stack import bench_stack

    with bench_stack(POOL, query_seconds=1.0):
        asyncio.run(main(count))
