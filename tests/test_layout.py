"""The house's layout rules that import-linter does not check: every package says what lives in it
and what it may import, and no module grows past ~700 lines without saying why at its top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("tasklane", "deployments", "flows", "blocks", "integrations")
MAX_LINES = 700
LONG_REASON = "Long on purpose:"  # written in the module docstring of a longer module


def _modules(suffix: str) -> list[Path]:
    found = (p for package in PACKAGES for p in (ROOT / package).rglob(suffix))
    return sorted(p for p in found if "__pycache__" not in p.parts)


@pytest.mark.parametrize("init", _modules("__init__.py"), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_package_says_what_lives_there(init: Path) -> None:
    docstring = ast.get_docstring(ast.parse(init.read_text()))
    assert docstring, f"{init.relative_to(ROOT)}: no docstring saying what lives here and what it may import"


@pytest.mark.parametrize("module", _modules("*.py"), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_long_without_a_reason(module: Path) -> None:
    lines = len(module.read_text().splitlines())
    if lines <= MAX_LINES:
        return
    docstring = ast.get_docstring(ast.parse(module.read_text())) or ""
    assert LONG_REASON in docstring, (
        f"{module.relative_to(ROOT)} has {lines} lines (> {MAX_LINES}) and its docstring gives no "
        f"'{LONG_REASON} ...' reason: split it by concern, or say why it is one module"
    )
