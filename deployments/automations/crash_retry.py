"""Crashed runs: a task's crash retry, and the server-wide detection of runs whose process is gone.

Prefect's retries cover exceptions inside a run; a crash (worker or host killed, no heartbeat)
ends the run from outside. `ensure_zombie_detection` marks a run whose heartbeats stopped
Crashed; `crash_retry_automation` puts a Crashed run of a task with retries back in line.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

from deployments.catalog import TaskSpec
from deployments.tags import CRASH_RETRY_MARK

# Three missed heartbeats at the stack's 30 s frequency.
ZOMBIE_GRACE = timedelta(seconds=90)
ZOMBIE_AUTOMATION = "tasklane: mark runs without a heartbeat Crashed"


def crash_retry_automation(task: TaskSpec, deployment_id: UUID) -> AutomationCore:
    """Put a Crashed run of `task` back in line (AwaitingRetry) so a worker runs it again.

    The flow itself refuses to start more than `retries` times (flows/_runtime.py), which
    bounds this loop.
    """
    resource = f"prefect.deployment.{deployment_id}"
    return AutomationCore(
        name=f"tasklane: retry {task.name} after a crash",
        description=CRASH_RETRY_MARK + str(task.run_policy().retries),
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
    """One automation for the whole server: a run whose heartbeats stop is marked Crashed.

    Flow-run processes send a heartbeat every PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds
    (the stack sets 30); a run that goes silent for `heartbeat_grace` without ending lost
    its process (worker or host killed), and would otherwise stay Running forever.
    """
    if await client.read_automations_by_name(ZOMBIE_AUTOMATION):
        return False
    final_events = {f"prefect.flow-run.{s}" for s in ("Completed", "Failed", "Cancelled", "Crashed")}
    await client.create_automation(
        AutomationCore(
            name=ZOMBIE_AUTOMATION,
            description="Prefect's zombie-flow recipe, installed by tasklane apply.",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"},
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
        )
    )
    return True
