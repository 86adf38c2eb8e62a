"""The contract checker itself: a request or an answer its description forbids is recorded with
the rule it breaks; `expected_violations` takes the ones a test sends on purpose."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tests.contracts import checker

DESCRIPTION = """
openapi: 3.0.3
info: {title: selftest, version: "1"}
paths:
  /api/things/{id}:
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: string, pattern: "^[a-z]+$"}}
        - {name: limit, in: query, required: false, schema: {type: integer, maximum: 50}}
      responses:
        "200":
          description: a thing
          content:
            application/json:
              schema:
                type: object
                required: [id, size]
                properties: {id: {type: string}, size: {type: integer}}
"""


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from tasklane.stack.peers._server import serve

    spec = tmp_path / "selftest.yaml"
    spec.write_text(DESCRIPTION)
    monkeypatch.setitem(checker.CONTRACTS, "selftest", spec)
    checker.description.cache_clear()
    app = FastAPI()
    app.state.peer_contract = "selftest"

    @app.get("/api/things/{thing}")
    def thing(thing: str, limit: int = 10, broken: bool = False):
        return {"id": thing} if broken else {"id": thing, "size": limit}

    with serve(app) as url:
        yield url
    checker.description.cache_clear()


@pytest.mark.parametrize(
    ("path", "rule"),
    [
        ("/api/things/abc?limit=99", r"request breaks.*limit"),  # over the maximum
        ("/api/things/ABC", r"request breaks.*id"),  # the path pattern
        ("/api/things/abc?broken=true", r"answer 200 breaks.*size"),  # a required field missing
        ("/api/nothing", r"request breaks.*(Path|path)"),  # not in the description
    ],
)
def test_a_request_or_answer_the_description_forbids_is_recorded(served: str, path: str, rule: str) -> None:
    with checker.expected_violations(rule) as seen:
        httpx.get(served + path)
    assert seen and "selftest: GET" in str(seen[0])
    assert checker.violations() == []


def test_what_the_description_allows_passes_and_an_unexpected_violation_is_kept(served: str) -> None:
    assert httpx.get(served + "/api/things/abc?limit=5").json() == {"id": "abc", "size": 5}
    assert checker.violations() == []
    httpx.get(served + "/api/things/abc?limit=500")
    (found,) = checker.violations()
    assert found.status is None and "limit" in found.rule
    checker.clear()  # recorded on purpose here: the autouse check would fail this test


def test_an_expected_violation_that_never_happens_fails(served: str) -> None:
    with pytest.raises(AssertionError, match="expected a contract violation"):
        with checker.expected_violations("limit"):
            httpx.get(served + "/api/things/abc")
