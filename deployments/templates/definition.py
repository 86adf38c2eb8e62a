"""A template's definition: the `Template` model, and validating a template mapping or file.

A template is refused when it is loaded if its `task` has a Jinja syntax error, uses a name it
does not declare, or substitutes shell values unsafely (`shell_lint`); every problem is reported
at once, naming the file, the template and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml
from jinja2 import TemplateError
from jinja2 import meta as jinja_meta
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from deployments.errors import Problem, did_you_mean, problems_from_validation
from deployments.templates.jinja_env import environment, is_templated, reserved_names
from deployments.templates.parameters import ParamSpec
from deployments.templates.shell_lint import shell_problems

TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TEMPLATE_KEYS = ("name", "category", "description", "params", "task")
BUILTIN = "built-in"


class Template(BaseModel):
    """A parameterised catalog task."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., description="The template's id.")
    category: str = "general"
    description: str = ""
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    task: dict[str, Any]
    source: str = Field(BUILTIN, exclude=True, description="'built-in' or the file it came from.")

    @property
    def id(self) -> str:
        return self.name

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN

    @property
    def origin(self) -> str:
        """'built-in', or the file the template came from."""
        return BUILTIN if self.builtin else self.source

    @property
    def where(self) -> str:
        """How problems locate this template: 'built-in template X' or 'FILE: template X'."""
        if self.builtin:
            return f"built-in template {self.name!r}"
        return f"{self.source}: template {self.name!r}"

    def summary(self) -> dict[str, str]:
        """One row of `GET /templates` / `tasklane template list`."""
        return {
            "id": self.name,
            "name": self.name,
            "category": self.category,
            "description": self.description,
            "source": self.source,
        }

    def example_values(self) -> dict[str, Any]:
        """Each parameter's `example`, where it has one."""
        return {name: spec.example for name, spec in self.params.items() if spec.example is not None}


def _walk_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(field path, string) for every string of a task mapping, keys included."""
    if isinstance(value, dict):
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            if isinstance(key, str):
                yield key_path, key
            yield from _walk_strings(item, key_path)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path, value


def _task_problems(template: Template, where: str) -> list[Problem]:
    """Mistakes a template's `task` has on its own: syntax, undeclared names, unquoted shell values."""
    problems: list[Problem] = []
    env = environment()
    task = template.task
    if "name" in task:
        problems.append(
            Problem(
                where, None, "task.name", "is set from the new task's name (tasklane new NAME); remove it"
            )
        )
    if not isinstance(task.get("type"), str):
        problems.append(Problem(where, None, "task.type", "is required: the task type (shell, http, ...)"))
    known = set(template.params) | {"name", "omit"} | set(env.globals)
    for field, text in _walk_strings(task, "task"):
        if not is_templated(text):
            continue
        try:
            ast = env.parse(text)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            at_line = f" (line {line})" if line and "\n" in text else ""
            problems.append(Problem(where, None, field, f"is not a valid Jinja2 template{at_line}: {exc}"))
            continue
        undeclared = sorted(jinja_meta.find_undeclared_variables(ast) - known)
        for name in undeclared:
            declared = ", ".join(template.params) or "none"
            problems.append(
                Problem(
                    where,
                    None,
                    field,
                    f"uses {name!r}, which is not a parameter (declared: {declared})"
                    + did_you_mean(name, template.params),
                )
            )
        if field == "task.command" and task.get("type") == "shell":
            problems.extend(Problem(where, None, field, m) for m in shell_problems(text, template.params))
    return problems


def _pydantic_problems(error: ValidationError, where: str, extra: str = "is unknown") -> list[Problem]:
    return problems_from_validation(error, where, None, extra=extra, found="always")


def _param_specs(params_raw: dict[Any, Any], where: str) -> tuple[dict[str, ParamSpec], list[Problem]]:
    """The `params:` mapping as checked specs, and the problems of the names and specs."""
    params: dict[str, ParamSpec] = {}
    problems: list[Problem] = []
    reserved = reserved_names()
    for pname, praw in params_raw.items():
        field = f"params.{pname}"
        if isinstance(pname, bool):
            problems.append(
                Problem(
                    where, None, field, "YAML reads an unquoted on/off/yes/no as true/false; quote the name"
                )
            )
            continue
        if not isinstance(pname, str) or not PARAM_NAME.match(pname):
            problems.append(Problem(where, None, field, "is not a parameter name ([A-Za-z_][A-Za-z0-9_]*)"))
            continue
        if pname in reserved:
            problems.append(
                Problem(where, None, field, f"{pname!r} is reserved in templates; pick another name")
            )
            continue
        try:
            spec = ParamSpec.model_validate(praw)
        except ValidationError as exc:
            takes = ", ".join(ParamSpec.model_fields)
            extra = f"is not a field of a template parameter (it takes: {takes})"
            for problem in _pydantic_problems(exc, where, extra):
                sub = f"{field}.{problem.field}" if problem.field else field
                message = problem.message
                if message == extra and problem.field:
                    message += did_you_mean(problem.field.rsplit(".", 1)[-1], list(ParamSpec.model_fields))
                problems.append(Problem(where, None, sub, message))
            continue
        spec, mistakes = spec.problems()
        problems.extend(Problem(where, None, f"{field}.{sub}", message) for sub, message in mistakes)
        params[pname] = spec
    return params, problems


def parse_template(
    raw: Any, file: str, position: int | None = None, source: str | None = None
) -> Template | list[Problem]:
    """Validate one template mapping; return the template or its problems."""
    label_for = f"template #{position + 1}" if position is not None else "template"
    if not isinstance(raw, dict):
        return [Problem(file, None, None, f"a template is a mapping; found {type(raw).__name__}")]
    name = raw.get("name")
    where = f"{file}: template {name!r}" if isinstance(name, str) and name else f"{file}: {label_for}"
    problems: list[Problem] = []
    for key in raw:
        if key not in TEMPLATE_KEYS:
            allowed = ", ".join(TEMPLATE_KEYS)
            problems.append(
                Problem(
                    where,
                    None,
                    str(key),
                    f"is not a template key (allowed: {allowed})" + did_you_mean(str(key), TEMPLATE_KEYS),
                )
            )
    if not isinstance(name, str) or not TEMPLATE_NAME.match(name):
        found = "nothing" if name is None else repr(name)
        problems.append(
            Problem(
                where, None, "name", f"must be a template id (letters, digits, '_', '.', '-'); found {found}"
            )
        )
    params_raw = raw.get("params") or {}
    if not isinstance(params_raw, dict):
        problems.append(
            Problem(where, None, "params", f"must be a mapping; found {type(params_raw).__name__}")
        )
        params_raw = {}
    params, param_problems = _param_specs(params_raw, where)
    problems.extend(param_problems)
    task = raw.get("task")
    if not isinstance(task, dict):
        found = "nothing" if task is None else type(task).__name__
        problems.append(
            Problem(where, None, "task", f"must be a catalog task mapping (type, ...); found {found}")
        )
    # A bad name or task is always among the problems; the type checks narrow them for the model.
    if problems or not isinstance(name, str) or not isinstance(task, dict):
        return problems
    try:
        template = Template(
            name=name,
            category=str(raw.get("category") or "general"),
            description=str(raw.get("description") or ""),
            params=params,
            task=task,
            source=source or file,
        )
    except ValidationError as exc:
        return _pydantic_problems(exc, where)
    return _task_problems(template, where) or template


def read_templates(text: str, file: str, source: str) -> tuple[list[Template], list[Problem]]:
    """The templates of one file's text (one template, or `templates:` with a list), and their problems."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return [], [Problem(file, None, None, f"is not valid YAML{at}: {exc}")]
    if document is None:
        return [], []
    if isinstance(document, dict) and "templates" in document:
        extra = sorted(str(k) for k in document if k != "templates")
        if extra:
            return [], [Problem(file, None, extra[0], "is not a key of a templates file (only 'templates')")]
        entries = document["templates"] or []
        if not isinstance(entries, list):
            return [], [Problem(file, None, "templates", f"must be a list; found {type(entries).__name__}")]
        positions: list[int | None] = list(range(len(entries)))
    else:
        entries, positions = [document], [None]
    templates: list[Template] = []
    problems: list[Problem] = []
    for position, raw in zip(positions, entries, strict=True):
        parsed = parse_template(raw, file, position, source)
        if isinstance(parsed, list):
            problems.extend(parsed)
        else:
            templates.append(parsed)
    return templates, problems
