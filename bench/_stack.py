"""A throwaway server + worker for benchmarks, on its own port and home."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tasklane.stack import processes as stack
from tasklane.stack.peers._server import free_port


@contextmanager
def bench_stack(
    pool: str,
    *,
    concurrency: int = 5,
    query_seconds: float = 1.0,
    prefetch_seconds: float = 15.0,
    worker: bool = True,
) -> Iterator[str]:
    """Start a server (and a worker on `pool`); yield the API URL; stop both."""
    home = Path(tempfile.mkdtemp(prefix="tasklane-bench-"))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    os.environ["PREFECT_API_URL"] = api_url
    started = [stack.start_server(home, "127.0.0.1", port, ui=False)]
    try:
        from prefect.client.orchestration import get_client

        from deployments.pool import PoolSpec, ensure_work_pool

        async def make_pool() -> None:
            async with get_client() as client:
                await ensure_work_pool(
                    client, PoolSpec(pool, concurrency, {"high": 1, "medium": 2, "low": 3})
                )

        import asyncio

        asyncio.run(make_pool())
        if worker:
            started.append(
                stack.start_worker(
                    home, api_url, pool, query_seconds=query_seconds, prefetch_seconds=prefetch_seconds
                )
            )
        yield api_url
    finally:
        for managed in reversed(started):
            stack.stop_process_tree(managed.pid)
        shutil.rmtree(home, ignore_errors=True)


def start_bare_worker(api_url: str, pool: str) -> stack.Managed:
    """Prefect's own worker (`prefect worker start`: polls only, a cold process per run) on
    `pool`, with Prefect's defaults: query every 10 s, prefetch 10 s. Stop it with
    `stack.stop_process_tree(worker.pid)`."""
    home = Path(tempfile.mkdtemp(prefix="tasklane-bench-bare-"))
    return stack.start_worker(
        home, api_url, pool, name="bare-worker", query_seconds=10, prefetch_seconds=10, bare=True
    )
