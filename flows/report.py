"""The report flow: runs of Tasklane tasks finished since the last report, published to the targets.

Deployed by `make up` (deployments/platform.py) every `report.interval_minutes` (30) on the
`tasklane` pool. Each run:

1. reads the watermark (a Prefect Variable, `tasklane.reports.watermark.Watermark`): runs that ended
   up to `reported` are published everywhere; a `pending` window is one a previous report
   started publishing and did not finish (it crashed, or a target failed), with the targets it
   did reach;
2. finishes that pending window first, for the other targets only, then reports the window
   (reported, now - settle_seconds];
3. per window: marks it pending, publishes to each target and records each in the watermark,
   then advances `reported`. The Confluence rows are upserted by run id, the workbook of a
   window has a fixed name, so a target repeated after a crash in its own middle changes nothing.

Targets: `confluence` (results table rows and the chart PNGs attached), `mattermost` (a
summary rendered from a Jinja template), `excel` (Runs/Stats/Charts workbook), and always the
Prefect table and markdown artifacts. Each target is a Prefect task of its own
(`publish_to_confluence`, `post_to_mattermost`, `write_excel_report`, `create_report_artifacts`),
seen in the UI and retried alone (`TARGET_RETRIES`; errors no retry mends, such as a missing
block or page id, are not retried); one that still fails fails the report, whose window stays
pending for the targets it did not reach. The tasks take block names and identifiers, never
clients. The logic lives in `integrations/report.py` and `tasklane/history/runs.py`; this
module only orchestrates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

import jinja2
from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import PrefectClient, get_client
from prefect.runtime import flow_run
from prefect.tasks import Task
from prefect.utilities.annotations import quote

from blocks.confluence import ConfluenceCredentials
from blocks.mattermost import MattermostCredentials
from deployments.integration_jobs import retry_unless
from flows._integrations import confluence_page_url, load_block, mattermost_destination
from flows._runtime import name_after_task
from integrations.report import (
    RunRecord,
    Stats,
    Summary,
    chart_durations,
    chart_runs_per_day,
    compute_stats,
    render_template,
    stats_markdown,
    summarise,
    table_rows,
    template_environment,
    upsert_results,
    write_report_xlsx,
)
from tasklane.history.runs import finished_runs, run_link
from tasklane.reports import MESSAGE_TEMPLATE_DIR
from tasklane.reports.watermark import Watermark, read_watermark, save_watermark
from tasklane.settings import get_settings
from tasklane.settings.reports import ReportSettings

ARTIFACT_ROWS = 500
TARGET_ORDER = ["confluence", "excel", "mattermost", "prefect"]
# Each target's task: retried alone this many times, after these delays (seconds).
TARGET_RETRIES = 2
TARGET_RETRY_DELAYS = [10.0, 60.0]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


def report_settings() -> ReportSettings:
    """`report:` of Tasklane's settings once folded in; the defaults until then."""
    value = getattr(get_settings(), "report", None)
    return value if isinstance(value, ReportSettings) else ReportSettings.model_validate(value or {})


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")


# --- the tasks: one per side effect -------------------------------------------------------------


def target_task(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A publishing target's Prefect task: its own retries; permanent errors not retried.

    No cache: a target publishes each time it is asked to (the watermark says when).
    """
    return task(
        name=name,
        retries=TARGET_RETRIES,
        retry_delay_seconds=TARGET_RETRY_DELAYS,
        retry_condition_fn=retry_unless(),
        cache_policy=NO_CACHE,
    )


def as_is(value: T) -> T:
    """`value` handed to a task untouched: Prefect does not walk it looking for futures.

    A report's rows and records run to ten thousands; walking them costs about a second per task.
    The cast: `quote` is unwrapped before the task runs, so the task gets a `T`.
    """
    return cast(T, quote(value))


@target_task("publish-to-confluence")
def publish_to_confluence(
    block_name: str,
    page_id: str | None,
    table_heading: str,
    headers: list[str],
    rows: list[dict[str, str]],
    charts: list[Path],
) -> dict[str, Any]:
    """Upsert the rows (key: run id) into the results table on the page; attach the charts."""
    if not page_id:
        raise ValueError("report: target 'confluence' needs report.page_id")
    block = load_block(ConfluenceCredentials, block_name)
    pages = block.get_pages()
    written = upsert_results(pages, page_id, table_heading, headers, rows)
    attached = attach_charts(pages, page_id, charts) if charts else []
    return {**written, "url": confluence_page_url(block.url, page_id), "attached": attached}


def attach_charts(pages: Any, page_id: str, charts: list[Path]) -> list[str]:
    """Attach (replace) the chart PNGs on the page; a server that refuses is logged, not fatal."""
    logger = get_run_logger()
    attached = []
    for chart in charts:
        try:
            pages.attach_file(page_id, chart, content_type="image/png")
            attached.append(chart.name)
        except Exception as exc:  # noqa: BLE001 - charts are a nicety; the rows are what matters
            logger.warning("could not attach %s to Confluence page %s: %s", chart.name, page_id, exc)
    return attached


@target_task("post-to-mattermost")
def post_to_mattermost(
    block_name: str, channel: str | None, team: str | None, message: str
) -> dict[str, Any]:
    """Post the message to the channel (by id, or by name in the team); the block's when not given."""
    block = load_block(MattermostCredentials, block_name)
    client = block.get_client()
    channel = channel or block.channel
    team, name, channel_id = mattermost_destination(
        channel,
        team or block.team,
        no_channel="report: target 'mattermost' needs report.channel or a channel on the block",
        no_team=f"report: channel {channel!r} is a name, which needs report.team or a team on the block",
    )
    if channel_id is None:
        assert team is not None  # mattermost_destination insists on a team for a channel name
        channel_id = client.channel_id(team, name)
    post_id = client.post_message(message, channel_id=channel_id)
    return {"post_id": post_id, "channel_id": channel_id}


@target_task("write-excel-report")
def write_excel_report(
    path: Path, records: list[RunRecord], stats: Stats | None, charts: list[Path]
) -> dict[str, Any]:
    """The window's workbook at `path` (a fixed name per window: a repeat replaces it)."""
    written = write_report_xlsx(records, path, stats=stats, charts=charts)
    return {"path": str(written.path), "runs": written.runs, "charts": written.charts}


@target_task("create-report-artifacts")
async def create_report_artifacts(
    report_name: str, headers: list[str], rows: list[dict[str, str]], total: int, markdown: str, line: str
) -> dict[str, Any]:
    """The Prefect table (the first `ARTIFACT_ROWS` of `total` rows) and markdown artifacts."""
    key = f"tasklane-report-{report_name}".replace("_", "-")
    await acreate_table_artifact(
        table=rows[:ARTIFACT_ROWS] or [{header: "" for header in headers}],
        key=key + "-runs",
        description=line + (f" (first {ARTIFACT_ROWS} rows)" if total > ARTIFACT_ROWS else ""),
    )
    await acreate_markdown_artifact(markdown=markdown, key=key, description=line)
    return {"key": key, "rows": min(total, ARTIFACT_ROWS)}


@task(name="draw-report-charts", cache_policy=NO_CACHE)
def draw_charts(stats: Stats, records: list[RunRecord], directory: Path, report_name: str) -> list[Path]:
    """The runs-per-day and durations PNGs of the stats window, in `directory`."""
    return [
        chart_runs_per_day(stats, directory / f"runs-per-day-{report_name}.png"),
        chart_durations(records, directory / f"durations-{report_name}.png"),
    ]


# --- the flow -----------------------------------------------------------------------------------


@dataclass
class Window:
    """The runs that ended in (after, until], as the targets get them, and what each target made."""

    after: datetime | None
    until: datetime
    records: list[RunRecord]
    summary: Summary
    rows: list[dict[str, str]]
    line: str
    published: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        after: datetime | None,
        until: datetime,
        records: list[RunRecord],
        columns: dict[str, str],
        env: jinja2.Environment,
    ) -> Window:
        summary = summarise(records, after, until)
        line = (
            f"{summary.total} runs ended {after:%Y-%m-%d %H:%M:%S} – {until:%Y-%m-%d %H:%M:%S} UTC"
            if after
            else f"{summary.total} runs"
        )
        return cls(after, until, records, summary, table_rows(records, columns, env), line)

    def as_dict(self) -> dict[str, Any]:
        """The window in the flow's outcome (`published` filled in as the targets go)."""
        return {
            "after": self.after.isoformat() if self.after else None,
            "until": self.until.isoformat(),
            "runs": len(self.records),
            "by_state": self.summary.by_state,
            "run_ids": [r.run_id for r in self.records],
            "published": self.published,
        }


def windows_to_report(
    watermark: Watermark, targets: list[str], now: datetime, first_report_days: float
) -> list[tuple[datetime | None, datetime, list[str]]]:
    """(after, until, targets): the pending window for the targets it did not reach, then the new one."""
    windows: list[tuple[datetime | None, datetime, list[str]]] = []
    start = watermark.reported or (now - timedelta(days=first_report_days))
    if watermark.pending is not None:
        todo = [t for t in targets if t not in watermark.done]
        windows.append((watermark.reported, watermark.pending, todo))
        start = watermark.pending
    if now > start:
        windows.append((start, now, targets))
    return windows


def _stats_window(settings: ReportSettings, records: list[RunRecord], until: datetime) -> Stats:
    """The statistics of the `stats_days` up to `until`, from the runs that ended then."""
    since = until - timedelta(days=settings.stats_days)
    return compute_stats(records, since, until + timedelta(microseconds=1))


async def _collect(
    client: PrefectClient, settings: ReportSettings, after: datetime | None, until: datetime, with_stats: bool
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


async def publish(
    target: str,
    window: Window,
    settings: ReportSettings,
    env: jinja2.Environment,
    stats: Stats | None,
    charts: list[Path],
    report_url: str | None,
) -> dict[str, Any]:
    """Run the target's task for the window; its result."""
    title = f"Tasklane report ({settings.name})"
    if target == "confluence":
        return publish_to_confluence(
            settings.confluence_block,
            settings.page_id,
            settings.table_heading,
            list(settings.columns),
            as_is(window.rows),
            charts if settings.attach_charts else [],
        )
    if target == "excel":
        path = settings.excel_dir / f"report-{settings.name}-{_stamp(window.until)}.xlsx"
        return write_excel_report(path, as_is(window.records), stats, charts)
    if target == "mattermost":
        message = render_template(
            env,
            "mattermost.md.j2",
            summary=window.summary,
            title=title,
            report_url=report_url,
            confluence_url=window.published.get("confluence", {}).get("url"),
            max_failures=settings.max_failures,
        )
        return post_to_mattermost(settings.mattermost_block, settings.channel, settings.team, message)
    published = {t: _describe(r) for t, r in window.published.items()}
    markdown = render_template(
        env,
        "report.md.j2",
        summary=window.summary,
        title=title,
        targets=published or {"prefect": "artifacts only"},
        stats_markdown=stats_markdown(stats) if stats else "",
        max_failures=settings.max_failures,
    )
    return await create_report_artifacts(
        settings.name,
        list(settings.columns),
        window.rows[:ARTIFACT_ROWS],
        len(window.rows),
        markdown,
        window.line,
    )


@flow(name="tasklane-report", flow_run_name=name_after_task, log_prints=True)
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
        stats: Stats | None = None
        charts: list[Path] = []
        for after, until, todo in windows_to_report(watermark, targets, now, settings.first_report_days):
            wants_stats = stats is None and not dry_run and bool({"excel", "confluence"} & set(todo))
            records, stats_records = await _collect(client, settings, after, until, wants_stats)
            window = Window.of(after, until, records, settings.columns, env)
            logger.info("report %s: %s; publishing to %s", settings.name, window.line, ", ".join(todo))
            outcome["windows"].append(window.as_dict())
            if dry_run:
                continue
            if not records:  # nothing to add to the table, post or workbook: the artifacts say so
                todo = [t for t in todo if t == "prefect"]
            if stats_records is not None and ({"excel", "confluence"} & set(todo)):
                stats = _stats_window(settings, stats_records, until)
                charts = draw_charts(stats, as_is(stats_records), settings.excel_dir, settings.name)
            # Mark the window as being published before touching any target.
            state = Watermark(reported=after, pending=until, done=[t for t in targets if t not in todo])
            await save_watermark(client, settings.variable_name, state)
            for target in todo:
                window.published[target] = await publish(
                    target, window, settings, env, stats, charts, report_url
                )
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
