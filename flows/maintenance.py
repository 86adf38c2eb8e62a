"""The maintenance flow: history retention on the Prefect server (seed 003 `history:`).

Deletes Tasklane runs that finished more than `history.retention_days` ago, then the oldest
finished runs beyond `history.max_records`. A deleted run takes its task runs with it and
Prefect deletes its logs in the background; its artifacts are deleted here (Prefect keeps them
otherwise). What was removed is logged and kept as a markdown artifact of the maintenance run.

The full run (no `tags`) also purges the tasks that have been in the trash longer than
`trash.retention_days` (every project's: their deployments and automations; their runs follow the
history retention).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import get_client

from deployments.platform import PLATFORM_TAG
from flows._runtime import name_after_task
from tasklane.history.retention import purge_history
from tasklane.history.runs import TASKLANE_TAG
from tasklane.settings import get_settings
from tasklane.settings.reports import HistorySettings
from tasklane.settings.trash import TrashSettings
from tasklane.tasks.trash import purge as purge_trash


def history_settings() -> HistorySettings:
    """`history:` of Tasklane's settings once folded in; the defaults until then."""
    value = getattr(get_settings(), "history", None)
    return value if isinstance(value, HistorySettings) else HistorySettings.model_validate(value or {})


def trash_settings() -> TrashSettings:
    """`trash:` of Tasklane's settings; the defaults where it is missing."""
    value = getattr(get_settings(), "trash", None)
    return value if isinstance(value, TrashSettings) else TrashSettings.model_validate(value or {})


def verb_of(dry_run: bool) -> str:
    return "would delete" if dry_run else "deleted"


@flow(name="tasklane-maintenance", flow_run_name=name_after_task, log_prints=True)
async def maintenance_flow(
    settings: HistorySettings | None = None, tags: list[str] | None = None, dry_run: bool = False
) -> dict[str, Any]:
    """Apply the history retention; return (and record) what was removed."""
    settings = settings or history_settings()
    logger = get_run_logger()
    purged: list[str] = []
    async with get_client() as client:
        result = await purge_history(client, settings, tags=tags or [TASKLANE_TAG], dry_run=dry_run)
        if tags is None:
            # The platform flows' own runs (this one's, the report's) under the same retention.
            platform = await purge_history(client, settings, tags=[PLATFORM_TAG], dry_run=dry_run)
            counts = verb_of(dry_run), platform.deleted, platform.kept
            logger.info("platform flows' runs: %s %s, %s kept", *counts)
            # Deleted tasks kept longer than the trash's retention go for good.
            days = trash_settings().retention_days
            purged = await purge_trash(client, None, older_than=timedelta(days=days), dry_run=dry_run)
            logger.info(
                "trash (%s days): %s %s tasks: %s",
                days,
                "would purge" if dry_run else "purged",
                len(purged),
                ", ".join(purged) or "-",
            )
    verb = verb_of(dry_run)
    logger.info(
        "retention (%s days, %s records): %s %s runs (%s older than %s, %s beyond the limit) and %s "
        "artifacts; %s finished runs kept",
        settings.retention_days,
        settings.max_records,
        verb,
        result.deleted,
        len(result.expired),
        result.cutoff.isoformat() if result.cutoff else "-",
        len(result.overflow),
        result.artifacts,
        result.kept,
    )
    await acreate_markdown_artifact(
        key="tasklane-maintenance",
        description=f"History retention: {verb} {result.deleted} runs",
        markdown=(
            "### History retention\n\n"
            f"| | |\n|---|---:|\n| retention days | {settings.retention_days} |\n"
            f"| max records | {settings.max_records} |\n| cutoff | {result.cutoff:%Y-%m-%d %H:%M:%S} UTC |\n"
            f"| runs {verb} (older) | {len(result.expired)} |\n"
            f"| runs {verb} (beyond max) | {len(result.overflow)} |\n"
            f"| artifacts deleted | {result.artifacts} |\n| finished runs kept | {result.kept} |\n"
            f"| tasks purged from the trash | {len(purged)} |\n"
        ),
    )
    return {**result.as_dict(), "purged_tasks": purged}
