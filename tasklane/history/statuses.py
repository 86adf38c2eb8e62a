"""Run statuses in the words the old systems used (PENDING, RUNNING, DONE, FAILED, RETRY,
TIMEOUT, CANCELLED), mapped from Prefect's state names and types, and counts of runs by status.

- `status_of_state`: the status of a Prefect state (a task that never ran is PENDING);
- `states_of`: the Prefect state names of one status, for filters;
- `STATE_WORDS`, `state_word`: the words a history filter takes (`tasklane history --state`, the
  REST API's `?status=`), each the Prefect states it means, derived from the statuses above so
  a word selects exactly the runs shown with that status; `state_words_help` lists them;
- `project_runs`: the `RunQuery` of one project's runs;
- `run_stats`: counts by status and run time from `stats.state_counts` (one aggregate query).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from prefect.client.schemas.objects import StateType

from tasklane.settings.reports import TASKLANE_TAG

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient

    from deployments.apply import Target
    from tasklane.history.runs import RunQuery

# The run readers (`runs`, `stats`, and the reports they carry) are imported where they are used:
# the CLI reads the state words above for its `--help` when it starts, and starts without them.

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


@dataclass(frozen=True)
class StateWord:
    """What one word of a history filter means: runs in any of these Prefect state names, or, for
    a word about a whole kind of state, of these state types (every name of the type)."""

    meaning: str
    names: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    @property
    def states(self) -> str:
        if self.types:
            return "any state of type " + ", ".join(self.types)
        return ", ".join(self.names)


def _statuses_word(meaning: str, *statuses: str) -> StateWord:
    return StateWord(meaning, tuple(sorted(name for status in statuses for name in states_of(status))))


SCHEDULER_WORD_MEANINGS = {
    "pending": "not started yet, or waiting to retry",
    "running": "running now",
    "success": "succeeded",
    "failed": "did not succeed: failed, crashed or timed out",
    "cancelled": "cancelled, or being cancelled",
}


def _scheduler_words() -> dict[str, StateWord]:
    """The scheduler requirements' words (as the REST API reports a run's status), each the
    statuses shown with it: `failed` is FAILED and TIMEOUT, `pending` PENDING and RETRY."""
    words: dict[str, list[str]] = {}
    for status, word in SCHEDULER_STATUS.items():
        words.setdefault(word, []).append(status)
    return {
        word: _statuses_word(SCHEDULER_WORD_MEANINGS.get(word, f"the REST API's {word!r}"), *statuses)
        for word, statuses in words.items()
    }


FINAL_TYPES = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


# The words of `tasklane history --state` and the REST API's `?status=`, in the order help lists
# them: the scheduler requirements' (the API's), the old systems' statuses they lack (DONE,
# RETRY, TIMEOUT: seed 004, where DONE is the successful end and FAILED/TIMEOUT the others), and
# `finished`: every run that ended, whatever the outcome (seed 004's "history: DONE/FAILED").
STATE_WORDS: dict[str, StateWord] = {
    "finished": StateWord("every run that ended, whatever the outcome", types=FINAL_TYPES),
    **_scheduler_words(),
    "done": _statuses_word("succeeded, as success (the old systems' DONE; any end is finished)", "DONE"),
    "timeout": _statuses_word("ran past its timeout (the old systems' TIMEOUT)", "TIMEOUT"),
    "retry": _statuses_word("failed, its retry waiting or running (the old systems' RETRY)", "RETRY"),
}


STATE_WORD_ALIASES = {"canceled": "cancelled", "timedout": "timeout", "error": "failed"}


def _key(text: str) -> str:
    return text.strip().lower().replace("_", "").replace("-", "").replace(" ", "")


def state_word(text: str) -> StateWord:
    """What a history filter's word means: a word of STATE_WORDS (any case; `timed_out` is
    `timeout`), else one Prefect state name (`Late`, `Crashed`, `AwaitingRetry`).

    Raises:
        HistoryError: neither; the message lists the words.
    """
    key = _key(text)
    key = STATE_WORD_ALIASES.get(key, key)
    if key in STATE_WORDS:
        return STATE_WORDS[key]
    for name in STATUS_BY_STATE_NAME:
        if _key(name) == key:
            return StateWord(f"Prefect's {name}", (name,))
    from tasklane.history.runs import HistoryError

    raise HistoryError(
        f"unknown state {text!r}: expected one of {', '.join(STATE_WORDS)}, or a Prefect state name "
        f"({', '.join(STATUS_BY_STATE_NAME)})"
    )


def state_words_help() -> str:
    """The state words and the Prefect states each means, one line each (for `--help`)."""
    width = max(map(len, STATE_WORDS))
    lines = [f"{word:<{width}}  {w.states} — {w.meaning}" for word, w in STATE_WORDS.items()]
    names = [name for name in STATUS_BY_STATE_NAME if _key(name) not in STATE_WORDS]
    lines.append(f"{'or':<{width}}  one Prefect state name: {', '.join(names)}")
    return "\n".join(lines)


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
    from tasklane.history.runs import RunQuery

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
    from tasklane.history.stats import state_counts

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
