"""External task sources (settings `sources:`): read each, and make the server hold what it yields.

A source owns the tasks it yields (home `source:NAME`, `deployments.ownership`): `sync_source`
creates a new row's task, updates a changed one (as `apply` does, one audit event each, by
`source:NAME`) and moves the task of a removed row to the trash (`tasklane.tasks.trash`; a row
that comes back restores it). A task another home owns (a catalog file, the API, another source)
is never touched: a row naming it is a bad row. A bad row is reported (source, row, field, in
`validate`'s words), skipped (the task it had made stays as last applied), and the rest applied.
A source that cannot be read keeps the tasks it last yielded and says so.

Each sync is recorded under the stack's home (`sources/NAME.json`): when it last synced, what it
holds, its bad rows and, if it could not be read, why. `tasklane sources` and the sources platform
flow (`flows/sources.py`) read and write it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from prefect.client.orchestration import PrefectClient

from deployments.apply import Target, read_task_deployments
from deployments.catalog import Catalog, TaskSpec, dependency_problems, parse_task
from deployments.errors import CatalogError, DeploymentsError, Problem
from deployments.ownership import SOURCE_HOME_PREFIX, describe_home, home_of
from deployments.trash import is_trashed
from tasklane.settings.sources import SourceSettings
from tasklane.tasks.audit import Actor, audit_apply, audited
from tasklane.tasks.trash import trash_tasks

HTTP_TIMEOUT_SECONDS = 15.0
# Fields of a Confluence cell that hold a list: `a, b` is ["a", "b"].
LIST_FIELDS = ("tags", "depends_on")


class SourceUnreachableError(DeploymentsError):
    """A source could not be read (connection, refusal, a page or answer that is not a task list)."""


@dataclass
class Row:
    """One task as a source yields it: where it is in the source, and its catalog mapping."""

    label: str
    raw: Any


@dataclass
class SyncResult:
    """What one sync of a source did (also its record, `sources/NAME.json`)."""

    source: str
    kind: str
    attempted_at: str
    reachable: bool
    error: str | None = None
    synced_at: str | None = None  # the last sync that read the source (this one when reachable)
    tasks: list[str] = field(default_factory=list)  # the tasks it holds on the server
    changes: list[str] = field(default_factory=list)  # `+ name`, `~ name (why)`, `- name (trash)`
    problems: list[str] = field(default_factory=list)  # bad rows, skipped

    def summary(self) -> str:
        if not self.reachable:
            return (
                f"source {self.source!r} could not be read: {self.error}; "
                f"kept its {len(self.tasks)} task(s) as last synced ({self.synced_at or 'never'})"
            )
        return (
            f"source {self.source!r}: {len(self.tasks)} task(s), {len(self.changes)} change(s), "
            f"{len(self.problems)} bad row(s) skipped"
        )


def source_home(name: str) -> str:
    return SOURCE_HOME_PREFIX + name


def record_path(home: Path, name: str) -> Path:
    return home / "sources" / f"{name}.json"


def read_record(home: Path, name: str) -> SyncResult | None:
    """The last sync of a source, or None if it never synced here."""
    path = record_path(home, name)
    try:
        return SyncResult(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _write_record(home: Path, result: SyncResult) -> None:
    path = record_path(home, result.source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(result), indent=2))


# --- reading ------------------------------------------------------------------------------------


def read_rows(source: SourceSettings) -> list[Row]:
    """The source's rows, each a task mapping; SourceUnreachableError if it cannot be read."""
    if source.kind == "directory":
        return _directory_rows(source)
    if source.kind == "http":
        return _http_rows(source)
    return _confluence_rows(source)


def _directory_rows(source: SourceSettings) -> list[Row]:
    assert source.path is not None  # required for the kind (SourceSettings)
    folder = source.path
    if not folder.is_dir():
        raise SourceUnreachableError(f"{folder} is not a folder")
    rows = []
    for file in sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml")):
        try:
            document = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            # Half a folder read would trash the other half's tasks: keep them all instead.
            raise SourceUnreachableError(f"{file} cannot be read: {exc}") from None
        entries = (document or {}).get("tasks") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise SourceUnreachableError(f"{file}: a catalog file is a mapping with a 'tasks:' list")
        rows += [Row(f"{file.name} #{n}", raw) for n, raw in enumerate(entries, 1)]
    return rows


def _http_rows(source: SourceSettings) -> list[Row]:
    assert source.url is not None  # required for the kind (SourceSettings)
    auth = _http_auth(source.auth_block) if source.auth_block else None
    try:
        answer = httpx.get(
            source.url, headers={"Accept": "application/json"}, auth=auth, timeout=HTTP_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as exc:
        raise SourceUnreachableError(f"GET {source.url} failed: {exc}") from None
    if answer.status_code != 200:
        raise SourceUnreachableError(f"GET {source.url} answered {answer.status_code}")
    try:
        document = answer.json()
    except ValueError:
        raise SourceUnreachableError(f"GET {source.url} answered something that is not JSON") from None
    if isinstance(document, dict):
        document = document.get("tasks", document.get("data"))
    if not isinstance(document, list):
        raise SourceUnreachableError(f"GET {source.url}: expected a list of tasks (or {{tasks: [...]}})")
    return [Row(f"row {n}", _from_seed_shape(raw)) for n, raw in enumerate(document, 1)]


def _http_auth(reference: str) -> httpx.Auth:
    """The auth of an `http-bearer-auth/NAME` or `http-basic-auth/NAME` block, as the http task type's."""
    from prefect.blocks.core import Block

    from blocks.http_auth import http_auth_of

    try:
        return http_auth_of(Block.load(reference), reference)
    except ValueError as exc:  # no such block, or one that gives no HTTP auth
        raise SourceUnreachableError(f"cannot use the auth block {reference!r}: {exc}") from None


def _from_seed_shape(raw: Any) -> Any:
    """Seed 003's task JSON (`name` a display name, `id`, `status`) as a catalog mapping: the id
    (or the name's slug) as the name; read-only fields left out."""
    if not isinstance(raw, dict):
        return raw
    from tasklane.tasks.save import slug

    mapping = {
        k: v for k, v in raw.items() if k not in ("id", "status", "next_run", "last_run", "last_status")
    }
    name = raw.get("id") or raw.get("name")
    if isinstance(name, str) and name != slug(name):
        name = slug(name)
    if name is not None:
        mapping["name"] = name
    return mapping


def _confluence_rows(source: SourceSettings) -> list[Row]:
    assert source.block and source.page_id and source.table  # required for the kind
    from blocks.confluence import ConfluenceCredentials
    from integrations.confluence import TableLocator
    from integrations.errors import IntegrationError

    try:
        credentials = ConfluenceCredentials.load(source.block)
    except ValueError as exc:
        raise SourceUnreachableError(
            f"cannot load the confluence-credentials block {source.block!r}: {exc}"
        ) from None
    try:
        records = credentials.get_pages().read_rows(source.page_id, TableLocator(heading=source.table))
    except IntegrationError as exc:
        raise SourceUnreachableError(str(exc)) from None
    rows = []
    for n, record in enumerate(records, 1):
        mapping: dict[str, Any] = {}
        for header, text in record.items():
            name = source.columns.get(header) or header.strip().lower().replace(" ", "_")
            if text is None or not str(text).strip():
                continue
            mapping[name] = _cell_value(name, str(text).strip())
        rows.append(Row(f"row {n}", mapping))
    return rows


def _cell_value(field_name: str, text: str) -> Any:
    """A table cell as a catalog value: `a, b` for a list field, `{...}`/`[...]` as YAML, else text."""
    if field_name in LIST_FIELDS and not text.startswith("["):
        return [part.strip() for part in text.split(",") if part.strip()]
    if text[:1] in "{[":
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text  # validated as text: the task's own problem names the field
    return text


# --- syncing ------------------------------------------------------------------------------------


def _valid_tasks(
    source: SourceSettings, rows: list[Row], existing: dict[str, Any]
) -> tuple[list[TaskSpec], list[Problem]]:
    """The rows that are valid tasks this source may own; the others' problems."""
    home = source_home(source.name)
    base_dir = (source.path or Path.cwd()).resolve()
    tasks: list[TaskSpec] = []
    problems: list[Problem] = []
    where: dict[str, str] = {}
    for position, row in enumerate(rows):
        label = f"source {source.name} {row.label}"
        parsed = parse_task(row.raw, label, position, base_dir)
        if isinstance(parsed, list):
            problems += parsed
            continue
        if parsed.name in where:
            problems.append(
                Problem(label, parsed.name, "name", f"duplicate task name (first in {where[parsed.name]})")
            )
            continue
        current = existing.get(parsed.name)
        held = home_of(current.tags) if current is not None else None
        if current is not None and held != home:
            problems.append(
                Problem(
                    label,
                    parsed.name,
                    "name",
                    f"is owned by {describe_home(held)}; a task has one home, the source leaves it alone",
                )
            )
            continue
        where[parsed.name] = label
        tasks.append(parsed)
    # An upstream that is a bad row is unknown: drop its dependents too, until none is left.
    while True:
        found = dependency_problems(tasks, where)
        if not found:
            return tasks, problems
        problems += found
        bad = {p.task for p in found}
        tasks = [t for t in tasks if t.name not in bad]


async def sync_source(
    client: PrefectClient, source: SourceSettings, target: Target, home: Path
) -> SyncResult:
    """Read one source and make the server hold exactly its valid rows' tasks (see the module)."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    last = read_record(home, source.name)
    result = SyncResult(source.name, source.kind, now, reachable=True, synced_at=now)
    try:
        # In a thread: the readers block (HTTP, Confluence), and Prefect's blocks load synchronously there.
        rows = await asyncio.to_thread(read_rows, source)
    except SourceUnreachableError as exc:
        existing = await read_task_deployments(client, target)
        result.reachable, result.error = False, str(exc)
        result.synced_at = last.synced_at if last else None
        result.tasks = sorted(n for n, d in existing.items() if home_of(d.tags) == source_home(source.name))
        result.problems = last.problems if last else []
        _write_record(home, result)
        return result
    existing = await read_task_deployments(client, target, include_trashed=True)
    tasks, problems = _valid_tasks(source, rows, existing)
    mine = source_home(source.name)
    actor = Actor("source", source.name)  # on the audit trail as `source:NAME`
    while True:
        catalog = Catalog(tasks=tasks, homes={t.name: mine for t in tasks}, claims=(mine,))
        try:
            applied = await audit_apply(client, catalog, target, actor, prune=False)
            break
        except CatalogError as exc:  # e.g. a name another project holds: those rows are bad rows too
            problems += exc.problems
            bad = {p.task for p in exc.problems}
            if not bad & {t.name for t in tasks}:  # not a row's: nothing can be applied
                result.problems = [str(p) for p in problems]
                result.error = f"nothing applied: {exc}"
                result.tasks = sorted(
                    n for n, d in existing.items() if home_of(d.tags) == mine and not is_trashed(d.tags)
                )
                _write_record(home, result)
                return result
            tasks = [t for t in tasks if t.name not in bad]
    result.changes = [str(c) for c in applied.pending]
    wanted = {t.name for t in tasks}
    # A row still there but now with a mistake keeps its task as last applied: only a row that
    # is gone takes its task to the trash.
    still_there = {p.task for p in problems if p.task} - wanted
    removed = [
        d
        for name, d in sorted(existing.items())
        if home_of(d.tags) == mine and not is_trashed(d.tags) and name not in wanted | still_there
    ]
    for deployment in removed:
        # One audit event each, as `tasklane delete` records its own.
        async with audited(
            "task.deleted",
            deployment.name,
            actor,
            project=target.project,
            client=client,
            deployment_id=deployment.id,
            change={"reason": "no longer in the source"},
        ):
            trashed = await trash_tasks(client, [deployment], target)
        result.changes += [
            f"- {name}  (no longer in the source: moved to the trash)" for name in trashed.names
        ]
    result.tasks = sorted(
        wanted | {n for n in still_there if n in existing and home_of(existing[n].tags) == mine}
    )
    result.problems = [str(p) for p in problems]
    _write_record(home, result)
    return result
