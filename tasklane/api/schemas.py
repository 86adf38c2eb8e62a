"""Request and response bodies, shaped as the old systems document them (snake_case field names).

The Go/Gin scheduler's Go `Task` is served with snake_case JSON names (`task_type`, `cron_expr`, ...), as
the FastAPI services' Python service of the same model does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# --- the Go/Gin scheduler and the FastAPI services ------------------------------------------------


class RetryPolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_retries: int = 0
    retry_delay: float = Field(10.0, description="Seconds before the first retry.")
    backoff_factor: float = 2.0


class Task(BaseModel):
    """The Go/Gin scheduler's Task. `id` is the task's name (its Prefect deployment's name)."""

    id: str
    name: str
    task_type: Literal["IMMEDIATE", "SCHEDULED"]
    type: str | None = Field(None, description="Tasklane task type: shell, python, http, ...")
    cron_expr: str | None = None
    status: str = Field(
        ...,
        description="The last outcome: DONE, FAILED, TIMEOUT or CANCELLED; PENDING (or RUNNING) while no "
        "run has ended yet. A run in flight is `metadata.running` ({state, status, since}).",
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    priority: str
    metadata: dict[str, Any] = {}
    tags: list[str] = []
    owner: str | None = None
    dependencies: list[str] = []
    timeout_seconds: float | None = None
    retry_policy: RetryPolicyBody | None = None
    parameters: dict[str, Any] = {}
    execution_result: dict[str, Any] | None = None


class TaskIn(BaseModel):
    """The Go/Gin scheduler's Task as a request body. Server-set fields (id, status, dates,
    result) are ignored.

    `type` (or `parameters.type`) is the Tasklane task type; `parameters` are its fields
    (`command`, `url`, ...); `metadata` may carry `group`, `description`, `enabled`.
    `task_type` IMMEDIATE runs the task once right after it is created.
    """

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    name: str | None = None
    task_type: Literal["IMMEDIATE", "SCHEDULED"] | None = None
    type: str | None = None
    cron_expr: str | None = None
    status: str | None = None
    created_at: Any = None
    updated_at: Any = None
    priority: str | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None
    owner: str | None = None
    dependencies: list[str] | None = None
    timeout_seconds: float | None = None
    retry_policy: RetryPolicyBody | None = None
    parameters: dict[str, Any] | None = None
    execution_result: Any = None


class TaskList(BaseModel):
    total_count: int
    data: list[Task]


class HistoryEntry(BaseModel):
    """One finished execution (the FastAPI services' task history)."""

    id: str
    task_id: str | None
    name: str
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None


class HistoryList(BaseModel):
    total_count: int
    data: list[HistoryEntry]


class Message(BaseModel):
    message: str


class Report(BaseModel):
    report_type: str
    generated_at: datetime
    data: str


class TaskReport(Report):
    task_id: str


class Health(BaseModel):
    status: Literal["ok"]
    timestamp: datetime
    prefect: Literal["ok", "unreachable"] = "ok"


# --- the gocron registry --------------------------------------------------------------------------


class Job(BaseModel):
    id: str
    name: str
    next_run: datetime | None = None
    last_run: datetime | None = None


class JobList(BaseModel):
    code: int = 200
    message: str = "success"
    data: list[Job]


class SchedulerState(BaseModel):
    pool: str
    paused: bool
    changed: bool


class SchedulerResponse(BaseModel):
    code: int = 200
    message: str = "success"
    data: SchedulerState


# --- the scheduler requirements -------------------------------------------------------------------


class TaskBody(BaseModel):
    """A task as the catalog writes it (the scheduler requirements' create body): common fields
    beside the type's own.

    Extra keys are the task type's parameters (`command`, `url`, `callable`, ...). `schedule` is a
    friendly spec (`{type: daily, time: "02:00"}`, `{every: 30s}`, `"0 2 * * *"`, a list, ...).
    A `name` that is not an id ("Daily Backup") is kept as the display name and its slug is the id.
    """

    model_config = ConfigDict(extra="allow")

    name: str | None = None
    description: str | None = None
    group: str | None = None
    type: str | None = None
    tags: list[str] | None = None
    owner: str | None = None
    priority: str | None = None
    schedule: Any = None
    timeout_seconds: float | None = None
    retry: dict[str, Any] | None = None
    enabled: bool | None = None
    depends_on: list[str] | None = None
    max_concurrent: int | None = None
    missed: str | None = None


class TaskSummary(BaseModel):
    id: str
    name: str
    group: str | None
    status: Literal["active", "disabled"]
    schedule: str = Field(description="As the catalog writes it: `every 10m`, `daily 02:00 Asia/Shanghai`.")
    timezone: str | None = Field(None, description="The zone of the times below (the schedule's).")
    next_run: datetime | None = None
    last_run: datetime | None = Field(None, description="When the last run to end (its outcome) ended.")
    last_status: str | None = Field(
        None, description="The last outcome: success, failed or cancelled; null: no run has ended yet."
    )
    running_status: str | None = Field(
        None, description="A run in flight: pending, running (cancelled while cancelling); null: none."
    )
    running_since: datetime | None = None
    type: str | None = None
    description: str = ""
    priority: str | None = None


class TaskPage(BaseModel):
    total: int
    page: int
    limit: int
    tasks: list[TaskSummary]


class RunStarted(BaseModel):
    execution_id: str
    status: str


class Execution(BaseModel):
    id: str
    task_id: str | None
    status: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    output: str | None = None
    error: str | None = None
    exit_code: int | None = None


class ExecutionPage(BaseModel):
    total: int
    page: int
    limit: int
    executions: list[Execution]


class LogLine(BaseModel):
    timestamp: datetime
    level: str
    message: str


class Logs(BaseModel):
    logs: list[LogLine]


class TaskStats(BaseModel):
    total_executions: int
    success: int
    failed: int
    success_rate: float
    avg_duration: float
    total_duration: float


class GlobalStats(BaseModel):
    total_tasks: int
    active_tasks: int
    total_executions: int
    success_rate: float
    by_status: dict[str, int]


class TemplateRow(BaseModel):
    id: str
    name: str
    category: str
    description: str


class TemplateList(BaseModel):
    templates: list[TemplateRow]


class FromTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template_id: str
    name: str
    params: dict[str, Any] = {}
    group: str | None = None
    enabled: bool | None = None


class BatchResult(BaseModel):
    group: str
    action: Literal["enable", "disable", "delete"]
    changed: list[str]


# --- the trash ------------------------------------------------------------------------------------


class TaskDeleted(Message):
    """A deleted task: it is in the trash (restorable for `trash.retention_days`)."""

    downstream: list[str] = Field(
        default_factory=list,
        description="Tasks that depend on it: its completions no longer trigger them until it is restored.",
    )


class GroupDeleted(BatchResult):
    """A deleted group: its tasks (`changed`) are in the trash."""

    downstream: list[str] = Field(
        default_factory=list, description="Tasks outside the group that depend on one of its tasks."
    )


class TrashEntry(BaseModel):
    """A task in the trash."""

    id: str = Field(description="The task's id (its name).")
    deployment_id: str
    group: str | None = None
    home: str | None = Field(None, description="Who defines it: `file:PATH`, `api`, ...")
    deleted_at: datetime | None = None
    purge_after: datetime | None = Field(None, description="When the maintenance flow purges it.")
    was_enabled: bool = Field(description="Whether it was enabled when deleted; a restore gives that back.")
    downstream: list[str] = Field(default_factory=list, description="Tasks that depend on it.")


class TrashList(BaseModel):
    total: int
    retention_days: float
    tasks: list[TrashEntry]


class TaskRestored(BaseModel):
    """A task back from the trash: the same task (id, schedules, dependencies, alerts, runs)."""

    message: str
    task: TaskSummary
    missing_upstream: list[str] = Field(
        default_factory=list,
        description="Tasks it depends on that are gone or still in the trash: they do not trigger it.",
    )


class PreviewRun(BaseModel):
    local: datetime
    utc: datetime


class Preview(BaseModel):
    spec: dict[str, Any]
    timezone: str
    runs: list[PreviewRun]


class DiffEntry(BaseModel):
    """One field of a task's definition that changed: its value before and after (null: absent)."""

    before: Any = None
    after: Any = None


class AuditEvent(BaseModel):
    """One change, from the API, the CLI or the chat bot."""

    id: str
    occurred: datetime
    event: str = Field(
        description="`tasklane.task.updated`, `tasklane.task.run`, `tasklane.token.created`, ..."
    )
    resource: str = Field(description="`tasklane.task.<name>`, `tasklane.group.<group>`, ...")
    actor: str | None = Field(
        None, description="`token:<name>` (API), `os:<user>` (CLI), `chat:<username>` (bot)."
    )
    action: str | None = Field(None, description="The event without `tasklane.`: `task.updated`, ...")
    task: str | None = None
    caller: str | None = Field(None, description="The actor's name (an API token's name).")
    role: str | None = Field(None, description="The API token's role; null for the CLI and the bot.")
    change: Any = Field(None, description="What was asked: the request's body, the command's options.")
    diff: dict[str, DiffEntry] = Field(
        default_factory=dict, description="The task's definition before -> after, by changed field."
    )
    result: str | None = Field(None, description="`ok`, `ok; ...` or `failed: <why>`.")


class AuditList(BaseModel):
    total: int
    events: list[AuditEvent]


# --- what the CLI can do: run with parameters, clone, cancel, export, delete a list ---------------


class RunBody(BaseModel):
    """`tasklane run NAME --param KEY=VALUE`: values that replace the task's own for this run only."""

    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The task type's fields to override (`command`, `url`, ...)."
    )


class CloneBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="The new task's id.")


class Cancelled(BaseModel):
    """Runs asked to stop (the worker kills their processes); empty: none was due or running."""

    cancelled: list[str] = Field(description="The run ids set to Cancelling.")


class CatalogExport(BaseModel):
    """The catalog document of the tasks (`tasklane export`): applying it changes nothing."""

    tasks: list[dict[str, Any]]


class BatchDelete(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=500, description="Task ids (names) or deployment ids.")


class BatchDeleted(BaseModel):
    """Deleted tasks: in the trash, restorable."""

    deleted: list[str]
    downstream: list[str] = Field(
        default_factory=list, description="Tasks not deleted that depend on a deleted one."
    )
