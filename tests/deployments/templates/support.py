"""Shared by the template tests: built-ins by name, custom template files, and the problems raised."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from deployments.errors import CatalogError
from deployments.templates import Template, builtin_templates, load_templates, render


def builtin(name: str) -> Template:
    return builtin_templates()[name]


def problems(template: Template, values: dict[str, Any], name: str = "my-task") -> list[str]:
    with pytest.raises(CatalogError) as caught:
        render(template, name, values)
    return [str(p) for p in caught.value.problems]


def custom(tmp_path: Path, text: str, file: str = "custom.yaml") -> Template:
    path = tmp_path / file
    path.write_text(textwrap.dedent(text))
    (name,) = [t.name for t in load_templates([path]).values() if not t.builtin]
    return load_templates([path])[name]


def template_problems(tmp_path: Path, text: str, file: str = "bad.yaml") -> list[str]:
    path = tmp_path / file
    path.write_text(textwrap.dedent(text))
    with pytest.raises(CatalogError) as caught:
        load_templates([path])
    return [str(p) for p in caught.value.problems]
