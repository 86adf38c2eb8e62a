"""API latency over a large run history: Tasklane's list, history and stats vs Prefect's /flow_runs/filter.

A throwaway server (no worker), T tasks created through the API, N flow runs of history
bulk-inserted (finished states, spread over 30 days; bench/_seed.py), then `tasklane api` in its own
process and 20 concurrent HTTP clients. p50/p99 per endpoint, and each one's p99 against Prefect's
own POST /api/flow_runs/filter (limit 20) measured in the same run.

    .venv/bin/python -m bench.api [--runs N] [--tasks T] [--requests R] [--clients C] [--cache SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tasklane.stack.processes import stop_process_tree

POOL = "bench-api"
PROJECT = "bench"


async def make_tasks(api_url: str, token: str, tasks: int) -> list[str]:
    """T tasks created through the API (half of them scheduled), as a user would."""
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {token}"}) as http:
        names = []
        for i in range(tasks):
            body = {
                "name": f"task-{i:03d}",
                "type": "http",
                "url": f"https://example.com/{i}",
                "group": f"g{i % 4}",
            }
            if i % 2:
                body["schedule"] = {"every": f"{5 + i}m"}
            response = await http.post("/api/scheduler/tasks", json=body, timeout=60)
            response.raise_for_status()
            names.append(response.json()["id"])
    return names


async def make_history(prefect_url: str, names: list[str], runs: int) -> None:
    """N finished runs of those tasks over 30 days, bulk-inserted (`bench/_seed.py`), then checked."""
    from prefect.client.orchestration import get_client

    from bench._seed import seed_finished_runs, verify
    from deployments.apply import Target, read_task_deployments

    async with get_client() as client:
        deployments = await read_task_deployments(client, Target(POOL, "UTC", PROJECT))
        ids = [deployments[name].id for name in names]
    seeded = await seed_finished_runs(prefect_url, ids, runs, days=30)
    print(seeded.line(), flush=True)
    async with get_client() as client:
        print(await verify(client, seeded), flush=True)


async def measure(
    base_url: str, method: str, path: str, headers: dict[str, str], body, requests: int, clients: int
) -> list[float]:
    """`requests` requests from `clients` concurrent clients, each with its own connection.

    One shared httpx client for all of them was a single caller with 20 requests in flight:
    its connection pool's queueing added a tail of its own (p99 140-230 ms against 26-48 ms
    with a client each, same server, same endpoint).
    """
    timings: list[float] = []
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:
            await http.request(method, path, json=body)  # warm-up: connect, first-use costs
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await http.request(method, path, json=body)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return timings


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def serve_api(prefect_url: str, home: Path, port: int, cache: float) -> subprocess.Popen:
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_url,
        "TASKLANE_HOME": str(home),
        "TASKLANE_PROJECT": PROJECT,
        "TASKLANE_POOL__NAME": POOL,
        "TASKLANE_API__PORT": str(port),
        "TASKLANE_API__CACHE_SECONDS": str(cache),
        "TASKLANE_API__TOKENS_FILE": str(home / "tokens.json"),
    }
    code = "import logging; from tasklane.api import serve; serve()"
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def wait_healthy(api_url: str) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(f"{api_url}/health", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("tasklane api did not start")
            await asyncio.sleep(0.3)


def cases(prefect_url: str, api_url: str, one: str) -> list[tuple[str, str, str, str, dict | None]]:
    return [
        (
            "prefect POST /api/flow_runs/filter (limit 20)",
            prefect_url.removesuffix("/api"),
            "POST",
            "/api/flow_runs/filter",
            {"limit": 20, "sort": "EXPECTED_START_TIME_DESC"},
        ),
        ("list   GET /api/scheduler/tasks", api_url, "GET", "/api/scheduler/tasks?limit=20", None),
        ("list   GET /tasks", api_url, "GET", "/tasks", None),
        ("list   GET /api/v1/scheduler/jobs", api_url, "GET", "/api/v1/scheduler/jobs", None),
        (
            "hist   GET /api/scheduler/tasks/{id}/executions",
            api_url,
            "GET",
            f"/api/scheduler/tasks/{one}/executions?limit=20",
            None,
        ),
        ("hist   GET /task_history", api_url, "GET", "/task_history?limit=20", None),
        (
            "stats  GET /api/scheduler/tasks/{id}/stats",
            api_url,
            "GET",
            f"/api/scheduler/tasks/{one}/stats",
            None,
        ),
        ("stats  GET /api/scheduler/stats", api_url, "GET", "/api/scheduler/stats", None),
    ]


async def main(args: argparse.Namespace, prefect_url: str) -> None:
    from tasklane.api.auth import TokenStore
    from tasklane.stack.peers._server import free_port

    home = Path(tempfile.mkdtemp(prefix="tasklane-bench-api-"))
    token = TokenStore(home / "tokens.json").create("bench", "admin")
    auth = {"Authorization": f"Bearer {token}"}
    names: list[str] = []
    tables = []
    for cache in args.cache:
        port = free_port()
        api_url = f"http://127.0.0.1:{port}"
        server = serve_api(prefect_url, home, port, cache)
        try:
            await wait_healthy(api_url)
            if not names:
                names = await make_tasks(api_url, token, args.tasks)
                await make_history(prefect_url, names, args.runs)
            results = []
            for label, base, method, path, body in cases(prefect_url, api_url, names[0]):
                headers = {} if base != api_url else auth
                p50s, p99s = [], []
                for _ in range(args.rounds):
                    timings = await measure(base, method, path, headers, body, args.requests, args.clients)
                    p50s.append(pct(timings, 0.5))
                    p99s.append(pct(timings, 0.99))
                results.append((label, statistics.median(p50s), statistics.median(p99s)))
                print(f"  cache {cache:g} s: measured {label}", flush=True)
            tables.append((cache, results))
        finally:
            stop_process_tree(server.pid, grace=20)
            server.wait()  # reap it
    print(
        f"\nAPI latency, {args.runs} flow runs over {args.tasks} tasks, {args.clients} concurrent clients, "
        f"{args.requests} requests per endpoint, medians of {args.rounds} rounds; "
        f"{os.cpu_count()} cores shared with other engineers' test runs"
    )
    for cache, results in tables:
        base_p50, base_p99 = results[0][1], results[0][2]
        state = f"cache {cache:g} s" if cache > 0 else "cache OFF"
        head = f"{'endpoint':48s} {'p50 ms':>8s} {'p99 ms':>8s}  {'p50/prefect':>11s} {'p99/prefect':>11s}"
        print(f"  [{state}] {head}")
        for label, p50, p99 in results:
            flag = "" if not label.startswith("list") else ("  ok" if p99 < 100 else "  > 100 ms")
            print(
                f"  {'':{len(state) + 2}s} {label:48s} {p50:8.1f} {p99:8.1f}  "
                f"{p50 / base_p50:11.2f} {p99 / base_p99:11.2f}{flag}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="flow runs of history")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint and round")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per endpoint; medians are printed")
    parser.add_argument(
        "--cache",
        type=lambda text: [float(v) for v in text.split(",")],
        default=[1.0, 0.0],
        help="api.cache_seconds of the API under test, one run each (default 1,0: cached, then off)",
    )
    arguments = parser.parse_args()
    from bench._stack import bench_stack

    with bench_stack(POOL, worker=False) as url:
        asyncio.run(main(arguments, url))
