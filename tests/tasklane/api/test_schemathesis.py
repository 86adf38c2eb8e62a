"""Schemathesis over the OpenAPI spec: generated requests find no 5xx and no response off the spec."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.tasklane.api.conftest import make_api

FUZZ_POOL = "tasklane-api-fuzz"
# The app is made at import (it needs no server until a request); its own project, pool and tokens.
APP, TOKENS = make_api(
    Path(tempfile.mkdtemp(prefix="tasklane-fuzz-")), "t-fuzz", cache_seconds=1.0, pool=FUZZ_POOL
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module")
def fuzz_pool(prefect_server: str) -> str:
    from prefect.client.orchestration import get_client

    from deployments.pool import PoolSpec, ensure_work_pool

    async def make() -> None:
        async with get_client() as client:
            await ensure_work_pool(client, PoolSpec(FUZZ_POOL, 1, {"high": 1, "medium": 2, "low": 3}))

    asyncio.run(make())
    return FUZZ_POOL


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_spec(case, fuzz_pool: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {TOKENS['admin']}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
