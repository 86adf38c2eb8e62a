"""The `http` task type: one request, judged by its status code."""

from __future__ import annotations

from typing import Any

import httpx
from prefect import flow
from prefect.blocks.core import Block

from blocks.http_auth import http_auth_of
from deployments.jobs import HttpJob
from deployments.policy import RunPolicy
from flows._integrations import load_block
from flows._runtime import DEFAULT_POLICY, name_after_task, run_job
from flows.errors import BadCredentialsBlock
from integrations.http import send_request


def _auth_from_block(reference: str) -> httpx.Auth:
    try:
        return http_auth_of(load_block(Block, reference), reference)
    except ValueError as exc:  # no such block, or one that gives no HTTP auth
        raise BadCredentialsBlock(f"auth_block {reference!r}: {exc}") from exc


def send(job: HttpJob) -> dict[str, Any]:
    """Send the request; the status and a bounded body excerpt are the result."""
    auth = _auth_from_block(job.auth_block) if job.auth_block else None
    result = send_request(
        job.method,
        job.url,
        headers=job.headers,
        query=job.query,
        json_body=job.json_body,
        body=job.body,
        auth=auth,
        expected_status=job.expected_status,
        timeout=job.request_timeout,
        verify_tls=job.verify_tls,
    )
    return result.as_dict()


@flow(name="http", flow_run_name=name_after_task, log_prints=True)
def http_flow(job: HttpJob, policy: RunPolicy = DEFAULT_POLICY) -> Any:
    """Run an HTTP task with its retries and timeout."""
    return run_job(send, policy, "http-request", job)
