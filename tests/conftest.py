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
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tasklane.stack.peers._server import free_port

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
        # No default retries (settings execution.retry, 3 x 60 s) in tests: a task that writes no
        # `retry:` fails at once, as the tests expect; tests of the defaults pass settings of their own.
        "TASKLANE_EXECUTION__RETRY__MAX_RETRIES": "0",
    }
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def with_client(call: Callable[[Any], Awaitable[T]]) -> T:
    """`await call(client)` with a Prefect client of the session's server; what it returns."""
    from prefect.client.orchestration import get_client

    async def go() -> T:
        async with get_client() as client:
            return await call(client)

    return run(go())


def alive(pid: int) -> bool:
    """Whether process `pid` still runs: it exists and is not a zombie (exited, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


# `make test` runs tests/reliability on SQLite and again with TASKLANE_TEST_DATABASE=postgres.
TEST_DATABASE = os.environ.get("TASKLANE_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
# The `database` of the session's server ("sqlite", or the URL of its PostgreSQL database).
SERVER_DATABASE = "sqlite"
_cluster = None  # the session's PostgreSQL cluster (tasklane.stack.postgres.Cluster), started on first use
_postgres_unavailable: str | None = None


def _postgres_cluster():
    """The session's PostgreSQL: a fresh cluster under TEST_HOME on a free port, no fsync."""
    global _cluster, _postgres_unavailable
    from tasklane.stack.postgres import Cluster, PostgresUnavailable, ensure_installed

    if _postgres_unavailable is None and _cluster is None:
        try:
            bindir = ensure_installed(progress=lambda line: print(f"\n{line}", flush=True))
        except PostgresUnavailable as exc:
            _postgres_unavailable = str(exc)
        else:
            cluster = Cluster(TEST_HOME, bindir=bindir)
            cluster.start(
                progress=lambda line: None,
                port=free_port(),
                options={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
                no_sync=True,
            )
            _cluster = cluster
    if _postgres_unavailable is not None:
        pytest.skip(f"TASKLANE_TEST_DATABASE=postgres, but no PostgreSQL here: {_postgres_unavailable}")
    return _cluster


def fresh_database(name: str) -> str:
    """The URL of a new, empty database on the session's PostgreSQL cluster (started on first
    use; the calling test or fixture is skipped, with the reason, where PostgreSQL cannot be had)."""
    return _postgres_cluster().create_database(f"{name}_{uuid.uuid4().hex[:8]}")


def _stop_postgres() -> None:
    global _cluster
    if _cluster is not None:
        _cluster.stop()
        shutil.rmtree(_cluster.dir, ignore_errors=True)
        _cluster = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _stop_postgres()


def start_test_server():
    """Start the session's Prefect server on its database: a test that stops the server
    restarts it with this, so a PostgreSQL run stays on PostgreSQL."""
    from tasklane.stack import processes as stack
    from tasklane.stack.postgres import database_url

    url = database_url(TEST_HOME, SERVER_DATABASE)
    return stack.start_server(TEST_HOME, "127.0.0.1", TEST_PORT, database_url=url, ui=False)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real `prefect server start` in a temporary home: on SQLite, or with
    TASKLANE_TEST_DATABASE=postgres on a freshly created PostgreSQL database."""
    global SERVER_DATABASE
    from tasklane.stack import processes as stack

    if TEST_DATABASE not in ("sqlite", "postgres"):
        pytest.fail(f"TASKLANE_TEST_DATABASE={TEST_DATABASE!r}: expected sqlite or postgres")
    if TEST_DATABASE == "postgres":
        SERVER_DATABASE = fresh_database("prefect_test")
    try:
        managed = start_test_server()
        try:
            yield API_URL
        finally:
            stack.stop_process_tree(managed.pid)
    finally:
        _stop_postgres()
        shutil.rmtree(TEST_HOME, ignore_errors=True)


PRIORITY_QUEUES = {"high": 1, "medium": 2, "low": 3}


def make_pool(name: str, concurrency: int) -> str:
    """A Tasklane process pool (the three priority queues) on the session's server; its name."""
    from deployments.pool import PoolSpec, ensure_work_pool

    with_client(lambda client: ensure_work_pool(client, PoolSpec(name, concurrency, PRIORITY_QUEUES)))
    return name


@pytest.fixture(scope="session")
def work_pool(prefect_server: str) -> str:
    return make_pool(TEST_POOL, 4)


@pytest.fixture(scope="session")
def worker(work_pool: str) -> Iterator[str]:
    """A real process worker polling the test pool every second (warm starts, as `make up`)."""
    from tasklane.stack import processes as stack

    managed = stack.start_worker(TEST_HOME, API_URL, work_pool, name="test-worker", query_seconds=1)
    os.environ["TASKLANE_TEST_ZYGOTE_PID"] = str(managed.pid)
    yield work_pool
    stack.stop_process_tree(managed.pid)


@pytest.fixture
def project() -> str:
    """A catalog project of its own for each test, so applies never touch each other."""
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session", autouse=True)
def _peers_checked_against_their_api_descriptions() -> Iterator[None]:
    """Every peer served in this session checks each request and answer against its product's
    API description (tests/contracts/)."""
    from tasklane.stack.peers._server import add_app_wrapper, remove_app_wrapper
    from tests.contracts.checker import check_contracts

    add_app_wrapper(check_contracts)
    yield
    remove_app_wrapper(check_contracts)


@pytest.fixture(autouse=True)
def _no_contract_violation() -> Iterator[None]:
    """A test during which a peer received or answered what its API description forbids fails,
    naming the rule (tests/contracts/checker.py)."""
    from tests.contracts import checker

    checker.clear()
    yield
    found = checker.violations()
    if found:
        listed = checker.summary(found)
        pytest.fail(f"{len(found)} contract violation(s) at the peers:\n{listed}", pytrace=False)
