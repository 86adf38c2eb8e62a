"""The trash (settings `trash:`): how long a deleted task is kept, restorable, before it is purged.

Pure pydantic: this module imports nothing of the project (`tasklane.tasks.trash` and the
maintenance flow read it).
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class TrashSettings(BaseModel):
    """Settings `trash:`."""

    retention_days: float = Field(
        30,
        gt=0,
        description="A deleted task stays in the trash (restorable) this many days; then the "
        "maintenance flow purges it.",
    )
