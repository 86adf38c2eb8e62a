"""The sources flow: polls each external task source of settings `sources:` on its interval.

Deployed by `make up` (`deployments.platform`) when there are sources, run every minute; each run
syncs the sources whose interval has passed since their last attempt (`tasklane.tasks.sources`,
the one sync `tasklane sources sync` uses). A source that cannot be read keeps its tasks; the run
names it and ends Failed, and the source's `notify:` destinations are alerted once, when it stops
answering (not again on each poll while it stays down).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.blocks.core import Block
from prefect.client.orchestration import get_client

from deployments.apply import Target
from tasklane.settings import Settings, get_settings
from tasklane.settings.sources import SourceSettings
from tasklane.tasks.sources import SourceUnreachableError, SyncResult, read_record, sync_source


def is_due(attempted_at: str | None, interval_seconds: float, now: datetime) -> bool:
    """Whether a source last attempted at `attempted_at` (ISO, or None: never) is due at `now`."""
    if attempted_at is None:
        return True
    # A run starts a little after its minute: a source polled every minute stays due every run.
    return (now - datetime.fromisoformat(attempted_at)).total_seconds() >= interval_seconds - 5


async def alert_unreachable(source: SourceSettings, result: SyncResult, settings: Settings) -> list[str]:
    """Tell the source's `notify:` destinations that it stopped answering; the blocks told."""
    logger = get_run_logger()
    told = []
    for destination in source.notify:
        reference = settings.alerts.blocks.get(destination, destination)
        try:
            block: Any = await Block.aload(reference)
            await block.notify(body=result.summary(), subject=f"Tasklane: source {source.name!r} unreachable")
        except Exception as exc:  # a missing block or a destination that does not answer: say so, go on
            logger.warning("alert of source %r to %s failed: %s", source.name, reference, exc)
            continue
        told.append(reference)
    return told


@flow(name="tasklane-sources", log_prints=True)
async def sources_flow(only: list[str] | None = None, project_dir: str | None = None) -> dict[str, Any]:
    """Sync the due sources (or those named in `only`, due or not); return each one's summary.

    `project_dir`: the folder whose settings (config.yaml) and relative paths apply; a worker
    starts each run in a temporary folder of its own.
    """
    if project_dir is not None:
        os.chdir(project_dir)
        get_settings.cache_clear()  # read where the project is, not where the run started
    settings = get_settings()
    logger = get_run_logger()
    target = Target(settings.pool.name, settings.timezone, settings.project)
    now = datetime.now(UTC)
    summaries: dict[str, Any] = {}
    unreachable: list[str] = []
    async with get_client() as client:
        for source in settings.sources:
            if only is not None and source.name not in only:
                continue
            record = read_record(settings.home, source.name)
            if only is None and not is_due(
                record.attempted_at if record else None, source.interval_seconds, now
            ):
                continue
            result = await sync_source(client, source, target, settings.home)
            if not result.reachable and (record is None or record.reachable):
                await alert_unreachable(source, result, settings)
            for change in result.changes:
                logger.info("%s: %s", source.name, change)
            for problem in result.problems:
                logger.warning("skipped: %s", problem)
            logger.info(result.summary())
            if not result.reachable or result.error:
                unreachable.append(result.summary() if not result.reachable else result.error or "")
            summaries[source.name] = result.summary()
    if unreachable:
        raise SourceUnreachableError("; ".join(unreachable))
    return summaries
