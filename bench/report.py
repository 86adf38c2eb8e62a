"""Report and statistics at scale: 10,000 finished runs on the server, one full report, one stats call.

    .venv/bin/python -m bench.report [RUNS]

Starts a throwaway server (no worker), makes RUNS finished runs of 20 tasks in 4 groups through
the client (each created Running, then set to its final state: ~80% Completed), then times:

- Prefect's own `POST /flow_runs/count` over the same runs (the floor: one indexed query);
- `task_stats` over the whole window (every run read, per task/group/overall figures);
- the report flow publishing every run to a local fake Confluence (10,000 rows upserted by
  run id), a fake Mattermost, an Excel workbook with charts, and the Prefect artifacts.
Target: report and stats each < 10 s.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

POOL = "tasklane-bench-report"
TASKS, GROUPS = 20, 4
CONCURRENCY = int(__import__("os").environ.get("BENCH_CONCURRENCY", "1"))
STATES = ["Completed"] * 8 + ["Failed", "Crashed"]


async def populate(runs: int, tag: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled, Completed, Crashed, Failed, Running

    finals = {"Completed": Completed, "Failed": Failed, "Crashed": Crashed, "Cancelled": Cancelled}
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("bench-report")
        deployments = [
            await client.create_deployment(
                flow_id=flow_id, name=f"task-{i:02d}", tags=["tasklane", tag, f"group:g{i % GROUPS}"]
            )
            for i in range(TASKS)
        ]
        semaphore = asyncio.Semaphore(CONCURRENCY)
        rng = random.Random(7)

        async def one(i: int) -> None:
            async with semaphore:
                flow_run = await client.create_flow_run_from_deployment(
                    deployments[i % TASKS], state=Running()
                )
                await client.set_flow_run_state(flow_run.id, finals[rng.choice(STATES)](), force=True)

        started = time.perf_counter()
        for batch in range(0, runs, 500):
            await asyncio.gather(*(one(i) for i in range(batch, min(runs, batch + 500))))
            print(f"  {min(runs, batch + 500)} runs ({time.perf_counter() - started:.0f} s)", flush=True)


async def measure(tag: str, settings) -> None:
    from datetime import UTC, datetime, timedelta

    from prefect.client.orchestration import get_client

    from deployments.history import task_stats
    from flows.report import report_flow

    async with get_client() as client:
        started = time.perf_counter()
        count = await client.count_flow_runs(flow_run_filter=None)
        floor = time.perf_counter() - started
        since = datetime.now(UTC) - timedelta(days=1)
        started = time.perf_counter()
        stats = await task_stats(client, since, tags=[tag])
        stats_seconds = time.perf_counter() - started
    started = time.perf_counter()
    outcome = await report_flow(settings=settings)
    report_seconds = time.perf_counter() - started
    print(f"flow_runs/count (Prefect, floor): {floor * 1000:.1f} ms for {count} runs")
    print(f"stats:  {stats_seconds:.2f} s over {stats.overall.runs} runs ({len(stats.per_task)} tasks)")
    print(
        f"report: {report_seconds:.2f} s publishing {outcome['runs']} runs "
        "(Confluence, Mattermost, Excel, artifacts)"
    )
    ok = stats_seconds < 10 and report_seconds < 10
    print("OK: both under 10 s" if ok else "SLOW: over 10 s")


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv else 10_000
    from bench._stack import bench_stack

    with bench_stack(POOL, worker=False):
        from blocks import ConfluenceCredentials, MattermostCredentials
        from deployments.history import ReportSettings
        from tasklane.sandbox import SANDBOX_CHANNEL, seed_mattermost
        from tests.fakes._server import serve
        from tests.fakes.confluence import FakeConfluence
        from tests.fakes.mattermost import FakeMattermost

        tag = f"bench-{uuid.uuid4().hex[:6]}"
        print(f"making {runs} finished runs ...", flush=True)
        asyncio.run(populate(runs, tag))
        confluence = FakeConfluence()
        confluence.add_page("1", "Results", "<p>bench</p>")
        mattermost = FakeMattermost(bot_token="bench-token")
        seed_mattermost(mattermost)
        with (
            serve(confluence.app) as c_url,
            serve(mattermost.app) as m_url,
            tempfile.TemporaryDirectory() as out,
        ):
            ConfluenceCredentials(url=c_url, username="bot", token="bot-password").save(
                "bench", overwrite=True
            )
            MattermostCredentials(
                url=m_url, token="bench-token", team="tasklane", channel=SANDBOX_CHANNEL
            ).save("bench", overwrite=True)
            settings = ReportSettings(
                name="bench",
                tags=[tag],
                targets=["confluence", "mattermost", "excel"],
                confluence_block="bench",
                mattermost_block="bench",
                page_id="1",
                excel_dir=Path(out),
                settle_seconds=0,
            )
            asyncio.run(measure(tag, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
