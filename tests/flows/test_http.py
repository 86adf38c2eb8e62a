"""The http task type on a real Prefect server, against a local HTTP peer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request, Response

from blocks import HttpBasicAuth, HttpBearerAuth
from deployments.jobs import HttpJob
from deployments.policy import RunPolicy
from flows.http import http_flow
from tasklane.stack.peers._server import serve
from tests.flows.conftest import server_logs

TOKEN = "tok-0123456789abcdef"


def make_peer() -> FastAPI:
    app = FastAPI()

    @app.api_route("/echo", methods=["GET", "POST", "PUT", "DELETE"])
    async def echo(request: Request) -> dict:
        return {
            "method": request.method,
            "query": dict(request.query_params),
            "body": (await request.body()).decode(),
            "header": request.headers.get("x-team"),
        }

    @app.get("/status/{code}")
    def status(code: int) -> Response:
        return Response(content=f"status {code}", status_code=code)

    @app.get("/big")
    def big() -> Response:
        return Response(content="x" * 50_000)

    @app.get("/slow")
    async def slow() -> dict:
        await asyncio.sleep(5)
        return {}

    @app.get("/bearer")
    def bearer(request: Request) -> Response:
        ok = request.headers.get("authorization") == f"Bearer {TOKEN}"
        return Response(status_code=200 if ok else 401)

    @app.get("/basic")
    def basic(request: Request) -> Response:
        expected = "Basic " + base64.b64encode(b"svc:pa55word-xyz").decode()
        return Response(status_code=200 if request.headers.get("authorization") == expected else 401)

    return app


@pytest.fixture(scope="module")
def peer() -> Iterator[str]:
    with serve(make_peer()) as url:
        yield url


def send(job: HttpJob, policy: RunPolicy | None = None):
    return http_flow(job=job, policy=policy or RunPolicy(), return_state=True)


def test_request_with_query_headers_and_json(peer: str) -> None:
    job = HttpJob(
        method="post", url=f"{peer}/echo", query={"q": "1"}, headers={"X-Team": "ops"}, json={"a": 1}
    )
    state = send(job)
    assert state.is_completed()
    result = state.result()
    assert result["status_code"] == 200
    assert '"method":"POST"' in result["body_excerpt"] and '"q":"1"' in result["body_excerpt"]
    assert '"header":"ops"' in result["body_excerpt"] and '{\\"a\\":1}' in result["body_excerpt"]


def test_raw_body(peer: str) -> None:
    state = send(HttpJob(method="PUT", url=f"{peer}/echo", body="plain text"))
    assert '"body":"plain text"' in state.result()["body_excerpt"]


@pytest.mark.parametrize(
    ("path", "expected", "ok"),
    [
        ("/status/204", [], True),
        ("/status/404", [], False),
        ("/status/404", [404], True),
        ("/status/200", [201], False),
        ("/status/503", [], False),
    ],
)
def test_expected_status_decides(peer: str, path: str, expected: list[int], ok: bool) -> None:
    state = send(HttpJob(url=f"{peer}{path}", expected_status=expected))
    assert state.is_completed() is ok
    if not ok:
        assert "answered" in state.message and path in state.message
        assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))


def test_body_excerpt_is_bounded(peer: str) -> None:
    excerpt = send(HttpJob(url=f"{peer}/big")).result()["body_excerpt"]
    assert len(excerpt) < 2100 and "more chars" in excerpt


def test_request_timeout(peer: str) -> None:
    state = send(HttpJob(url=f"{peer}/slow", request_timeout=0.5))
    assert state.is_failed() and "no response within 0.5 s" in state.message
    assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))


def test_unreachable_host_fails_clearly() -> None:
    from tasklane.stack.peers._server import free_port

    state = send(HttpJob(url=f"http://127.0.0.1:{free_port()}/x", request_timeout=2))
    assert state.is_failed() and "request failed" in state.message


def test_bearer_and_basic_auth_come_from_blocks_and_stay_out_of_logs(peer: str) -> None:
    HttpBearerAuth(token=TOKEN).save("tasklane-test-bearer", overwrite=True)
    HttpBasicAuth(username="svc", password="pa55word-xyz").save("tasklane-test-basic", overwrite=True)
    bearer = send(HttpJob(url=f"{peer}/bearer", auth_block="http-bearer-auth/tasklane-test-bearer"))
    basic = send(HttpJob(url=f"{peer}/basic", auth_block="http-basic-auth/tasklane-test-basic"))
    assert bearer.is_completed() and basic.is_completed()
    logs = "\n".join(server_logs(bearer.state_details.flow_run_id))
    assert TOKEN not in logs
    unauth = send(HttpJob(url=f"{peer}/bearer"))
    assert unauth.is_failed() and "401" in unauth.message


def test_missing_or_wrong_block_fails_clearly(peer: str) -> None:
    from prefect.blocks.system import Secret

    Secret(value="x").save("tasklane-test-plain", overwrite=True)
    missing = send(HttpJob(url=f"{peer}/bearer", auth_block="http-bearer-auth/does-not-exist"))
    assert missing.is_failed() and "does-not-exist" in missing.message
    wrong = send(HttpJob(url=f"{peer}/bearer", auth_block="secret/tasklane-test-plain"))
    assert wrong.is_failed() and "gives no HTTP auth" in wrong.message
