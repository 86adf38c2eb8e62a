"""Test session setup: a real Prefect server (and worker) for the tests that touch Prefect.

Prefect reads its settings when it is imported, so the API URL and home are fixed here,
before any test module imports prefect; the server itself starts only when a test asks
for the `prefect_server` fixture, so pure unit tests never pay for it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.fakes._server import free_port

TEST_HOME = Path(tempfile.mkdtemp(prefix="tasklane-test-"))
TEST_PORT = free_port()
API_URL = f"http://127.0.0.1:{TEST_PORT}/api"
TEST_POOL = "tasklane-test"

os.environ.update(
    {
        "PREFECT_API_URL": API_URL,
        "PREFECT_HOME": str(TEST_HOME / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOCAL_STORAGE_PATH": str(TEST_HOME / "results"),
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
        "TASKLANE_HOME": str(TEST_HOME),
        "TASKLANE_POOL__NAME": TEST_POOL,
    }
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real `prefect server start` on SQLite in a temporary home."""
    from tasklane import stack

    managed = stack.start_server(TEST_HOME, "127.0.0.1", TEST_PORT, ui=False)
    yield API_URL
    stack.stop_process_tree(managed.pid)
    shutil.rmtree(TEST_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def work_pool(prefect_server: str) -> str:
    from prefect.client.orchestration import get_client

    from deployments.pool import PoolSpec, ensure_work_pool

    async def make() -> None:
        async with get_client() as client:
            await ensure_work_pool(client, PoolSpec(TEST_POOL, 4, {"high": 1, "medium": 2, "low": 3}))

    run(make())
    return TEST_POOL


@pytest.fixture(scope="session")
def worker(work_pool: str) -> Iterator[str]:
    """A real process worker polling the test pool every second."""
    from tasklane import stack

    managed = stack.start_worker(TEST_HOME, API_URL, work_pool, name="test-worker", query_seconds=1)
    yield work_pool
    stack.stop_process_tree(managed.pid)


@pytest.fixture
def project() -> str:
    """A catalog project of its own for each test, so applies never touch each other."""
    return f"t-{uuid.uuid4().hex[:8]}"
