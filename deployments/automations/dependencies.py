"""The dependency trigger of a task: run it once all its upstream tasks have completed."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.deployment_triggers import (
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
)

from deployments.catalog import TaskSpec
from deployments.tags import DEPENDENCY_MARK

# How long one upstream's completion waits for the others before it is forgotten.
DEPENDENCY_WINDOW = timedelta(days=1)


def dependency_trigger(
    task: TaskSpec, upstream_ids: dict[str, UUID]
) -> DeploymentEventTrigger | DeploymentCompoundTrigger:
    """The deployment trigger that runs `task` once all its upstream tasks have completed.

    One upstream: an event trigger on its flow runs' Completed events. Several: a compound
    trigger requiring all of them, which resets after it fires, so the task runs once per
    round of upstream completions. A Failed upstream emits no Completed event.
    """
    ids = sorted(str(upstream_ids[name]) for name in task.depends_on)
    mark = DEPENDENCY_MARK + hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
    name = f"tasklane: run {task.name} after {' + '.join(task.depends_on)}"

    def completed(upstream_id: str) -> dict[str, Any]:
        return {
            "expect": {"prefect.flow-run.Completed"},
            "match_related": {"prefect.resource.id": f"prefect.deployment.{upstream_id}"},
            "posture": Posture.Reactive,
            "threshold": 1,
        }

    if len(ids) == 1:
        return DeploymentEventTrigger(name=name, description=mark, **completed(ids[0]))
    return DeploymentCompoundTrigger(
        name=name,
        description=mark,
        require="all",
        within=DEPENDENCY_WINDOW,
        triggers=[EventTrigger(**completed(upstream_id)) for upstream_id in ids],
    )
