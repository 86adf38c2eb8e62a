"""A run's result as the REST API shows it: read back from the run's result artifact
(the markdown artifact `flows/_runtime.arecord_result` writes, the result as a JSON block).
"""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

RESULT_BLOCK = re.compile(r"```json\n(?P<json>.*)\n```", re.DOTALL)


async def run_results(client: PrefectClient, flow_run_ids: list[UUID]) -> dict[UUID, Any]:
    """Each run's result, as its result artifact (flows/_runtime.arecord_result) keeps it."""
    if not flow_run_ids:
        return {}
    artifacts = await client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids)),
        limit=max(len(flow_run_ids) * 4, 10),
    )
    found: dict[UUID, Any] = {}
    for artifact in artifacts:
        if artifact.flow_run_id is None or artifact.type != "markdown" or artifact.flow_run_id in found:
            continue
        text = artifact.data if isinstance(artifact.data, str) else ""
        match = RESULT_BLOCK.search(text)
        if not match or "### Result of" not in text:
            continue
        try:
            found[artifact.flow_run_id] = json.loads(match["json"])
        except ValueError:
            found[artifact.flow_run_id] = match["json"]
    return found
