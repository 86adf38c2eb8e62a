"""Where templates come from: the built-ins shipped in `builtin/*.yaml`, then the project's `templates/`.

A custom template file holds one template, or `templates:` with a list of them; a custom template
with a built-in's name replaces it. Every problem is reported at once, as a `CatalogError` whose
`Problem`s name the file, the template and the field.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from deployments.catalog import catalog_files
from deployments.errors import CatalogError, Problem
from deployments.templates.definition import BUILTIN, Template, read_templates

DEFAULT_TEMPLATE_DIRS = [Path("templates")]
# Read through importlib.resources so the files are found wherever the package is installed.
BUILTIN_DIR = resources.files("deployments.templates") / "builtin"


def _read_builtin_texts() -> dict[str, str]:
    """The built-in template files' texts, by file name without `.yaml`, in name order."""
    files = sorted(
        (entry for entry in BUILTIN_DIR.iterdir() if entry.name.endswith(".yaml")), key=lambda e: e.name
    )
    return {entry.name.removesuffix(".yaml"): entry.read_text(encoding="utf-8") for entry in files}


# The built-in templates' YAML texts, by name.
BUILTIN_TEMPLATES: dict[str, str] = _read_builtin_texts()


def builtin_templates() -> dict[str, Template]:
    """The built-in templates, by name (validated; a broken one raises CatalogError)."""
    return dict(_builtins())


@lru_cache
def _builtins() -> tuple[tuple[str, Template], ...]:
    found: list[tuple[str, Template]] = []
    problems: list[Problem] = []
    for key, text in BUILTIN_TEMPLATES.items():
        templates, mistakes = read_templates(text, f"built-in {key}", BUILTIN)
        problems.extend(mistakes)
        found.extend((t.name, t) for t in templates)
    if problems:
        raise CatalogError(problems, where="the built-in templates", outcome="none were loaded")
    return tuple(found)


def load_templates(dirs: list[Path] | None = None, *, required: bool = False) -> dict[str, Template]:
    """The built-in templates and the custom ones of `dirs` (default `templates/`), by name.

    Args:
        dirs: template files, or directories whose *.yaml / *.yml are read in name order.
        required: whether a missing path is a problem (False: a project without templates is fine).

    A custom template with a built-in's name replaces it; two custom templates with one name,
    or any invalid file, raise CatalogError listing every problem.
    """
    templates = builtin_templates()
    files, problems = catalog_files(list(DEFAULT_TEMPLATE_DIRS if dirs is None else dirs), required=required)
    seen: dict[str, str] = {}
    for file in files:
        name = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(
                Problem(name, None, None, f"cannot be read: {getattr(exc, 'strerror', None) or exc}")
            )
            continue
        found, mistakes = read_templates(text, name, name)
        problems.extend(mistakes)
        for template in found:
            if template.name in seen:
                problems.append(
                    Problem(
                        template.where,
                        None,
                        "name",
                        f"duplicate template name (first defined in {seen[template.name]})",
                    )
                )
                continue
            seen[template.name] = name
            templates[template.name] = template
    if problems:
        raise CatalogError(problems, where="the templates", outcome="no template was loaded")
    return templates
