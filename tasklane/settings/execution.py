"""Execution defaults (settings `execution:`): the timeout and retries of a task that sets none.

A task that writes no `timeout_seconds` gets `execution.timeout_seconds`; one that writes no `retry`
gets `execution.retry` (the catalog's own `retry:` shape). A task's own value always wins, and
`timeout_seconds: 0` or `retry: {max_retries: 0}` in the catalog opts out explicitly.

The scheduler requirements' shape is accepted as well::

    execution:
      timeout: 3600          # = timeout_seconds
      retry:
        enabled: true        # false: no retries
        max_attempts: 3      # = max_retries (retries after the first run)
        delay: 60            # = retry_delay (seconds)
      concurrency: {max_concurrent: 5}   # accepted and ignored: the global limit is pool.concurrency

Pure pydantic: this module imports nothing of the project (`deployments.catalog` applies it).
"""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

_BOOL = TypeAdapter(bool)
_RETRY_COUNT_KEYS = ("max_retries", "max_attempts")


class RetryDefaults(BaseModel):
    """The retries of a task that writes no `retry:` (same fields as the catalog's `retry:`)."""

    model_config = ConfigDict(populate_by_name=True)

    max_retries: int = Field(
        3,
        ge=0,
        le=50,
        validation_alias=AliasChoices(*_RETRY_COUNT_KEYS),
        description="Retries after the first attempt (the requirements' `max_attempts`).",
    )
    retry_delay: float = Field(
        60.0,
        ge=0,
        validation_alias=AliasChoices("retry_delay", "delay"),
        description="Seconds before the first retry (the requirements' `delay`).",
    )
    backoff_factor: float = Field(
        1.0, ge=1, le=10, description="Each further retry waits this many times longer."
    )
    jitter: float = Field(0.0, ge=0, le=1, description="Random extra delay, as a fraction of each delay.")

    @model_validator(mode="before")
    @classmethod
    def _enabled(cls, value: Any) -> Any:
        """`retry: null`/`false` and the requirements' `enabled: false` mean no retries."""
        if value is None or value is False:
            return {"max_retries": 0}
        if isinstance(value, dict) and "enabled" in value:
            value = dict(value)
            if not _BOOL.validate_python(value.pop("enabled")):
                value = {k: v for k, v in value.items() if k not in _RETRY_COUNT_KEYS}
                value["max_retries"] = 0
        return value

    def as_task_retry(self) -> dict[str, Any]:
        """The catalog `retry:` mapping these defaults stand for."""
        return self.model_dump()


class ExecutionSettings(BaseModel):
    """Settings `execution:`: the defaults of a task's run policy."""

    model_config = ConfigDict(populate_by_name=True)

    timeout_seconds: float | None = Field(
        3600.0,
        ge=0,
        validation_alias=AliasChoices("timeout_seconds", "timeout"),
        description="Timeout of a task that writes no `timeout_seconds` (the requirements' `timeout`); "
        "null or 0: no limit.",
    )
    retry: RetryDefaults = Field(
        default_factory=RetryDefaults,
        description="Retries of a task that writes no `retry:`; null or {max_retries: 0}: none.",
    )

    @property
    def timeout(self) -> float | None:
        """The default timeout in seconds, None for no limit."""
        return self.timeout_seconds or None
