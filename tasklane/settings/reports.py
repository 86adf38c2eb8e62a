"""Settings of run history (retention) and of the report flow (targets, table, templates).

Pure pydantic: this module imports nothing of the project.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

TASKLANE_TAG = "tasklane"  # every deployment Tasklane makes carries it; reports select runs by it
WATERMARK_PREFIX = "tasklane_report_"

# The Confluence results table: header -> Jinja expression over `run` (a RunRecord).
DEFAULT_REPORT_COLUMNS: dict[str, str] = {
    "Task": "{{ run.task }}",
    "Group": "{{ run.group or '' }}",
    "Run id": "{{ run.run_id }}",
    "State": "{{ run.state }}",
    "Start": "{{ run.start | iso }}",
    "End": "{{ run.end | iso }}",
    "Duration (s)": "{{ run.duration | seconds }}",
    "Message": "{{ run.message | truncate(300) }}",
    "Link": "{{ run.link or '' }}",
}


class HistorySettings(BaseModel):
    """Run history kept on the Prefect server (the scheduler requirements `history:`)."""

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
        default_factory=lambda: dict(DEFAULT_REPORT_COLUMNS),
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
