"""The dependency trigger of a task: run it once all its upstream tasks have completed."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.deployment_triggers import (
    DeploymentCompoundTrigger,
    DeploymentEventTrigger,
)

from deployments.catalog import TaskSpec
from deployments.tags import DEPENDENCY_MARK

# How long one upstream's completion waits for the others before it is forgotten.
DEPENDENCY_WINDOW = timedelta(days=1)


def _words(names: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def dependency_trigger(
    task: TaskSpec, upstream_ids: dict[str, UUID]
) -> DeploymentEventTrigger | DeploymentCompoundTrigger:
    """The deployment trigger that runs `task` once all its upstream tasks have completed.

    One upstream: an event trigger on its flow runs' Completed events. Several: a compound
    trigger requiring all of them, which resets after it fires, so the task runs once per
    round of upstream completions. A Failed upstream emits no Completed event.

    Its name and description say so in words (`run report when backup completes`).
    """
    ids = sorted(str(upstream_ids[name]) for name in task.depends_on)
    upstream = _words(list(task.depends_on))
    if len(ids) == 1:
        name = f"run {task.name} when {upstream} completes"
        description = f"Runs {task.name} each time a run of {upstream} completes."
    else:
        name = f"run {task.name} when {upstream} complete"
        description = (
            f"Runs {task.name} once {upstream} have all completed, each within "
            f"{_window_words()} of the first; then waits for the next round."
        )
    description += " Kept by Tasklane from the task's definition: change the task, not this automation."

    def completed(upstream_id: str) -> dict[str, Any]:
        return {
            "expect": {"prefect.flow-run.Completed"},
            "match_related": {"prefect.resource.id": f"prefect.deployment.{upstream_id}"},
            "posture": Posture.Reactive,
            "threshold": 1,
        }

    if len(ids) == 1:
        return DeploymentEventTrigger(name=name, description=description, **completed(ids[0]))
    return DeploymentCompoundTrigger(
        name=name,
        description=description,
        require="all",
        within=DEPENDENCY_WINDOW,
        triggers=[EventTrigger(**completed(upstream_id)) for upstream_id in ids],
    )


def _window_words() -> str:
    hours = int(DEPENDENCY_WINDOW.total_seconds() // 3600)
    return "a day" if hours == 24 else f"{hours} hours"


def dependency_automation(
    task: TaskSpec, deployment_id: UUID, upstream_ids: dict[str, UUID]
) -> AutomationCore:
    """The automation of `dependency_trigger` for the deployment, tagged with its kind and a hash
    of its upstream ids (`tasklane-dependencies:<hash>`) for `deployments.automations.sync`."""
    trigger = dependency_trigger(task, upstream_ids)
    trigger.set_deployment_id(deployment_id)
    automation = trigger.as_automation()
    ids = sorted(str(upstream_ids[name]) for name in task.depends_on)
    automation.tags = [DEPENDENCY_MARK + hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]]
    return automation
