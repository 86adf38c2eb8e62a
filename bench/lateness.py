"""Scheduling lateness: when does the job's own command start, against its scheduled time?

Two pools on one server, in the same run:
  - tasklane: a Tasklane shell task, worker tuned as `make up` runs it (settings.worker);
  - bare: the same job as a plain Prefect flow, worker with Prefect's defaults.
Each gets 20 runs due at distinct, known seconds, then a burst of 20 due in the same second.
The command writes `date +%s.%N`; lateness = that instant - the scheduled time (negative =
early). Prints min/p50/p95/p99/max per case.

    .venv/bin/python -m bench.lateness
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

LEAD_SECONDS = 40
SPACING_SECONDS = 6
N = 20


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summary(label: str, values: list[float]) -> str:
    if not values:
        return f"  {label:26s} no runs recorded"
    early = sum(v < 0 for v in values)
    return (
        f"  {label:26s} n={len(values):2d} min {min(values):+.3f}  p50 {statistics.median(values):+.3f}  "
        f"p95 {percentile(values, 0.95):+.3f}  p99 {percentile(values, 0.99):+.3f}  "
        f"max {max(values):+.3f} s   early: {early}"
    )


async def main(out: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Scheduled
    from prefect.types.entrypoint import EntrypointType

    from bench.bare_flow import bare_shell
    from deployments.apply import Target, apply
    from deployments.catalog import load_catalog
    from tasklane.tasks.lookup import find_task

    catalog = out / "tasks.yaml"
    catalog.write_text("tasks:\n  - {name: stamp, type: shell, command: 'true', max_concurrent: 50}\n")
    bare = await bare_shell.ato_deployment(
        name="stamp-bare", work_pool_name="bare", entrypoint_type=EntrypointType.MODULE_PATH
    )
    bare_id = await bare.aapply()
    due: dict[str, datetime] = {}
    async with get_client() as client:
        await apply(client, load_catalog([catalog]), Target("tasklane-bench", "UTC", "bench"))
        stamp = await find_task(client, "stamp")
        t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=LEAD_SECONDS)
        burst_at = t0 + timedelta(seconds=N * SPACING_SECONDS + 20)
        for i in range(N):
            for kind, offset in (("tasklane", 0), ("bare", 1)):
                key = f"{kind}-distinct-{i}"
                due[key] = t0 + timedelta(seconds=i * SPACING_SECONDS + offset * SPACING_SECONDS // 2)
            for kind in ("tasklane", "bare"):
                due[f"{kind}-burst-{i}"] = (
                    burst_at if kind == "tasklane" else burst_at + timedelta(seconds=30)
                )
        for key, when in due.items():
            command = f"date +%s.%N > {out / key}"
            if key.startswith("tasklane"):
                job = dict(stamp.parameters["job"], command=command)
                await client.create_flow_run_from_deployment(
                    stamp.id,
                    parameters={**stamp.parameters, "job": job},
                    state=Scheduled(scheduled_time=when),
                )
            else:
                await client.create_flow_run_from_deployment(
                    bare_id, parameters={"command": command}, state=Scheduled(scheduled_time=when)
                )
    last = max(due.values())
    print(f"{len(due)} runs scheduled; the last is due at {last:%H:%M:%S} UTC", flush=True)
    while datetime.now(UTC) < last + timedelta(seconds=90):
        if all((out / key).exists() for key in due):
            break
        await asyncio.sleep(2)
    results: dict[str, list[float]] = {}
    for key, when in due.items():
        path = out / key
        if path.exists():
            group = key.rsplit("-", 1)[0]
            results.setdefault(group, []).append(float(path.read_text()) - when.timestamp())
    print("\nlateness = command start - scheduled time (seconds; 2 cores, SQLite)")
    for group in ("tasklane-distinct", "bare-distinct", "tasklane-burst", "bare-burst"):
        print(summary(group, results.get(group, [])))
    print(
        "\ntargets (distinct seconds, tasklane): no run early, p99 <= 0.5 s"
        f" -> early {sum(v < 0 for v in results.get('tasklane-distinct', []))},"
        f" p99 {percentile(results.get('tasklane-distinct', [0.0]), 0.99):+.3f} s"
    )


if __name__ == "__main__":
    from bench._stack import bench_stack, start_bare_worker
    from tasklane.stack import processes as stack

    # `make up`'s worker settings (config.yaml: worker.query_seconds, worker.prefetch_seconds).
    # Read as numbers here: importing the settings would import Prefect before its API URL is set.
    query_seconds, prefetch_seconds = 2.0, 15.0
    directory = Path(tempfile.mkdtemp(prefix="tasklane-lateness-"))
    with bench_stack(
        "tasklane-bench",
        concurrency=25,
        query_seconds=query_seconds,
        prefetch_seconds=prefetch_seconds,
    ) as api_url:
        from prefect.client.orchestration import get_client

        from deployments.pool import PoolSpec, ensure_work_pool

        async def bare_pool() -> None:
            async with get_client() as client:
                await ensure_work_pool(client, PoolSpec("bare", 25, {"medium": 1}, launch=False))

        asyncio.run(bare_pool())
        bare_worker = start_bare_worker(api_url, "bare")
        try:
            started = time.monotonic()
            asyncio.run(main(directory))
            print(
                f"(took {time.monotonic() - started:.0f} s; worker query {query_seconds} s, "
                f"prefetch {prefetch_seconds} s; bare: 10 s / 10 s)"
            )
        finally:
            stack.stop_process_tree(bare_worker.pid)
