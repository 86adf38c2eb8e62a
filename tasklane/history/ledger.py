"""The run ledger: a local copy of the few facts statistics need about every ended run, so that
figures over any window answer from an index instead of reading every run through the API.

Reading 23,000 runs of a week through `/flow_runs/filter` takes ~4 s (200 runs a page, ~100 ms of
server time each); the same figures from the ledger take a few tens of milliseconds.

Prefect's server stays the truth: the ledger is a cache of it (SQLite, one file per server under
the Tasklane home, shared by the processes of one machine) that keeps itself current:

- `refresh`: the runs that ended since the last refresh (minus `REFRESH_MARGIN`, for runs whose
  end committed late or a clock a little off), in one sorted read; cheap, so every statistics
  read does it first (a run that just ended is counted at once);
- `reconcile`: per day of expected start over `RECONCILE_DAYS`, the server's own count of ended
  runs by state (`/flow_runs/history`, aggregated in SQL whatever the history's size) against
  the ledger's; a day that differs (runs deleted by retention or in Prefect's UI, inserted with
  old times, retried after they ended, re-marked Crashed) is read again and replaced. Runs at most
  once per `RECONCILE_EVERY_SECONDS` in a process;
- `rebuild`: forget everything and read every ended run (`tasklane stats --rebuild`); an empty
  ledger builds itself this way on first use.

`ledger_stats` computes `integrations.report.Stats` from it with the same rules as
`compute_stats` over the runs themselves (one definition of success and failure, nearest-rank
percentiles): `tasklane.history.stats.task_stats` uses it whenever the runs asked for are
Tasklane's (its tag, a project, a group).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import sqlite3
import threading
import time
import weakref
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import PrefectHTTPStatusError

from deployments.tags import PROJECT_TAG_PREFIX
from integrations.report import Figures, RunRecord, Stats, percentile
from tasklane.history.runs import (
    PAGE,
    TERMINAL_TYPES,
    RunQuery,
    _tag,
    _task_names,
    _task_of,
    parse_time,
    post_json,
    read_runs,
)
from tasklane.settings.reports import TASKLANE_TAG

logger = logging.getLogger(__name__)

LEDGER_DIR = "ledger"
SCHEMA_VERSION = "2"
REFRESH_MARGIN = timedelta(seconds=10)
# A refresh started this recently is shared by a new caller instead of starting another.
JOIN_SECONDS = 0.1
RECONCILE_EVERY_SECONDS = 60.0
# Prefect's history answers at most 500 intervals: a day each.
RECONCILE_DAYS = 400
_DAY = timedelta(days=1)
_US = 1_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    deployment_id TEXT,
    task TEXT NOT NULL,
    grp TEXT,
    project TEXT,
    state TEXT NOT NULL,
    state_type TEXT NOT NULL,
    start_us INTEGER,
    end_us INTEGER,
    expected_us INTEGER,
    duration REAL
);
CREATE INDEX IF NOT EXISTS runs_end ON runs(end_us);
CREATE INDEX IF NOT EXISTS runs_expected ON runs(expected_us);
CREATE INDEX IF NOT EXISTS runs_deployment_end ON runs(deployment_id, end_us);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = "id, deployment_id, task, grp, project, state, state_type, start_us, end_us, expected_us, duration"


def _us(value: datetime | None) -> int | None:
    """Microseconds since the epoch: exact, where a float of seconds loses the last digits."""
    if value is None:
        return None
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _from_us(value: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)


# id, deployment_id, task, grp, project, state, state_type, start_us, end_us, expected_us, duration
Row = tuple[Any, ...]


def _row(run: dict[str, Any], task: str) -> Row:
    state = run.get("state") or {}
    start, end = parse_time(run.get("start_time")), parse_time(run.get("end_time"))
    tags = run.get("tags") or []
    return (
        str(run["id"]),
        run.get("deployment_id"),
        task,
        _tag(tags, "group"),
        next((t.removeprefix(PROJECT_TAG_PREFIX) for t in tags if t.startswith(PROJECT_TAG_PREFIX)), None),
        run.get("state_name") or state.get("name") or "",
        run.get("state_type") or state.get("type") or "",
        _us(start),
        _us(end),
        _us(parse_time(run.get("expected_start_time"))),
        (end - start).total_seconds() if start and end else None,
    )


class RunLedger:
    """The ledger's file: rows of ended runs and its own bookkeeping (watermark, last reconcile)."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per process, used from worker threads one at a time.
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._guard = threading.Lock()
        # One refresh or reconcile at a time in this process; a lock per event loop, since the
        # CLI runs each command in a loop of its own.
        self._locks: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Lock] = {}
        self.refreshed_at = 0.0  # time.monotonic() of this process's last refresh
        # Per event loop: (when it started, the task) of the refresh under way.
        self.refreshing: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[float, asyncio.Task[int]]
        ] = weakref.WeakKeyDictionary()
        self.kept = False  # `keep_current` reconciles it in the background in this process
        self.reconciled_at = 0.0
        # WAL: readers in other processes (the CLI beside the console) never wait for a writer.
        self._connection.execute("PRAGMA journal_mode=WAL")
        with self._transaction() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            version = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if version is None or version[0] != SCHEMA_VERSION:
                db.execute("DELETE FROM runs")
                db.execute("DELETE FROM meta")
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def _loop_lock(self, kind: str) -> asyncio.Lock:
        key = (asyncio.get_running_loop(), kind)
        if key not in self._locks:
            self._locks[key] = asyncio.Lock()
        return self._locks[key]

    @property
    def lock(self) -> asyncio.Lock:
        """Held while the ledger is built from nothing."""
        return self._loop_lock("build")

    @property
    def reconciling(self) -> asyncio.Lock:
        """Held while a reconcile runs (one at a time)."""
        return self._loop_lock("reconcile")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._guard:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._guard:
            return self._connection.execute(sql, tuple(params)).fetchall()

    def close(self) -> None:
        with self._guard:
            self._connection.close()

    # --- bookkeeping ---

    def meta(self, key: str) -> str | None:
        found = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return found[0][0] if found else None

    @property
    def watermark(self) -> datetime | None:
        """Every run that ended by this time is in the ledger (None: never built)."""
        value = self.meta("watermark")
        return datetime.fromisoformat(value) if value else None

    # --- changes, each in one transaction ---

    def add(self, rows: list[Row], *, watermark: datetime | None = None) -> None:
        with self._transaction() as db:
            db.executemany(f"INSERT OR REPLACE INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
            if watermark is not None:
                held = db.execute("SELECT value FROM meta WHERE key = 'watermark'").fetchone()
                # Refreshes in other processes may end in any order: the watermark only moves on.
                if held is None or datetime.fromisoformat(held[0]) < watermark:
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('watermark', ?)", (watermark.isoformat(),)
                    )

    def replace_expected(self, start: datetime, end: datetime, rows: list[Row]) -> None:
        """The runs expected to start in [start, end) are exactly `rows`."""
        with self._transaction() as db:
            db.execute("DELETE FROM runs WHERE expected_us >= ? AND expected_us < ?", (_us(start), _us(end)))
            db.executemany(f"INSERT OR REPLACE INTO runs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)

    def clear(self) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM runs")
            db.execute("DELETE FROM meta WHERE key = 'watermark'")

    def forget(self, run_ids: Iterable[str]) -> None:
        """Drop these runs (deleted on the server: retention)."""
        with self._transaction() as db:
            db.executemany("DELETE FROM runs WHERE id = ?", [(str(i),) for i in run_ids])

    def day_counts(self, start: datetime, days: int) -> Counter[tuple[int, str, str]]:
        """(day index from `start`, state type, state name) -> runs, by expected start."""
        rows = self.query(
            "SELECT (expected_us - ?) / ?, state_type, state, COUNT(*) FROM runs"
            " WHERE expected_us >= ? AND expected_us < ? GROUP BY 1, 2, 3",
            (_us(start), 86_400 * _US, _us(start), _us(start + days * _DAY)),
        )
        return Counter({(int(day), kind, name): count for day, kind, name, count in rows})

    def last_outcomes(self, deployment_ids: Iterable[str]) -> dict[str, LastOutcome]:
        """Each deployment's latest ended run (by end time), for those that have one."""
        wanted = [str(i) for i in deployment_ids]
        found: dict[str, LastOutcome] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            # SQLite gives the other columns of the row that holds MAX(end_us).
            for deployment_id, run_id, state, end_us in self.query(
                f"SELECT deployment_id, id, state, MAX(end_us) FROM runs"
                f" WHERE deployment_id IN ({marks}) AND end_us IS NOT NULL GROUP BY deployment_id",
                chunk,
            ):
                found[deployment_id] = LastOutcome(UUID(run_id), state, _from_us(end_us))
        return found


@dataclass(frozen=True)
class LastOutcome:
    """A task's latest ended run, as the tasks list shows it."""

    id: UUID
    state_name: str
    end_time: datetime


_ledgers: dict[Path, RunLedger] = {}


def ledger_path(home: Path, api_url: str) -> Path:
    """The ledger of the server at `api_url`: one file per server, so test servers never mix."""
    digest = hashlib.sha256(api_url.rstrip("/").encode()).hexdigest()[:16]
    return Path(home) / LEDGER_DIR / f"{digest}.sqlite"


def ledger_for(client: PrefectClient, home: Path | None = None) -> RunLedger:
    """This process's ledger of the client's server (opened once)."""
    if home is None:
        from tasklane.settings import get_settings

        home = Path(get_settings().home)
    path = ledger_path(home, str(client.api_url))
    if path not in _ledgers:
        _ledgers[path] = RunLedger(path)
    return _ledgers[path]


# --- keeping it current -------------------------------------------------------------------------


async def _rows(client: PrefectClient, runs: list[dict[str, Any]], names: dict[str, str]) -> list[Row]:
    await _task_names(client, runs, names)
    return [_row(r, _task_of(r, names)) for r in runs]


async def _ended_since(
    client: PrefectClient, after: datetime | None, until: datetime
) -> list[dict[str, Any]]:
    """Every Tasklane run in a final state whose end time is in [after, until], as JSON; paged by
    end time (each page ending where the last began) so runs ending meanwhile shift no page."""
    query = RunQuery(finished=True, since=after, window="end_time")
    seen: set[str] = set()
    found: list[dict[str, Any]] = []
    before, offset = until, 0
    while True:
        page = await read_runs(client, query.replace(until=before), sort="END_TIME_DESC", offset=offset)
        found += [r for r in page if r["id"] not in seen and r.get("end_time")]
        seen.update(r["id"] for r in page)
        if len(page) < PAGE:
            return found
        oldest = parse_time(page[-1]["end_time"])
        if oldest is None or oldest == before:
            offset += PAGE  # a whole page at one timestamp: step through it by offset
        else:
            before, offset = oldest, 0


async def refresh(client: PrefectClient, ledger: RunLedger) -> int:
    """Add the runs that ended since the watermark; how many were read. Callers within
    JOIN_SECONDS of a refresh under way share it (a page's reads run side by side)."""
    loop = asyncio.get_running_loop()
    under_way = ledger.refreshing.get(loop)
    if under_way is not None and not under_way[1].done() and time.monotonic() - under_way[0] <= JOIN_SECONDS:
        return await asyncio.shield(under_way[1])
    task = loop.create_task(_refresh(client, ledger))
    ledger.refreshing[loop] = (time.monotonic(), task)
    return await asyncio.shield(task)


async def _refresh(client: PrefectClient, ledger: RunLedger) -> int:
    until = datetime.now(UTC)
    mark = ledger.watermark
    runs = await _ended_since(client, mark - REFRESH_MARGIN if mark else None, until)
    rows = await _rows(client, runs, {})
    await asyncio.to_thread(ledger.add, rows, watermark=until)
    ledger.refreshed_at = time.monotonic()
    return len(rows)


async def rebuild(client: PrefectClient, ledger: RunLedger) -> int:
    """Forget every row and read every ended run again; how many runs the ledger holds."""
    async with ledger.lock:
        # It then holds what the server holds: nothing to reconcile.
        return await rebuild_unlocked(client, ledger)


@dataclass
class Reconciled:
    """What `reconcile` found: the days (ISO dates) whose runs it read again, and how many runs."""

    days: list[str] = field(default_factory=list)
    runs: int = 0


def _day_start(now: datetime, days: int) -> datetime:
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - (days - 1) * _DAY


async def reconcile(client: PrefectClient, ledger: RunLedger, days: int = RECONCILE_DAYS) -> Reconciled:
    """Compare each day's ended runs by state with the server's own counts; read again the days
    that differ (by expected start, today included). Reads and refreshes go on meanwhile."""
    async with ledger.reconciling:
        await refresh(client, ledger)  # what ended meanwhile is not a difference
        return await _reconcile(client, ledger, days)


async def _reconcile(client: PrefectClient, ledger: RunLedger, days: int) -> Reconciled:
    start = _day_start(datetime.now(UTC), days)
    body = {
        **RunQuery(state_types=tuple(TERMINAL_TYPES)).filters(indexed=True),
        "history_start": start.isoformat(),
        "history_end": (start + days * _DAY).isoformat(),
        "history_interval_seconds": _DAY.total_seconds(),
    }
    server: Counter[tuple[int, str, str]] = Counter()
    for index, interval in enumerate(await post_json(client, "/flow_runs/history", body)):
        for state in interval["states"]:
            if state["count_runs"]:
                server[(index, state["state_type"], state["state_name"])] += state["count_runs"]
    held = await asyncio.to_thread(ledger.day_counts, start, days)
    differing = sorted({key[0] for key in (server - held) + (held - server)})
    result = Reconciled()
    names: dict[str, str] = {}
    for index in differing:
        day = start + index * _DAY
        query = RunQuery(finished=True, since=day, until=day + _DAY - timedelta(microseconds=1))
        runs: list[dict[str, Any]] = []
        while True:
            page = await read_runs(client, query, offset=len(runs))
            runs += page
            if len(page) < PAGE:
                break
        rows = await _rows(client, runs, names)
        await asyncio.to_thread(ledger.replace_expected, day, day + _DAY, rows)
        result.days.append(day.date().isoformat())
        result.runs += len(rows)
    ledger.reconciled_at = time.monotonic()
    return result


async def current_ledger(
    client: PrefectClient, *, reconciled: bool = True, built: bool = False
) -> RunLedger | None:
    """The ledger of the client's server: built if empty, refreshed, and reconciled if that is
    due (once per RECONCILE_EVERY_SECONDS in this process, unless `keep_current` does it in the
    background here). `built`: None rather than build an empty one (for a read that has a
    cheaper way than a build of the whole history)."""
    ledger = ledger_for(client)
    if ledger.watermark is None:
        if built:
            return None
        async with ledger.lock:
            if ledger.watermark is None:  # not built by another caller meanwhile
                await rebuild_unlocked(client, ledger)
    await refresh(client, ledger)
    due = time.monotonic() - ledger.reconciled_at >= RECONCILE_EVERY_SECONDS
    if reconciled and due and not ledger.kept and not ledger.reconciling.locked():
        await reconcile(client, ledger)
    return ledger


async def rebuild_unlocked(client: PrefectClient, ledger: RunLedger) -> int:
    await asyncio.to_thread(ledger.clear)
    count = await _refresh(client, ledger)
    ledger.reconciled_at = time.monotonic()
    return count


async def keep_current(client: PrefectClient, every: float = RECONCILE_EVERY_SECONDS) -> None:
    """Keep the ledger built, refreshed and reconciled in the background (the console's process
    runs this), so that no page waits for a build or a reconcile. A server that does not answer
    is tried again on the next round: the ledger only lags meanwhile (every read refreshes it)."""
    ledger = ledger_for(client)
    ledger.kept = True
    try:
        while True:
            try:
                await current_ledger(client, reconciled=False)
                await reconcile(client, ledger)
            except (httpx.HTTPError, PrefectHTTPStatusError, sqlite3.Error) as error:
                logger.warning(
                    "run ledger %s: could not bring it up to date (%s); again in %g s",
                    ledger.path,
                    error,
                    every,
                )
            await asyncio.sleep(every)
    finally:
        ledger.kept = False


# --- statistics ---------------------------------------------------------------------------------


def scope_of(tags: Iterable[str]) -> tuple[str | None, str | None] | None:
    """(project, group) the tags select among Tasklane's runs, or None when they name something
    the ledger does not hold (runs without Tasklane's tag, other tags): those go to the server."""
    tags = list(tags)
    if TASKLANE_TAG not in tags:
        return None
    project = group = None
    for tag in tags:
        if tag == TASKLANE_TAG:
            continue
        if tag.startswith(PROJECT_TAG_PREFIX) and project is None:
            project = tag.removeprefix(PROJECT_TAG_PREFIX)
        elif tag.startswith("group:") and group is None:
            group = tag.removeprefix("group:")
        else:
            return None
    return project, group


@dataclass
class LedgerStats:
    """`Stats` over a window, with what runs-per-day needs: each task's first start or end in the
    window and the group of its latest run."""

    stats: Stats
    first_seen: dict[str, datetime]
    groups: dict[str, str]


def _figures(
    states: Counter[tuple[str, str]], durations: list[float], total_seconds: float, days: float
) -> Figures:
    runs = sum(states.values())
    successes = failures = cancelled = 0
    by_state: Counter[str] = Counter()
    for (name, kind), count in states.items():
        # The same definitions as a RunRecord's: one source of what success and failure are.
        record = RunRecord("", "", "", None, name, kind, None, None, None)
        successes += count if record.succeeded else 0
        failures += count if record.failed else 0
        cancelled += count if kind == "CANCELLED" else 0
        by_state[name] += count
    p50, p95 = percentile(durations, 50), percentile(durations, 95)
    return Figures(
        runs=runs,
        successes=successes,
        failures=failures,
        cancelled=cancelled,
        success_rate=round(100.0 * successes / runs, 2) if runs else None,
        avg_duration=round(total_seconds / len(durations), 3) if durations else None,
        p50_duration=round(p50, 3) if p50 is not None else None,
        p95_duration=round(p95, 3) if p95 is not None else None,
        runs_per_day=round(runs / days, 3) if days > 0 else float(runs),
        by_state=dict(by_state),
    )


def ledger_stats(
    ledger: RunLedger,
    since: datetime,
    until: datetime,
    *,
    project: str | None = None,
    task: str | None = None,
    group: str | None = None,
) -> LedgerStats:
    """Statistics of the runs that ended in [since, until), as `compute_stats` computes them from
    the runs themselves. Runs on a thread's time (a few SQLite queries)."""
    where = ["end_us >= ?", "end_us < ?"]
    params: list[Any] = [_us(since), _us(until)]
    for column, value in (("project", project), ("task", task), ("grp", group)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    clause = " AND ".join(where)
    # Durations in ascending order: each scope's list comes out sorted, ready for its percentiles.
    rows = ledger.query(
        f"SELECT task, grp, state, state_type, duration, end_us, start_us FROM runs WHERE {clause}"
        " ORDER BY duration IS NULL, duration",
        params,
    )
    task_states: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    group_states: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    all_states: Counter[tuple[str, str]] = Counter()
    task_durations: dict[str, list[float]] = defaultdict(list)
    group_durations: dict[str, list[float]] = defaultdict(list)
    all_durations: list[float] = []
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    first: dict[str, int] = {}
    latest: dict[str, tuple[int, str]] = {}
    for name, grp, state, kind, duration, end_us, start_us in rows:
        scope = grp or "default"
        key = (state, kind)
        task_states[name][key] += 1
        group_states[scope][key] += 1
        all_states[key] += 1
        if duration is not None:
            task_durations[name].append(duration)
            group_durations[scope].append(duration)
            all_durations.append(duration)
        per_day[_from_us(end_us).date().isoformat()][state] += 1
        seen = min(end_us, start_us) if start_us is not None else end_us
        first[name] = min(first.get(name, seen), seen)
        if name not in latest or end_us >= latest[name][0]:
            latest[name] = (end_us, scope)
    days = max((until - since) / _DAY, 1e-9)

    def figures_of(states: Counter[tuple[str, str]], durations: list[float]) -> Figures:
        return _figures(states, durations, math.fsum(durations), days)

    stats = Stats(
        since=since,
        until=until,
        overall=figures_of(all_states, all_durations),
        per_task={n: figures_of(task_states[n], task_durations[n]) for n in sorted(task_states)},
        per_group={g: figures_of(group_states[g], group_durations[g]) for g in sorted(group_states)},
        per_day={day: dict(per_day[day]) for day in sorted(per_day)},
    )
    return LedgerStats(
        stats=stats,
        first_seen={name: _from_us(value) for name, value in first.items()},
        groups={name: scope for name, (_, scope) in latest.items()},
    )
