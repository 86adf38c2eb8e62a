"""What a run's page shows beyond its row: its state timeline and its artifacts.

`run_timeline`: the states the run went through (Scheduled, Pending, Running, Failed ...), oldest
first, each with when it was entered, how long the run stayed in it and its message, as Prefect
keeps them; `run_artifacts`: the artifacts the run made (its result artifact, tables, links ...),
newest first. The console's run page reads both; `tasklane.history.results.run_results` reads
the result out of the result artifact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import Artifact
from prefect.client.schemas.sorting import ArtifactSort

MAX_ARTIFACTS = 50


@dataclass(frozen=True)
class StateStep:
    """One state of a run: its name and type, when the run entered it, how long it stayed
    (seconds; None for the state it is in now) and the state's message."""

    name: str
    type: str
    entered: datetime
    seconds: float | None
    message: str


async def run_timeline(client: PrefectClient, flow_run_id: UUID | str) -> list[StateStep]:
    """The run's states, oldest first (Prefect's state history of the flow run)."""
    states = await client.read_flow_run_states(UUID(str(flow_run_id)))
    states = sorted(states, key=lambda s: s.timestamp)
    steps = []
    for index, state in enumerate(states):
        following = states[index + 1] if index + 1 < len(states) else None
        seconds = (following.timestamp - state.timestamp).total_seconds() if following else None
        steps.append(
            StateStep(
                name=state.name or state.type.value.title(),
                type=state.type.value,
                entered=state.timestamp,
                seconds=seconds,
                message=(state.message or "").strip(),
            )
        )
    return steps


async def run_artifacts(client: PrefectClient, flow_run_id: UUID | str) -> list[Artifact]:
    """The artifacts the run made (its task runs' included), newest first, at most MAX_ARTIFACTS."""
    return await client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(flow_run_id))])),
        sort=ArtifactSort.CREATED_DESC,
        limit=MAX_ARTIFACTS,
    )
