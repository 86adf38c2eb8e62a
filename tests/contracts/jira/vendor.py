"""Vendor the Jira descriptions: cut Atlassian's files to the paths Tasklane calls, then correct
what they are known to get wrong, each correction marked in place with ``x-tasklane-correction``
(why, and the evidence). README.md in this folder says where the full files come from.

    .venv/bin/python -m tests.contracts.jira.vendor CLOUD_FULL.json DATA_CENTER_FULL.json

writes cloud-openapi.yaml and server-openapi.yaml next to this file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from tests.contracts.subset import load, subset

HERE = Path(__file__).parent
CLOUD_PATHS = [
    "/rest/api/3/search/jql",
    "/rest/api/3/search",
    "/rest/api/3/issue/{issueIdOrKey}",
    "/rest/api/3/myself",
    "/rest/api/3/field",
    "/rest/api/3/serverInfo",
]
SERVER_PATHS = [
    "/api/2/search",
    "/api/2/issue/{issueIdOrKey}",
    "/api/2/myself",
    "/api/2/field",
    "/api/2/serverInfo",
]

RATE_LIMITING_CLOUD = "https://developer.atlassian.com/cloud/jira/platform/rate-limiting/"
RATE_LIMITING_DC = "https://confluence.atlassian.com/adminjiraserver/improving-instance-stability-with-rate-limiting-983794911.html"
BASIC_AUTH_DC = (
    "https://developer.atlassian.com/server/jira/platform/jira-rest-api-example-basic-authentication-6291732/"
)
PATS_DC = "https://confluence.atlassian.com/enterprise/using-personal-access-tokens-1026032365.html"


def _answer(description: str, why: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "x-tasklane-correction": why}
    if headers:
        answer["headers"] = headers
    return answer


def _retry_after(why: str) -> dict[str, Any]:
    return {"Retry-After": {"description": why, "schema": {"type": "string"}}}


def correct_cloud(document: dict[str, Any]) -> dict[str, Any]:
    retired = document["paths"]["/rest/api/3/search"]
    for method in ("get", "post"):
        retired[method]["responses"]["410"] = _answer(
            "The API has been removed: use /rest/api/3/search/jql.",
            "Retired on 1 May 2025 (changelog CHANGE-2046, https://developer.atlassian.com/changelog/#CHANGE-2046);"
            " since then Jira Cloud answers 410, which the published description does not list.",
        )
    for item in document["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            responses.setdefault(
                "429",
                _answer(
                    "Rate limited.",
                    f"Any REST call may be rate limited: 429 with Retry-After ({RATE_LIMITING_CLOUD}).",
                    _retry_after("Seconds to wait before the request is sent again."),
                ),
            )
            responses.setdefault(
                "5XX",
                _answer(
                    "A transient server error.",
                    "'Some transient 5XX errors are accompanied by a Retry-After header' "
                    f"({RATE_LIMITING_CLOUD}).",
                    _retry_after("Seconds to wait, when given."),
                ),
            )
    return document


def correct_server(document: dict[str, Any]) -> dict[str, Any]:
    # The description's server is http://{baseurl}/rest and its paths start at /api/2; the
    # contract checker puts the peer's root in `servers`, so the paths carry the /rest prefix.
    document["paths"] = {"/rest" + path: item for path, item in document["paths"].items()}
    document["x-tasklane-correction"] = (
        "paths prefixed with /rest, the path of the description's server (http://{baseurl}/rest)"
    )
    schemas = document["components"]["schemas"]

    search = document["paths"]["/rest/api/2/search"]["get"]
    for parameter in search["parameters"]:
        if parameter["name"] == "fields":
            parameter["schema"] = {"type": "array", "items": {"type": "string"}}
        elif parameter["name"] == "expand":
            parameter["schema"] = {"type": "string"}
        else:
            continue
        parameter["x-tasklane-correction"] = (
            "was StringList, an empty object schema named after the Java class: the value is a "
            "comma-separated list of names ('A comma-separated list of the parameters to expand'; the same "
            "operation's POST body and GET /api/2/issue/{issueIdOrKey} give `fields` as strings)"
        )

    fields = schemas["IssueBean"]["properties"]["fields"]
    fields["additionalProperties"] = {}
    fields["x-tasklane-correction"] = (
        "additionalProperties was {type: object}: field values are strings, numbers, lists and null too,"
        " as the schema's own example shows ('description': 'example bug report')"
    )

    listing = document["paths"]["/rest/api/2/field"]["get"]["responses"]["200"]["content"]["application/json"]
    listing["schema"] = {"type": "array", "items": {"$ref": "#/components/schemas/FieldBean"}}
    listing["x-tasklane-correction"] = (
        "was FieldBean: the answer is 'a list of all fields' (the response's description), an array"
    )

    schemes = document["components"]["securitySchemes"]
    schemes["personalAccessToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A personal access token (Jira 8.14 and later).",
        "x-tasklane-correction": f"personal access tokens are sent as 'Authorization: Bearer' ({PATS_DC})",
    }
    for item in document["paths"].values():
        for operation in item.values():
            operation["security"] = [*operation.get("security", [{"basic": []}]), {"personalAccessToken": []}]
            responses = operation["responses"]
            responses.setdefault(
                "401",
                _answer(
                    "The credentials were refused (X-Seraph-LoginReason: AUTHENTICATED_FAILED).",
                    "Seraph refuses wrong basic or bearer credentials with a 401 HTML page before any "
                    f"resource runs ({BASIC_AUTH_DC}; e.g. POST /rest/api/2/search in "
                    "github.com/ahungry/org-jira/issues/224).",
                ),
            )
            responses.setdefault(
                "403",
                _answer(
                    "Basic auth denied: the account must pass a CAPTCHA (X-Authentication-Denied-Reason).",
                    "After several failed logins the REST API refuses the account until a CAPTCHA is "
                    f"passed in a browser ({BASIC_AUTH_DC}, section CAPTCHA): 403 with "
                    "X-Authentication-Denied-Reason: CAPTCHA_CHALLENGE.",
                ),
            )
            responses.setdefault(
                "429",
                _answer(
                    "Rate limited.",
                    "Data Center's REST rate limiting answers 429 with Retry-After and X-RateLimit-* "
                    f"({RATE_LIMITING_DC}).",
                    _retry_after("Seconds until new tokens are granted."),
                ),
            )
            responses.setdefault(
                "5XX",
                _answer(
                    "A server error.",
                    "Any request may fail on the server or a proxy in front of it; no operation lists 5xx.",
                ),
            )
    return document


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cloud_full, server_full = (load(Path(p)) for p in argv)
    outputs = {
        "cloud-openapi.yaml": correct_cloud(subset(cloud_full, CLOUD_PATHS)),
        "server-openapi.yaml": correct_server(subset(server_full, SERVER_PATHS)),
    }
    for name, document in outputs.items():
        (HERE / name).write_text(
            yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
        print(f"{HERE / name}: {len(document['paths'])} paths")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
