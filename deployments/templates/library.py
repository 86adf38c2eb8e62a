"""Where templates come from: the built-ins shipped in `builtin/*.yaml`, then the project's `templates/`.

A custom template file holds one template, or `templates:` with a list of them; a custom template
with a built-in's name replaces it. Every problem is reported at once, as a `CatalogError` whose
`Problem`s name the file, the template and the field. `save_template` / `delete_template` write
and remove custom templates (one per file, `<dir>/<name>.yaml`) after the same checks.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from deployments.catalog import catalog_files
from deployments.errors import CatalogError, DeploymentsError, Problem
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


# --- writing custom templates (the console's Templates page; the API could call the same) ---------


def template_home(dirs: list[Path] | None = None) -> Path:
    """Where a new custom template's file goes: the first of `dirs` (default `templates/`) that is
    a directory, or that does not exist yet and is not a file name (it is created)."""
    for entry in DEFAULT_TEMPLATE_DIRS if dirs is None else dirs:
        if entry.is_dir() or (not entry.exists() and entry.suffix not in (".yaml", ".yml")):
            return entry
    raise DeploymentsError(
        f"no directory for custom templates among {', '.join(map(str, dirs or [])) or 'none'} "
        "(settings `templates`); add one"
    )


def _one_template(text: str, file: str) -> Template:
    """The single template of a YAML text, checked with the library's own rules, or CatalogError."""
    found, problems = read_templates(text, file, file)
    if not problems and len(found) != 1:
        problems = [Problem(file, None, None, f"holds {len(found)} templates; save one at a time")]
    if problems:
        raise CatalogError(problems, where="the template", outcome="it was not saved")
    return found[0]


def _custom(name: str, templates: dict[str, Template]) -> Template:
    found = templates.get(name)
    if found is None or found.builtin:
        kind = "a built-in template: built-ins are read-only" if found else "no custom template"
        raise DeploymentsError(f"{name!r} is {kind}; only custom templates (templates/*.yaml) change")
    return found


def _file_of(template: Template) -> Path:
    """The file of custom `template`, if it holds only that template (else it is edited by hand)."""
    path = Path(template.source)
    found, _ = read_templates(path.read_text(encoding="utf-8"), str(path), str(path))
    if [t.name for t in found] != [template.name]:
        raise DeploymentsError(
            f"{path} holds {len(found)} templates; edit {template.name!r} in that file by hand"
        )
    return path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    spare = path.with_name(f".{path.name}.saving")
    spare.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    spare.replace(path)  # whole or not at all: a reader never sees half a template


def save_template(text: str, dirs: list[Path] | None = None, *, replacing: str | None = None) -> Template:
    """Save one custom template from its YAML `text`, validated as `load_templates` validates it.

    Args:
        text: one template (name, category, description, params, task).
        dirs: the template paths of the settings (default `templates/`).
        replacing: the custom template this text replaces (same name), None for a new one.

    A new template goes to `<template_home>/<name>.yaml`; its name must not be a custom
    template's already (a built-in's name is allowed: the custom one replaces it, as in
    `load_templates`). Raises CatalogError with every problem, DeploymentsError otherwise;
    nothing is written then.
    """
    dirs = list(DEFAULT_TEMPLATE_DIRS if dirs is None else dirs)
    existing = load_templates(dirs)
    if replacing is not None:
        path = _file_of(_custom(replacing, existing))
        template = _one_template(text, str(path))
        if template.name != replacing:
            raise CatalogError(
                [Problem(str(path), None, "name", f"is {replacing!r}; to rename, create a new template")],
                where="the template",
                outcome="it was not saved",
            )
    else:
        home = template_home(dirs)
        found = _one_template(text, str(home))  # problems name the directory: no file yet
        path = home / f"{found.name}.yaml"
        template = _one_template(text, str(path))
        taken = existing.get(template.name)
        if (taken is not None and not taken.builtin) or path.exists():
            where = taken.origin if taken is not None else str(path)
            raise CatalogError(
                [Problem(str(path), None, "name", f"custom template {template.name!r} exists ({where})")],
                where="the template",
                outcome="it was not saved",
            )
    _write(path, text)
    return template


def delete_template(name: str, dirs: list[Path] | None = None) -> Path:
    """Delete custom template `name` (its file, which must hold only it); the file it was."""
    path = _file_of(_custom(name, load_templates(list(DEFAULT_TEMPLATE_DIRS if dirs is None else dirs))))
    path.unlink()
    return path
