"""Crash detection on a real server and worker: healthy runs are never taken for crashed ones.

Prefect's zombie recipe (a heartbeat, then silence for the grace) fired for runs that had
completed: every firing is a failed automation action ("already in terminal state") on the
event feed. Over a few minutes of normal runs, short and longer than a heartbeat interval,
none may fire.
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import pytest

from deployments.apply import Target, apply
from deployments.automations.crash_retry import ZOMBIE_GRACE
from deployments.catalog import load_catalog
from tasklane.tasks.lookup import run_task
from tests.conftest import TEST_POOL, with_client


@pytest.fixture(autouse=True)
def _worker(worker: str) -> None:
    """These tests need runs to really execute."""


async def _events(client, prefix: str, since: float) -> list[dict]:
    from datetime import UTC, datetime

    body = {
        "filter": {
            "occurred": {"since": datetime.fromtimestamp(since, UTC).isoformat()},
            "event": {"prefix": [prefix]},
        },
        "limit": 50,
    }
    response = await client._client.post("/events/filter", json=body)
    response.raise_for_status()
    return response.json()["events"]


def test_normal_runs_fire_no_crash_detection(tmp_path: Path, project: str) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            tasks:
              - {{name: {project}-quick, type: shell, command: "echo quick", max_concurrent: 10}}
              - {{name: {project}-slow, type: shell, command: "sleep 35; echo slow", max_concurrent: 5}}
            """
        )
    )
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    with_client(lambda client: apply(client, load_catalog([path]), target))
    started = time.time()

    async def drive(client) -> list:
        runs = [await run_task(client, f"{project}-slow") for _ in range(2)]
        for _ in range(12):
            runs.append(await run_task(client, f"{project}-quick"))
            await asyncio.sleep(2)
        deadline = time.monotonic() + 180
        while True:
            states = [(await client.read_flow_run(r.id)).state for r in runs]
            if all(s is not None and s.is_final() for s in states):
                break
            assert time.monotonic() < deadline, f"runs did not finish: {[s and s.name for s in states]}"
            await asyncio.sleep(1)
        return states

    states = with_client(drive)
    assert all(s.is_completed() for s in states), [s.name for s in states]  # none marked Crashed
    # Past the grace after the last heartbeat any run could have sent: a false firing has happened by now.
    time.sleep(ZOMBIE_GRACE.total_seconds() + 15)

    failed = with_client(lambda client: _events(client, "prefect.automation.action.failed", started))
    assert failed == [], [e.get("payload") for e in failed]


def test_zombie_detection_is_one_automation_kept_current() -> None:
    from datetime import timedelta

    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    from deployments.automations.crash_retry import (
        _FORMER_ZOMBIE_AUTOMATION,
        ZOMBIE_AUTOMATION,
        ensure_zombie_detection,
    )

    async def go(client):
        for name in (ZOMBIE_AUTOMATION, _FORMER_ZOMBIE_AUTOMATION):
            for automation in await client.read_automations_by_name(name):
                await client.delete_automation(automation.id)
        # As an earlier Tasklane made it: the old name, and a window opened by heartbeats only.
        await client.create_automation(
            AutomationCore(
                name=_FORMER_ZOMBIE_AUTOMATION,
                trigger=EventTrigger(
                    after={"prefect.flow-run.heartbeat"},
                    expect={"prefect.flow-run.heartbeat"},
                    match={"prefect.resource.id": ["prefect.flow-run.*"]},
                    for_each={"prefect.resource.id"},
                    posture=Posture.Proactive,
                    within=timedelta(seconds=90),
                ),
                actions=[],
            )
        )
        first = await ensure_zombie_detection(client)
        again = await ensure_zombie_detection(client)
        kept = await client.read_automations_by_name(ZOMBIE_AUTOMATION)
        former = await client.read_automations_by_name(_FORMER_ZOMBIE_AUTOMATION)
        return first, again, kept, former

    first, again, kept, former = with_client(go)
    assert (first, again) == (True, False)
    assert former == [] and len(kept) == 1
    assert kept[0].trigger.after == {"prefect.flow-run.Running", "prefect.flow-run.heartbeat"}
    assert kept[0].actions[0].state.value == "CRASHED"
