"""tests/fakes/README.md: every row of the peers' behaviour tables names at least one test, and
every test it names exists (a row whose test was renamed or removed fails here)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).with_name("README.md")
TESTS = Path(__file__).parents[1]
NAMED = re.compile(r"\b(test_\w+)")


def _rows() -> list[tuple[str, str]]:
    """(endpoint, tests column) of every table row under a product's heading."""
    rows = []
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if not line.startswith("|") or len(cells) < 4 or set(cells[0]) <= {"-", " "}:
            continue
        if cells[0].lower() in ("endpoint", "what"):
            continue  # a header row
        rows.append((cells[0], cells[-1]))
    return rows


def _defined() -> set[str]:
    found: set[str] = set()
    for path in TESTS.rglob("test_*.py"):
        found.update(re.findall(r"^\s*(?:async )?def (test_\w+)", path.read_text(encoding="utf-8"), re.M))
    return found


def test_every_row_names_tests_that_exist() -> None:
    rows = _rows()
    assert len(rows) >= 60  # three products' tables
    defined = _defined()
    without = [endpoint for endpoint, tests in rows if not NAMED.search(tests)]
    assert without == [], f"rows naming no test: {without}"
    missing = sorted({name for _, tests in rows for name in NAMED.findall(tests)} - defined)
    assert missing == [], f"tests named in {README} but defined nowhere: {missing}"
