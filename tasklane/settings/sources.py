"""External task sources (settings `sources:`): where tasks come from besides catalog files and
the API, and how often each is polled.

Pure pydantic: this module imports nothing of the project (`tasklane.tasks.sources` syncs them,
the sources platform flow, `flows/sources.py`, polls them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

SourceKind = Literal["directory", "http", "confluence_table"]

# The fields each kind needs, beside name, kind and interval.
REQUIRED_BY_KIND: dict[str, tuple[str, ...]] = {
    "directory": ("path",),
    "http": ("url",),
    "confluence_table": ("block", "page_id", "table"),
}


class SourceSettings(BaseModel):
    """One entry of settings `sources:`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="The source's name: its tasks' home.")
    kind: SourceKind
    interval_seconds: float = Field(300, gt=0, description="How often the platform flow polls it.")
    notify: list[str] = Field(
        default_factory=list,
        description="Alert destinations (names of settings `alerts.blocks`, or a block 'slug/name') told "
        "when the source stops answering.",
    )
    # directory
    path: Path | None = Field(None, description="directory: the folder of catalog *.yaml files.")
    # http
    url: str | None = Field(None, description="http: answers a JSON list of tasks (or {tasks: [...]}).")
    auth_block: str | None = Field(
        None, description="http: the credentials block, 'http-bearer-auth/NAME' or 'http-basic-auth/NAME'."
    )
    # confluence_table
    block: str | None = Field(None, description="confluence_table: the confluence-credentials block.")
    page_id: str | None = Field(None, description="confluence_table: the page holding the table.")
    table: str | None = Field(None, description="confluence_table: the heading above the table.")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="confluence_table: column header -> catalog field (default: the header lowercased, "
        "spaces as underscores).",
    )

    @model_validator(mode="after")
    def _fields_of_its_kind(self) -> SourceSettings:
        missing = [name for name in REQUIRED_BY_KIND[self.kind] if getattr(self, name) in (None, "")]
        if missing:
            raise ValueError(f"a {self.kind} source needs {', '.join(missing)}")
        return self


def _unique_names(sources: list[SourceSettings]) -> list[SourceSettings]:
    seen: set[str] = set()
    for source in sources:
        if source.name in seen:
            raise ValueError(f"two sources are named {source.name!r}: a name is its tasks' home")
        seen.add(source.name)
    return sources


# Settings `sources:`: each name once.
SourceList = Annotated[list[SourceSettings], AfterValidator(_unique_names)]
