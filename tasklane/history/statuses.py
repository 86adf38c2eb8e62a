"""Run statuses in the words the old systems used (PENDING, RUNNING, DONE, FAILED, RETRY,
TIMEOUT, CANCELLED), mapped from Prefect's state names and types, and counts of runs by status.

- `status_of_state`: the status of a Prefect state (a task that never ran is PENDING);
- `states_of`: the Prefect state names of one status, for filters;
- `project_runs`: the `RunQuery` of one project's runs;
- `run_stats`: counts by status and run time from `stats.state_counts` (one aggregate query).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType

from deployments.apply import Target
from tasklane.history.runs import RunQuery
from tasklane.history.stats import state_counts
from tasklane.settings.reports import TASKLANE_TAG

# The old systems' statuses (000/004: PENDING ... CANCELLED) by Prefect state name; unknown names
# fall back on the state type.
STATUS_BY_STATE_NAME = {
    "Scheduled": "PENDING",
    "Late": "PENDING",
    "Pending": "PENDING",
    "AwaitingConcurrencySlot": "PENDING",
    "Paused": "PENDING",
    "Suspended": "PENDING",
    "Running": "RUNNING",
    "Completed": "DONE",
    "Cached": "DONE",
    "Failed": "FAILED",
    "Crashed": "FAILED",
    "AwaitingRetry": "RETRY",
    "Retrying": "RETRY",
    "TimedOut": "TIMEOUT",
    "Cancelled": "CANCELLED",
    "Cancelling": "CANCELLED",
}


STATUS_BY_STATE_TYPE = {
    StateType.SCHEDULED: "PENDING",
    StateType.PENDING: "PENDING",
    StateType.PAUSED: "PENDING",
    StateType.RUNNING: "RUNNING",
    StateType.COMPLETED: "DONE",
    StateType.FAILED: "FAILED",
    StateType.CRASHED: "FAILED",
    StateType.CANCELLED: "CANCELLED",
    StateType.CANCELLING: "CANCELLED",
}


STATUSES = ("PENDING", "RUNNING", "DONE", "FAILED", "RETRY", "TIMEOUT", "CANCELLED")


# the scheduler requirements' lower-case names of the same statuses.
SCHEDULER_STATUS = {
    "PENDING": "pending",
    "RUNNING": "running",
    "DONE": "success",
    "FAILED": "failed",
    "RETRY": "pending",
    "TIMEOUT": "failed",
    "CANCELLED": "cancelled",
}


FINAL_STATUSES = {"DONE", "FAILED", "TIMEOUT", "CANCELLED"}


def status_of_state(state_name: str | None, state_type: StateType | None = None) -> str:
    """The old systems' status of a Prefect state (a task that never ran is PENDING)."""
    if state_name in STATUS_BY_STATE_NAME:
        return STATUS_BY_STATE_NAME[state_name]
    if state_type is not None:
        return STATUS_BY_STATE_TYPE.get(state_type, "PENDING")
    return "PENDING"


def states_of(status: str) -> tuple[str, ...]:
    """The Prefect state names of one status (DONE -> Cached, Completed)."""
    return tuple(sorted(name for name, mapped in STATUS_BY_STATE_NAME.items() if mapped == status))


def project_runs(
    target: Target,
    deployment_ids: list[UUID] | None = None,
    *,
    state_names: tuple[str, ...] | None = None,
    finished: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
) -> RunQuery:
    """This project's runs by expected start: of `deployment_ids` (the caller found them among the
    project's), else of every deployment tagged `tasklane` and the project's tag.
    """
    return RunQuery(
        tags=(),
        deployment_tags=(TASKLANE_TAG, target.project_tag) if deployment_ids is None else (),
        deployment_ids=tuple(deployment_ids) if deployment_ids is not None else None,
        state_names=state_names,
        finished=finished,
        since=since,
        until=until,
    )


@dataclass
class RunStats:
    """Aggregates over runs: counts by status (DONE, FAILED, ...), and run time of the finished ones."""

    by_status: dict[str, int]
    total_duration: float
    finished: int

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def success(self) -> int:
        return self.by_status.get("DONE", 0)

    @property
    def failed(self) -> int:
        return self.by_status.get("FAILED", 0) + self.by_status.get("TIMEOUT", 0)

    @property
    def success_rate(self) -> float:
        done = self.success + self.failed
        return round(100.0 * self.success / done, 2) if done else 0.0

    @property
    def avg_duration(self) -> float:
        return round(self.total_duration / self.finished, 3) if self.finished else 0.0


async def run_stats(
    client: PrefectClient,
    target: Target,
    deployment_ids: list[UUID] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> RunStats:
    """Counts by status (DONE, FAILED, ...) and run time over runs whose expected start is in [since, until]:
    `history.state_counts`, one aggregate query whatever the history size.
    """
    by_status: dict[str, int] = {}
    total_duration = 0.0
    finished = 0
    for state in await state_counts(client, project_runs(target, deployment_ids, since=since, until=until)):
        status = status_of_state(state.name, StateType(state.type))
        by_status[status] = by_status.get(status, 0) + state.runs
        if status in FINAL_STATUSES:
            total_duration += state.seconds
            finished += state.runs
    return RunStats(by_status, round(total_duration, 3), finished)
