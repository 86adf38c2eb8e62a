"""API latency over a large run history: Tasklane's list, history and stats vs Prefect's /flow_runs/filter.

A throwaway server (no worker), T tasks created through the API, N flow runs of history created
through Prefect's client (finished states, spread over 30 days), then `tasklane api` in its own
process and 20 concurrent HTTP clients. p50/p99 per endpoint, and each one's p99 against Prefect's
own POST /api/flow_runs/filter (limit 20) measured in the same run.

    .venv/bin/python -m bench.api [--runs N] [--tasks T] [--requests R] [--clients C] [--cache SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

POOL = "bench-api"
PROJECT = "bench"


async def make_history(api_url: str, token: str, tasks: int, runs: int, args_writers: int = 4) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.states import Completed, Failed

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
    async with get_client() as client:
        from deployments.apply import Target, read_task_deployments

        deployments = await read_task_deployments(client, Target(POOL, "UTC", PROJECT))
        ids = [deployments[name].id for name in names]
        now = datetime.now(UTC)
        started = time.perf_counter()
        done = 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(runs):
            queue.put_nowait(i)

        async def creator() -> None:
            nonlocal done
            rng = random.Random()
            while not queue.empty():
                i = queue.get_nowait()
                roll = rng.random()
                if roll < 0.9:
                    state = Completed()
                elif roll < 0.98:
                    state = Failed(message="exit code 1")
                else:
                    state = Failed(name="TimedOut", message="timed out")
                state.timestamp = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
                for attempt in range(10):
                    try:
                        await client.create_flow_run_from_deployment(ids[i % len(ids)], state=state)
                        break
                    except PrefectHTTPStatusError as exc:  # SQLite busy: the server answers 503
                        if exc.response.status_code != 503 or attempt == 9:
                            raise
                        await asyncio.sleep(0.2 * (attempt + 1))
                done += 1
                if done % 5000 == 0:
                    rate = done / (time.perf_counter() - started)
                    print(f"  {done} runs created ({rate:.0f}/s)", flush=True)

        await asyncio.gather(*(creator() for _ in range(args_writers)))
        took = time.perf_counter() - started
        print(f"history: {runs} flow runs in {took:.0f} s ({runs / took:.0f} runs/s)", flush=True)
    return names


async def measure(
    base_url: str, method: str, path: str, headers: dict[str, str], body, requests: int, clients: int
) -> list[float]:
    timings: list[float] = []
    remaining = requests
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:
        for _ in range(clients):  # warm-up
            await http.request(method, path, json=body)

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                response = await http.request(method, path, json=body)
                timings.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(clients)))
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


async def main(args: argparse.Namespace, prefect_url: str) -> None:
    from tasklane.api.auth import TokenStore
    from tests.fakes._server import free_port

    home = Path(tempfile.mkdtemp(prefix="tasklane-bench-api-"))
    token = TokenStore(home / "tokens.json").create("bench", "admin")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    server = serve_api(prefect_url, home, port, args.cache)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("tasklane api did not start")
            time.sleep(0.3)
        names = await make_history(api_url, token, args.tasks, args.runs)
        auth = {"Authorization": f"Bearer {token}"}
        one = names[0]
        cases = [
            (
                "prefect POST /api/flow_runs/filter",
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
        results = []
        for label, base, method, path, body in cases:
            headers = {} if base != api_url else auth
            timings = await measure(base, method, path, headers, body, args.requests, args.clients)
            results.append((label, pct(timings, 0.5), pct(timings, 0.99), statistics.mean(timings)))
            print(f"  measured {label}", flush=True)
        base_p50, base_p99 = results[0][1], results[0][2]
        print(
            f"\nAPI latency, {args.runs} flow runs over {args.tasks} tasks, "
            f"{args.clients} concurrent clients, {args.requests} requests each, "
            f"cache {args.cache} s, {os.cpu_count()} cores"
        )
        print(f"  {'endpoint':52s} {'p50 ms':>8s} {'p99 ms':>8s}  {'p50/prefect':>11s} {'p99/prefect':>11s}")
        for label, p50, p99, _mean in results:
            print(f"  {label:52s} {p50:8.1f} {p99:8.1f}  {p50 / base_p50:11.2f} {p99 / base_p99:11.2f}")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="flow runs of history")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--cache", type=float, default=1.0, help="api.cache_seconds of the API under test")
    arguments = parser.parse_args()
    from bench._stack import bench_stack

    with bench_stack(POOL, worker=False) as url:
        asyncio.run(main(arguments, url))
