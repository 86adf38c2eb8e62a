"""Errors of the deployments layer (catalog, schedules, apply).

    DeploymentsError
    ├── CatalogError          the catalog is invalid; carries one Problem per mistake
    ├── UnknownTaskError      a task name the server or catalog does not know
    └── ServerError           the Prefect server refused or could not be reached

Every message says what failed, where (file, task, field) and what was found instead.
"""

from __future__ import annotations

from dataclasses import dataclass


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


class ServerError(DeploymentsError):
    """The Prefect server refused a request or could not be reached."""
