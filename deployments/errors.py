"""Errors of the deployments layer (catalog, schedules, apply).

    DeploymentsError
    ├── CatalogError          the catalog is invalid; carries one Problem per mistake
    ├── UnknownTaskError      a task name the server or catalog does not know
    │   └── TrashedTaskError  ... because the task is in the trash (restorable)
    ├── OwnedElsewhereError   a change to a task whose definition another home owns
    └── ServerError           the Prefect server refused or could not be reached

Every message says what failed, where (file, task, field) and what was found instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError


class DeploymentsError(Exception):
    """Base of every error raised by `deployments/`."""


@dataclass(frozen=True)
class Problem:
    """One mistake in a catalog, located by file, task and field."""

    file: str
    task: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.task:
            where.append(f"task {self.task!r}")
        if self.field:
            where.append(f"field {self.field!r}")
        return f"{': '.join(where)}: {self.message}"


def closest(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The one of `known` closest to `name` (ignoring case; difflib's similarity of at least
    `cutoff`, 0..1), or None."""
    by_lower: dict[str, str] = {}
    for candidate in known:
        by_lower.setdefault(candidate.lower(), candidate)
    hint = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return by_lower[hint[0]] if hint else None


def did_you_mean(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str:
    """'; did you mean 'x'?' naming the closest of `known`, or '' if none is close: the hint every
    "unknown name" message ends with (fields, task types, timezones, ...)."""
    hint = closest(name, known, cutoff=cutoff)
    return f"; did you mean {hint!r}?" if hint is not None else ""


# Kinds of pydantic error whose message already says what was found.
_SAYS_WHAT_WAS_FOUND = ("value_error", "assertion_error")


def validation_message(
    detail: Mapping[str, Any], *, extra: str | None = "is not a field of this task", found: str = "other"
) -> str:
    """One pydantic error detail as the words of a Problem: what is wrong, and what was found.

    Args:
        detail: one item of `ValidationError.errors()`.
        extra: the message of an unknown field (None: pydantic's own).
        found: when to add "; found <input>": "other" (unless the message is a validator's own),
            "always" (any kind but missing and extra), "never".
    """
    message = str(detail.get("msg", "is invalid")).removeprefix("Value error, ")
    kind = detail.get("type")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden" and extra is not None:
        return extra
    if "input" in detail and (found == "always" or (found == "other" and kind not in _SAYS_WHAT_WAS_FOUND)):
        message = f"{message}; found {detail['input']!r}"
    if kind in ("enum", "literal_error") and isinstance(detail.get("input"), str):
        # "Input should be 'HIGH', 'MEDIUM' or 'LOW'": the closest of those.
        choices = re.findall(r"'([^']*)'", str((detail.get("ctx") or {}).get("expected", "")))
        message += did_you_mean(detail["input"], choices)
    return message


def problems_from_validation(
    error: ValidationError,
    file: str,
    task: str | None,
    *,
    prefix: str = "",
    extra: str | None = "is not a field of this task",
    found: str = "other",
) -> list[Problem]:
    """One Problem per pydantic error, its field the error's location under `prefix`: the one
    place where pydantic's errors become Tasklane's messages (catalog, templates, API, CLI)."""
    problems = []
    for detail in error.errors():
        path = ".".join(str(part) for part in detail["loc"])
        field = f"{prefix}{path}" if path else None
        problems.append(Problem(file, task, field, validation_message(detail, extra=extra, found=found)))
    return problems


class CatalogError(DeploymentsError):
    """The catalog is invalid; nothing was applied."""

    def __init__(
        self, problems: list[Problem], where: str = "the catalog", outcome: str = "nothing was applied"
    ):
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} in {where}; {outcome}"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


class UnknownTaskError(DeploymentsError):
    """A task name that does not exist where it was looked up."""

    def __init__(self, name: str, where: str, known: list[str] | None = None):
        self.name = name
        hint = f" (known: {', '.join(sorted(known)[:20])})" if known else ""
        super().__init__(f"no task named {name!r} on {where}{hint}")


class TrashedTaskError(UnknownTaskError):
    """A task name that is in the trash: deleted, kept for `trash.retention_days`, restorable."""

    def __init__(self, name: str, where: str):
        self.name = name
        DeploymentsError.__init__(
            self, f"no task named {name!r} on {where} (in the trash: tasklane trash restore {name})"
        )


class OwnedElsewhereError(DeploymentsError):
    """A change to a task whose definition lives elsewhere (a catalog file): change it there, or
    take it over first (`tasklane detach NAME`, the API's `?detach=true`)."""

    def __init__(self, name: str, home: str, how: str):
        self.name = name
        self.home = home
        super().__init__(f"task {name!r} is defined in {home}; change it there, or {how}")


class ServerError(DeploymentsError):
    """The Prefect server refused a request or could not be reached."""
