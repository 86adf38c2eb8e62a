"""Crashed runs: a task's crash retry, and the server-wide detection of runs whose process is gone.

Prefect's retries cover exceptions inside a run; a crash (worker or host killed, no heartbeat)
ends the run from outside. `ensure_zombie_detection` marks a run whose heartbeats stopped
Crashed; `crash_retry_automation` puts a Crashed run of a task with retries back in line.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from deployments.catalog import TaskSpec
from deployments.tags import CRASH_RETRY_MARK

# Three missed heartbeats at the stack's 30 s frequency.
ZOMBIE_GRACE = timedelta(seconds=90)
ZOMBIE_AUTOMATION = "mark runs Crashed when their process goes silent"
ZOMBIE_TAG = "tasklane-zombie-detection"
# The name it had before names were sentences; found under it and renamed on the next apply.
_FORMER_ZOMBIE_AUTOMATION = "tasklane: mark runs without a heartbeat Crashed"


def crash_retry_automation(task: TaskSpec, deployment_id: UUID) -> AutomationCore:
    """Put a Crashed run of `task` back in line (AwaitingRetry) so a worker runs it again.

    The flow itself refuses to start more than `retries` times (flows/_runtime.py), which
    bounds this loop. The name and description say so in words (Prefect's UI shows them); the
    tag `tasklane-crash-retries:N` marks the kind for `deployments.automations.sync`.
    """
    resource = f"prefect.deployment.{deployment_id}"
    retries = task.run_policy().retries
    times = "once" if retries == 1 else f"{retries} times"
    return AutomationCore(
        name=f"retry {task.name} after a crash",
        description=(
            f"When a run of {task.name} crashes (its worker or host was killed), put it back in line "
            f"so a worker runs it again; the task runs at most {times} more. Kept by Tasklane from "
            "the task's definition: change the task, not this automation."
        ),
        tags=[CRASH_RETRY_MARK + str(retries)],
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match_related={"prefect.resource.id": resource},
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.SCHEDULED,
                name="AwaitingRetry",
                message="rescheduled after a crash (tasklane retry policy)",
                force=True,
            )
        ],
        owner_resource=resource,
    )


async def ensure_zombie_detection(client: PrefectClient, heartbeat_grace: timedelta = ZOMBIE_GRACE) -> bool:
    """One automation for the whole server: a run whose process went silent is marked Crashed.

    Flow-run processes send a heartbeat every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (the
    stack sets 30), the first one only after a whole interval (`tasklane.runtime.heartbeats`:
    Prefect's recipe, with a heartbeat at once, took healthy one-second runs for crashed ones).
    So the window opens at Running as well as at each heartbeat: a run that goes silent for
    `heartbeat_grace` without ending lost its process (worker or host killed), and would
    otherwise stay Running forever. Returns whether the automation was created or updated.
    """
    final_events = {f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed")}
    wanted = AutomationCore(
        name=ZOMBIE_AUTOMATION,
        description=(
            "Marks a run Crashed when it has been Running without a heartbeat for "
            f"{heartbeat_grace.total_seconds():.0f} s: its process is gone. Kept by tasklane apply."
        ),
        trigger=EventTrigger(
            after={"prefect.flow-run.Running", "prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *final_events},
            match={"prefect.resource.id": ["prefect.flow-run.*"]},
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=heartbeat_grace,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {heartbeat_grace.total_seconds():.0f} s: "
                "its process is gone (worker or host killed)",
            )
        ],
        tags=[ZOMBIE_TAG],
    )
    found = [
        *await client.read_automations_by_name(ZOMBIE_AUTOMATION),
        *await client.read_automations_by_name(_FORMER_ZOMBIE_AUTOMATION),
    ]
    if not found:
        await client.create_automation(wanted)
        return True
    current, *extra = found
    for duplicate in extra:  # one detector: two would mark every silent run twice
        await client.delete_automation(duplicate.id)
    if _shape(current) == _shape(wanted) and not extra:
        return False
    await client.update_automation(current.id, wanted)
    return True


def _shape(automation: AutomationCore) -> dict[str, Any]:
    """What an automation does, comparable between the one wanted and the one the server holds
    (which carries ids of its own and returns sets in any order)."""
    shape = automation.model_dump(mode="json", include={"name", "description", "trigger", "actions", "tags"})
    trigger = shape["trigger"]
    trigger.pop("id", None)
    for key in ("after", "expect", "for_each"):
        trigger[key] = sorted(trigger.get(key) or [])
    return shape
