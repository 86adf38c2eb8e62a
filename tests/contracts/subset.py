"""Cut a product's official OpenAPI description down to the endpoints the project calls, keeping
every component they reference (transitively), byte-for-byte otherwise: what is vendored in
tests/contracts/<product>/ is the product's own text, only smaller.

    .venv/bin/python -m tests.contracts.subset FULL.json|yaml OUT.yaml /path/one /path/two ...

Each path is a key of the description's `paths` as written there (e.g. `/rest/api/3/search/jql`);
a path not in the description is an error naming it (so a typo never vendors nothing).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def subset(document: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """`document` with only `paths` and the components they reach."""
    missing = [p for p in paths if p not in document.get("paths", {})]
    if missing:
        raise KeyError(f"not in the description's paths: {', '.join(missing)}")
    kept_paths = {p: document["paths"][p] for p in paths}
    wanted: set[str] = set()
    queue = list(_refs(kept_paths))
    # Security schemes are named by requirement objects, not $ref: keep them all (they are few).
    while queue:
        ref = queue.pop()
        if ref in wanted:
            continue
        wanted.add(ref)
        queue.extend(_refs(_resolve(document, ref)))
    components: dict[str, dict[str, Any]] = {}
    for ref in sorted(wanted):
        _, section, kind, name = ref.split("/", 3)
        assert section == "components", ref
        components.setdefault(kind, {})[name] = document["components"][kind][name]
    if "securitySchemes" in document.get("components", {}):
        components["securitySchemes"] = document["components"]["securitySchemes"]
    result = {k: v for k, v in document.items() if k not in ("paths", "components", "tags", "x-tagGroups")}
    result["paths"] = kept_paths
    result["components"] = components
    return result


def load(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    source, target, *paths = argv
    cut = subset(load(Path(source)), paths)
    Path(target).write_text(yaml.safe_dump(cut, sort_keys=False, allow_unicode=True), encoding="utf-8")
    components = sum(len(v) for v in cut["components"].values())
    print(f"{target}: {len(cut['paths'])} paths, {components} components")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
