"""Run policy: the retries and timeout a task's flow applies at run time.

The catalog's retry policy (max_retries, retry_delay, backoff_factor, jitter) becomes the
explicit list of delays Prefect's task retries take: delay × factor^n for attempt n.
"""

from __future__ import annotations

from typing import Literal

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
            timeout_seconds=timeout_seconds,
            missed=missed,
            missed_grace_seconds=missed_grace_seconds,
        )
