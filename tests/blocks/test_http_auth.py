"""The HTTP credential blocks: Prefect's standard block checks, and secrets never shown."""

from __future__ import annotations

import httpx

from blocks import HttpBasicAuth, HttpBearerAuth
from tests.blocks.conftest import standard_checks

TestStandardChecks = standard_checks(HttpBearerAuth, HttpBasicAuth)


def test_bearer_header_and_no_secret_in_repr() -> None:
    block = HttpBearerAuth(token="tok-123456")
    request = httpx.Request("GET", "https://example.com")
    flow = block.auth().auth_flow(request)
    assert next(flow).headers["Authorization"] == "Bearer tok-123456"
    assert "tok-123456" not in repr(block) and "tok-123456" not in repr(block.auth())


def test_basic_auth_unwraps_the_password() -> None:
    block = HttpBasicAuth(username="svc", password="pw-987654")
    assert "pw-987654" not in repr(block)
    request = next(block.auth().auth_flow(httpx.Request("GET", "https://example.com")))
    assert request.headers["Authorization"].startswith("Basic ")
    with block.get_client() as client:
        assert client.auth is not None
