"""Rendering: a template and parameter values → a catalog task mapping, validated like a catalog task.

- Every string of `task` (keys included) is rendered with the parameters, `name` (the new task's
  name) and `omit`. Undefined names are errors (StrictUndefined).
- A string that is one expression, `"{{ expected_status }}"`, keeps the value's type (a list, a
  number); `"{{ port | string }}"` makes it text. A value that renders to nothing (an empty
  optional parameter, or `omit`) leaves its key (or list item) out, so the task type's default
  applies. Inside text an empty parameter renders as "".
- The rendered mapping is validated like a catalog task (`deployments.catalog.parse_task`), so a
  template that renders an invalid task is reported, naming the template.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError

from deployments.catalog import TASK_NAME, parse_task
from deployments.errors import CatalogError, Problem
from deployments.templates.definition import Template, did_you_mean
from deployments.templates.jinja_env import OMIT, OMIT_MARK, environment, is_templated
from deployments.templates.parameters import InvalidValue, one_value
from deployments.templates.yaml_text import cli_value

_ONE_EXPRESSION = re.compile(r"^\{\{(?P<expr>.*)\}\}$", re.DOTALL)


def check_values(template: Template, name: str, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every parameter's value (given, else default, else None), coerced; CatalogError naming each mistake.

    A problem reads: "built-in template 'backup-dir': task 'nightly': field 'params.keep_days':
    must be between 1 and 3650; found 0".
    """
    values = dict(values or {})
    problems: list[Problem] = []
    where = template.where
    task: str | None = name
    if not isinstance(name, str) or not TASK_NAME.match(name):
        problems.append(
            Problem(
                where,
                None,
                "name",
                f"{name!r} is not a task name (letters, digits, '_', '.', '-'; up to 100)",
            )
        )
        task = None  # a bad name is not repeated in the problems that follow
    resolved: dict[str, Any] = {}
    for key in values:
        if key not in template.params:
            known = ", ".join(template.params) or "none"
            problems.append(
                Problem(
                    where,
                    task,
                    f"params.{key}",
                    f"is not a parameter of this template (it takes: {known})"
                    + did_you_mean(str(key), template.params),
                )
            )
    for pname, spec in template.params.items():
        value = values.get(pname)
        if value is None or (spec.required and isinstance(value, str) and not value.strip()):
            if spec.required:
                message = f"is required ({spec.type}): {spec.description or 'it has no default'}"
                if spec.example is not None:
                    message += f"; e.g. {pname}={cli_value(spec.example)}"
                problems.append(Problem(where, task, f"params.{pname}", message))
            resolved[pname] = spec.default
            continue
        try:
            resolved[pname] = spec.check(one_value(spec, value))
        except InvalidValue as exc:
            problems.append(Problem(where, task, f"params.{pname}", str(exc)))
    if problems:
        raise CatalogError(
            problems, where=f"the parameters of template {template.name!r}", outcome="no task was created"
        )
    return resolved


class _RenderError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def _render_string(text: str, context: dict[str, Any], field: str) -> Any:
    if not is_templated(text):
        return text
    env = environment()
    match = _ONE_EXPRESSION.match(text)
    try:
        if match and not any(mark in match["expr"] for mark in ("{{", "}}", "{%", "%}", "{#")):
            result = env.compile_expression(match["expr"], undefined_to_none=False)(**context)
            if isinstance(result, StrictUndefined):
                str(result)  # raises UndefinedError naming the name
            if isinstance(result, tuple | Iterator):
                result = list(result)
            return result
        rendered = env.from_string(text).render(**context)
    except (TemplateError, ValueError, TypeError, ArithmeticError, AttributeError, KeyError) as exc:
        raise _RenderError(field, f"cannot be rendered: {type(exc).__name__}: {exc}") from None
    if OMIT_MARK in rendered:
        raise _RenderError(field, 'uses omit inside text; omit can only be a whole value ("{{ omit }}")')
    return rendered


def _dropped(original: Any, rendered: Any) -> bool:
    """Whether a templated string rendered to nothing (None or omit), so its key or item is left out."""
    return isinstance(original, str) and is_templated(original) and (rendered is None or rendered is OMIT)


def _render_tree(value: Any, context: dict[str, Any], path: str, errors: list[_RenderError]) -> Any:
    """`value` with every string rendered; a string that fails is recorded in `errors` and left out."""
    if isinstance(value, str):
        try:
            return _render_string(value, context, path)
        except _RenderError as exc:
            errors.append(exc)
            return OMIT
    if isinstance(value, dict):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            rendered_key = _render_tree(key, context, key_path, errors) if isinstance(key, str) else key
            if rendered_key is None or rendered_key is OMIT:
                continue
            if isinstance(rendered_key, str) and not rendered_key.strip():
                errors.append(_RenderError(key_path, "renders to an empty key"))
                continue
            rendered = _render_tree(item, context, key_path, errors)
            if _dropped(item, rendered):
                continue
            result[
                rendered_key if isinstance(rendered_key, str | int | float | bool) else str(rendered_key)
            ] = rendered
        return result
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            rendered = _render_tree(item, context, f"{path}[{index}]", errors)
            if not _dropped(item, rendered):
                items.append(rendered)
        return items
    return value


def render(
    template: Template, name: str, values: Mapping[str, Any] | None = None, *, base_dir: Path | None = None
) -> dict[str, Any]:
    """The catalog task mapping `template` makes with these parameter values, named `name`.

    Args:
        template: the template.
        name: the new task's name.
        values: parameter values; strings (from `--set k=v`) are coerced to the parameters' types.
        base_dir: directory relative paths of the task are resolved against while validating
            (the catalog file's directory; default the working directory).

    Raises:
        CatalogError: one Problem per bad value (unknown, missing, wrong type, out of range, not
            a choice), or the problems of the rendered task (as `parse_task` reports them).
    """
    resolved = check_values(template, name, values)
    context = {**resolved, "name": name, "omit": OMIT}
    errors: list[_RenderError] = []
    body = _render_tree(template.task, context, "", errors)
    if errors:
        raise CatalogError(
            [Problem(template.where, name, f"task.{e.field}", e.message) for e in errors],
            where=f"template {template.name!r}",
            outcome="no task was created",
        )
    body.pop("name", None)
    mapping: dict[str, Any] = {"name": name, **body}
    if template.description and "description" not in mapping:
        mapping["description"] = template.description
    parsed = parse_task(mapping, template.where, 0, (base_dir or Path.cwd()).resolve())
    if isinstance(parsed, list):
        raise CatalogError(
            parsed,
            where=f"the task rendered from template {template.name!r}",
            outcome="no task was created",
        )
    return mapping


def check_examples(template: Template, name: str | None = None) -> list[Problem]:
    """Problems of rendering `template` with its parameters' examples (none: it renders a valid task)."""
    try:
        render(template, name or f"{template.name}-example", template.example_values())
    except CatalogError as exc:
        return exc.problems
    return []


def parse_set_options(options: list[str]) -> dict[str, str | list[str]]:
    """`--set k=v` options → values; a key given more than once collects a list (items kept whole).

    Raises CatalogError for an option without '='.
    """
    values: dict[str, str | list[str]] = {}
    problems = []
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem("--set", None, None, f"{option!r} is not KEY=VALUE"))
            continue
        if key in values:
            previous = values[key]
            values[key] = [*(previous if isinstance(previous, list) else [previous]), value]
        else:
            values[key] = value
    if problems:
        raise CatalogError(problems, where="the --set options", outcome="no task was created")
    return values
