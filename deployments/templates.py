"""Task templates: parameterised catalog tasks (the seeds' 任务模板, `/templates`, `/tasks/from-template`).

A template is YAML: an id (`name`), a `category`, a `description`, typed `params` and a `task`,
a catalog task whose strings are Jinja2 templates over those parameters:

    name: backup-dir
    category: backup
    description: Archive a directory into a dated tar.gz
    params:
      source: {type: path, required: true, absolute: true, description: Directory to archive}
      keep_days: {type: integer, default: 7, min: 1}
    task:
      type: shell
      command: tar -czf /var/backups/{{ source | basename | quote }}.tar.gz -C ... {{ keep_days }}

Parameters (`params:`; a bare type such as `keep_days: integer` is short for `{type: integer}`):

- `type`: string | integer | number | boolean | path | list | duration | cron (default string);
  `items` is the type of a list's items (string, integer, number, boolean, path).
- `required`, `default` (none: the parameter is empty), `description`, `example` (shown by
  `describe`, used by `check_examples`), `choices`, `min`/`max` (integer, number, duration,
  and a list's length), `pattern` (regex the whole value matches: string, path, list items),
  `absolute` (path: must start with '/').
- Values from the command line are strings and are coerced: "7" → 7, "true"/"yes"/"on"/"1" →
  True, "a,b" (or YAML "[a, b]") → a list, "90" for a duration → "90s".

Rendering (`render`):

- Every string of `task` (keys included) is rendered with the parameters, `name` (the new
  task's name) and `omit`. Undefined names are errors (StrictUndefined), and a template using a
  name it does not declare is refused when it is loaded. Jinja runs sandboxed.
- A string that is one expression, `"{{ expected_status }}"`, keeps the value's type (a list, a
  number); `"{{ port | string }}"` makes it text. A value that renders to nothing (an empty
  optional parameter, or `omit`) leaves its key (or list item) out, so the task type's default
  applies. Inside text an empty parameter renders as "".
- Filters: `quote` (shell-quote; a list becomes quoted words), `basename`, `dirname`,
  `seconds` (a duration in seconds), `pairs` (["K=V", ...] → {K: V}).
- Shell safety: in a shell task's `command`, every `{{ ... }}` must end in `| quote` and stand
  outside '...' and "..." (where the quoting would be undone), unless it uses only integer,
  number, boolean or duration parameters (or `name`). A template that breaks this is refused
  when it is loaded, so a value stays one argument whatever it contains (`; rm -rf /`, `$(...)`).
  To use a value inside a string, assign it first: `dir={{ directory | quote }}` then `"$dir"`.
- The rendered mapping is validated like a catalog task (`deployments.catalog.parse_task`),
  so a template that renders an invalid task is reported, naming the template.

Where templates come from (`load_templates`): the built-ins below, embedded in this module as
YAML strings (so they ship with the package), then the project's custom templates, by default
`templates/*.yaml`. A custom template file holds one template, or `templates:` with a list of
them; a custom template with a built-in's name replaces it. Every problem is reported at once,
as a `CatalogError` whose `Problem`s name the file, the template and the field.

For the CLI and an API: `describe` (template show), `Template.summary` (template list, `GET
/templates`), `parse_set_options` (`--set k=v`), `new_task_yaml` (print a catalog file),
`append_task` (add the task to a catalog file, keeping its text and comments), `template_yaml`
(a template as a file, to copy a built-in into templates/ and edit it).
"""

from __future__ import annotations

import difflib
import os
import posixpath
import re
import shlex
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2 import meta as jinja_meta
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deployments.catalog import TASK_NAME, catalog_files, parse_task
from deployments.errors import CatalogError, Problem
from deployments.schedules import parse_duration

DEFAULT_TEMPLATE_DIRS = [Path("templates")]
TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TEMPLATE_KEYS = ("name", "category", "description", "params", "task")
BUILTIN = "built-in"

ParamType = Literal["string", "integer", "number", "boolean", "path", "list", "duration", "cron"]
ItemType = Literal["string", "integer", "number", "boolean", "path"]
PARAM_TYPES: tuple[str, ...] = ParamType.__args__  # type: ignore[attr-defined]
# Values of these types cannot hold shell metacharacters once validated.
SHELL_SAFE_TYPES = {"integer", "number", "boolean", "duration"}
# Filters whose result is safe in a shell command whatever their input.
SHELL_SAFE_FILTERS = {"quote", "int", "float", "length", "count", "seconds"}
TRUE_WORDS = {"true", "yes", "on", "1", "y"}
FALSE_WORDS = {"false", "no", "off", "0", "n"}
RANGE_TYPES = {"integer", "number", "duration", "list"}
PATTERN_TYPES = {"string", "path"}


# --- the Jinja environment ---------------------------------------------------------------------


class _Omit:
    """`omit`: a value that leaves its key (or list item) out of the rendered task."""

    MARK = "\x00tasklane-omit\x00"

    def __repr__(self) -> str:
        return "omit"

    def __str__(self) -> str:
        return self.MARK


OMIT = _Omit()


def _quote(value: Any) -> str:
    """Shell-quote a value; a list becomes space-separated quoted words."""
    if value is None:
        raise ValueError("quote: the value is empty (an optional parameter that was not given)")
    if isinstance(value, list | tuple):
        return " ".join(_quote(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


def _basename(value: Any) -> str:
    text = str(value)
    stripped = text.rstrip("/")
    return posixpath.basename(stripped) if stripped else text


def _dirname(value: Any) -> str:
    text = str(value)
    stripped = text.rstrip("/")
    if not stripped:
        return text
    return posixpath.dirname(stripped) or "."


def _seconds(value: Any) -> int:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return int(parse_duration(str(value)).total_seconds())


def _pairs(value: Any) -> dict[str, str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    result: dict[str, str] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"pairs: {item!r} is not KEY=VALUE")
        result[key.strip()] = text.strip()
    return result


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@lru_cache
def environment() -> SandboxedEnvironment:
    """The sandboxed Jinja environment templates render in."""
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters.update(quote=_quote, basename=_basename, dirname=_dirname, seconds=_seconds, pairs=_pairs)
    return env


# Names a parameter cannot take: the template's own variables, Jinja keywords and loop helpers.
RESERVED_NAMES = {
    *"name omit true false none True False None".split(),
    *"and or not in is if else loop self super varargs kwargs".split(),
}


def _reserved_names() -> set[str]:
    return RESERVED_NAMES | set(environment().globals)


# --- parameters ----------------------------------------------------------------------------------


class _Invalid(ValueError):
    """A value that does not fit its parameter; the message says what was found and what is allowed."""


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    return repr(value)


def _plain(value: Any) -> str:
    """A number without a needless '.0' (for messages)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class ParamSpec(BaseModel):
    """One typed parameter of a template."""

    model_config = ConfigDict(extra="forbid")

    type: ParamType = "string"
    required: bool = False
    default: Any = None
    description: str = ""
    example: Any = None
    choices: list[Any] | None = None
    min: int | float | str | None = None
    max: int | float | str | None = None
    pattern: str | None = None
    items: ItemType = Field("string", description="Type of a list's items.")
    absolute: bool = Field(False, description="A path must be absolute.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": data}
        if data is None:
            return {}
        return data

    # -- checking a value

    def check(self, value: Any) -> Any:
        """The value coerced to this parameter's type; raises _Invalid if it does not fit."""
        if self.type == "list":
            items = self._as_list(value)
            checked = []
            for index, item in enumerate(items):
                try:
                    checked.append(self._scalar(self.items, item))
                except _Invalid as exc:
                    raise _Invalid(f"item {index + 1}: {exc}") from None
            self._check_range(len(checked), f"{len(checked)} item{'s' if len(checked) != 1 else ''}")
            return checked
        result = self._scalar(self.type, value)
        if self.type in RANGE_TYPES:
            measure = _seconds(result) if self.type == "duration" else result
            self._check_range(measure, _shown(result))
        return result

    def _as_list(self, value: Any) -> list[Any]:
        if isinstance(value, list | tuple):
            return list(value)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    parsed = yaml.safe_load(text)
                except yaml.YAMLError:
                    parsed = None
                if not isinstance(parsed, list):
                    raise _Invalid(f"must be a list such as [a, b] or a,b; found {value!r}")
                return parsed
            return [part.strip() for part in text.split(",") if part.strip()]
        raise _Invalid(f"must be a list (on the command line: a,b,c); found {_shown(value)}")

    def _scalar(self, kind: str, value: Any) -> Any:
        if isinstance(value, list | tuple | dict):
            what = "a list" if not isinstance(value, dict) else "a mapping"
            raise _Invalid(f"takes one value; found {what} {value!r}")
        result = _COERCE[kind](self, value)
        if self.choices is not None and result not in self.choices:
            allowed = ", ".join(_plain(c) if not isinstance(c, bool) else _shown(c) for c in self.choices)
            raise _Invalid(f"must be one of {allowed}; found {_shown(value)}")
        if self.pattern is not None and kind in PATTERN_TYPES and not re.fullmatch(self.pattern, result):
            raise _Invalid(f"must match the pattern {self.pattern}; found {_shown(value)}")
        return result

    def _check_range(self, measure: float, found: str) -> None:
        low, high = self._bound(self.min), self._bound(self.max)
        unit = " items" if self.type == "list" else ""
        shown_low = self.min if self.type == "duration" else _plain(low)
        shown_high = self.max if self.type == "duration" else _plain(high)
        if (low is not None and measure < low) or (high is not None and measure > high):
            if low is not None and high is not None:
                rule = f"must be between {shown_low} and {shown_high}{unit}"
            elif low is not None:
                rule = f"must be at least {shown_low}{unit}"
            else:
                rule = f"must be at most {shown_high}{unit}"
            raise _Invalid(f"{rule}; found {found}")

    def _bound(self, bound: int | float | str | None) -> float | None:
        if bound is None:
            return None
        if self.type == "duration":
            return _seconds(bound)
        return float(bound) if isinstance(bound, str) else bound

    # -- checking the spec itself

    def problems(self) -> tuple[ParamSpec, list[tuple[str, str]]]:
        """This spec with its default, example and choices coerced, and (field, message) mistakes."""
        found: list[tuple[str, str]] = []
        kind = self.items if self.type == "list" else self.type
        if self.type != "list" and "items" in self.model_fields_set:
            found.append(("items", "applies to list parameters only"))
        if self.absolute and kind != "path":
            found.append(("absolute", "applies to path parameters (or a list of paths) only"))
        if self.pattern is not None:
            if kind not in PATTERN_TYPES:
                found.append(("pattern", "applies to string and path parameters (and their lists) only"))
            else:
                try:
                    re.compile(self.pattern)
                except re.error as exc:
                    found.append(("pattern", f"{self.pattern!r} is not a regular expression: {exc}"))
        for bound in ("min", "max"):
            value = getattr(self, bound)
            if value is None:
                continue
            if self.type not in RANGE_TYPES:
                found.append((bound, "applies to integer, number, duration and list parameters only"))
            elif self.type == "duration":
                try:
                    _seconds(value)
                except ValueError as exc:
                    found.append((bound, str(exc)))
            elif isinstance(value, str) or isinstance(value, bool):
                found.append((bound, f"must be a number; found {value!r}"))
        if not found and self.min is not None and self.max is not None:
            if self._bound(self.min) > self._bound(self.max):  # type: ignore[operator]
                found.append(("max", f"{self.max} is below min {self.min}"))
        if self.required and self.default is not None:
            found.append(("default", "a required parameter has no default; drop 'required' or 'default'"))
        if found:
            return self, found
        spec = self
        if self.choices is not None:
            if self.type == "boolean":
                return self, [("choices", "do not apply to boolean parameters")]
            unchecked = self.model_copy(update={"choices": None})
            try:
                choices = [unchecked._scalar(kind, c) for c in self.choices]
            except _Invalid as exc:
                return self, [("choices", str(exc))]
            spec = self.model_copy(update={"choices": choices})
        updates: dict[str, Any] = {}
        for field in ("default", "example"):
            value = getattr(spec, field)
            if value is not None:
                try:
                    updates[field] = spec.check(value)
                except _Invalid as exc:
                    found.append((field, str(exc)))
        return spec.model_copy(update=updates), found

    def summary(self) -> str:
        """'integer, default 7, 1..3650' — type, requirement and constraints in one line."""
        kind = f"list of {self.items}" if self.type == "list" and self.items != "string" else self.type
        parts = [kind]
        if self.required:
            parts.append("required")
        elif self.default is not None:
            parts.append(f"default {_yaml_inline(self.default)}")
        else:
            parts.append("optional")
        unit = " items" if self.type == "list" else ""
        if self.min is not None and self.max is not None:
            parts.append(f"{_plain(self.min)}..{_plain(self.max)}{unit}")
        elif self.min is not None:
            parts.append(f"at least {_plain(self.min)}{unit}")
        elif self.max is not None:
            parts.append(f"at most {_plain(self.max)}{unit}")
        if self.choices is not None:
            parts.append("one of " + ", ".join(_plain(c) for c in self.choices))
        if self.pattern is not None:
            parts.append(f"matching {self.pattern}")
        if self.absolute:
            parts.append("absolute")
        return ", ".join(parts)


def _string(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(f"must be text; found {_shown(value)}")
    return str(value)


def _integer(spec: ParamSpec, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise _Invalid(f"must be a whole number such as 7; found {_shown(value)}")


def _number(spec: ParamSpec, value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number: int | float = value
    elif isinstance(value, str):
        try:
            number = int(value) if re.fullmatch(r"\s*[+-]?\d+\s*", value) else float(value)
        except ValueError:
            raise _Invalid(f"must be a number such as 2.5; found {_shown(value)}") from None
    else:
        raise _Invalid(f"must be a number such as 2.5; found {_shown(value)}")
    if number != number or number in (float("inf"), float("-inf")):
        raise _Invalid(f"must be a finite number; found {_shown(value)}")
    return number


def _boolean(spec: ParamSpec, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise _Invalid(f"must be true or false (or yes/no, on/off, 1/0); found {_shown(value)}")


def _path(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise _Invalid(f"must be a path; found {_shown(value)}")
    if not value.strip():
        raise _Invalid("must be a path; found an empty string")
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise _Invalid(f"must be a path without control characters (newlines, tabs, ...); found {value!r}")
    if spec.absolute and not value.startswith("/"):
        raise _Invalid(f"must be an absolute path (starting with '/'); found {value!r}")
    return value


def _duration(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value}s"
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = f"{value.strip()}s"
    if not isinstance(value, str):
        raise _Invalid(f"must be a duration such as 30s, 5m, 1h30m, 2d; found {_shown(value)}")
    try:
        parse_duration(value.strip())
    except ValueError:
        raise _Invalid(f"must be a duration such as 30s, 5m, 1h30m, 2d; found {value!r}") from None
    return value.strip()


def _cron(spec: ParamSpec, value: Any) -> str:
    from deployments.schedules import ScheduleSpec

    if not isinstance(value, str):
        raise _Invalid(f'must be a 5-field cron expression such as "0 2 * * *"; found {_shown(value)}')
    text = " ".join(value.split())
    try:
        ScheduleSpec.model_validate({"cron": text})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise _Invalid(f'must be a 5-field cron expression such as "0 2 * * *": {message}') from None
    return text


_COERCE = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "path": _path,
    "duration": _duration,
    "cron": _cron,
}


# --- templates -----------------------------------------------------------------------------------


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


def _is_templated(text: str) -> bool:
    return "{{" in text or "{%" in text or "{#" in text


def _placeholders(text: str) -> Iterator[tuple[str, str]]:
    """Each `{{ ... }}` of a shell command with its shell context.

    Contexts: 'word' (safe for a quoted value), 'single' or 'double' (inside '...' or "..."),
    'comment', or 'after \\' / 'after $' (a quoted value there loses its opening quote). A small
    shell lexer: quotes, backslashes, comments and `$( ... )` (a fresh context, also inside double
    quotes); Jinja tags are opaque.
    """
    stack = ["word"]
    index, size = 0, len(text)
    closers = {"{{": "}}", "{%": "%}", "{#": "#}"}
    while index < size:
        pair = text[index : index + 2]
        if pair in closers:
            end = text.find(closers[pair], index + 2)
            end = size if end < 0 else end + 2
            if pair == "{{":
                context = stack[-1]
                if context == "word" and index and text[index - 1] in "\\$":
                    context = f"after {text[index - 1]}"
                yield text[index:end], context
            index = end
            continue
        char, state = text[index], stack[-1]
        escapes = char == "\\" and text[index + 1 : index + 3] not in closers
        if state == "comment":
            if char == "\n":
                stack.pop()
        elif state == "single":
            if char == "'":
                stack.pop()
        elif state == "double":
            if escapes:
                index += 1
            elif char == '"':
                stack.pop()
            elif pair == "$(":
                stack.append("word")
                index += 1
        elif escapes:
            index += 1
        elif char == "'":
            stack.append("single")
        elif char == '"':
            stack.append("double")
        elif pair == "$(":
            stack.append("word")
            index += 1
        elif char == ")" and len(stack) > 1:
            stack.pop()
        elif char == "#" and (index == 0 or text[index - 1] in " \t\n;"):
            stack.append("comment")
        index += 1


def _shell_problems(text: str, params: dict[str, ParamSpec]) -> list[str]:
    """Why the values a shell command substitutes could escape their argument (none: it is safe).

    Safe: `{{ x | quote }}` as a word of its own (not inside '...' or "..."), or an expression using
    only integer, number, boolean and duration parameters (or `name`), anywhere.
    """
    env = environment()
    found: list[str] = []
    for placeholder, context in _placeholders(text):
        try:
            ast = env.parse(placeholder)
        except TemplateError:
            continue  # reported as a syntax error
        for output in ast.find_all(nodes.Output):
            for expr in output.nodes:
                if isinstance(expr, nodes.TemplateData | nodes.Const):
                    continue
                names = [n.name for n in expr.find_all(nodes.Name) if n.ctx == "load"]
                if isinstance(expr, nodes.Name):
                    names = [expr.name]
                if names and all(
                    name == "name" or (name in params and params[name].type in SHELL_SAFE_TYPES)
                    for name in names
                ):
                    continue
                shown = " ".join(placeholder.split())
                if context != "word":
                    where = {"single": "inside '...'", "double": 'inside "..."', "comment": "in a comment"}
                    found.append(
                        f"puts {shown} {where.get(context, context)}, where quoting cannot protect it; "
                        'assign it to a variable first (v={{ ... | quote }}) and write "$v"'
                    )
                elif not (isinstance(expr, nodes.Filter) and expr.name in SHELL_SAFE_FILTERS):
                    found.append(
                        f"puts {shown} into the command unquoted; end it with | quote (only integer, "
                        "number, boolean and duration parameters may stay unquoted)"
                    )
    return found


def _template_problems(template: Template, file: str, label: str) -> list[Problem]:
    """Mistakes a template's `task` has on its own: syntax, undeclared names, unquoted shell values."""
    problems: list[Problem] = []
    env = environment()
    task = template.task
    if "name" in task:
        problems.append(
            Problem(
                file, label, "task.name", "is set from the new task's name (tasklane new NAME); remove it"
            )
        )
    if not isinstance(task.get("type"), str):
        problems.append(Problem(file, label, "task.type", "is required: the task type (shell, http, ...)"))
    known = set(template.params) | {"name", "omit"} | set(env.globals)
    for field, text in _walk_strings(task, "task"):
        if not _is_templated(text):
            continue
        try:
            ast = env.parse(text)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line and "\n" in text else ""
            problems.append(Problem(file, label, field, f"is not a valid Jinja2 template{where}: {exc}"))
            continue
        undeclared = sorted(jinja_meta.find_undeclared_variables(ast) - known)
        for name in undeclared:
            hint = difflib.get_close_matches(name, list(template.params), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            declared = ", ".join(template.params) or "none"
            problems.append(
                Problem(
                    file,
                    label,
                    field,
                    f"uses {name!r}, which is not a parameter (declared: {declared}){suggestion}",
                )
            )
        if field == "task.command" and task.get("type") == "shell":
            problems.extend(Problem(file, label, field, m) for m in _shell_problems(text, template.params))
    return problems


def _pydantic_problems(
    error: ValidationError, file: str, label: str | None, extra: str = "is unknown"
) -> list[Problem]:
    problems = []
    for detail in error.errors():
        loc = [str(part) for part in detail["loc"]]
        message = detail["msg"].removeprefix("Value error, ")
        if detail["type"] == "missing":
            message = "is required"
        elif detail["type"] == "extra_forbidden":
            message = extra
        elif "input" in detail:
            message = f"{message}; found {detail['input']!r}"
        problems.append(Problem(file, label, ".".join(loc) or None, message))
    return problems


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
            problems.append(Problem(where, None, str(key), f"is not a template key (allowed: {allowed})"))
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
    params: dict[str, ParamSpec] = {}
    reserved = _reserved_names()
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
            for problem in _pydantic_problems(exc, where, None, extra):
                sub = f"{field}.{problem.field}" if problem.field else field
                problems.append(Problem(where, None, sub, problem.message))
            continue
        spec, mistakes = spec.problems()
        problems.extend(Problem(where, None, f"{field}.{sub}", message) for sub, message in mistakes)
        params[pname] = spec
    task = raw.get("task")
    if not isinstance(task, dict):
        found = "nothing" if task is None else type(task).__name__
        problems.append(
            Problem(where, None, "task", f"must be a catalog task mapping (type, ...); found {found}")
        )
    if problems:
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
        return _pydantic_problems(exc, where, None)
    problems = _template_problems(template, where, None)
    return problems or template


def _read_templates(text: str, file: str, source: str) -> tuple[list[Template], list[Problem]]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return [], [Problem(file, None, None, f"is not valid YAML{where}: {exc}")]
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


def builtin_templates() -> dict[str, Template]:
    """The built-in templates, by name (validated; a broken one raises CatalogError)."""
    return dict(_builtins())


@lru_cache
def _builtins() -> tuple[tuple[str, Template], ...]:
    found: list[tuple[str, Template]] = []
    problems: list[Problem] = []
    for key, text in BUILTIN_TEMPLATES.items():
        templates, mistakes = _read_templates(text, f"built-in {key}", BUILTIN)
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
        found, mistakes = _read_templates(text, name, name)
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


# --- values and rendering ------------------------------------------------------------------------


def check_values(template: Template, name: str, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every parameter's value (given, else default, else None), coerced; CatalogError naming each mistake.

    A problem reads: "built-in template 'backup-dir': task 'nightly': field 'params.keep_days':
    must be between 1 and 3650; found 0".
    """
    values = dict(values or {})
    problems: list[Problem] = []
    where = template.where
    if not isinstance(name, str) or not TASK_NAME.match(name):
        problems.append(
            Problem(
                where,
                None,
                "name",
                f"{name!r} is not a task name (letters, digits, '_', '.', '-'; up to 100)",
            )
        )
        name = None  # type: ignore[assignment]
    resolved: dict[str, Any] = {}
    for key in values:
        if key not in template.params:
            known = ", ".join(template.params) or "none"
            hint = difflib.get_close_matches(str(key), list(template.params), n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                Problem(
                    where,
                    name,
                    f"params.{key}",
                    f"is not a parameter of this template (it takes: {known}){suggestion}",
                )
            )
    for pname, spec in template.params.items():
        value = values.get(pname)
        if value is None or (spec.required and isinstance(value, str) and not value.strip()):
            if spec.required:
                message = f"is required ({spec.type}): {spec.description or 'it has no default'}"
                if spec.example is not None:
                    message += f"; e.g. {pname}={_cli_value(spec.example)}"
                problems.append(Problem(where, name, f"params.{pname}", message))
            resolved[pname] = spec.default
            continue
        try:
            resolved[pname] = spec.check(_single(spec, value))
        except _Invalid as exc:
            problems.append(Problem(where, name, f"params.{pname}", str(exc)))
    if problems:
        raise CatalogError(
            problems, where=f"the parameters of template {template.name!r}", outcome="no task was created"
        )
    return resolved


def _single(spec: ParamSpec, value: Any) -> Any:
    """A non-list parameter given several times (`--set k=a --set k=b`) is a mistake."""
    if spec.type != "list" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) == 1:
            return value[0]
        raise _Invalid(f"takes one value; found {len(value)}: {', '.join(map(repr, value))}")
    return value


class _RenderError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


_ONE_EXPRESSION = re.compile(r"^\{\{(?P<expr>.*)\}\}$", re.DOTALL)


def _render_string(text: str, context: dict[str, Any], field: str) -> Any:
    if not _is_templated(text):
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
    if _Omit.MARK in rendered:
        raise _RenderError(field, 'uses omit inside text; omit can only be a whole value ("{{ omit }}")')
    return rendered


def _dropped(value: Any) -> bool:
    return value is None or value is OMIT


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
            if _dropped(rendered_key):
                continue
            if isinstance(rendered_key, str) and not rendered_key.strip():
                errors.append(_RenderError(key_path, "renders to an empty key"))
                continue
            rendered = _render_tree(item, context, key_path, errors)
            if isinstance(item, str) and _is_templated(item) and _dropped(rendered):
                continue
            result[
                rendered_key if isinstance(rendered_key, str | int | float | bool) else str(rendered_key)
            ] = rendered
        return result
    if isinstance(value, list):
        items = []
        for index, item in enumerate(value):
            rendered = _render_tree(item, context, f"{path}[{index}]", errors)
            if isinstance(item, str) and _is_templated(item) and _dropped(rendered):
                continue
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


# --- YAML output ---------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, multi-line strings as `|` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        return super().increase_indent(flow, False)


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def _yaml_inline(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _cli_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_cli_value(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _header(template: Template, values: Mapping[str, Any] | None) -> str:
    given = " ".join(
        f"--set {shlex.quote(f'{k}={_cli_value(v)}')}" for k, v in (values or {}).items() if v is not None
    )
    origin = "built-in" if template.builtin else template.source
    line = f"# from template {template.name!r} ({origin}){': ' + given if given else ''}"
    # One comment line whatever the values hold: a newline would end the comment.
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], line) + "\n"


def new_task_yaml(template: Template, name: str, values: Mapping[str, Any] | None = None) -> str:
    """A catalog file (`tasks:` with the one rendered task) for `tasklane new NAME --from TEMPLATE`."""
    mapping = render(template, name, values)
    return _header(template, values) + _dump({"tasks": [mapping]})


def _indented(text: str, indent: int) -> str:
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


def append_task(
    file: Path, template: Template, name: str, values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Render the task and append it to catalog `file` (created if missing); return the mapping.

    The file's text is kept as it is (comments included); the task goes after its last line, at
    the indentation of its `tasks:` items. Refused (CatalogError, file untouched) if the file is
    not a catalog, already has a task of this name, or its `tasks:` list is not the last block
    of the file in block style (`tasks: [...]`): then print the task and paste it in.
    """
    mapping = render(template, name, values, base_dir=file.parent)
    header = _header(template, values)
    where = str(file)

    def refuse(message: str) -> CatalogError:
        return CatalogError([Problem(where, name, None, message)], where=where, outcome="it was not changed")

    text = file.read_text(encoding="utf-8") if file.exists() else ""
    try:
        document = yaml.safe_load(text) if text.strip() else None
        root = yaml.compose(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise refuse(f"is not valid YAML: {exc}") from None
    if document is not None and not (isinstance(document, dict) and set(document) <= {"tasks"}):
        raise refuse("is not a catalog file (a mapping with a 'tasks:' list)")
    existing = (document or {}).get("tasks") or []
    if not isinstance(existing, list):
        raise refuse("its 'tasks' is not a list")
    if any(isinstance(t, dict) and t.get("name") == name for t in existing):
        raise refuse("the file already has a task of this name")
    indent = 2
    if isinstance(root, yaml.MappingNode):
        for key, node in root.value:
            if key.value == "tasks" and isinstance(node, yaml.SequenceNode):
                if node.flow_style:
                    raise refuse("its tasks are written as a flow list (tasks: [...]); add the task yourself")
                if node.value:
                    mark = node.value[0].start_mark
                    indent = text.splitlines()[mark.line].rfind("-", 0, mark.column)
    addition = _indented(header + _dump([mapping]), max(indent, 0))
    if document is None or "tasks" not in (document or {}):
        addition = "tasks:\n" + addition
    new_text = text + ("\n" if text and not text.endswith("\n") else "") + addition
    try:
        check = yaml.safe_load(new_text)
    except yaml.YAMLError:
        check = None
    if not (
        isinstance(check, dict) and check.get("tasks") == [*existing, mapping] and set(check) == {"tasks"}
    ):
        raise refuse(
            "its tasks list is not the last block of the file; add the task yourself (tasklane new prints it)"
        )
    temporary = file.with_name(f".{file.name}.tasklane-new")
    temporary.write_text(new_text, encoding="utf-8")
    temporary.replace(file)
    return mapping


# --- describing ----------------------------------------------------------------------------------


def describe(template: Template) -> str:
    """The text of `tasklane template show NAME`: what it makes, its parameters, its task, an example."""
    origin = "built-in" if template.builtin else template.source
    lines = [f"{template.name} ({template.category}, {origin})"]
    if template.description:
        lines.append(f"  {template.description}")
    lines += ["", "Parameters:" if template.params else "Parameters: none"]
    for pname, spec in template.params.items():
        lines.append(f"  {pname} ({spec.summary()})")
        about = spec.description
        if spec.example is not None:
            about = f"{about} (example: {_cli_value(spec.example)})".strip()
        if about:
            lines.append(f"      {about}")
    lines += ["", "Task (Jinja2 over the parameters and `name`):"]
    lines.append(_indented(_dump(template.task), 2).rstrip("\n"))
    shown = [p for p, s in template.params.items() if s.required or s.example is not None]
    sets = " ".join(
        f"--set {shlex.quote(f'{p}={_cli_value(template.params[p].example)}')}"
        if template.params[p].example is not None
        else f"--set {p}=..."
        for p in shown
    )
    lines += [
        "",
        "Create a task from it:",
        f"  tasklane new my-{template.name} --from {template.name} {sets}".rstrip(),
    ]
    return "\n".join(lines) + "\n"


def template_yaml(template: Template) -> str:
    """The template as a YAML file (`tasklane template export`): copy a built-in, edit, keep in templates/."""
    params = {
        pname: spec.model_dump(mode="json", exclude_defaults=True) or {"type": spec.type}
        for pname, spec in template.params.items()
    }
    data = {
        "name": template.name,
        "category": template.category,
        "description": template.description,
        "params": params,
        "task": template.task,
    }
    return _dump(data)


# --- the built-ins -------------------------------------------------------------------------------

BUILTIN_TEMPLATES: dict[str, str] = {
    "backup-dir": r"""
name: backup-dir
category: backup
description: Archive a directory into a dated tar.gz and delete archives older than keep_days
params:
  source:
    type: path
    required: true
    absolute: true
    description: Directory to archive
    example: /srv/data
  dest: {type: path, default: /var/backups, absolute: true, description: Directory the archives go to}
  keep_days: {type: integer, default: 7, min: 1, max: 3650, description: Days an archive is kept}
  exclude:
    type: list
    default: []
    description: Patterns left out of the archive (tar --exclude), e.g. '*.tmp,cache'
  schedule: {type: cron, default: "0 2 * * *", description: When it runs (cron)}
task:
  type: shell
  group: backup
  description: "Archive {{ source }} into {{ dest }}, keeping {{ keep_days }} days"
  command: |
    set -euo pipefail
    src={{ source | quote }}
    dest={{ dest | quote }}
    name={{ source | basename | quote }}
    parent={{ source | dirname | quote }}
    if [ ! -d "$src" ]; then echo "no such directory: $src" >&2; exit 2; fi
    mkdir -p -- "$dest"
    archive="$dest/$name-$(date +%Y%m%d-%H%M%S).tar.gz"
    tar -czf "$archive" {% for p in exclude %}--exclude={{ p | quote }} {% endfor %}-C "$parent" -- "$name"
    echo "wrote $archive"
    # Old archives of this directory: its name with glob characters escaped, then the date.
    glob="$(printf '%s' "$name" | sed 's/[][*?\\]/\\&/g')-*.tar.gz"
    find "$dest" -maxdepth 1 -type f -name "$glob" -mmin +{{ keep_days * 1440 }} -print -delete
  schedule: {cron: "{{ schedule }}"}
  timeout_seconds: 21600
  retry: {max_retries: 1, retry_delay: 300}
""",
    "cleanup-old-files": r"""
name: cleanup-old-files
category: cleanup
description: Delete files older than N days from a directory
params:
  directory:
    type: path
    required: true
    absolute: true
    description: Directory to clean
    example: /var/log/myapp
  days:
    type: integer
    default: 30
    min: 1
    max: 36500
    description: Files last modified more than this many days ago are deleted
  pattern: {type: string, default: "*", description: "File name pattern (find -name), e.g. *.log"}
  recursive: {type: boolean, default: true, description: Also clean subdirectories}
  dry_run: {type: boolean, default: false, description: Only list what would be deleted}
  schedule: {type: cron, default: "30 3 * * *", description: When it runs (cron)}
task:
  type: shell
  group: cleanup
  description: "Delete {{ pattern }} files older than {{ days }} days from {{ directory }}"
  command: |
    set -euo pipefail
    dir={{ directory | quote }}
    if [ ! -d "$dir" ]; then echo "no such directory: $dir" >&2; exit 2; fi
    if [ "$(cd -- "$dir" && pwd -P)" = / ]; then echo "refusing to clean /" >&2; exit 2; fi
    find "$dir" {% if not recursive %}-maxdepth 1 {% endif %}-type f -name {{ pattern | quote }} \
      -mmin +{{ days * 1440 }} -print{% if not dry_run %} -delete{% endif %}
  schedule: {cron: "{{ schedule }}"}
  timeout_seconds: 3600
""",
    "http-health-check": r"""
name: http-health-check
category: monitoring
description: Request a URL on an interval; the run fails unless the status is expected
params:
  url:
    type: string
    required: true
    pattern: "https?://\\S+"
    description: URL to check
    example: "https://status.example.com/health"
  method: {type: string, default: GET, choices: [GET, HEAD, POST], description: HTTP method}
  expected_status:
    type: list
    items: integer
    default: [200]
    min: 1
    description: Status codes that mean healthy
  interval: {type: duration, default: 5m, min: 10s, max: 1d, description: How often to check}
  request_timeout: {type: number, default: 10, min: 0.1, max: 300, description: Seconds to wait}
  retries: {type: integer, default: 2, min: 0, max: 10, description: Retries (10 s apart) before a run fails}
  auth_block:
    type: string
    pattern: "http-(bearer|basic)-auth/[A-Za-z0-9_.-]+"
    description: "Credentials block, e.g. http-bearer-auth/status-api"
  verify_tls: {type: boolean, default: true, description: Check the server's certificate}
task:
  type: http
  group: monitoring
  priority: HIGH
  description: "Health check of {{ url }}"
  method: "{{ method }}"
  url: "{{ url }}"
  expected_status: "{{ expected_status }}"
  request_timeout: "{{ request_timeout }}"
  auth_block: "{{ auth_block }}"
  verify_tls: "{{ verify_tls }}"
  schedule: {every: "{{ interval }}"}
  retry: {max_retries: "{{ retries }}", retry_delay: 10}
""",
    "jira-export": r"""
name: jira-export
category: export
description: Export a Jira issue tree (below a root ticket, a project or a JQL query) to an Excel workbook
params:
  block:
    type: string
    required: true
    pattern: "[a-z0-9][a-z0-9-]*"
    description: Name of the jira-credentials block
    example: jira-prod
  root_key:
    type: string
    pattern: "[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*"
    description: Root ticket (give one of root_key, project_key, jql)
    example: DEMO-1
  project_key: {type: string, pattern: "[A-Za-z][A-Za-z0-9_]*", description: Every issue of this project}
  jql: {type: string, description: Every issue this JQL query matches}
  output:
    type: path
    default: "exports/{task}-{date}.xlsx"
    pattern: ".*\\.xlsx"
    description: "Workbook path; {task} and {date} are filled in at run time"
  link_types: {type: list, default: [], description: "Issue links followed as children, e.g. blocks,Relates"}
  max_depth: {type: integer, min: 0, max: 100, description: Deepest child level kept (default all)}
  schedule: {type: cron, default: "0 6 * * 1-5", description: When it runs (cron)}
task:
  type: jira_export
  group: reports
  description: "Jira export of {{ root_key or project_key or 'a JQL query' }}"
  block: "{{ block }}"
  root_key: "{{ root_key }}"
  project_key: "{{ project_key }}"
  jql: "{{ jql }}"
  output: "{{ output }}"
  link_types: "{{ link_types }}"
  max_depth: "{{ max_depth }}"
  schedule: {cron: "{{ schedule }}"}
  timeout_seconds: 3600
  retry: {max_retries: 2, retry_delay: 60, backoff_factor: 2}
""",
    "confluence-report": r"""
name: confluence-report
category: report
description: Record every run as a row of a table on a Confluence page (time and link of the last run)
params:
  block:
    type: string
    required: true
    pattern: "[a-z0-9][a-z0-9-]*"
    description: Name of the confluence-credentials block
    example: confluence-prod
  page_id:
    type: string
    required: true
    pattern: "[0-9]+"
    description: "Id of the page (as in ?pageId=123456)"
    example: "123456"
  table_heading:
    type: string
    required: true
    description: Text of the heading right above the table
    example: Nightly jobs
  key_column: {type: string, default: Task, description: Column whose value identifies the row}
  row_key:
    type: string
    default: "{task}"
    description: "Value of key_column in this task's row ({task}: the task's name, filled in at run time)"
  columns:
    type: list
    default: ["Last run={datetime}", "Run={flow_run_url}"]
    pattern: "[^=]+=.*"
    description: "Column=value pairs written on every run ({date}, {datetime}, {flow_run_url}, ...)"
  mode:
    type: string
    default: upsert
    choices: [upsert, append]
    description: "upsert: update the row with this key; append: add a row every run"
  schedule: {type: cron, default: "0 7 * * *", description: When it runs (cron)}
task:
  type: confluence_table
  group: reports
  description: "Update the '{{ table_heading }}' table of Confluence page {{ page_id }}"
  block: "{{ block }}"
  page_id: "{{ page_id }}"
  table_heading: "{{ table_heading }}"
  mode: "{{ mode }}"
  key_column: "{{ key_column }}"
  rows:
    - "{{ key_column }}": "{{ row_key }}"
  run_columns: "{{ columns | pairs }}"
  schedule: {cron: "{{ schedule }}"}
  retry: {max_retries: 2, retry_delay: 30}
""",
}


__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_TEMPLATE_DIRS",
    "PARAM_TYPES",
    "ParamSpec",
    "Template",
    "append_task",
    "builtin_templates",
    "check_examples",
    "check_values",
    "describe",
    "load_templates",
    "new_task_yaml",
    "parse_set_options",
    "parse_template",
    "render",
    "template_yaml",
]
