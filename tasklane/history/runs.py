"""History, statistics, logs, retention and the report watermark, over Prefect's flow-run API.

Every execution of a task is a Prefect flow run of its deployment (tag `tasklane`); this module
reads them as `integrations.report.RunRecord`s, which the report flow, the maintenance flow and
the CLI (`tasklane history|stats|logs|report`) share:

- `RunQuery`: which runs (tags, task, group, deployments, a project's deployments, states, a
  time window) as Prefect's flow-run filters: the one selection every reader below builds on;
  `RunQuery.past` / `RunQuery.upcoming` split the runs at "now" by expected start: history is
  the past (finished, running, due, late), upcoming runs are their own view;
- `read_runs`, `count_runs`: one page of runs (paged past the server's 200) and their number,
  the only flow-run reads; `history` (the CLI, records), `upcoming` (`tasklane upcoming`) and
  `page_runs` (the REST API's executions and the FastAPI services' history: total + typed runs,
  both queries at once) are views of them;
- `resolve_run`: the run a user means by a run id, a run name (as `tasklane run` prints it and
  Prefect's UI shows it) or a task name (its latest started run): `tasklane logs|cancel|explain`
  and the REST API's `/executions/{id}`; `find_run` is its first half (id or name only);
- `finished_runs`: every run that ended in a window, paged by end time (used by reports and stats);
- `task_stats`: `integrations.report.Stats` over a window from every finished run (per task, group
  and day, p95 durations): the CLI, the report flow;
- `state_counts`: runs by state and their run time in one server-side aggregate
  (`/flow_runs/history`) whatever the history's size: the REST API's stats;
- `read_watermark` / `save_watermark`: the report's progress, a Prefect Variable on the server;
- `purge_history`: retention (older than `retention_days`, beyond `max_records`), deleting the
  runs' artifacts too; Prefect deletes a deleted run's logs itself (in the background);
- `read_run_logs`, `follow_logs`, `format_log`: `tasklane logs RUN_ID [--follow] [--grep] [--level]`
  and the REST API's `/executions/{id}/logs` (`offset`, `limit`).

Settings (`HistorySettings`, `ReportSettings`) are defined here and folded into
`tasklane/settings.py` as `history:` and `report:`.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_UI_URL

from deployments.errors import DeploymentsError
from integrations.report import RunRecord
from tasklane.settings.reports import TASKLANE_TAG

TERMINAL_TYPES = ["COMPLETED", "FAILED", "CANCELLED", "CRASHED"]


UNFINISHED_TYPES = [t.value for t in StateType if t.value not in TERMINAL_TYPES]  # Scheduled, Pending, ...


PAGE = 200  # the server's maximum page of flow runs
FIRST_RUNS_ROUNDS = 3  # sorted pages `first_runs` reads before it reads deployments one by one


RUN_REF_EXPECTED = "expected a run id, a run name (as `tasklane run` prints) or a task name"


class HistoryError(DeploymentsError):
    """Input to a history read that names nothing there: a run, a state word, a log level. The
    message says what was expected; a DeploymentsError, so every front end reports it as one line."""


class UnknownRunError(HistoryError):
    """No run has this id or name, and no task this name."""

    def __init__(self, ref: str):
        self.ref = ref
        super().__init__(f"no run or task named {ref!r}: {RUN_REF_EXPECTED}")


def ui_base_url() -> str | None:
    """The Prefect UI's base URL (PREFECT_UI_URL, derived from the API URL when unset)."""
    value = PREFECT_UI_URL.value()
    return str(value).rstrip("/") if value else None


def run_link(run_id: str, ui_url: str | None = None) -> str | None:
    base = ui_url if ui_url is not None else ui_base_url()
    return f"{base}/runs/flow-run/{run_id}" if base else None


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _tag(tags: Iterable[str], prefix: str) -> str | None:
    for tag in tags:
        if tag.startswith(prefix + ":"):
            return tag.split(":", 1)[1]
    return None


def record_from_json(data: dict[str, Any], task: str, ui_url: str | None) -> RunRecord:
    """A RunRecord from a flow run as the API returns it (JSON)."""
    state = data.get("state") or {}
    start, end = parse_time(data.get("start_time")), parse_time(data.get("end_time"))
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


async def post_json(client: PrefectClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.request("POST", path, json=body)  # type: ignore[arg-type]
    response.raise_for_status()
    return response.json()


async def _task_names(
    client: PrefectClient,
    runs: list[dict[str, Any]],
    cache: dict[str, str],
    deployments: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Fill `cache` with deployment id -> name (and flow id -> name for runs without a deployment);
    `deployments`, if given, with deployment id -> the deployment read (JSON)."""
    deployment_ids = {r["deployment_id"] for r in runs if r.get("deployment_id")} - set(cache)
    if deployment_ids:
        found = await post_json(
            client,
            "/deployments/filter",
            {"deployments": {"id": {"any_": sorted(deployment_ids)}}, "limit": len(deployment_ids)},
        )
        cache.update({d["id"]: d["name"] for d in found})
        if deployments is not None:
            deployments.update({d["id"]: d for d in found})
    flow_ids = {
        r["flow_id"] for r in runs if not cache.get(r.get("deployment_id") or "") and r.get("flow_id")
    } - set(cache)
    if flow_ids:
        found = await post_json(client, "/flows/filter", {"flows": {"id": {"any_": sorted(flow_ids)}}})
        cache.update({f["id"]: f["name"] for f in found})


def _task_of(run: dict[str, Any], cache: dict[str, str]) -> str:
    return cache.get(run.get("deployment_id") or "") or cache.get(run.get("flow_id") or "") or "?"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class RunQuery:
    """Which flow runs: the selection behind history, executions, stats and retention, CLI and API alike.

    Attributes:
        tags: the runs carry all of these (Tasklane's runs: `tasklane`); `group` adds `group:<g>`.
        task: runs of the deployment (task) of this name.
        deployment_ids: runs of these deployments.
        deployment_tags: runs of deployments carrying all of these (a project's: `tasklane`,
            `tasklane-project:<p>`).
        state_names / state_types: runs in any of these state names / types (a state word's, as
            `tasklane.history.statuses.state_word` reads it: done, failed, finished, ...).
        excluded_types: runs in none of these state types.
        finished: only runs in a final state (Completed, Failed, Cancelled, Crashed).
        since / until: the window, inclusive, on `window`: the expected start (history) or the
            end time (finished runs).

    The filters are shaped for the server's query planner (SQLite keeps no statistics, so it
    takes any index an `IN` offers, however unselective): a page, sorted by time, names its
    deployments and "finished" in forms no index serves (`deployments.id`, `type NOT IN` the
    unfinished types), so it walks the time index and stops after one page (~10 ms on 100,000
    runs, where `type IN` the final types sorts all of them: ~1 s); a count names its deployments
    on `flow_runs.deployment_id`, answered from that index alone.
    """

    tags: tuple[str, ...] = (TASKLANE_TAG,)
    group: str | None = None
    task: str | None = None
    deployment_ids: tuple[UUID | str, ...] | None = None
    deployment_tags: tuple[str, ...] = ()
    state_names: tuple[str, ...] | None = None
    state_types: tuple[str, ...] | None = None
    excluded_types: tuple[str, ...] = ()
    finished: bool = False
    since: datetime | None = None
    until: datetime | None = None
    window: Literal["expected_start_time", "end_time"] = "expected_start_time"

    def replace(self, **changes: Any) -> RunQuery:
        return replace(self, **changes)

    def past(self, now: datetime) -> RunQuery:
        """These runs expected to start by `now`: the history (finished, running, due or late;
        never a run still to come). With `upcoming` it splits every run at `now`."""
        until = now if self.until is None else min(self.until, now)
        return replace(self, until=until, window="expected_start_time")

    def upcoming(self, now: datetime) -> RunQuery:
        """These runs expected to start after `now` (scheduled, or prefetched by a worker)."""
        after = now + timedelta(microseconds=1)  # the server's `after_` is inclusive; `now` is the past's
        since = after if self.since is None else max(self.since, after)
        return replace(self, since=since, window="expected_start_time")

    @property
    def has_state(self) -> bool:
        named = self.state_names is not None or self.state_types is not None
        return bool(named or self.excluded_types or self.finished)

    def filters(self, *, indexed: bool = False) -> dict[str, Any]:
        """The `flow_runs` / `deployments` filters of a flow-run query body (JSON).

        indexed: deployments named on the runs' indexed `deployment_id` (a count, an aggregate).
        """
        flow_runs: dict[str, Any] = {}
        tags = [*self.tags, *([f"group:{self.group}"] if self.group else [])]
        if tags:
            flow_runs["tags"] = {"all_": tags}
        state: dict[str, Any] = {}
        if self.state_names is not None:
            state["name"] = {"any_": list(self.state_names)}
        if self.state_types is not None:
            state["type"] = {"any_": list(self.state_types)}
        excluded = [*self.excluded_types, *(UNFINISHED_TYPES if self.finished else [])]
        if excluded:
            state.setdefault("type", {})["not_any_"] = sorted(set(excluded))
        if state:
            flow_runs["state"] = state
        if self.since is not None or self.until is not None:
            window = {"after_": _iso(self.since), "before_": _iso(self.until)}
            flow_runs[self.window] = {k: v for k, v in window.items() if v is not None}
        deployments: dict[str, Any] = {}
        if self.deployment_ids is not None:
            ids = {"any_": [str(i) for i in self.deployment_ids]}
            if indexed:
                flow_runs["deployment_id"] = ids
            else:
                deployments["id"] = ids
        if self.task:
            deployments["name"] = {"any_": [self.task]}
        if self.deployment_tags:
            deployments["tags"] = {"all_": list(self.deployment_tags)}
        body: dict[str, Any] = {"flow_runs": flow_runs}
        if deployments:
            body["deployments"] = deployments
        return body


async def read_runs(
    client: PrefectClient,
    query: RunQuery,
    *,
    sort: str = "EXPECTED_START_TIME_DESC",
    offset: int = 0,
    limit: int = PAGE,
    indexed: bool = False,
) -> list[dict[str, Any]]:
    """One page of the runs `query` selects (as the API returns them, JSON), paging past the server's 200.

    indexed: name the deployments on the runs' deployment index (few runs of few deployments).
    """
    filters = query.filters(indexed=indexed)
    runs: list[dict[str, Any]] = []
    while len(runs) < limit:
        size = min(PAGE, limit - len(runs))
        body = {**filters, "sort": sort, "limit": size, "offset": offset + len(runs)}
        page = await post_json(client, "/flow_runs/filter", body)
        runs.extend(page)
        if len(page) < size:
            break
    return runs


async def count_runs(client: PrefectClient, query: RunQuery) -> int:
    """How many runs `query` selects.

    "Finished" is counted as every run minus the unfinished ones: two counts an index answers
    (the unfinished runs are few), where counting the finished runs reads every one of them.
    """
    if query.finished and not query.replace(finished=False).has_state:
        every = query.replace(finished=False)
        unfinished = every.replace(state_types=tuple(UNFINISHED_TYPES))
        total, open_ = await asyncio.gather(
            post_json(client, "/flow_runs/count", every.filters(indexed=True)),
            post_json(client, "/flow_runs/count", unfinished.filters()),
        )
        return total - open_
    return await post_json(client, "/flow_runs/count", query.filters(indexed=not query.has_state))


async def page_runs(
    client: PrefectClient,
    query: RunQuery,
    *,
    offset: int = 0,
    limit: int = 20,
    sort: str = "EXPECTED_START_TIME_DESC",
) -> tuple[int, list[FlowRun]]:
    """(how many runs `query` selects, one page of them in `sort` order, newest first unless
    told): the queries run at once."""
    total, page = await asyncio.gather(
        count_runs(client, query), read_runs(client, query, sort=sort, offset=offset, limit=limit)
    )
    return total, [FlowRun.model_validate(r) for r in page]


async def first_runs(
    client: PrefectClient,
    query: RunQuery,
    deployment_ids: list[UUID],
    *,
    sort: str = "EXPECTED_START_TIME_DESC",
    settled: Callable[[UUID, datetime], bool] | None = None,
) -> dict[UUID, FlowRun | None]:
    """Each deployment's first run in `sort` order among those `query` selects (None: it has none).

    Sorted pages across the deployments not met yet, of n·(ln n + 3) runs for n of them (enough
    to meet every one of n equally busy deployments 19 times in 20): a short page means those
    not on it have no run. After `FIRST_RUNS_ROUNDS` pages, those still not met (the ones that
    run less often than the others) are read one by one, through the runs' deployment index.

    settled: (deployment id, the sort time of a full page's last run) -> True when a deployment
    not met by then needs no further read (the caller knows its answer from elsewhere).
    """
    wanted = list(dict.fromkeys(UUID(str(i)) for i in deployment_ids))
    found: dict[UUID, FlowRun | None] = {}
    missing = wanted
    time_field = "end_time" if sort.startswith("END_TIME") else "expected_start_time"
    for _ in range(FIRST_RUNS_ROUNDS):
        if not missing:
            break
        size = min(PAGE, int(len(missing) * (math.log(len(missing)) + 3)) + 1)
        page = await read_runs(client, query.replace(deployment_ids=tuple(missing)), sort=sort, limit=size)
        for run in page:
            key = UUID(run["deployment_id"])
            if key not in found:
                found[key] = FlowRun.model_validate(run)
        missing = [i for i in missing if i not in found]
        if len(page) < size:
            return {i: found.get(i) for i in wanted}  # the others have no such run
        boundary = parse_time(page[-1].get(time_field))
        if settled is not None and boundary is not None:
            missing = [i for i in missing if not settled(i, boundary)]
    if missing:
        alone = await asyncio.gather(
            *(
                read_runs(client, query.replace(deployment_ids=(i,)), sort=sort, limit=1, indexed=True)
                for i in missing
            )
        )
        for deployment_id, runs in zip(missing, alone, strict=True):
            found[deployment_id] = FlowRun.model_validate(runs[0]) if runs else None
    return {i: found.get(i) for i in wanted}


async def to_records(client: PrefectClient, runs: list[dict[str, Any]]) -> list[RunRecord]:
    """RunRecords of runs as `read_runs` returns them (their task names read in one query)."""
    names: dict[str, str] = {}
    await _task_names(client, runs, names)
    ui_url = ui_base_url()
    return [record_from_json(r, _task_of(r, names), ui_url) for r in runs]


async def history(
    client: PrefectClient,
    task: str | None = None,
    group: str | None = None,
    *,
    state_names: tuple[str, ...] | None = None,
    state_types: tuple[str, ...] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    tags: Iterable[str] = (TASKLANE_TAG,),
    offset: int = 0,
    now: datetime | None = None,
) -> list[RunRecord]:
    """The past runs of Tasklane tasks, newest first (by expected start), filtered like the old
    systems' history API: runs expected to start by now (`RunQuery.past`), whatever their state
    (finished, running, due, late); runs still to come are `upcoming`'s.

    Args:
        task: a task (deployment) name. group: the task's group.
        state_names / state_types: runs in these Prefect states (a state word's:
            `tasklane.history.statuses.state_word("failed")` ...).
        since / until: runs expected to start in [since, until] (until: at most now).
        limit / offset: one page. now: where the past ends (default: the clock).
    """
    query = RunQuery(
        tags=tuple(tags),
        group=group,
        task=task,
        state_names=state_names,
        state_types=state_types,
        since=since,
        until=until,
    ).past(now or datetime.now(UTC))
    return await to_records(client, await read_runs(client, query, offset=offset, limit=limit))


@dataclass(frozen=True)
class UpcomingRun:
    """A run still to come: `tasklane upcoming`.

    Attributes:
        due: when it is expected to start (UTC). timezone: the zone of the schedule that made it
            (None: not made by a schedule, or the schedule names none).
    """

    run_id: str
    run_name: str
    task: str
    group: str | None
    state: str
    due: datetime
    timezone: str | None
    link: str | None


def _schedule_zone(run: dict[str, Any], deployment: dict[str, Any] | None) -> str | None:
    """The timezone of the schedule that made `run` (the scheduler names it in `created_by`)."""
    schedules = (deployment or {}).get("schedules") or []
    made_by = run.get("created_by") or {}
    zones = {s["id"]: (s.get("schedule") or {}).get("timezone") for s in schedules if s.get("id") is not None}
    if made_by.get("type") == "SCHEDULE" and made_by.get("id") in zones:
        return zones[made_by["id"]]
    distinct = set(zones.values())
    return distinct.pop() if len(distinct) == 1 else None  # one zone for all its schedules: that one


async def upcoming(
    client: PrefectClient,
    task: str | None = None,
    group: str | None = None,
    limit: int = 20,
    *,
    tags: Iterable[str] = (TASKLANE_TAG,),
    now: datetime | None = None,
) -> list[UpcomingRun]:
    """The runs still to come (expected to start after now: `RunQuery.upcoming`), soonest first,
    each with the timezone of the schedule that made it."""
    query = RunQuery(tags=tuple(tags), group=group, task=task).upcoming(now or datetime.now(UTC))
    runs = await read_runs(client, query, sort="EXPECTED_START_TIME_ASC", limit=limit)
    names: dict[str, str] = {}
    deployments: dict[str, dict[str, Any]] = {}
    await _task_names(client, runs, names, deployments)
    ui_url = ui_base_url()
    found = []
    for run in runs:
        due = parse_time(run.get("expected_start_time"))
        if due is None:
            continue
        state = run.get("state") or {}
        found.append(
            UpcomingRun(
                run_id=str(run["id"]),
                run_name=run.get("name") or "",
                task=_task_of(run, names),
                group=_tag(run.get("tags") or [], "group"),
                state=run.get("state_name") or state.get("name") or "",
                due=due,
                timezone=_schedule_zone(run, deployments.get(run.get("deployment_id") or "")),
                link=run_link(str(run["id"]), ui_url),
            )
        )
    return found


def _as_uuid(text: str) -> UUID | None:
    try:
        return UUID(text.strip())
    except ValueError:
        return None


async def _newest_named(client: PrefectClient, name: str, tags: tuple[str, ...]) -> FlowRun | None:
    flow_runs: dict[str, Any] = {"name": {"any_": [name]}}
    if tags:
        flow_runs["tags"] = {"all_": list(tags)}
    body = {"flow_runs": flow_runs, "sort": "EXPECTED_START_TIME_DESC", "limit": 1}
    found = await post_json(client, "/flow_runs/filter", body)
    return FlowRun.model_validate(found[0]) if found else None


async def find_run(
    client: PrefectClient, ref: str, *, tags: Iterable[str] = (TASKLANE_TAG,), any_run: bool = True
) -> FlowRun | None:
    """The run `ref` names by its id or its name; None if it names none (a task name, a typo).

    A name is Prefect's run name, as `tasklane run` prints it and Prefect's UI shows it, whatever
    its form (`banana-scallop`, `<task>-YYYYMMDD-HHMM`). Runs carrying all `tags` come first
    (Tasklane's, a project's); `any_run`: then any run of that name. Two runs of one name: the
    one expected to start last.
    """
    run_id = _as_uuid(ref)
    if run_id is not None:
        try:
            return await client.read_flow_run(run_id)
        except ObjectNotFound:
            return None
    wanted = tuple(tags)
    found = await _newest_named(client, ref, wanted)
    if found is None and any_run and wanted:
        found = await _newest_named(client, ref, ())
    return found


async def latest_started_run(
    client: PrefectClient, task: str, *, tags: Iterable[str] = (TASKLANE_TAG,)
) -> FlowRun | None:
    """The run of task `task` that started last; None if there is no such task.

    Raises:
        HistoryError: the task exists but none of its runs has started yet.
    """
    deployments = await post_json(
        client,
        "/deployments/filter",
        {"deployments": {"name": {"any_": [task]}, "tags": {"all_": list(tags)}}, "limit": 20},
    )
    if not deployments:
        return None
    body = {
        "flow_runs": {
            "deployment_id": {"any_": [d["id"] for d in deployments]},
            "start_time": {"is_null_": False},
        },
        "sort": "START_TIME_DESC",
        "limit": 1,
    }
    found = await post_json(client, "/flow_runs/filter", body)
    if not found:
        raise HistoryError(
            f"task {task!r} has no run that started yet "
            f"(`tasklane upcoming --task {task}` lists its next runs)"
        )
    return FlowRun.model_validate(found[0])


async def resolve_run(
    client: PrefectClient, ref: str, *, tags: Iterable[str] = (TASKLANE_TAG,), any_run: bool = True
) -> FlowRun:
    """The run `ref` means: by id; else by name (`find_run`); else the latest started run of the
    task of that name. `tasklane logs`, `cancel`, `explain` and the REST API's `/executions/{id}`.

    Raises:
        UnknownRunError: `ref` names no run and no task.
        HistoryError: it names a task none of whose runs has started.
    """
    wanted = tuple(tags)
    found = await find_run(client, ref, tags=wanted, any_run=any_run)
    if found is None:
        found = await latest_started_run(client, ref, tags=wanted)
    if found is None:
        raise UnknownRunError(ref)
    return found


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
    query = RunQuery(tags=tuple(tags), group=group, task=task, since=after, window="end_time")
    seen: set[str] = set()
    collected: list[dict[str, Any]] = []
    before = until
    offset = 0
    while True:
        page = await read_runs(client, query.replace(until=before), sort="END_TIME_DESC", offset=offset)
        fresh = [r for r in page if r["id"] not in seen and r.get("end_time")]
        for run in fresh:
            seen.add(run["id"])
        collected.extend(fresh)
        if len(page) < PAGE:
            break
        oldest = parse_time(page[-1]["end_time"])
        assert oldest is not None
        if oldest == before:
            offset += PAGE  # a whole page at one timestamp: step through it by offset
        else:
            before, offset = oldest, 0
    # `after_` is inclusive on the server; the window is (after, until].
    if after is not None:
        collected = [r for r in collected if parse_time(r["end_time"]) > after]  # type: ignore[operator]
    found = await to_records(client, collected)
    found.sort(key=lambda r: (r.end, r.run_id))  # type: ignore[arg-type, return-value]
    return found


async def iter_history_pages(
    client: PrefectClient, page_size: int = PAGE, **filters: Any
) -> AsyncIterator[list[RunRecord]]:
    """`history` page after page (for exports): stops at the first short page. The past ends
    where the first page's did, so runs falling due meanwhile shift no page."""
    offset = 0
    filters.setdefault("now", datetime.now(UTC))
    while True:
        page = await history(client, limit=page_size, offset=offset, **filters)
        if page:
            yield page
        if len(page) < page_size:
            return
        offset += page_size
