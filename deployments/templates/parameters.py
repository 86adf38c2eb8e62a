"""The parameter type system: a template parameter's spec, and checking and coercing values against it.

Values from the command line are strings and are coerced: "7" → 7, "true"/"yes"/"on"/"1" → True,
"a,b" (or YAML "[a, b]") → a list, "90" for a duration → "90s".
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from deployments.errors import did_you_mean, validation_message
from deployments.schedules import ScheduleSpec, parse_duration
from deployments.templates.yaml_text import yaml_inline

ParamType = Literal["string", "integer", "number", "boolean", "path", "list", "duration", "cron"]
ItemType = Literal["string", "integer", "number", "boolean", "path"]
PARAM_TYPES: tuple[str, ...] = get_args(ParamType)
TRUE_WORDS = {"true", "yes", "on", "1", "y"}
FALSE_WORDS = {"false", "no", "off", "0", "n"}
RANGE_TYPES = {"integer", "number", "duration", "list"}
PATTERN_TYPES = {"string", "path"}


class InvalidValue(ValueError):
    """A value that does not fit its parameter; the message says what was found and what is allowed."""


def shown_value(value: Any) -> str:
    """A value as a message shows it: text quoted, booleans as true/false, None as 'nothing'."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing"
    return repr(value)


def plain_number(value: Any) -> str:
    """A number without a needless '.0' (for messages)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def duration_seconds(value: Any) -> int:
    """A duration ('90s', '1h30m', or a number of seconds) in whole seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    return int(parse_duration(str(value)).total_seconds())


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
        """The value coerced to this parameter's type; raises InvalidValue if it does not fit."""
        if self.type == "list":
            items = self._as_list(value)
            checked = []
            for index, item in enumerate(items):
                try:
                    checked.append(self._scalar(self.items, item))
                except InvalidValue as exc:
                    raise InvalidValue(f"item {index + 1}: {exc}") from None
            self._check_range(len(checked), f"{len(checked)} item{'s' if len(checked) != 1 else ''}")
            return checked
        result = self._scalar(self.type, value)
        if self.type in RANGE_TYPES:
            measure = duration_seconds(result) if self.type == "duration" else result
            self._check_range(measure, shown_value(result))
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
                    raise InvalidValue(f"must be a list such as [a, b] or a,b; found {value!r}")
                return parsed
            return [part.strip() for part in text.split(",") if part.strip()]
        raise InvalidValue(f"must be a list (on the command line: a,b,c); found {shown_value(value)}")

    def _scalar(self, kind: str, value: Any) -> Any:
        if isinstance(value, list | tuple | dict):
            what = "a list" if not isinstance(value, dict) else "a mapping"
            raise InvalidValue(f"takes one value; found {what} {value!r}")
        result = _COERCE[kind](self, value)
        if self.choices is not None and result not in self.choices:
            allowed = ", ".join(
                plain_number(c) if not isinstance(c, bool) else shown_value(c) for c in self.choices
            )
            hint = did_you_mean(value, [str(c) for c in self.choices]) if isinstance(value, str) else ""
            raise InvalidValue(f"must be one of {allowed}; found {shown_value(value)}{hint}")
        if self.pattern is not None and kind in PATTERN_TYPES and not re.fullmatch(self.pattern, result):
            raise InvalidValue(f"must match the pattern {self.pattern}; found {shown_value(value)}")
        return result

    def _check_range(self, measure: float, found: str) -> None:
        low, high = self._bound(self.min), self._bound(self.max)
        unit = " items" if self.type == "list" else ""
        shown_low = self.min if self.type == "duration" else plain_number(low)
        shown_high = self.max if self.type == "duration" else plain_number(high)
        if (low is not None and measure < low) or (high is not None and measure > high):
            if low is not None and high is not None:
                rule = f"must be between {shown_low} and {shown_high}{unit}"
            elif low is not None:
                rule = f"must be at least {shown_low}{unit}"
            else:
                rule = f"must be at most {shown_high}{unit}"
            raise InvalidValue(f"{rule}; found {found}")

    def _bound(self, bound: int | float | str | None) -> float | None:
        if bound is None:
            return None
        if self.type == "duration":
            return duration_seconds(bound)
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
                    duration_seconds(value)
                except ValueError as exc:
                    found.append((bound, str(exc)))
            elif isinstance(value, str) or isinstance(value, bool):
                found.append((bound, f"must be a number; found {value!r}"))
        if not found and self.min is not None and self.max is not None:
            low, high = self._bound(self.min), self._bound(self.max)
            if low is not None and high is not None and low > high:
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
            except InvalidValue as exc:
                return self, [("choices", str(exc))]
            spec = self.model_copy(update={"choices": choices})
        updates: dict[str, Any] = {}
        for field in ("default", "example"):
            value = getattr(spec, field)
            if value is not None:
                try:
                    updates[field] = spec.check(value)
                except InvalidValue as exc:
                    found.append((field, str(exc)))
        return spec.model_copy(update=updates), found

    def summary(self) -> str:
        """'integer, default 7, 1..3650' — type, requirement and constraints in one line."""
        kind = f"list of {self.items}" if self.type == "list" and self.items != "string" else self.type
        parts = [kind]
        if self.required:
            parts.append("required")
        elif self.default is not None:
            parts.append(f"default {yaml_inline(self.default)}")
        else:
            parts.append("optional")
        unit = " items" if self.type == "list" else ""
        if self.min is not None and self.max is not None:
            parts.append(f"{plain_number(self.min)}..{plain_number(self.max)}{unit}")
        elif self.min is not None:
            parts.append(f"at least {plain_number(self.min)}{unit}")
        elif self.max is not None:
            parts.append(f"at most {plain_number(self.max)}{unit}")
        if self.choices is not None:
            parts.append("one of " + ", ".join(plain_number(c) for c in self.choices))
        if self.pattern is not None:
            parts.append(f"matching {self.pattern}")
        if self.absolute:
            parts.append("absolute")
        return ", ".join(parts)


def one_value(spec: ParamSpec, value: Any) -> Any:
    """A non-list parameter given several times (`--set k=a --set k=b`) is a mistake."""
    if spec.type != "list" and isinstance(value, list) and all(isinstance(v, str) for v in value):
        if len(value) == 1:
            return value[0]
        raise InvalidValue(f"takes one value; found {len(value)}: {', '.join(map(repr, value))}")
    return value


# --- coercing a single value to each scalar type -------------------------------------------------


def _string(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidValue(f"must be text; found {shown_value(value)}")
    return str(value)


def _integer(spec: ParamSpec, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise InvalidValue(f"must be a whole number such as 7; found {shown_value(value)}")


def _number(spec: ParamSpec, value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number: int | float = value
    elif isinstance(value, str):
        try:
            number = int(value) if re.fullmatch(r"\s*[+-]?\d+\s*", value) else float(value)
        except ValueError:
            raise InvalidValue(f"must be a number such as 2.5; found {shown_value(value)}") from None
    else:
        raise InvalidValue(f"must be a number such as 2.5; found {shown_value(value)}")
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidValue(f"must be a finite number; found {shown_value(value)}")
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
    raise InvalidValue(f"must be true or false (or yes/no, on/off, 1/0); found {shown_value(value)}")


def _path(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise InvalidValue(f"must be a path; found {shown_value(value)}")
    if not value.strip():
        raise InvalidValue("must be a path; found an empty string")
    if re.search(r"[\x00-\x1f\x7f]", value):
        raise InvalidValue(
            f"must be a path without control characters (newlines, tabs, ...); found {value!r}"
        )
    if spec.absolute and not value.startswith("/"):
        raise InvalidValue(f"must be an absolute path (starting with '/'); found {value!r}")
    return value


def _duration(spec: ParamSpec, value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value}s"
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = f"{value.strip()}s"
    if not isinstance(value, str):
        raise InvalidValue(f"must be a duration such as 30s, 5m, 1h30m, 2d; found {shown_value(value)}")
    try:
        parse_duration(value.strip())
    except ValueError:
        raise InvalidValue(f"must be a duration such as 30s, 5m, 1h30m, 2d; found {value!r}") from None
    return value.strip()


def _cron(spec: ParamSpec, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue(
            f'must be a 5-field cron expression such as "0 2 * * *"; found {shown_value(value)}'
        )
    text = " ".join(value.split())
    try:
        ScheduleSpec.model_validate({"cron": text})
    except ValidationError as exc:
        message = validation_message(exc.errors()[0], found="never")
        raise InvalidValue(f'must be a 5-field cron expression such as "0 2 * * *": {message}') from None
    return text


_COERCE: dict[str, Callable[[ParamSpec, Any], Any]] = {
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "path": _path,
    "duration": _duration,
    "cron": _cron,
}
