"""The report flow: runs of Tasklane tasks finished since the last report, published to the targets.

Deployed from `prefect.yaml` (every 30 minutes on the `tasklane` pool). Each run:

1. reads the watermark (a Prefect Variable, `tasklane.history.runs.Watermark`): runs that ended
   up to `reported` are published everywhere; a `pending` window is one a previous report
   started publishing and did not finish (it crashed), with the targets it did reach;
2. finishes that pending window first, for the other targets only, then reports the window
   (reported, now - settle_seconds];
3. per window: marks it pending, publishes to each target and records each in the watermark,
   then advances `reported`. The Confluence rows are upserted by run id, the workbook of a
   window has a fixed name, so a target repeated after a crash in its own middle changes nothing.

Targets: `confluence` (results table rows and the chart PNGs attached), `mattermost` (a
summary rendered from a Jinja template), `excel` (Runs/Stats/Charts workbook), and always the
Prefect table and markdown artifacts. The logic lives in `integrations/report.py` and
`tasklane/history/runs.py`; this module only orchestrates.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from integrations.report import (
    RunRecord,
    Stats,
    chart_durations,
    chart_runs_per_day,
    compute_stats,
    render_template,
    stats_markdown,
    summarise,
    table_rows,
    template_environment,
    write_report_xlsx,
)
from tasklane.history.runs import finished_runs, run_link
from tasklane.reports import MESSAGE_TEMPLATE_DIR
from tasklane.reports.watermark import Watermark, read_watermark, save_watermark
from tasklane.settings.reports import ReportSettings

ARTIFACT_ROWS = 500
TARGET_ORDER = ["confluence", "excel", "mattermost", "prefect"]
CHANNEL_ID = re.compile(r"^[a-z0-9]{26}$")


def report_settings() -> ReportSettings:
    """`report:` of Tasklane's settings once folded in; the defaults until then."""
    from tasklane.settings import get_settings

    value = getattr(get_settings(), "report", None)
    return value if isinstance(value, ReportSettings) else ReportSettings.model_validate(value or {})


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


# --- targets ------------------------------------------------------------------------------------


def publish_confluence(
    settings: ReportSettings, rows: list[dict[str, str]], charts: list[Path]
) -> dict[str, Any]:
    """Upsert the rows (key: run id) into the results table; attach the charts."""
    from blocks.confluence import ConfluenceCredentials
    from integrations.report import upsert_results

    if not settings.page_id:
        raise ValueError("report: target 'confluence' needs report.page_id")
    block = ConfluenceCredentials.load(settings.confluence_block, _sync=True)
    pages = block.get_pages()
    written = upsert_results(pages, settings.page_id, settings.table_heading, list(settings.columns), rows)
    attached: list[str] = []
    if settings.attach_charts and charts:
        attached = attach_charts(pages, settings.page_id, charts)
    url = f"{block.url}/pages/viewpage.action?pageId={settings.page_id}"
    return {**written, "url": url, "attached": attached}


def attach_charts(pages: Any, page_id: str, charts: list[Path]) -> list[str]:
    """Attach (replace) the chart PNGs on the page; a server that refuses is logged, not fatal."""
    logger = get_run_logger()
    attached = []
    for chart in charts:
        try:
            pages.client.attach_file(str(chart), name=chart.name, content_type="image/png", page_id=page_id)
            attached.append(chart.name)
        except Exception as exc:  # noqa: BLE001 - charts are a nicety; the rows are what matters
            logger.warning("could not attach %s to Confluence page %s: %s", chart.name, page_id, exc)
    return attached


def publish_mattermost(settings: ReportSettings, message: str) -> dict[str, Any]:
    from blocks.mattermost import MattermostCredentials

    block = MattermostCredentials.load(settings.mattermost_block, _sync=True)
    client = block.get_client()
    channel = settings.channel or block.channel
    team = settings.team or block.team
    if not channel:
        raise ValueError("report: target 'mattermost' needs report.channel or a channel on the block")
    if CHANNEL_ID.match(channel):
        channel_id = channel
    elif team:
        channel_id = client.channel_id(team, channel)
    else:
        raise ValueError(
            f"report: channel {channel!r} is a name, which needs report.team or a team on the block"
        )
    post_id = client.post_message(message, channel_id=channel_id)
    return {"post_id": post_id, "channel_id": channel_id}


def publish_excel(
    settings: ReportSettings,
    records: list[RunRecord],
    until: datetime,
    stats: Stats | None,
    charts: list[Path],
) -> dict[str, Any]:
    path = settings.excel_dir / f"report-{settings.name}-{_stamp(until)}.xlsx"
    written = write_report_xlsx(records, path, stats=stats, charts=charts)
    return {"path": str(written.path), "runs": written.runs, "charts": written.charts}


async def publish_artifacts(
    settings: ReportSettings, rows: list[dict[str, str]], markdown: str, summary_line: str
) -> dict[str, Any]:
    key = f"tasklane-report-{settings.name}".replace("_", "-")
    await acreate_table_artifact(
        table=rows[:ARTIFACT_ROWS] or [{header: "" for header in settings.columns}],
        key=key + "-runs",
        description=summary_line + (f" (first {ARTIFACT_ROWS} rows)" if len(rows) > ARTIFACT_ROWS else ""),
    )
    await acreate_markdown_artifact(markdown=markdown, key=key, description=summary_line)
    return {"key": key, "rows": min(len(rows), ARTIFACT_ROWS)}


# --- the flow -----------------------------------------------------------------------------------


def _stats_and_charts(
    settings: ReportSettings, records: list[RunRecord], until: datetime, directory: Path
) -> tuple[Stats, list[Path]]:
    """The statistics and charts of the `stats_days` up to `until`, from the runs that ended then."""
    since = until - timedelta(days=settings.stats_days)
    stats = compute_stats(records, since, until + timedelta(microseconds=1))
    charts = [
        chart_runs_per_day(stats, directory / f"runs-per-day-{settings.name}.png"),
        chart_durations(records, directory / f"durations-{settings.name}.png"),
    ]
    return stats, charts


async def _collect(
    client: Any, settings: ReportSettings, after: datetime | None, until: datetime, with_stats: bool
) -> tuple[list[RunRecord], list[RunRecord] | None]:
    """The runs that ended in (after, until] and, `with_stats`, those of the stats window.

    One read of the two windows' union, each sliced from it: a report's window usually lies
    inside its stats window (until - stats_days, until], and a first or catching-up one holds it.
    """
    if not with_stats:
        return await finished_runs(client, after, until, tags=settings.tags), None
    stats_since = until - timedelta(days=settings.stats_days)
    lower = None if after is None else min(after, stats_since)
    every = await finished_runs(client, lower, until, tags=settings.tags)

    def ended_after(moment: datetime | None) -> list[RunRecord]:
        if moment is None or moment == lower:
            return every
        return [r for r in every if r.end is not None and r.end > moment]

    return ended_after(after), ended_after(stats_since)


@flow(name="tasklane-report", log_prints=True)
async def report_flow(settings: ReportSettings | None = None, dry_run: bool = False) -> dict[str, Any]:
    """Publish the runs of Tasklane tasks finished since the last report to the configured targets."""
    settings = settings or report_settings()
    logger = get_run_logger()
    env = template_environment(MESSAGE_TEMPLATE_DIR, settings.template_dir)
    targets = [t for t in TARGET_ORDER if t in settings.targets or t == "prefect"]
    report_url = run_link(flow_run.id) if flow_run.id else None
    outcome: dict[str, Any] = {"windows": []}
    async with get_client() as client:
        watermark = await read_watermark(client, settings.variable_name)
        now = datetime.now(UTC) - timedelta(seconds=settings.settle_seconds)
        windows: list[tuple[datetime | None, datetime, list[str]]] = []
        start = watermark.reported or (now - timedelta(days=settings.first_report_days))
        if watermark.pending is not None:
            windows.append(
                (watermark.reported, watermark.pending, [t for t in targets if t not in watermark.done])
            )
            start = watermark.pending
        if now > start:
            windows.append((start, now, targets))
        stats: Stats | None = None
        charts: list[Path] = []
        for after, until, todo in windows:
            wants_stats = stats is None and not dry_run and bool({"excel", "confluence"} & set(todo))
            records, stats_records = await _collect(client, settings, after, until, wants_stats)
            summary = summarise(records, after, until)
            rows = table_rows(records, settings.columns, env)
            line = (
                f"{summary.total} runs ended {after:%Y-%m-%d %H:%M:%S} – {until:%Y-%m-%d %H:%M:%S} UTC"
                if after
                else f"{summary.total} runs"
            )
            logger.info("report %s: %s; publishing to %s", settings.name, line, ", ".join(todo))
            window: dict[str, Any] = {
                "after": after.isoformat() if after else None,
                "until": until.isoformat(),
                "runs": len(records),
                "by_state": summary.by_state,
                "run_ids": [r.run_id for r in records],
                "published": {},
            }
            outcome["windows"].append(window)
            if dry_run:
                continue
            if not records:  # nothing to add to the table, post or workbook: the artifacts say so
                todo = [t for t in todo if t == "prefect"]
            if stats_records is not None and ({"excel", "confluence"} & set(todo)):
                stats, charts = _stats_and_charts(settings, stats_records, until, settings.excel_dir)
            # Mark the window as being published before touching any target.
            state = Watermark(reported=after, pending=until, done=[t for t in targets if t not in todo])
            await save_watermark(client, settings.variable_name, state)
            confluence_url = None
            for target in todo:
                if target == "confluence":
                    result = publish_confluence(settings, rows, charts)
                    confluence_url = result["url"]
                elif target == "excel":
                    result = publish_excel(settings, records, until, stats, charts)
                elif target == "mattermost":
                    message = render_template(
                        env,
                        "mattermost.md.j2",
                        summary=summary,
                        title=f"Tasklane report ({settings.name})",
                        report_url=report_url,
                        confluence_url=confluence_url,
                        max_failures=settings.max_failures,
                    )
                    result = publish_mattermost(settings, message)
                else:
                    published = {t: _describe(r) for t, r in window["published"].items()}
                    markdown = render_template(
                        env,
                        "report.md.j2",
                        summary=summary,
                        title=f"Tasklane report ({settings.name})",
                        targets=published or {"prefect": "artifacts only"},
                        stats_markdown=stats_markdown(stats) if stats else "",
                        max_failures=settings.max_failures,
                    )
                    result = await publish_artifacts(settings, rows, markdown, line)
                window["published"][target] = result
                state.done.append(target)
                await save_watermark(client, settings.variable_name, state)
            await save_watermark(client, settings.variable_name, Watermark(reported=until))
    outcome["runs"] = sum(w["runs"] for w in outcome["windows"])
    return outcome


def _describe(result: dict[str, Any]) -> str:
    if "appended" in result:
        return f"{result['appended']} rows added, {result['updated']} updated ({result['url']})"
    if "path" in result:
        return f"workbook {result['path']} ({result['runs']} runs)"
    if "post_id" in result:
        return f"post {result['post_id']}"
    return str(result)
