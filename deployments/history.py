"""History, statistics, logs, retention and the report watermark, over Prefect's flow-run API.

Every execution of a task is a Prefect flow run of its deployment (tag `tasklane`); this module
reads them as `integrations.report.RunRecord`s, which the report flow, the maintenance flow and
the CLI (`tasklane history|stats|logs|report`) share:

- `history`: the seeds' history query (task, group, state, time range, limit) on Prefect's
  flow-run filters, newest first;
- `finished_runs`: every run that ended in a window, paged by end time (used by reports and stats);
- `task_stats`: `integrations.report.Stats` over a window;
- `read_watermark` / `save_watermark`: the report's progress, a Prefect Variable on the server;
- `purge_history`: retention (older than `retention_days`, beyond `max_records`), deleting the
  runs' artifacts too; Prefect deletes a deleted run's logs itself (in the background);
- `read_run_logs`, `follow_logs`, `format_log`: `tasklane logs RUN_ID [--follow] [--grep] [--level]`.

Settings (`HistorySettings`, `ReportSettings`) are defined here and folded into
`tasklane/settings.py` as `history:` and `report:`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
from prefect.client.schemas.objects import Log
from prefect.client.schemas.sorting import LogSort
from prefect.settings import PREFECT_UI_URL
from pydantic import BaseModel, Field

from integrations.report import DEFAULT_COLUMNS, RunRecord, Stats, compute_stats

TASKLANE_TAG = "tasklane"
TEMPLATE_DIR = Path(__file__).parent / "report_templates"
TERMINAL_TYPES = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]
PAGE = 200  # the server's maximum page of flow runs
DELETE_PAGE = 50  # the server's maximum bulk delete
WATERMARK_PREFIX = "tasklane_report_"

# Seed names of states -> Prefect state names/types (the seeds' DONE/FAILED/TIMEOUT/... and Prefect's).
STATE_ALIASES: dict[str, tuple[str, str]] = {
    "done": ("type", "COMPLETED"),
    "success": ("type", "COMPLETED"),
    "completed": ("type", "COMPLETED"),
    "failed": ("type", "FAILED"),
    "timeout": ("name", "TimedOut"),
    "timed_out": ("name", "TimedOut"),
    "timedout": ("name", "TimedOut"),
    "crashed": ("type", "CRASHED"),
    "cancelled": ("type", "CANCELLED"),
    "canceled": ("type", "CANCELLED"),
    "running": ("type", "RUNNING"),
    "pending": ("type", "PENDING"),
    "scheduled": ("type", "SCHEDULED"),
    "retry": ("name", "AwaitingRetry"),
}


# --- settings ----------------------------------------------------------------------------------


class HistorySettings(BaseModel):
    """Run history kept on the Prefect server (seed 003 `history:`)."""

    retention_days: float = Field(30, gt=0, description="Finished runs older than this are deleted.")
    max_records: int = Field(10_000, ge=1, description="At most this many finished runs are kept.")
    maintenance_cron: str = Field("17 3 * * *", description="When the maintenance flow runs.")


class ReportSettings(BaseModel):
    """The report flow: which runs, where it publishes, with which templates."""

    name: str = Field("default", pattern=r"^[a-z0-9_-]+$", description="Watermark variable suffix.")
    interval_minutes: int = Field(30, ge=1, description="How often the report deployment runs.")
    tags: list[str] = Field(
        default_factory=lambda: [TASKLANE_TAG], description="Runs carrying all of these tags are reported."
    )
    targets: list[Literal["confluence", "mattermost", "excel"]] = Field(
        default_factory=lambda: ["excel"],
        description="Where to publish; the Prefect table and markdown artifacts are always made.",
    )
    confluence_block: str = Field("sandbox", description="confluence-credentials block.")
    page_id: str | None = Field(None, description="Confluence page holding the results table.")
    table_heading: str = Field("Task run results", description="Heading above the results table.")
    columns: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_COLUMNS),
        description="Results table: header -> Jinja expression over `run`; 'Run id' is the upsert key.",
    )
    attach_charts: bool = Field(True, description="Attach the chart PNGs to the Confluence page.")
    mattermost_block: str = Field("sandbox", description="mattermost-credentials block.")
    channel: str | None = Field(None, description="Channel name or id; the block's channel when empty.")
    team: str | None = Field(None, description="Team of a channel name; the block's team when empty.")
    excel_dir: Path = Field(Path(".tasklane/reports"), description="Where workbooks and charts are written.")
    template_dir: Path | None = Field(
        None, description="Directory whose mattermost.md.j2 / report.md.j2 replace the defaults."
    )
    settle_seconds: float = Field(
        5.0, ge=0, description="Runs that ended less than this ago wait for the next report."
    )
    first_report_days: float = Field(1.0, gt=0, description="How far back the very first report reaches.")
    stats_days: int = Field(7, ge=1, description="Window of the statistics and charts of a report.")
    max_failures: int = Field(20, ge=1, description="Failures listed in the summary.")

    @property
    def variable_name(self) -> str:
        return WATERMARK_PREFIX + self.name.replace("-", "_")


# --- records -----------------------------------------------------------------------------------


def ui_base_url() -> str | None:
    """The Prefect UI's base URL (PREFECT_UI_URL, derived from the API URL when unset)."""
    value = PREFECT_UI_URL.value()
    return str(value).rstrip("/") if value else None


def run_link(run_id: str, ui_url: str | None = None) -> str | None:
    base = ui_url if ui_url is not None else ui_base_url()
    return f"{base}/runs/flow-run/{run_id}" if base else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _tag(tags: Iterable[str], prefix: str) -> str | None:
    for tag in tags:
        if tag.startswith(prefix + ":"):
            return tag.split(":", 1)[1]
    return None


def record_from_json(data: dict[str, Any], task: str, ui_url: str | None) -> RunRecord:
    """A RunRecord from a flow run as the API returns it (JSON)."""
    state = data.get("state") or {}
    start, end = _time(data.get("start_time")), _time(data.get("end_time"))
    duration = (end - start).total_seconds() if start and end else None
    return RunRecord(
        run_id=str(data["id"]),
        run_name=data.get("name") or "",
        task=task,
        group=_tag(data.get("tags") or [], "group"),
        state=data.get("state_name") or state.get("name") or "",
        state_type=data.get("state_type") or state.get("type") or "",
        start=start,
        end=end,
        duration=duration,
        message=(state.get("message") or "").strip(),
        link=run_link(str(data["id"]), ui_url),
    )


async def _post(client: PrefectClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.request("POST", path, json=body)  # type: ignore[arg-type]
    response.raise_for_status()
    return response.json()


async def _task_names(client: PrefectClient, runs: list[dict[str, Any]], cache: dict[str, str]) -> None:
    """Fill `cache` with deployment id -> name (and flow id -> name for runs without a deployment)."""
    deployment_ids = {r["deployment_id"] for r in runs if r.get("deployment_id")} - set(cache)
    if deployment_ids:
        found = await _post(
            client,
            "/deployments/filter",
            {"deployments": {"id": {"any_": sorted(deployment_ids)}}, "limit": len(deployment_ids)},
        )
        cache.update({d["id"]: d["name"] for d in found})
    flow_ids = {
        r["flow_id"] for r in runs if not cache.get(r.get("deployment_id") or "") and r.get("flow_id")
    } - set(cache)
    if flow_ids:
        found = await _post(client, "/flows/filter", {"flows": {"id": {"any_": sorted(flow_ids)}}})
        cache.update({f["id"]: f["name"] for f in found})


def _task_of(run: dict[str, Any], cache: dict[str, str]) -> str:
    return cache.get(run.get("deployment_id") or "") or cache.get(run.get("flow_id") or "") or "?"


def _state_filter(state: str | None) -> dict[str, Any]:
    if not state:
        return {}
    kind, value = STATE_ALIASES.get(state.lower(), ("name", state))
    if kind == "type":
        return {"state": {"type": {"any_": [value]}}}
    return {"state": {"name": {"any_": [value]}}}


async def history(
    client: PrefectClient,
    task: str | None = None,
    group: str | None = None,
    state: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    *,
    tags: Iterable[str] = (TASKLANE_TAG,),
    offset: int = 0,
) -> list[RunRecord]:
    """Runs of Tasklane tasks, newest first (by expected start), filtered like the seeds' history API.

    Args:
        task: a task (deployment) name. group: the task's group. state: a Prefect state name or
            type (Completed, Failed, TimedOut, ...) or a seed status (done, failed, timeout, ...).
        since / until: runs expected to start in [since, until].
        limit / offset: one page of at most 200.
    """
    flow_runs: dict[str, Any] = {"tags": {"all_": [*tags, *([f"group:{group}"] if group else [])]}}
    flow_runs.update(_state_filter(state))
    if since or until:
        window: dict[str, Any] = {}
        if since:
            window["after_"] = since.isoformat()
        if until:
            window["before_"] = until.isoformat()
        flow_runs["expected_start_time"] = window
    body: dict[str, Any] = {
        "flow_runs": flow_runs,
        "sort": "EXPECTED_START_TIME_DESC",
        "limit": min(limit, PAGE),
        "offset": offset,
    }
    if task:
        body["deployments"] = {"name": {"any_": [task]}}
    runs = await _post(client, "/flow_runs/filter", body)
    names: dict[str, str] = {}
    await _task_names(client, runs, names)
    ui_url = ui_base_url()
    return [record_from_json(r, _task_of(r, names), ui_url) for r in runs]


async def finished_runs(
    client: PrefectClient,
    after: datetime | None,
    until: datetime,
    *,
    tags: Iterable[str] = (TASKLANE_TAG,),
    task: str | None = None,
    group: str | None = None,
) -> list[RunRecord]:
    """Every run (carrying all `tags`) whose end time is in (after, until], oldest end first.

    Paged by end time (newest first, each page ending where the last one began), so runs that
    end meanwhile cannot shift pages; runs sharing the boundary timestamp are de-duplicated.
    """
    tags = [*tags, *([f"group:{group}"] if group else [])]
    seen: set[str] = set()
    collected: list[dict[str, Any]] = []
    before = until
    offset = 0
    while True:
        end_time: dict[str, Any] = {"before_": before.isoformat()}
        if after is not None:
            end_time["after_"] = after.isoformat()
        body: dict[str, Any] = {
            "flow_runs": {"tags": {"all_": tags}, "end_time": end_time},
            "sort": "END_TIME_DESC",
            "limit": PAGE,
            "offset": offset,
        }
        if task:
            body["deployments"] = {"name": {"any_": [task]}}
        page = await _post(client, "/flow_runs/filter", body)
        fresh = [r for r in page if r["id"] not in seen and r.get("end_time")]
        for run in fresh:
            seen.add(run["id"])
        collected.extend(fresh)
        if len(page) < PAGE:
            break
        oldest = _time(page[-1]["end_time"])
        assert oldest is not None
        if oldest == before:
            offset += PAGE  # a whole page at one timestamp: step through it by offset
        else:
            before, offset = oldest, 0
    # `after_` is inclusive on the server; the window is (after, until].
    if after is not None:
        collected = [r for r in collected if _time(r["end_time"]) > after]  # type: ignore[operator]
    names: dict[str, str] = {}
    await _task_names(client, collected, names)
    ui_url = ui_base_url()
    records = [record_from_json(r, _task_of(r, names), ui_url) for r in collected]
    records.sort(key=lambda r: (r.end, r.run_id))  # type: ignore[arg-type, return-value]
    return records


async def task_stats(
    client: PrefectClient,
    since: datetime,
    until: datetime | None = None,
    *,
    task: str | None = None,
    group: str | None = None,
    tags: Iterable[str] = (TASKLANE_TAG,),
) -> Stats:
    """Statistics of the runs that ended in [since, until) (until: now), per task, group and overall."""
    until = until or datetime.now(UTC)
    # finished_runs' window is (after, until]; stats' is [since, until): widen by a microsecond each side.
    records = await finished_runs(
        client, since - timedelta(microseconds=1), until, tags=tags, task=task, group=group
    )
    return compute_stats(records, since, until)


# --- the report watermark -----------------------------------------------------------------------


@dataclass
class Watermark:
    """How far the report got: runs that ended up to `reported` were published to every target.

    `pending` is a window (reported, pending] whose publishing started but did not finish, and
    `done` the targets that got it; the next report finishes that window first, for the other
    targets only, so a crash neither skips nor repeats a run.
    """

    reported: datetime | None = None
    pending: datetime | None = None
    done: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "reported": self.reported.isoformat() if self.reported else None,
            "pending": self.pending.isoformat() if self.pending else None,
            "done": sorted(self.done),
        }

    @classmethod
    def from_json(cls, value: Any) -> Watermark:
        if not isinstance(value, dict):
            return cls()
        return cls(
            reported=_time(value.get("reported")),
            pending=_time(value.get("pending")),
            done=list(value.get("done") or []),
        )


async def read_watermark(client: PrefectClient, name: str) -> Watermark:
    variable = await client.read_variable_by_name(name)
    return Watermark.from_json(variable.value if variable else None)


async def save_watermark(client: PrefectClient, name: str, watermark: Watermark) -> None:
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    value = watermark.to_json()
    if await client.read_variable_by_name(name) is None:
        await client.create_variable(VariableCreate(name=name, value=value, tags=["tasklane"]))
    else:
        await client.update_variable(VariableUpdate(name=name, value=value))


# --- retention ----------------------------------------------------------------------------------


@dataclass
class PurgeResult:
    """What retention removed (or, with dry_run, would remove)."""

    expired: list[str] = field(default_factory=list)  # run ids older than retention_days
    overflow: list[str] = field(default_factory=list)  # run ids beyond max_records
    artifacts: int = 0
    cutoff: datetime | None = None
    kept: int = 0
    dry_run: bool = False

    @property
    def deleted(self) -> int:
        return len(self.expired) + len(self.overflow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted_runs": self.deleted,
            "expired": len(self.expired),
            "overflow": len(self.overflow),
            "deleted_artifacts": self.artifacts,
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "kept": self.kept,
            "dry_run": self.dry_run,
        }


async def _run_ids(client: PrefectClient, flow_runs: dict[str, Any], offset: int) -> list[str]:
    page = await _post(
        client,
        "/flow_runs/filter",
        {"flow_runs": flow_runs, "sort": "END_TIME_DESC", "limit": PAGE, "offset": offset},
    )
    return [r["id"] for r in page]


async def _delete_runs(client: PrefectClient, run_ids: list[str]) -> int:
    """Delete runs and their artifacts; return the number of artifacts deleted.

    Prefect's run delete removes the run and its task runs, and queues the deletion of its logs;
    artifacts stay unless deleted here (only the opt-in orphan vacuum would remove them).
    """
    artifacts = 0
    for start in range(0, len(run_ids), DELETE_PAGE):
        batch = run_ids[start : start + DELETE_PAGE]
        while True:
            found = await _post(
                client, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": batch}}, "limit": PAGE}
            )
            if not found:
                break
            for artifact in found:
                response = await client.request(
                    "DELETE", "/artifacts/{id}", path_params={"id": artifact["id"]}
                )
                if response.status_code not in (204, 404):
                    response.raise_for_status()
                artifacts += 1
        await _post(
            client, "/flow_runs/bulk_delete", {"flow_runs": {"id": {"any_": batch}}, "limit": len(batch)}
        )
    return artifacts


async def purge_history(
    client: PrefectClient,
    settings: HistorySettings,
    *,
    tags: Iterable[str] = (TASKLANE_TAG,),
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete finished runs that ended before `now - retention_days`, then the oldest beyond `max_records`.

    Only runs carrying all `tags` (Tasklane's) are considered; runs not yet finished never are.
    """
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=settings.retention_days)
    finished = {"tags": {"all_": list(tags)}, "state": {"type": {"any_": TERMINAL_TYPES}}}
    result = PurgeResult(cutoff=cutoff, dry_run=dry_run)
    expired_filter = {**finished, "end_time": {"before_": cutoff.isoformat()}}
    offset = 0
    while True:
        ids = await _run_ids(client, expired_filter, offset)
        if not ids:
            break
        result.expired.extend(ids)
        if dry_run:
            offset += len(ids)
        else:
            result.artifacts += await _delete_runs(client, ids)
    total = await _post(client, "/flow_runs/count", {"flow_runs": finished})
    if dry_run:
        total -= len(result.expired)
    overflow_offset = settings.max_records
    while total > settings.max_records:
        ids = await _run_ids(client, finished, overflow_offset)
        ids = [i for i in ids if i not in set(result.expired)][: total - settings.max_records]
        if not ids:
            break
        result.overflow.extend(ids)
        total -= len(ids)
        if dry_run:
            overflow_offset += len(ids)
        else:
            result.artifacts += await _delete_runs(client, ids)
    result.kept = total
    return result


# --- logs ---------------------------------------------------------------------------------------

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def level_number(level: str | int | None) -> int | None:
    if level is None or isinstance(level, int):
        return level
    try:
        return LEVELS[level.upper()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r} (one of {', '.join(LEVELS)})") from None


def format_log(log: Log) -> str:
    """One line: `2024-01-01 02:00:00.123 INFO    message`."""
    stamp = log.timestamp.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    return f"{stamp} {logging.getLevelName(log.level):<8} {log.message}"


def log_matcher(grep: str | None, regex: bool = False) -> Callable[[Log], bool]:
    if not grep:
        return lambda log: True
    pattern = re.compile(grep if regex else re.escape(grep), re.IGNORECASE)
    return lambda log: bool(pattern.search(log.message))


async def read_run_logs(
    client: PrefectClient,
    flow_run_id: UUID | str,
    *,
    grep: str | None = None,
    level: str | int | None = None,
    regex: bool = False,
) -> list[Log]:
    """Every log line of a run (its task runs included), oldest first, filtered by text and level."""
    run_id = UUID(str(flow_run_id))
    minimum = level_number(level)
    matches = log_matcher(grep, regex)
    logs: list[Log] = []
    offset = 0
    while True:
        page = await client.read_logs(
            log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[run_id]),
                level=LogFilterLevel(ge_=minimum) if minimum is not None else None,
            ),
            sort=LogSort.TIMESTAMP_ASC,
            limit=PAGE,
            offset=offset,
        )
        logs.extend(log for log in page if matches(log))
        if len(page) < PAGE:
            return logs
        offset += PAGE


async def follow_logs(
    client: PrefectClient,
    flow_run_id: UUID | str,
    on_line: Callable[[str], Awaitable[None] | None],
    *,
    grep: str | None = None,
    level: str | int | None = None,
    regex: bool = False,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
) -> Any:
    """`tasklane logs RUN_ID --follow`: print each new matching line until the run ends; return the run."""
    from deployments.operations import follow_run

    minimum = level_number(level)
    matches = log_matcher(grep, regex)

    async def on_log(log: Log) -> None:
        if (minimum is None or log.level >= minimum) and matches(log):
            outcome = on_line(format_log(log))
            if asyncio.iscoroutine(outcome):
                await outcome

    return await follow_run(
        client, UUID(str(flow_run_id)), on_log=on_log, poll_seconds=poll_seconds, timeout=timeout
    )


async def export_logs(
    client: PrefectClient,
    flow_run_id: UUID | str,
    output: str | Path,
    *,
    grep: str | None = None,
    level: str | int | None = None,
    regex: bool = False,
) -> int:
    """`tasklane logs RUN_ID --output FILE`: write the matching lines to a file; return how many."""
    logs = await read_run_logs(client, flow_run_id, grep=grep, level=level, regex=regex)
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(format_log(log) + "\n" for log in logs), encoding="utf-8")
    return len(logs)


async def iter_history_pages(
    client: PrefectClient, page_size: int = PAGE, **filters: Any
) -> AsyncIterator[list[RunRecord]]:
    """`history` page after page (for exports): stops at the first short page."""
    offset = 0
    while True:
        page = await history(client, limit=page_size, offset=offset, **filters)
        if page:
            yield page
        if len(page) < page_size:
            return
        offset += page_size
