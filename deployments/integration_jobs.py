"""The Jira, Confluence and Mattermost task types: their parameter models and `TaskType`s.

Published under the `tasklane.task_types` entry point group (see `pyproject.toml`):

- `jira_export`: the issue tree of a root ticket, a project or a JQL query → an .xlsx workbook
  ("Root Issues" / "Child Issues"), the seeds' JIRA_TASK_EXP;
- `confluence_table`: rows upserted into (or appended to) a table of a Confluence page;
- `mattermost_notify`: a markdown message posted to a Mattermost channel.

Each model names the Prefect *block* holding the credentials (`block:`), never a secret: the
catalog refuses secret-looking literals, and the flow loads the block by name at run time.
Text fields marked "placeholders" may use `{task}`, `{date}`, `{time}`, `{datetime}`,
`{flow_run}`, `{flow_run_id}` and `{flow_run_url}`, filled in when the run starts
(`run_placeholders`, `fill_placeholders`); any other `{...}` is left as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from deployments.jobs import JobModel, _resolve
from deployments.run_names import ARTIFACT_KEY_CHARS, task_slug
from deployments.task_types import TaskType
from integrations.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RemoteServiceError,
    TableShapeError,
)

BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
JIRA_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*$")
JIRA_PROJECT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Where an export goes when the task names no `output`: relative to the worker's working directory.
DEFAULT_EXPORT_PATH = "exports/{task}-{date}.xlsx"


PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
PLACEHOLDER_NAMES = ("task", "date", "time", "datetime", "flow_run", "flow_run_id", "flow_run_url")


def fill_placeholders(text: str, values: dict[str, str]) -> str:
    """`text` with each `{name}` of `values` replaced; any other braces are left as they are.

    Not `str.format`: messages and cells are free text, and a stray `{` or a JSON snippet in
    them must not fail a run.

    Examples:
        >>> fill_placeholders("{task} done on {date}; keep {this}", {"task": "backup", "date": "2024-05-01"})
        'backup done on 2024-05-01; keep {this}'
    """
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def run_placeholders(now: datetime | None = None) -> dict[str, str]:
    """The placeholder values of the current Prefect flow run (task = deployment name, else flow name).

    Outside a flow run the run fields are empty and `task` is "tasklane".
    """
    from prefect.runtime import deployment, flow_run

    now = (now or datetime.now(UTC)).astimezone(UTC)
    task = deployment.name or flow_run.flow_name or "tasklane"
    return {
        "task": str(task),
        "date": now.strftime("%Y-%m-%d"),
        "time": now.strftime("%H:%M:%S"),
        "datetime": now.strftime("%Y-%m-%d %H:%M UTC"),
        "flow_run": str(flow_run.name or ""),
        "flow_run_id": str(flow_run.id or ""),
        "flow_run_url": str(flow_run.ui_url or ""),
    }


# Failures that another attempt cannot fix: refused credentials (401/403), a page, issue or channel
# that does not exist (404), a JQL Jira rejects (400), rows that do not fit the table, and
# configuration mistakes (ValueError/TypeError: a malformed key, a channel without a team...).
# Any other 4xx a service answers is permanent too, except 408, 409 and 429. Everything else
# (429 and 5xx after the clients' own retries, lost connections, 409 storms, timeouts) is retried
# by the task's catalog retry policy.
RETRYABLE_4XX = frozenset({408, 409, 429})
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    AuthenticationError,
    NotFoundError,
    BadRequestError,
    TableShapeError,
    ValueError,
    TypeError,
)


def failure_of(state: Any) -> BaseException | None:
    """The exception a failed Prefect state carries, if any.

    Prefect's task engine hands `retry_condition_fn` a `Failed(data=exception)`.
    """
    data = getattr(state, "data", None)
    return data if isinstance(data, BaseException) else None


def retry_unless(*permanent: type[BaseException]) -> Callable[[Any, Any, Any], bool]:
    """A Prefect `retry_condition_fn`: retry unless the failure is in `PERMANENT_ERRORS` or `permanent`.

    Examples:
        >>> from prefect.states import Failed
        >>> check = retry_unless(KeyError)
        >>> check(None, None, Failed(data=AuthenticationError("401")))
        False
        >>> check(None, None, Failed(data=OSError("connection reset")))
        True
        >>> check(None, None, Failed(data=RemoteServiceError("bad root_id", status=400)))
        False
    """
    never = PERMANENT_ERRORS + permanent

    def should_retry(task: Any, task_run: Any, state: Any) -> bool:
        failure = failure_of(state)
        if isinstance(failure, never):
            return False
        status = failure.status if isinstance(failure, RemoteServiceError) else None
        return not (status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX)

    return should_retry


def artifact_key(prefix: str, task: str) -> str:
    """A Prefect artifact key (lower-case letters, digits, dashes) for `task`, so runs form a history.

    Examples:
        >>> artifact_key("jira-export", "Nightly_Export.v2")
        'jira-export-nightly-export-v2'
    """
    return f"{prefix}-{task_slug(task)}"[:ARTIFACT_KEY_CHARS]


def _block_name(value: str) -> str:
    """A Prefect block document name (lower-case letters, digits and dashes)."""
    if "/" in value:
        raise ValueError(
            f"{value!r}: give the block's name only (e.g. 'jira-prod'); its type is implied by the task type"
        )
    if not BLOCK_NAME.match(value):
        raise ValueError(f"{value!r} is not a block name (lower-case letters, digits and '-')")
    return value


def _jira_key(pattern: re.Pattern[str], what: str) -> Callable[[str | None], str | None]:
    """A validator of an optional Jira key matching `pattern` (`what` it is), upper-cased."""

    def check(value: str | None) -> str | None:
        if value is not None and not pattern.match(value.strip()):
            raise ValueError(f"{value!r} is not {what}")
        return value.strip().upper() if value else value

    return check


class JiraExportJob(JobModel):
    """Export the issue tree below a root ticket, a project or a JQL query to an .xlsx workbook."""

    block: str = Field(..., description="Name of the jira-credentials block to connect with.")
    root_key: str | None = Field(None, description="Root ticket, e.g. DEMO-1.")
    project_key: str | None = Field(None, description="Every issue of this project, e.g. DEMO.")
    jql: str | None = Field(None, description="Every issue this JQL query matches.")
    link_types: list[str] = Field(
        default_factory=list,
        description="Issue links followed as children: 'blocks' (outward), 'is blocked by' (inward), "
        "'Relates' (a link type name: both directions).",
    )
    max_depth: int | None = Field(None, ge=0, le=100, description="Deepest child level kept; none: all.")
    epic_link_field: str | None = Field(
        "auto",
        description="Classic Epic Link field ('customfield_10014'), 'auto' to look it up, or null.",
    )
    output: str | None = Field(
        None,
        description=f"Path of the .xlsx (placeholders allowed); relative to the catalog file. "
        f"Default: '{DEFAULT_EXPORT_PATH}' under the worker's working directory.",
    )
    request_timeout: float | None = Field(
        None, gt=0, le=600, description="Seconds per Jira request; default: the block's timeout."
    )

    _check_block = field_validator("block")(_block_name)
    _key = field_validator("root_key")(_jira_key(JIRA_KEY, "an issue key like 'DEMO-1'"))
    _project = field_validator("project_key")(_jira_key(JIRA_PROJECT, "a project key like 'DEMO'"))

    @field_validator("epic_link_field")
    @classmethod
    def _epic_field(cls, value: str | None) -> str | None:
        if value is not None and value != "auto" and not re.match(r"^customfield_[0-9]+$", value):
            raise ValueError(f"{value!r} is not 'auto', null or a custom field id like 'customfield_10014'")
        return value

    @field_validator("output")
    @classmethod
    def _xlsx(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().endswith(".xlsx"):
            raise ValueError(f"{value!r} does not end in .xlsx")
        return value

    @model_validator(mode="after")
    def _one_entry_point(self) -> JiraExportJob:
        given = [n for n in ("root_key", "project_key", "jql") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of 'root_key', 'project_key', 'jql'; got {given or 'none'}")
        return self

    def with_paths_resolved(self, base: Path) -> JiraExportJob:
        return self.model_copy(update={"output": _resolve(base, self.output)})


class ConfluenceTableJob(JobModel):
    """Write rows into a table of a Confluence page: update by a key column, or append."""

    block: str = Field(..., description="Name of the confluence-credentials block to connect with.")
    page_id: str = Field(..., description="Id of the page holding the table.")
    table_heading: str | None = Field(None, description="Text of the heading directly above the table.")
    table_headers: list[str] = Field(
        default_factory=list, description="Header cells the table has (all of them need not be given)."
    )
    mode: Literal["upsert", "append"] = Field(
        "upsert", description="upsert: update rows whose key_column matches, append the rest; append: add."
    )
    key_column: str | None = Field(None, description="Column whose value identifies a row (upsert).")
    rows: list[dict[str, Any]] = Field(
        default_factory=list, description="Rows as {column: value}; string values may use placeholders."
    )
    run_columns: dict[str, str] = Field(
        default_factory=dict,
        description="Columns added to every row from the run, e.g. {Last run: '{datetime}'}; "
        "with no rows, one row of these alone.",
    )
    version_comment: str | None = Field(
        "Updated by Tasklane task {task}", description="Page history comment (placeholders allowed)."
    )

    _check_block = field_validator("block")(_block_name)

    @field_validator("page_id", mode="before")
    @classmethod
    def _page_id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and not value.strip().isdigit():
            raise ValueError(f"{value!r} is not a Confluence page id (digits, as in ?pageId=123456)")
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> ConfluenceTableJob:
        if not self.table_heading and not self.table_headers:
            raise ValueError("say which table: 'table_heading', 'table_headers', or both")
        if not self.rows and not self.run_columns:
            raise ValueError("nothing to write: give 'rows', 'run_columns', or both")
        if self.mode == "upsert":
            if not self.key_column:
                raise ValueError("mode 'upsert' needs 'key_column' (or use mode 'append')")
            for index, row in enumerate(self.rows or [{}]):
                if self.key_column not in row and self.key_column not in self.run_columns:
                    raise ValueError(f"rows[{index}] has no value for key_column {self.key_column!r}")
        return self


class MattermostNotifyJob(JobModel):
    """Post a markdown message to a Mattermost channel."""

    block: str = Field(..., description="Name of the mattermost-credentials block to post with.")
    message: str = Field(..., min_length=1, description="Markdown text (placeholders allowed).")
    channel: str | None = Field(
        None,
        description="Channel name (of the team) or 26-character channel id; default: the block's channel.",
    )
    team: str | None = Field(None, description="Team name of a channel given by name; default: the block's.")
    root_id: str | None = Field(None, description="Post id of a thread to reply in.")

    _check_block = field_validator("block")(_block_name)


JIRA_EXPORT = TaskType(
    "jira_export",
    JiraExportJob,
    "jira_export",
    "flows.jira_export.jira_export_flow",
    "Jira issue tree to an Excel workbook",
)
CONFLUENCE_TABLE = TaskType(
    "confluence_table",
    ConfluenceTableJob,
    "confluence_table",
    "flows.confluence_table.confluence_table_flow",
    "Rows into a Confluence page table",
)
MATTERMOST_NOTIFY = TaskType(
    "mattermost_notify",
    MattermostNotifyJob,
    "mattermost_notify",
    "flows.mattermost_notify.mattermost_notify_flow",
    "Message to a Mattermost channel",
)

__all__ = [
    "CONFLUENCE_TABLE",
    "DEFAULT_EXPORT_PATH",
    "artifact_key",
    "JIRA_EXPORT",
    "MATTERMOST_NOTIFY",
    "PERMANENT_ERRORS",
    "PLACEHOLDER_NAMES",
    "ConfluenceTableJob",
    "JiraExportJob",
    "MattermostNotifyJob",
    "fill_placeholders",
    "retry_unless",
    "run_placeholders",
]
