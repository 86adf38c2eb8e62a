"""Run policy: the retries and timeout a task's flow applies at run time.

The catalog's retry policy (max_retries, retry_delay, backoff_factor, jitter) becomes the
explicit list of delays Prefect's task retries take: delay × factor^n for attempt n.

A task that writes no `timeout_seconds` or no `retry:` gets settings `execution` for it
(`TaskSpec.run_policy`); the deployment's POLICY_SOURCE_LABEL records where each value came from,
so `tasklane show` can say it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

MissedPolicy = Literal["run_all", "run_once", "skip"]

MAX_RETRY_DELAY_SECONDS = 24 * 3600


class TaskRetryPolicy(BaseModel):
    """A task's retries (catalog `retry:`): how often and how long apart a failed run is tried again."""

    model_config = {"extra": "forbid"}

    max_retries: int = Field(0, ge=0, le=50, description="Retries after the first attempt.")
    retry_delay: float = Field(10.0, ge=0, description="Seconds before the first retry.")
    backoff_factor: float = Field(
        2.0, ge=1, le=10, description="Each further retry waits this many times longer."
    )
    jitter: float = Field(
        0.0, ge=0, le=1, description="Random extra delay, as a fraction of each delay (0..1)."
    )

    def delays(self) -> list[float]:
        """The wait before each retry, in seconds, capped at one day."""
        return [
            min(self.retry_delay * self.backoff_factor**n, MAX_RETRY_DELAY_SECONDS)
            for n in range(self.max_retries)
        ]


class RunPolicy(BaseModel):
    """What a flow needs at run time to apply the task's retries and timeout."""

    retries: int = Field(0, ge=0)
    retry_delays: list[float] = Field(default_factory=list)
    retry_jitter_factor: float | None = None
    timeout_seconds: float | None = Field(None, gt=0)
    missed: MissedPolicy = Field(
        "run_once",
        description="A scheduled run found late after downtime: run_all runs every one, run_once "
        "only the latest, skip none.",
    )
    missed_grace_seconds: float = Field(
        60.0, ge=0, description="How late a scheduled run may start and still count as on time."
    )

    @classmethod
    def from_retry(
        cls,
        retry: TaskRetryPolicy,
        timeout_seconds: float | None,
        missed: MissedPolicy = "run_once",
        missed_grace_seconds: float = 60.0,
    ) -> RunPolicy:
        return cls(
            retries=retry.max_retries,
            retry_delays=retry.delays(),
            retry_jitter_factor=retry.jitter or None,
            timeout_seconds=timeout_seconds or None,  # 0: no limit
            missed=missed,
            missed_grace_seconds=missed_grace_seconds,
        )


# --- where a task's timeout and retries came from ------------------------------------------------

PolicySource = Literal["task", "settings"]
# The deployment label saying whether the task's timeout and retries are its own or settings
# `execution`'s: "timeout=settings,retry=task".
POLICY_SOURCE_LABEL = "tasklane.policy_source"
SOURCE_TEXT = {
    "timeout": {"task": "task", "settings": "settings execution.timeout_seconds"},
    "retry": {"task": "task", "settings": "settings execution.retry"},
}


def policy_source_label(timeout: PolicySource, retry: PolicySource) -> str:
    return f"timeout={timeout},retry={retry}"


def parse_policy_source_label(label: str | None) -> dict[str, str]:
    """{"timeout": "task"|"settings", "retry": ...} of a POLICY_SOURCE_LABEL value ({} for none)."""
    sources: dict[str, str] = {}
    for part in (label or "").split(","):
        key, _, value = part.partition("=")
        if key.strip() in SOURCE_TEXT and value.strip() in ("task", "settings"):
            sources[key.strip()] = value.strip()
    return sources


def _number(value: float) -> str:
    return f"{value:g}"


def describe_run_policy(policy: dict[str, Any], label: str | None) -> list[str]:
    """The lines of `tasklane show` for a deployment's `policy` parameter and its source label.

    Examples:
        >>> describe_run_policy(
        ...     {"retries": 3, "retry_delays": [60.0, 60.0, 60.0], "timeout_seconds": 3600.0},
        ...     "timeout=settings,retry=task",
        ... )
        ['timeout: 3600 s (settings execution.timeout_seconds)', 'retry: 3 x 60 s, backoff 1 (task)']
    """
    sources = parse_policy_source_label(label)
    timeout = policy.get("timeout_seconds")
    timeout_text = f"{_number(timeout)} s" if timeout else "no limit"
    retries = int(policy.get("retries") or 0)
    delays = [float(d) for d in policy.get("retry_delays") or []]
    if retries:
        first = delays[0] if delays else 0.0
        retry_text = f"{retries} x {_number(first)} s"
        if len(delays) > 1 and first:
            retry_text += f", backoff {_number(round(delays[1] / first, 6))}"
        if policy.get("retry_jitter_factor"):
            retry_text += f", jitter {_number(policy['retry_jitter_factor'])}"
    else:
        retry_text = "none"

    def source(key: str) -> str:
        found = sources.get(key)
        return SOURCE_TEXT[key][found] if found else "source not recorded: applied before execution defaults"

    return [f"timeout: {timeout_text} ({source('timeout')})", f"retry: {retry_text} ({source('retry')})"]
