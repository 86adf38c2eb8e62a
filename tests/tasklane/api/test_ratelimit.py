"""Rate limits (tasklane/api/ratelimit.py): per token, per client address for /health, the
console's sign-in and unknown tokens; 429 in the API's error shape with Retry-After."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tasklane.api.settings import ApiSettings
from tests.tasklane.api.conftest import make_api

# Answered before any Prefect request (405: no PATCH there), so no server is needed; still counted.
CHEAP = ("PATCH", "/api/scheduler/tasks")


def client_with(tmp_path: Path, project: str, **limits: str) -> tuple[TestClient, dict[str, str]]:
    app, tokens = make_api(tmp_path, project, **limits)
    return TestClient(app), tokens  # no lifespan: no Prefect client, no ledger


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_limited(answer) -> None:
    assert answer.status_code == 429, answer.text
    retry = int(answer.headers["Retry-After"])
    assert 1 <= retry <= 60
    body = answer.json()
    assert body["code"] == 429 and "rate limit of 3 per 1 minute" in body["message"] and body["errors"] == []


def test_each_token_has_its_own_limit(tmp_path: Path, project: str) -> None:
    client, tokens = client_with(tmp_path, project, rate_limit_token="3/minute", rate_limit_address="")
    for _ in range(3):
        assert client.request(*CHEAP, headers=bearer(tokens["viewer"])).status_code == 405
    assert_limited(client.request(*CHEAP, headers=bearer(tokens["viewer"])))
    assert client.request(*CHEAP, headers=bearer(tokens["admin"])).status_code == 405


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/health"), ("POST", "/console/login"), ("PATCH", "/api/scheduler/tasks")]
)
def test_the_open_doors_and_unknown_tokens_count_per_client_address(
    tmp_path: Path, project: str, method: str, path: str
) -> None:
    client, _ = client_with(tmp_path, project, rate_limit_token="", rate_limit_address="3/minute")
    # A made-up token each time: its requests count against the address, not a new bucket each.
    answers = [
        client.request(method, path, headers=bearer(f"tl_made-up-{i}"), data={"name": "x", "password": "y"})
        for i in range(4)
    ]
    assert all(a.status_code != 429 for a in answers[:3]), [a.status_code for a in answers]
    assert_limited(answers[3])


def test_empty_settings_mean_no_limit(tmp_path: Path, project: str) -> None:
    client, tokens = client_with(tmp_path, project, rate_limit_token="", rate_limit_address="")
    assert all(client.request(*CHEAP, headers=bearer(tokens["viewer"])).status_code == 405 for _ in range(50))


def test_limits_are_read_from_the_environment_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasklane.api.settings import load_api_settings

    monkeypatch.setenv("TASKLANE_API__RATE_LIMIT_TOKEN", "5/second;100/minute")
    assert load_api_settings().rate_limit_token == "5/second;100/minute"
    assert ApiSettings().rate_limit_token and ApiSettings().rate_limit_address  # on by default
    with pytest.raises(ValidationError, match="rate_limit_token"):
        ApiSettings(rate_limit_token="lots")


def test_429_is_documented_with_retry_after_on_every_operation(tmp_path: Path, project: str) -> None:
    client, _ = client_with(tmp_path, project)
    paths = client.get("/openapi.json").json()["paths"]
    operations = [op for item in paths.values() for op in item.values()]
    assert len(operations) > 30
    for operation in operations:
        assert "Retry-After" in operation["responses"]["429"]["headers"], operation["operationId"]
