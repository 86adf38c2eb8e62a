"""Report and statistics at scale: 10,000 finished runs on the server, full reports, `tasklane stats`.

    .venv/bin/python -m bench.report [RUNS] [--repeat N]     # defaults: 10000, 5

Starts a throwaway server (no worker), 20 task deployments in 4 groups, and RUNS finished runs
of them spread over the last 7 days, bulk-inserted through Prefect's database layer
(`bench/_seed.py`; checked through the REST API). Then N rounds of (medians printed):

- Prefect's own `POST /api/flow_runs/count` over the same runs (the floor: one indexed query);
- `task_stats` over the 7 days (per task/group/overall figures, p95 and runs per day), in-process;
- `tasklane stats --days 7 --json` as a user runs it: a new process, imports included;
- a full report: the report flow publishing every run (first report reaching back 7 days, a
  fresh watermark and Confluence page each time) to a local fake Confluence (all rows upserted
  by run id; the charts are drawn, but the fake has no attachment API, so attaching them is one
  refused request each, logged), a fake Mattermost, an Excel workbook with charts, and the
  Prefect artifacts.
Target: report and stats each < 10 s.

Measured (2 cores shared with other engineers' test runs, medians of 3), 10,000 runs:
see README "bench/report" for the figures of the last run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

POOL = "tasklane-bench-report"
TASKS, GROUPS, DAYS = 20, 4, 7


async def make_deployments(tag: str) -> list:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        flow_id = await client.create_flow_from_name("bench-report")
        return [
            await client.create_deployment(
                flow_id=flow_id,
                name=f"task-{i:02d}",
                tags=["tasklane", tag, f"group:g{i % GROUPS}", "type:shell"],
                parameters={"job": {"command": f"/usr/local/bin/job-{i}.sh --all"}},
            )
            for i in range(TASKS)
        ]


async def floor_and_stats(tag: str) -> tuple[float, float, int, int]:
    """Prefect's count of every run (median of 5), then one `task_stats` over the DAYS."""
    from prefect.client.orchestration import get_client

    from integrations.report import day_window
    from tasklane.history.stats import task_stats

    counts = []
    async with get_client() as client:
        for _ in range(5):
            started = time.perf_counter()
            count = await client.count_flow_runs(flow_run_filter=None)
            counts.append(time.perf_counter() - started)
        since, until = day_window(DAYS)
        started = time.perf_counter()
        stats = await task_stats(client, since, until, tags=[tag])
        stats_seconds = time.perf_counter() - started
    return statistics.median(counts), stats_seconds, count, stats.overall.runs


def cli_stats(warm: bool) -> tuple[float, int]:
    """`tasklane stats` in a new process: (seconds, runs counted).

    warm: with compiled bytecode cached (PYTHONPYCACHEPREFIX, filled by the first call), as an
    installed Tasklane starts; else as this machine runs it (PYTHONDONTWRITEBYTECODE=1 here:
    every process compiles Prefect's modules from source first).
    """
    import json

    env = os.environ.copy()
    if warm:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "tasklane-bench-pycache")
    argv = [str(Path(sys.executable).with_name("tasklane")), "stats", "--days", str(DAYS), "--json"]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - started, json.loads(done.stdout)["overall"]["runs"]


def main(argv: list[str]) -> int:
    runs = int(argv[0]) if argv and argv[0].isdigit() else 10_000
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 5
    from bench._stack import bench_stack

    with bench_stack(POOL, worker=False) as api_url:
        from prefect.client.orchestration import get_client

        from bench._seed import seed_finished_runs, verify
        from blocks import ConfluenceCredentials, MattermostCredentials
        from flows.report import report_flow
        from tasklane.settings.reports import ReportSettings
        from tasklane.stack.peers._server import serve
        from tasklane.stack.peers.confluence import FakeConfluence
        from tasklane.stack.peers.mattermost import FakeMattermost
        from tasklane.stack.sandbox import SANDBOX_CHANNEL, seed_mattermost

        tag = f"bench-{uuid.uuid4().hex[:6]}"
        deployments = asyncio.run(make_deployments(tag))
        # Over the last DAYS - 1 days: every run is inside `stats --days DAYS` and the first report.
        seeded = asyncio.run(seed_finished_runs(api_url, deployments, runs, days=DAYS - 1))
        print(seeded.line(), flush=True)

        async def check() -> str:
            async with get_client() as client:
                return await verify(client, seeded)

        print(asyncio.run(check()), flush=True)
        cli_stats(warm=True)  # fills the bytecode cache
        confluence = FakeConfluence()
        mattermost = FakeMattermost(bot_token="bench-token")
        seed_mattermost(mattermost)
        times: dict[str, list[float]] = {"count": [], "stats": [], "warm": [], "cold": [], "report": []}
        published = rows = count = stats_runs = cli_runs = 0
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
            # Rounds of every measurement in turn, so that the other work on the machine weighs
            # on each alike; medians over the rounds.
            for i in range(repeat):
                floor, stats_seconds, count, stats_runs = asyncio.run(floor_and_stats(tag))
                times["count"].append(floor)
                times["stats"].append(stats_seconds)
                for kind in ("warm", "cold"):
                    seconds, cli_runs = cli_stats(warm=kind == "warm")
                    times[kind].append(seconds)
                confluence.add_page(str(i + 1), f"Results {i}", "<p>bench</p>")
                settings = ReportSettings(
                    name=f"bench{i}",
                    tags=[tag],
                    targets=["confluence", "mattermost", "excel"],
                    confluence_block="bench",
                    mattermost_block="bench",
                    page_id=str(i + 1),
                    excel_dir=Path(out),
                    settle_seconds=0,
                    first_report_days=DAYS,
                    stats_days=DAYS,
                )
                started = time.perf_counter()
                outcome = asyncio.run(report_flow(settings=settings))
                times["report"].append(time.perf_counter() - started)
                published = outcome["runs"]
                rows = confluence.body(str(i + 1)).count("<tr>") - 1
                line = ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items() if k != "count")
                print(f"  round {i + 1}: {line}", flush=True)
        from prefect.logging.handlers import APILogHandler

        asyncio.run(APILogHandler.aflush())  # the report flows' logs, before the server goes

    median = {k: statistics.median(v) for k, v in times.items()}
    stats_s, report_s, warm_s, cold_s = median["stats"], median["report"], median["warm"], median["cold"]
    print(f"\nreport/stats over {runs} finished runs, {os.cpu_count()} cores (shared), medians of {repeat}")
    print(f"  Prefect POST /api/flow_runs/count (floor): {median['count'] * 1000:.1f} ms for {count} runs")
    print(f"  task_stats, {DAYS} days (in-process):     {stats_s:.2f} s over {stats_runs} runs")
    print(
        f"  tasklane stats --days {DAYS} --json (CLI):   {warm_s:.2f} s over {cli_runs} runs, a new process "
        f"({cold_s:.2f} s compiling Prefect from source at start, as PYTHONDONTWRITEBYTECODE=1 here)"
    )
    print(
        f"  full report:                             {report_s:.2f} s publishing {published} runs "
        f"(Confluence table {rows} rows + charts, Mattermost, Excel, artifacts)"
    )
    ok = max(stats_s, warm_s, report_s) < 10
    print("OK: report and stats under 10 s" if ok else "SLOW: over 10 s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
