"""Settings of `tasklane api` (to be folded into `tasklane.settings.Settings` as its `api` field).

Read here from `TASKLANE_API__*` environment variables (e.g. `TASKLANE_API__PORT=8400`,
`TASKLANE_API__ALLOW_SHELL=true`), the same names they will have once folded in.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseModel):
    """The REST API: where it listens, what it accepts, where its tokens live."""

    host: str = Field("127.0.0.1", description="Bind address; loopback by default.")
    port: int = Field(8300, ge=1, le=65535)
    allow_shell: bool = Field(
        False,
        description="Accept tasks that run code on the worker host (types in `shell_types`) from "
        "admins. Off: such tasks come only from the catalog.",
    )
    shell_types: list[str] = Field(
        default_factory=lambda: ["shell", "python", "ssh"],
        description="Task types gated by allow_shell. python is included: a callable such as "
        "os:system is a shell command in disguise; ssh runs commands on the hosts its block names.",
    )
    tokens_file: Path | None = Field(
        None, description="JSON file of hashed API tokens; default <home>/api-tokens.json."
    )
    cache_seconds: float = Field(
        1.0,
        ge=0,
        description="How long an identical read (task list, run history page, stats) is reused, "
        "and concurrent identical reads share one load (0: never); every write through the API "
        "clears it.",
    )
    cache_stale_seconds: float = Field(
        10.0,
        ge=0,
        description="How much longer than cache_seconds a read may still be answered from its "
        "last load while a fresh load runs in the background, so callers under steady traffic "
        "never wait for one (0: a caller past cache_seconds waits for the load).",
    )

    keep_ledger: bool = Field(
        True,
        description="Build the run ledger (the local copy of ended runs that statistics read) at "
        "start and keep it current in the background, so no stats page waits for it.",
    )

    rate_limit_token: str = Field(
        "20/second;600/minute",
        description="Requests each API token may make, in the `limits` notation ('N/second', "
        "'N/minute', ... joined by ';'), counted in moving windows; over it: 429 with Retry-After. "
        "Empty: no limit.",
    )
    rate_limit_address: str = Field(
        "5/second;120/minute",
        description="Requests each client address may make to /health and the console's sign-in "
        "(POST /console/login), and with a token the API does not know. Empty: no limit.",
    )

    @field_validator("rate_limit_token", "rate_limit_address")
    @classmethod
    def _limits_notation(cls, value: str) -> str:
        if value.strip():
            from limits import parse_many

            parse_many(value)  # ValueError naming what it could not read
        return value.strip()

    def tokens_path(self, home: Path) -> Path:
        return self.tokens_file or home / "api-tokens.json"


class _FromEnv(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKLANE_", env_nested_delimiter="__", extra="ignore")

    api: ApiSettings = Field(default_factory=ApiSettings)


def load_api_settings() -> ApiSettings:
    """ApiSettings from `TASKLANE_API__*` (defaults for the rest)."""
    return _FromEnv().api
