"""Which paths the catalog watch watches, and which changes are catalog changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.catalog_watch import is_catalog_change, watched_roots


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    (tmp_path / "tasks" / "sub").mkdir(parents=True)
    (tmp_path / "tasks.yaml").write_text("tasks: []\n")
    return tmp_path


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        ("tasks.yaml", True),
        ("tasks/new.yaml", True),
        ("tasks/new.yml", True),
        ("tasks/notes.txt", False),
        ("tasks/sub/deep.yaml", False),  # load_catalog reads no subfolder
        ("other.yaml", False),
    ],
)
def test_is_catalog_change(layout: Path, changed: str, expected: bool) -> None:
    paths = [layout / "tasks.yaml", layout / "tasks"]
    assert is_catalog_change(layout / changed, paths) is expected


def test_watched_roots(layout: Path) -> None:
    paths = [layout / "tasks.yaml", layout / "tasks", layout / "later.yaml", layout / "gone" / "x.yaml"]
    assert watched_roots(paths) == sorted({layout.resolve(), (layout / "tasks").resolve()})
