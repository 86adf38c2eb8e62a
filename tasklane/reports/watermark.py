"""The report's watermark: the end time and ids of the last runs reported, kept as a
Prefect Variable on the server, so a report after a crash neither skips nor repeats a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prefect.client.orchestration import PrefectClient

from tasklane.history.runs import parse_time


@dataclass
class Watermark:
    """How far the report got: runs that ended up to `reported` were published to every target.

    `pending` is a window (reported, pending] whose publishing started but did not finish, and
    `done` the targets that got it; the next report finishes that window first, for the other
    targets only, so a crash neither skips nor repeats a run.
    """

    reported: datetime | None = None
    pending: datetime | None = None
    done: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "reported": self.reported.isoformat() if self.reported else None,
            "pending": self.pending.isoformat() if self.pending else None,
            "done": sorted(self.done),
        }

    @classmethod
    def from_json(cls, value: Any) -> Watermark:
        if not isinstance(value, dict):
            return cls()
        return cls(
            reported=parse_time(value.get("reported")),
            pending=parse_time(value.get("pending")),
            done=list(value.get("done") or []),
        )


async def read_watermark(client: PrefectClient, name: str) -> Watermark:
    variable = await client.read_variable_by_name(name)
    return Watermark.from_json(variable.value if variable else None)


async def save_watermark(client: PrefectClient, name: str, watermark: Watermark) -> None:
    from prefect.client.schemas.actions import VariableCreate, VariableUpdate

    value = watermark.to_json()
    if await client.read_variable_by_name(name) is None:
        await client.create_variable(VariableCreate(name=name, value=value, tags=["tasklane"]))
    else:
        await client.update_variable(VariableUpdate(name=name, value=value))
