"""Retention: delete finished runs older than `history.retention_days` and beyond
`history.max_records`, with their artifacts (Prefect deletes a deleted run's logs itself).
The maintenance flow (`flows/maintenance.py`) calls `purge_history`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect.client.orchestration import PrefectClient

from tasklane.history.runs import PAGE, RunQuery, count_runs, post_json, read_runs
from tasklane.settings.reports import TASKLANE_TAG, HistorySettings

DELETE_PAGE = 50  # the server's maximum bulk delete


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


async def _run_ids(client: PrefectClient, query: RunQuery, offset: int) -> list[str]:
    return [r["id"] for r in await read_runs(client, query, sort="END_TIME_DESC", offset=offset)]


async def _delete_runs(client: PrefectClient, run_ids: list[str]) -> int:
    """Delete runs and their artifacts; return the number of artifacts deleted.

    Prefect's run delete removes the run and its task runs, and queues the deletion of its logs;
    artifacts stay unless deleted here (only the opt-in orphan vacuum would remove them).
    """
    artifacts = 0
    for start in range(0, len(run_ids), DELETE_PAGE):
        batch = run_ids[start : start + DELETE_PAGE]
        while True:
            found = await post_json(
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
        await post_json(
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
    finished = RunQuery(tags=tuple(tags), finished=True)
    result = PurgeResult(cutoff=cutoff, dry_run=dry_run)
    expired_filter = finished.replace(until=cutoff, window="end_time")
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
    total = await count_runs(client, finished)
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
