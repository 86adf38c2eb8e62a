"""The task catalog: the one model of what a task is, and loading it from YAML.

A catalog file is `tasks:` followed by a list of tasks. A task's common fields (name,
type, schedule, priority, retry, ...) sit beside the parameters of its type (`command`
for shell, `url` for http, ...), as in the seeds' create-task body. Loading validates
everything and reports every problem at once, each naming the file, the task and the field.

A task's `notify:` (alerts, `tasklane.settings.alerts.NotifySpec`) is laid over settings
`alerts.default_notify`, so a task that writes none gets the default and `notify: off` opts out.
Likewise a task that writes no `timeout_seconds` or no `retry:` runs with settings `execution`'s
(`TaskSpec.run_policy`); `timeout_seconds: 0` and `retry: {max_retries: 0}` opt out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from deployments.errors import CatalogError, Problem, did_you_mean, problems_from_validation
from deployments.jobs import JobModel
from deployments.ownership import directory_claim, file_home
from deployments.policy import MissedPolicy, PolicySource, RunPolicy, TaskRetryPolicy, policy_source_label
from deployments.schedules import ScheduleSpec, parse_schedules
from deployments.task_pool import TaskPool
from deployments.task_types import TaskType, registered_task_types
from tasklane.settings import get_settings
from tasklane.settings.alerts import AlertSettings, NotifySpec
from tasklane.settings.execution import ExecutionSettings

TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|authorization)",
    re.IGNORECASE,
)
SECRET_VALUE = re.compile(r"^(bearer|basic|token)\s+\S{8,}", re.IGNORECASE)
# Fields whose values name blocks rather than hold secrets.
REFERENCE_FIELDS = {"secret_env", "auth_block"}


def current_alert_settings() -> AlertSettings:
    """Settings `alerts` (config.yaml, TASKLANE_ALERTS__*)."""
    return get_settings().alerts


def current_execution_settings() -> ExecutionSettings:
    """Settings `execution` (config.yaml, TASKLANE_EXECUTION__*): default timeout and retries."""
    return get_settings().execution


class Priority(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"

    @property
    def queue(self) -> str:
        """The work queue of this priority."""
        return self.value.lower()


class TaskSpec(BaseModel):
    """One task of the catalog: common fields plus its type's parameters (`job`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(..., description="Unique name; the deployment's name.")
    type: str = Field(..., description="Task type: shell, python, http or a plugin's.")
    description: str = ""
    group: str = Field("default", description="Group for batch operations and stats.")
    tags: list[str] = Field(default_factory=list)
    owner: str | None = None
    priority: Priority = Priority.MEDIUM
    schedule: list[ScheduleSpec] = Field(default_factory=list)
    # Unset: settings `execution` decides (`run_policy`); written, even as 0 or null, the task's own.
    timeout_seconds: float | None = Field(
        None,
        ge=0,
        validation_alias=AliasChoices("timeout_seconds", "timeout"),
        description="Seconds a run may take; 0 or null: no limit; unset: settings execution.timeout_seconds.",
    )
    retry: TaskRetryPolicy = Field(
        default_factory=TaskRetryPolicy,
        validation_alias=AliasChoices("retry", "retry_policy"),
        description="Retries of a failed run; {max_retries: 0} or null: none; "
        "unset: settings execution.retry.",
    )
    enabled: bool = True
    depends_on: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("depends_on", "dependencies"),
        description="Tasks that must all complete (since this task's last run) before it runs.",
    )
    max_concurrent: int = Field(
        1, ge=1, le=1000, description="Runs of this task at once; 1 means it never overlaps itself."
    )
    missed: MissedPolicy = Field(
        "run_once", description="Scheduled runs missed during downtime: run_all, run_once or skip."
    )
    notify: NotifySpec | None = Field(
        None,
        description="Alerts (Prefect automations): rules, destinations, throttle; "
        "settings alerts.default_notify for a task that writes none.",
    )
    pool: TaskPool | None = Field(
        None,
        description="Another work pool for this task's runs (queue, job variables); unset: the catalog's.",
    )
    job: JobModel = Field(..., exclude=True, description="The type's parameters.")
    # "task": `notify` was written in the catalog; "default": it is settings' default; None: not written.
    _notify_origin: Literal["task", "default"] | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not TASK_NAME.match(value):
            raise ValueError(f"{value!r} is not a task name (letters, digits, '_', '.', '-'; up to 100)")
        return value

    @field_validator("priority", mode="before")
    @classmethod
    def _priority(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, list) and not value:
            raise ValueError("an empty list of schedules; leave 'schedule' out for none")
        return value if isinstance(value, list) else [value]

    @field_validator("retry", mode="before")
    @classmethod
    def _retry(cls, value: Any) -> Any:
        return {"max_retries": 0} if value is None else value  # `retry: null`: no retries

    @field_validator("notify", mode="before")
    @classmethod
    def _notify(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict | NotifySpec):
            raise ValueError(
                f"expected a mapping like {{on: [failed], to: [mattermost], throttle: 30m}}, "
                f"or null/off for no alerts; found {value!r}"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if ":" in tag and tag.split(":", 1)[0] in {"group", "owner", "type", "priority"}:
                raise ValueError(f"tag {tag!r} uses a prefix Tasklane sets itself")
        return value

    @property
    def task_type(self) -> TaskType:
        return registered_task_types()[self.type]

    def policy_sources(self) -> tuple[PolicySource, PolicySource]:
        """Where the timeout and the retries come from: the task's own fields, or settings `execution`."""
        timeout: PolicySource = "task" if "timeout_seconds" in self.model_fields_set else "settings"
        retry: PolicySource = "task" if "retry" in self.model_fields_set else "settings"
        return timeout, retry

    def policy_source_label(self) -> str:
        """The deployment label (`deployments.policy.POLICY_SOURCE_LABEL`) of `policy_sources`."""
        return policy_source_label(*self.policy_sources())

    def run_policy(self, execution: ExecutionSettings | None = None) -> RunPolicy:
        """The task's retries and timeout, settings `execution`'s for those it does not write.

        Args:
            execution: the defaults (default: settings `execution`).
        """
        execution = execution if execution is not None else current_execution_settings()
        timeout_source, retry_source = self.policy_sources()
        timeout = self.timeout_seconds if timeout_source == "task" else execution.timeout
        retry = (
            self.retry
            if retry_source == "task"
            else TaskRetryPolicy.model_validate(execution.retry.as_task_retry())
        )
        return RunPolicy.from_retry(retry, timeout, self.missed)

    def to_mapping(self) -> dict[str, Any]:
        """The task as it is written in a catalog file (type parameters beside the rest)."""
        common = self.model_dump(mode="json", exclude_defaults=True, by_alias=False, exclude={"notify"})
        common["name"], common["type"] = self.name, self.type
        if self._notify_origin == "task" or (self._notify_origin is None and self.notify is not None):
            # As resolved (defaults included); `notify: null` keeps a task's opt-out of the default.
            common["notify"] = (
                self.notify.model_dump(mode="json", exclude_defaults=True) if self.notify else None
            )
        if self.schedule:
            common["schedule"] = [s.model_dump(mode="json", exclude_none=True) for s in self.schedule]
        # A written timeout or retry stays, even when it equals the field default (an opt-out of
        # settings `execution`); an unwritten one stays out, so it keeps following the settings.
        common.pop("timeout_seconds", None)
        common.pop("retry", None)
        timeout_source, retry_source = self.policy_sources()
        if timeout_source == "task":
            common["timeout_seconds"] = self.timeout_seconds
        if retry_source == "task":
            retry = self.retry.model_dump(mode="json", exclude_defaults=True)
            common["retry"] = {"max_retries": self.retry.max_retries, **retry}
        job = self.job.model_dump(mode="json", exclude_defaults=True, by_alias=True)
        return {**common, **job}


COMMON_FIELDS = {
    name
    for name, info in TaskSpec.model_fields.items()
    if name != "job"
    for name in ([name] + list(getattr(info.validation_alias, "choices", []) or []))
}


@dataclass
class Catalog:
    """The validated tasks, in file order, the files they came from, and the homes it owns.

    `homes` maps each task to its file's home (`deployments.ownership`); `claims` are the homes the
    paths that were read own: each file's, and for a directory every file below it, present or
    gone (a file deleted from `tasks/` takes its tasks with it). A catalog built in code claims
    nothing, so applying it prunes nothing.
    """

    tasks: list[TaskSpec] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    homes: dict[str, str] = field(default_factory=dict)
    claims: tuple[str, ...] = ()
    files_of: dict[str, str] = field(default_factory=dict)  # task name -> the file defining it

    def by_name(self) -> dict[str, TaskSpec]:
        return {task.name: task for task in self.tasks}

    def home_of(self, name: str) -> str | None:
        return self.homes.get(name)

    def claims_home(self, home: str | None) -> bool:
        """Whether applying this catalog owns what `home` defines."""
        if home is None:
            return False
        return any(home == claim or (claim.endswith("/") and home.startswith(claim)) for claim in self.claims)


def _secret_literals(value: Any, path: str) -> list[tuple[str, str]]:
    """(field path, reason) for every value that looks like a secret written in plain text."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            key_path = f"{path}.{key}" if path else str(key)
            if str(key) in REFERENCE_FIELDS:
                continue
            if SECRET_KEY.search(str(key)) and isinstance(item, str | int) and str(item).strip():
                found.append((key_path, "looks like a secret written in the catalog"))
            else:
                found.extend(_secret_literals(item, key_path))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_secret_literals(item, f"{path}[{index}]"))
    elif isinstance(value, str) and SECRET_VALUE.match(value.strip()):
        found.append((path, "looks like a credential written in the catalog"))
    return found


def parse_task(
    raw: Any, file: str, position: int, base_dir: Path, *, alerts: AlertSettings | None = None
) -> TaskSpec | list[Problem]:
    """Validate one task mapping; return the task or its problems.

    Args:
        alerts: the `notify` defaults and destination names (default: settings `alerts`).
    """
    label = f"#{position + 1}"
    if not isinstance(raw, dict):
        return [Problem(file, label, None, f"a task is a mapping of fields; found {type(raw).__name__}")]
    if isinstance(raw.get("name"), str) and raw["name"]:
        label = raw["name"]
    problems: list[Problem] = []
    for path, reason in _secret_literals(raw, ""):
        problems.append(
            Problem(
                file,
                label,
                path,
                f"{reason}; keep it in a Prefect block (Secret, http-bearer-auth, ...) and "
                "name the block instead (secret_env, auth_block)",
            )
        )
    types = registered_task_types()
    type_name = raw.get("type")
    task_type = types.get(type_name) if isinstance(type_name, str) else None
    if type_name is None:
        problems.append(Problem(file, label, "type", "is required"))
    elif task_type is None:
        problems.append(
            Problem(
                file,
                label,
                "type",
                f"unknown type {type_name!r} (known: {', '.join(sorted(types))})"
                + did_you_mean(str(type_name), list(types)),
            )
        )
    common = {k: v for k, v in raw.items() if k in COMMON_FIELDS}
    job_fields = {k: v for k, v in raw.items() if k not in COMMON_FIELDS}
    job: JobModel | None = None
    if task_type is not None:
        try:
            job = task_type.job_model.model_validate(job_fields)
        except ValidationError as exc:
            for problem in problems_from_validation(exc, file, label):
                if problem.message == "is not a field of this task":
                    # As the catalog writes them: a field's alias (`json`), not its Python name.
                    fields = task_type.job_model.model_fields
                    names = [info.alias or key for key, info in fields.items()]
                    common_names = [n for n in TaskSpec.model_fields if n != "job"]
                    problem = Problem(
                        file,
                        label,
                        problem.field,
                        f"is not a field of a {task_type.name} task (it takes: {', '.join(names)}; "
                        f"and every task: {', '.join(common_names)})"
                        + did_you_mean(str(problem.field), [*common_names, *names]),
                    )
                problems.append(problem)
    alerts = alerts or current_alert_settings()
    written = "notify" in common
    common["notify"] = alerts.notify_for(common.get("notify"), present=written)
    try:
        spec = TaskSpec.model_validate({**common, "job": job or JobModel()})
    except ValidationError as exc:
        for problem in problems_from_validation(exc, file, label):
            if problem.field == "job":
                continue
            in_notify = (problem.field or "").startswith("notify.")
            if in_notify and problem.message == "is not a field of this task":
                allowed = ", ".join(NotifySpec.model_fields)
                key = str(problem.field).removeprefix("notify.")
                problem = Problem(
                    file,
                    label,
                    problem.field,
                    f"is not a field of notify (it takes: {allowed})"
                    + did_you_mean(key, list(NotifySpec.model_fields)),
                )
            problems.append(problem)
        return list(dict.fromkeys(problems))  # the same mistake can surface twice (e.g. 'type')
    if spec.notify is not None:
        for index, message in alerts.unknown_destinations(spec.notify):
            problems.append(Problem(file, label, f"notify.to.{index}", message))
    if problems or job is None:
        return problems
    spec = spec.model_copy(update={"job": job.with_paths_resolved(base_dir)})
    spec._notify_origin = "task" if written else ("default" if spec.notify is not None else None)
    return spec


def catalog_files(paths: list[Path], *, required: bool) -> tuple[list[Path], list[Problem]]:
    """Expand files and directories (their *.yaml, *.yml) into catalog files, in order."""
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
        elif path.is_file():
            files.append(path)
        elif required:
            problems.append(Problem(str(path), None, None, "no such file or directory"))
    return files, problems


def load_catalog(paths: list[Path], *, required: bool = True, alerts: AlertSettings | None = None) -> Catalog:
    """Load and validate catalog files; raise CatalogError listing every problem.

    Args:
        paths: files, or directories whose *.yaml files are read in name order.
        required: whether a missing path is a problem (False for the default locations).
        alerts: the `notify` defaults and destination names (default: settings `alerts`).
    """
    alerts = alerts or current_alert_settings()
    files, problems = catalog_files(paths, required=required)
    tasks: list[TaskSpec] = []
    seen: dict[str, str] = {}
    for file in files:
        name = str(file)
        try:
            document = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problems.append(Problem(name, None, None, f"is not valid YAML{where}: {exc}"))
            continue
        except OSError as exc:
            problems.append(Problem(name, None, None, f"cannot be read: {exc.strerror}"))
            continue
        if document is None:
            continue
        if not isinstance(document, dict) or "tasks" not in document:
            problems.append(Problem(name, None, None, "a catalog file is a mapping with a 'tasks:' list"))
            continue
        extra = sorted(set(document) - {"tasks"})
        if extra:
            problems.append(Problem(name, None, extra[0], "is not a catalog key (only 'tasks')"))
        entries = document["tasks"] or []
        if not isinstance(entries, list):
            problems.append(Problem(name, None, "tasks", f"must be a list; found {type(entries).__name__}"))
            continue
        for position, raw in enumerate(entries):
            parsed = parse_task(raw, name, position, file.parent.resolve(), alerts=alerts)
            if isinstance(parsed, list):
                problems.extend(parsed)
                continue
            if parsed.name in seen:
                problems.append(
                    Problem(
                        name,
                        parsed.name,
                        "name",
                        f"duplicate task name (first defined in {seen[parsed.name]})",
                    )
                )
                continue
            seen[parsed.name] = name
            tasks.append(parsed)
    problems.extend(dependency_problems(tasks, seen))
    if problems:
        raise CatalogError(problems)
    homes = {task: file_home(Path(file)) for task, file in seen.items()}
    claims = tuple(directory_claim(p) if p.is_dir() else file_home(p) for p in paths)
    return Catalog(tasks=tasks, files=files, homes=homes, claims=claims, files_of=dict(seen))


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as [A, B, C, A], or None. `graph` maps a task to its upstreams."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for upstream in graph.get(node, []):
            if state.get(upstream) == 1:
                cycle = path[path.index(upstream) :] + [upstream]
                return list(reversed(cycle))  # read as "runs after": A -> B means B after A
            if upstream in graph and state.get(upstream) is None:
                found = visit(upstream)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def dependency_problems(tasks: list[TaskSpec], files: dict[str, str]) -> list[Problem]:
    """Unknown upstream names, self-dependencies and cycles, each named."""
    problems = []
    names = {task.name for task in tasks}
    for task in tasks:
        for upstream in task.depends_on:
            if upstream == task.name:
                problems.append(
                    Problem(files[task.name], task.name, "depends_on", "a task cannot depend on itself")
                )
            elif upstream not in names:
                problems.append(
                    Problem(files[task.name], task.name, "depends_on", f"unknown task {upstream!r}")
                )
    graph = {task.name: [u for u in task.depends_on if u in names and u != task.name] for task in tasks}
    cycle = find_cycle(graph)
    if cycle:
        problems.append(
            Problem(files[cycle[0]], cycle[0], "depends_on", "dependency cycle: " + " -> ".join(cycle))
        )
    return problems


def upstream_first(tasks: list[TaskSpec]) -> list[TaskSpec]:
    """The tasks ordered so that every task comes after the tasks it depends on."""
    by_name = {task.name: task for task in tasks}
    ordered: list[TaskSpec] = []
    placed: set[str] = set()

    def place(task: TaskSpec) -> None:
        if task.name in placed:
            return
        placed.add(task.name)
        for upstream in task.depends_on:
            if upstream in by_name:
                place(by_name[upstream])
        ordered.append(task)

    for task in tasks:
        place(task)
    return ordered


__all__ = ["Catalog", "Priority", "TaskSpec", "load_catalog", "parse_schedules"]
