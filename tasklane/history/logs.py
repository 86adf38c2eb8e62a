"""A run's logs: read (offset, limit, level, grep), follow live until the run ends
(`follow_run`, `follow_logs`), and export to a file. `tasklane logs`, `tasklane run --wait` and
the REST API's `/executions/{id}/logs` all use these, on the run `runs.resolve_run` finds by id,
name or task.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
from prefect.client.schemas.objects import FlowRun, Log, StateType
from prefect.client.schemas.sorting import LogSort

from tasklane.history.runs import PAGE, HistoryError

LOG_TRAIL_SECONDS = 1.5  # logs are shipped in batches and can trail the final state
FINAL_STATES = {StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED}
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def level_number(level: str | int | None) -> int | None:
    if level is None or isinstance(level, int):
        return level
    try:
        return LEVELS[level.upper()]
    except KeyError:
        raise HistoryError(f"unknown log level {level!r}: expected one of {', '.join(LEVELS)}") from None


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
    offset: int = 0,
    limit: int | None = None,
) -> list[Log]:
    """A run's log lines (its task runs' included), oldest first, filtered by text and level.

    `offset` matching lines are skipped and at most `limit` returned (None: all of them); without
    `grep` both are applied by the server, so a page costs one query whatever the run's size.
    """
    run_id = UUID(str(flow_run_id))
    minimum = level_number(level)
    matches = log_matcher(grep, regex)
    log_filter = LogFilter(
        flow_run_id=LogFilterFlowRunId(any_=[run_id]),
        level=LogFilterLevel(ge_=minimum) if minimum is not None else None,
    )
    skip, position = (offset, 0) if grep else (0, offset)
    logs: list[Log] = []
    while limit is None or len(logs) < limit:
        size = PAGE if grep or limit is None else min(PAGE, limit - len(logs))
        page = await client.read_logs(
            log_filter=log_filter, sort=LogSort.TIMESTAMP_ASC, limit=size, offset=position
        )
        position += len(page)
        for log in page:
            if not matches(log):
                continue
            if skip:
                skip -= 1
                continue
            logs.append(log)
            if limit is not None and len(logs) >= limit:
                break
        if len(page) < size:
            break
    return logs


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


async def follow_run(
    client: PrefectClient,
    flow_run_id: UUID,
    on_log: Callable[[Log], Awaitable[None] | None] | None = None,
    poll_seconds: float = 0.5,
    timeout: float | None = None,
    on_state: Callable[[FlowRun], Awaitable[None] | None] | None = None,
) -> FlowRun:
    """Wait for a run to end, passing each new log line to `on_log` and the run to `on_state`
    each time its state changes; return the final run."""
    seen: set[UUID] = set()
    last_state: UUID | None = None

    async def drain() -> None:
        if on_log is None:
            return
        logs = await client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
            sort=LogSort.TIMESTAMP_ASC,
        )
        for log in logs:
            if log.id in seen:
                continue
            seen.add(log.id)
            outcome = on_log(log)
            if asyncio.iscoroutine(outcome):
                await outcome

    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        flow_run = await client.read_flow_run(flow_run_id)
        if on_state is not None and flow_run.state is not None and flow_run.state.id != last_state:
            last_state = flow_run.state.id
            outcome = on_state(flow_run)
            if asyncio.iscoroutine(outcome):
                await outcome
        await drain()
        if flow_run.state and flow_run.state.type in FINAL_STATES:
            # Logs are shipped in batches and can trail the final state by a moment.
            await asyncio.sleep(LOG_TRAIL_SECONDS)
            await drain()
            return flow_run
        if deadline is not None and loop.time() > deadline:
            return flow_run
        await asyncio.sleep(poll_seconds)
