"""Console latency over a large history: tasks, stats and run pages, and the live log tail.

The stack as `make up` starts it: a throwaway Prefect server, Tasklane's worker (query 2 s,
prefetch 15 s, `settings.worker`'s defaults) and `tasklane api` (the console's process, with
its default read cache) in processes of their own. T tasks are created through the REST API
(every other one with a schedule, its first run a day away so none runs during the bench), N
finished runs of them bulk-inserted over 30 days (`bench/_seed.py`, as `bench.api` does), and a
console user signs in with httpx through the login form (its CSRF field) as a browser would.

Then, each page R times in a row after one warm-up, median and p95 (the API with its read cache
as `make up` runs it: fresh 1 s, stale-while-revalidate 10 s; the tasks and stats pages again
with the cache off, for reference):
  - tasks page `GET /console/tasks` (target p95 < 300 ms);
  - stats page `GET /console/stats` (last 7 days, target p95 < 500 ms);
  - run detail `GET /console/runs/{id}` (a different seeded run each time, target p95 < 300 ms),
    and its details part (`/details`: timeline, result, artifacts; htmx loads it after the page);
  - the live log tail: a shell task that waits, then prints a few lines each stamped with
    `date +%s.%N`; the bench reads `/console/runs/{id}/logs/stream` (SSE) from the moment the
    run is started and measures arrival - stamp of each line (target: the first line < 1 s).

    .venv/bin/python -m bench.console [--runs N] [--tasks T] [--requests R] [--log-runs L]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.api import POOL, make_history, pct, serve_api, wait_healthy
from tasklane.stack.processes import stop_process_tree

PASSWORD = "bench console password"
STAMP = "bench-stamp"
# The stamped shell job: waits for the bench to be reading the stream, then prints LINES lines.
LINES = 3
STAMP_COMMAND = f'sleep 2; for i in $(seq {LINES}); do echo "{STAMP} $(date +%s.%N)"; sleep 1; done'
LIMITS_MS = {"tasks": 300.0, "stats": 500.0, "run": 300.0}
FIRST_LINE_LIMIT_S = 1.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def make_tasks(api_url: str, token: str, tasks: int) -> list[str]:
    """T http tasks in 4 groups, every other one scheduled (its first run a day away), and the
    stamped shell task; their ids (the shell task's last)."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0, tzinfo=None).isoformat()
    bodies = []
    for i in range(tasks):
        body: dict = {
            "name": f"task-{i:03d}",
            "type": "http",
            "url": f"https://example.com/{i}",
            "group": f"g{i % 4}",
        }
        if i % 2:
            body["schedule"] = {"every": f"{5 + i}m", "start": start}
        bodies.append(body)
    bodies.append({"name": "stamp", "type": "shell", "command": STAMP_COMMAND, "group": "g0"})
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {token}"}) as http:
        names = []
        for body in bodies:
            response = await http.post("/api/scheduler/tasks", json=body, timeout=120)
            if response.status_code >= 400:
                raise RuntimeError(
                    f"creating task {body['name']}: {response.status_code} {response.text[:300]}"
                )
            names.append(response.json()["id"])
    return names


async def sign_in(http: httpx.AsyncClient, name: str) -> None:
    """Through the login form, with its CSRF field, as a browser does."""
    form = await http.get("/console/login")
    found = CSRF.search(form.text)
    if form.status_code != 200 or not found:
        raise RuntimeError(f"GET /console/login: {form.status_code}, no CSRF field in the form")
    done = await http.post(
        "/console/login",
        data={"name": name, "password": PASSWORD, "csrf": found.group(1), "next": "/console/tasks"},
    )
    if done.status_code != 303 or "tasklane_console" not in http.cookies:
        raise RuntimeError(f"signing in as {name}: {done.status_code} {done.text[:200]}")


async def timed_gets(http: httpx.AsyncClient, paths: list[str]) -> list[float]:
    """Each path in turn (one warm-up of the first before), milliseconds each."""
    await http.get(paths[0])
    timings = []
    for path in paths:
        started = time.perf_counter()
        response = await http.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200 or "/console/login" in str(response.url):
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
    return timings


async def seeded_run_ids(http: httpx.AsyncClient, count: int) -> list[str]:
    """Run ids from the runs page (the newest seeded runs), as a user clicks them."""
    page = await http.get("/console/runs")
    ids = list(dict.fromkeys(re.findall(r'/console/runs/([0-9a-f-]{36})"', page.text)))
    if not ids:
        raise RuntimeError("the runs page lists no run")
    return [ids[i % len(ids)] for i in range(count)]


async def log_latency(http: httpx.AsyncClient, api_url: str, token: str, task_id: str) -> list[float]:
    """Run the stamped task, follow its log stream; seconds from each line's stamp to its arrival."""
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {token}"}) as api:
        response = await api.post(f"/api/scheduler/tasks/{task_id}/run", timeout=60)
        response.raise_for_status()
        run_id = response.json()["execution_id"]
    latencies = []
    event = ""
    timeout = httpx.Timeout(120, read=120)
    async with http.stream("GET", f"/console/runs/{run_id}/logs/stream", timeout=timeout) as stream:
        if stream.status_code != 200:
            raise RuntimeError(f"log stream of run {run_id}: {stream.status_code}")
        async for line in stream.aiter_lines():
            arrived = time.time()
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
                if event in ("end", "failure"):
                    break
            elif event == "line" and STAMP in line:
                stamp = float(line.split(STAMP, 1)[1].split()[0])
                latencies.append(arrived - stamp)
    if event != "end" or len(latencies) != LINES:
        raise RuntimeError(f"run {run_id}: stream ended with {event!r} after {len(latencies)} stamped lines")
    return latencies


def row(label: str, timings: list[float], limit: float | None, unit: str = "ms") -> tuple[str, bool]:
    median, p95 = statistics.median(timings), pct(timings, 0.95)
    text = f"  {label:46s} n={len(timings):3d}  median {median:8.1f} {unit}  p95 {p95:8.1f} {unit}"
    if limit is None:
        return text, True
    ok = p95 < limit
    return f"{text}  limit {limit:g} {unit}  p95/limit {p95 / limit:5.2f}  {'ok' if ok else 'MISSED'}", ok


async def main(args: argparse.Namespace, prefect_url: str) -> bool:
    from tasklane.api.auth import TokenStore
    from tasklane.console.users import UserStore, users_path
    from tasklane.stack.peers._server import free_port

    home = Path(tempfile.mkdtemp(prefix="tasklane-bench-console-"))
    token = TokenStore(home / "tokens.json").create("bench", "admin")
    UserStore(users_path(home)).add("bench", "admin", PASSWORD)
    os.environ["TASKLANE_API__ALLOW_SHELL"] = "true"  # the stamped shell task, created by an admin
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    server = serve_api(prefect_url, home, port, cache=1.0)
    try:
        await wait_healthy(api_url)
        started = time.perf_counter()
        ids = await make_tasks(api_url, token, args.tasks)
        seconds = time.perf_counter() - started
        print(f"created {len(ids)} tasks through the REST API in {seconds:.1f} s", flush=True)
        started = time.perf_counter()
        await make_history(prefect_url, ids[:-1], args.runs)
        seconds = time.perf_counter() - started
        print(f"history of {args.runs} runs seeded and checked in {seconds:.1f} s", flush=True)
        # The seeded runs ended in the past, so the ledger's refresh (by end time) does not see
        # them; its reconcile would, within a minute. As after any import: `tasklane stats --rebuild`.
        env = {**os.environ, "PREFECT_API_URL": prefect_url, "TASKLANE_HOME": str(home)}
        for label, argv in (
            ("tasklane stats --rebuild (a new process)", ["--rebuild"]),
            ("tasklane stats (a new process, 7 days)", []),
        ):
            started = time.perf_counter()
            subprocess.run(
                [str(Path(sys.executable).parent / "tasklane"), "stats", "--json", *argv],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)
        async with httpx.AsyncClient(base_url=api_url, timeout=120) as http:
            await sign_in(http, "bench")
            n = args.requests
            results: dict[str, list[float]] = {}
            results["tasks"] = await timed_gets(http, ["/console/tasks"] * n)
            print("  measured the tasks page", flush=True)
            results["stats"] = await timed_gets(http, ["/console/stats"] * n)
            print("  measured the stats page", flush=True)
            runs = await seeded_run_ids(http, n)
            results["run"] = await timed_gets(http, [f"/console/runs/{r}" for r in runs])
            results["details"] = await timed_gets(http, [f"/console/runs/{r}/details" for r in runs])
            print("  measured run detail", flush=True)
            first, every = [], []
            for _ in range(args.log_runs):
                latencies = await log_latency(http, api_url, token, ids[-1])
                first.append(latencies[0])
                every.extend(latencies)
            print("  measured the live log tail", flush=True)
        # For reference: the same pages with the read cache off, every request read in full.
        stop_process_tree(server.pid, grace=20)
        server.wait()
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        server = serve_api(prefect_url, home, port, cache=0.0)
        await wait_healthy(api_url)
        async with httpx.AsyncClient(base_url=api_url, timeout=120) as http:
            await sign_in(http, "bench")
            results["tasks-uncached"] = await timed_gets(http, ["/console/tasks"] * args.requests)
            results["stats-uncached"] = await timed_gets(http, ["/console/stats"] * args.requests)
            print("  measured both pages with the read cache off", flush=True)
    finally:
        stop_process_tree(server.pid, grace=20)
        server.wait()
        shutil.rmtree(home, ignore_errors=True)
    print(
        f"\nconsole latency, {args.runs} finished runs over {args.tasks} tasks, one signed-in user, "
        f"{args.requests} requests per page in a row; {os.cpu_count()} cores shared with other work"
    )
    lines = [
        row("tasks page   GET /console/tasks", results["tasks"], LIMITS_MS["tasks"]),
        row("stats page   GET /console/stats (7 days)", results["stats"], LIMITS_MS["stats"]),
        row("run detail   GET /console/runs/{id}", results["run"], LIMITS_MS["run"]),
        row("  its part   GET /console/runs/{id}/details", results["details"], LIMITS_MS["run"]),
        row("first live log line (job print -> SSE)", first, FIRST_LINE_LIMIT_S, "s"),
        row("every live log line", every, None, "s"),
        row("tasks page, read cache off (reference)", results["tasks-uncached"], None),
        row("stats page, read cache off (reference)", results["stats-uncached"], None),
    ]
    for text, _ in lines:
        print(text)
    ok = all(good for _, good in lines)
    print("OK: every figure under its limit" if ok else "SLOW: a figure missed its limit")
    return ok


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="finished runs of history")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--requests", type=int, default=20, help="requests per page")
    parser.add_argument("--log-runs", type=int, default=5, help="runs of the stamped task")
    arguments = parser.parse_args()
    from bench._stack import bench_stack
    from tasklane.settings import WorkerSettings

    worker = WorkerSettings()
    with bench_stack(
        POOL, query_seconds=worker.query_seconds, prefetch_seconds=worker.prefetch_seconds
    ) as url:
        sys.exit(0 if asyncio.run(main(arguments, url)) else 1)
