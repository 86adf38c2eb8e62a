"""Join the three Confluence descriptions into the one the checker loads (`openapi.yaml`).

The fake Confluence answers both editions on one port, so its traffic is checked against one
document holding:

- `cloud-v1.yaml`: Confluence Cloud REST v1 (Atlassian's swagger.v3.json, cut with subset.py),
  paths already below `/wiki/rest/api`;
- `cloud-v2.yaml`: Confluence Cloud REST v2 (openapi-v2.v3.json, cut the same way), whose paths
  are relative to its server `https://{your-domain}/wiki/api/v2`: prefixed with `/wiki/api/v2`;
- `server.yaml`: Server / Data Center REST v1 below `/rest/api`, written from the docs.

Joining is mechanical: each source's component names get a prefix (`CloudV1`, `CloudV2`,
`Server`) so that equal names (`Version`, `basicAuth`...) stay apart; references and security
requirements are renamed with them. Then the corrections below are applied, each one named and
justified in README.md ("Corrections"). Run from the repository root:

    .venv/bin/python -m tests.contracts.confluence.join
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
# (file, component prefix, path prefix)
SOURCES = [
    ("cloud-v1.yaml", "CloudV1", ""),
    ("cloud-v2.yaml", "CloudV2", "/wiki/api/v2"),
    ("server.yaml", "Server", ""),
]
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _rename_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        renamed = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                _, _, kind, name = value.split("/", 3)
                renamed[key] = f"#/components/{kind}/{prefix}{name}"
            else:
                renamed[key] = _rename_refs(value, prefix)
        return renamed
    if isinstance(node, list):
        return [_rename_refs(item, prefix) for item in node]
    return node


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [op for item in document["paths"].values() for m, op in item.items() if m in METHODS]


def _namespaced(document: dict[str, Any], prefix: str, path_prefix: str) -> dict[str, Any]:
    document = _rename_refs(copy.deepcopy(document), prefix)
    for operation in _operations(document):
        if "security" in operation:
            operation["security"] = [{prefix + k: v for k, v in req.items()} for req in operation["security"]]
    if "security" in document:
        document["security"] = [{prefix + k: v for k, v in req.items()} for req in document["security"]]
    document["paths"] = {path_prefix + path: item for path, item in document["paths"].items()}
    document["components"] = {
        kind: {prefix + name: value for name, value in entries.items()}
        for kind, entries in document.get("components", {}).items()
    }
    return document


# --- corrections (README.md, "Corrections") --------------------------------------------------


def c1_page_update_body_any_of(doc: dict[str, Any]) -> None:
    """C1: v2 PageUpdateRequest.body is `oneOf` two schemas that both accept every object, so no
    body can ever be valid; `anyOf` is what the two alternatives mean."""
    body = doc["components"]["requestBodies"]["PageUpdateRequest"]["content"]["application/json"]["schema"][
        "properties"
    ]["body"]
    body["anyOf"] = body.pop("oneOf")


def c2_page_update_conflict(doc: dict[str, Any]) -> None:
    """C2: PUT /pages/{id} answers 409 when version.number is not the current one + 1."""
    doc["paths"]["/pages/{id}"]["put"]["responses"]["409"] = {
        "description": "Returned if the version number is not the current version + 1 (correction C2).",
    }


def c3_empty_error_content(doc: dict[str, Any]) -> None:
    """C3: error answers described with `content: {}` do carry a JSON error body on the real
    server: their body is left undescribed rather than forbidden."""
    for operation in _operations(doc):
        for response in operation.get("responses", {}).values():
            if response.get("content") == {}:
                del response["content"]


def c4_rate_limits_and_server_errors(doc: dict[str, Any]) -> None:
    """C4: any Cloud REST API can answer 429 (with Retry-After) and transient 5XX; v1's
    attachment operations also answer 401 like every other operation."""
    for operation in _operations(doc):
        responses = operation.setdefault("responses", {})
        responses.setdefault(
            "401", {"description": "The authentication credentials are incorrect or missing (correction C4)."}
        )
        responses.setdefault(
            "429",
            {
                "description": "Rate limited (correction C4).",
                "headers": {"Retry-After": {"schema": {"type": "string"}}},
            },
        )
        responses.setdefault("5XX", {"description": "Transient server error (correction C4)."})


CORRECTIONS: dict[str, list[Callable[[dict[str, Any]], None]]] = {
    "cloud-v1.yaml": [c3_empty_error_content, c4_rate_limits_and_server_errors],
    "cloud-v2.yaml": [
        c1_page_update_body_any_of,
        c2_page_update_conflict,
        c3_empty_error_content,
        c4_rate_limits_and_server_errors,
    ],
    "server.yaml": [],
}


def join() -> dict[str, Any]:
    joined: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {
            "title": "Confluence Cloud (REST v1 + v2) and Server/DC (REST v1): the subset Tasklane calls",
            "version": "joined; see tests/contracts/confluence/README.md",
        },
        "servers": [{"url": "https://your-domain.atlassian.net"}],
        "paths": {},
        "components": {},
    }
    for name, prefix, path_prefix in SOURCES:
        document = yaml.safe_load((HERE / name).read_text(encoding="utf-8"))
        for correct in CORRECTIONS[name]:
            correct(document)
        part = _namespaced(document, prefix, path_prefix)
        clash = set(part["paths"]) & set(joined["paths"])
        if clash:
            raise ValueError(f"{name}: paths already described by another source: {sorted(clash)}")
        joined["paths"].update(part["paths"])
        for kind, entries in part["components"].items():
            joined["components"].setdefault(kind, {}).update(entries)
    return joined


def main() -> int:
    target = HERE / "openapi.yaml"
    header = (
        "# Generated by tests/contracts/confluence/join.py from cloud-v1.yaml, cloud-v2.yaml, server.yaml.\n"
    )
    text = yaml.safe_dump(join(), sort_keys=False, allow_unicode=True, width=120)
    target.write_text(header + text, encoding="utf-8")
    print(f"{target}: {text.count(chr(10))} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
