"""Schemathesis over the live API: every check (`--checks all`), positive and negative data, the
stateful phase, with an admin, an operator and a viewer token, on a real Prefect server; any
finding fails the test and prints schemathesis' report (with the curl to reproduce it).

The seed is fixed (SEED) so a run is repeatable; TASKLANE_FUZZ_EXAMPLES raises the examples per
operation for a longer run by hand. The same run against `make up` is in schemathesis.toml's header.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasklane.stack.peers._server import free_port
from tests.tasklane.api.conftest import make_api

FUZZ_POOL = "tasklane-api-fuzz"
SEED = 20261208
EXAMPLES = int(os.environ.get("TASKLANE_FUZZ_EXAMPLES", "30"))
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


@pytest.fixture(scope="module")
def served(prefect_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """The API (its own project, pool and tokens) served by uvicorn on a free port, lifespan on."""
    import uvicorn
    from prefect.client.orchestration import get_client

    from deployments.pool import PoolSpec, ensure_work_pool

    async def make_pool() -> None:
        async with get_client() as client:
            await ensure_work_pool(client, PoolSpec(FUZZ_POOL, 1, {"high": 1, "medium": 2, "low": 3}))

    asyncio.run(make_pool())
    # No worker polls FUZZ_POOL: the runs the fuzzer starts wait, nothing it creates is executed.
    home = tmp_path_factory.mktemp("fuzz")
    # Rate limits on, far above what the fuzzer sends: the middleware is in every request's path.
    limits = {"rate_limit_token": "1000/second", "rate_limit_address": "1000/second"}
    app, tokens = make_api(home, "t-fuzz", cache_seconds=1.0, pool=FUZZ_POOL, **limits)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="api-under-fuzz", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.mark.parametrize("role", ["admin", "operator", "viewer"])
def test_schemathesis_finds_nothing(served: tuple[str, dict], role: str, tmp_path: Path) -> None:
    url, tokens = served
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        # One worker: CPython 3.11's ast.parse is not thread-safe, and hypothesis calls it while
        # describing a strategy ("AST constructor recursion depth mismatch" with two workers).
        "--workers",
        "1",
        "--no-shrink",
        "--header",
        f"Authorization: Bearer {tokens[role]}",
        "--report-dir",
        str(tmp_path),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    report = done.stdout[-20000:] + done.stderr[-4000:]
    print(done.stdout[done.stdout.rfind("SUMMARY") :])  # the figures, with `pytest -s`
    assert done.returncode == 0, f"schemathesis ({role}, seed {SEED}) found:\n{report}"
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert tested and int(tested.group(1)) >= 30, f"schemathesis tested too few operations:\n{report}"
