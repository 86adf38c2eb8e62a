"""Tasklane settings: `config.yaml` in the project directory, overridden by `TASKLANE_*`.

Nested fields use a double underscore in the environment, e.g.
`TASKLANE_SERVER__PORT=4300` or `TASKLANE_POOL__CONCURRENCY=8`.
Secrets never live here: they live in Prefect blocks.

The bottom layer: this package imports no other project module (import-linter checks it), so
every layer may read settings. `alerts` holds the `notify:` and alert models, `reports` the
history and report settings, `execution` the default timeout and retries of a task, `trash`
how long a deleted task is kept.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from tasklane.settings.alerts import AlertSettings
from tasklane.settings.execution import ExecutionSettings
from tasklane.settings.reports import HistorySettings, ReportSettings
from tasklane.settings.sources import SourceList
from tasklane.settings.trash import TrashSettings

CONFIG_FILE_ENV = "TASKLANE_CONFIG"


class ServerSettings(BaseModel):
    """Where the local Prefect server of `make up` listens."""

    host: str = Field("127.0.0.1", description="Bind address; loopback by default.")
    port: int = Field(4200, ge=1, le=65535)
    database: str = Field(
        "sqlite",
        description=(
            "'sqlite' (home/prefect.db), 'postgres' (a local PostgreSQL server the project installs "
            "and runs under home/postgres/: `make up DB=postgres`), or a SQLAlchemy URL of an existing "
            "database (postgresql+asyncpg://user:password@host:5432/prefect)."
        ),
    )

    @field_validator("database")
    @classmethod
    def _known_database(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("sqlite", "postgres", "postgresql"):
            return "postgres" if value.lower().startswith("postgres") else "sqlite"
        if value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            return value
        raise ValueError(
            "expected 'sqlite', 'postgres' or a postgresql+asyncpg:// (or sqlite+aiosqlite://) URL"
        )

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class PoolSettings(BaseModel):
    """The process work pool the catalog deploys to."""

    name: str = "tasklane"
    concurrency: int = Field(5, ge=1, description="Global limit (the old systems' scheduler.concurrency).")
    queues: dict[str, int] = Field(
        default_factory=lambda: {"high": 1, "medium": 2, "low": 3},
        description="Queue name -> priority (1 is served first).",
    )


class WorkerSettings(BaseModel):
    """How `make up`'s worker polls; shorter polling costs idle CPU."""

    query_seconds: float = Field(2.0, gt=0)
    prefetch_seconds: float = Field(15.0, ge=0)


class ListenSettings(BaseModel):
    """`tasklane listen`: the Mattermost chat-command bot."""

    block: str = Field("sandbox", description="mattermost-credentials block of the bot.")
    allowed_users: list[str] = Field(default_factory=list, description="Usernames that may run tasks.")
    allowed_channels: list[str] = Field(default_factory=list, description="Channels whose members may.")
    channels: list[str] = Field(default_factory=list, description="Channels to catch up after a reconnect.")
    reconnect_interval: float = Field(5.0, gt=0, description="First reconnect delay (the Go/Gin scheduler).")


class Settings(BaseSettings):
    """All of Tasklane's non-secret settings."""

    model_config = SettingsConfigDict(env_prefix="TASKLANE_", env_nested_delimiter="__", extra="ignore")

    home: Path = Field(Path(".tasklane"), description="State directory: database, logs, pids.")
    catalog: list[Path] = Field(
        default_factory=lambda: [Path("tasks.yaml"), Path("tasks")],
        description="Catalog files or directories of *.yaml applied by `make up`.",
    )
    templates: list[Path] = Field(
        default_factory=lambda: [Path("templates")], description="Directories of custom task templates."
    )
    timezone: str = Field("UTC", description="Default timezone of schedules.")
    project: str = Field(
        "default", description="Catalog project: apply only adds, changes and prunes its own tasks."
    )
    server: ServerSettings = Field(default_factory=ServerSettings)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sandbox: bool = Field(
        True, description="`make up` starts local Jira/Confluence/Mattermost peers and 'sandbox' blocks."
    )
    listen: ListenSettings = Field(default_factory=ListenSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    report: ReportSettings = Field(default_factory=ReportSettings)
    alerts: AlertSettings = Field(
        default_factory=AlertSettings,
        description="Alert destinations (name -> notification block), default throttle and `notify:`.",
    )
    execution: ExecutionSettings = Field(
        default_factory=ExecutionSettings,
        description="Timeout and retries of a task that writes no `timeout_seconds` or `retry:`.",
    )
    trash: TrashSettings = Field(
        default_factory=TrashSettings,
        description="Deleted tasks wait in the trash `retention_days` (restorable), then are purged.",
    )
    sources: SourceList = Field(
        default_factory=list, description="External task sources, each polled on its interval."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        config_file = Path(os.environ.get(CONFIG_FILE_ENV, "config.yaml"))
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=config_file)
        # Environment beats the file; explicit arguments beat both.
        return (init_settings, env_settings, yaml_source)


@lru_cache
def get_settings() -> Settings:
    return Settings()
