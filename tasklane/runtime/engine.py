"""`python -m tasklane.runtime.engine`: Prefect's flow-run engine, with Running proposed on time.

The process worker of a Tasklane pool runs this instead of `python -m prefect.engine`
(the pool's job template sets the command; see deployments/pool.py). A worker prefetches
runs, so the process starts seconds before the run is due. Bare Prefect's engine then
proposes Running at once, the server answers "wait N seconds" with N rounded to a whole
second, and the run starts up to half a second early, or late by the rounding plus whatever
the engine does after its wait (seconds on a busy machine; PREFECT-FACTS.md, bench/lateness).

Here Prefect's own engine runs unchanged from the start (imports, loading the flow, setting up
the run), and only its Running proposal is held back until PROPOSE_LEAD_SECONDS before the run
is due: less than the server's rounding, so the server lets Running through at once. The job's
task then waits out the last fraction to the exact instant (flows/_runtime.py), so the command
starts on time and never early, however long the engine's start took.

The hold wraps `propose_state` / `propose_state_sync` as the flow engine module calls them
(Prefect 3.9). Should a later Prefect no longer have them, the launcher falls back to sleeping
until the same instant before it starts the engine.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

# Propose Running this long before the due time: under the server's 0.5 s rounding (so no
# "wait 1 s" comes back), with the rest of the flow's start absorbed by the job's own wait.
PROPOSE_LEAD_SECONDS = 0.45
# A prefetched run is at most the worker's prefetch ahead; never hold longer than this.
MAX_HOLD_SECONDS = 600.0


def _flow_run_id() -> UUID:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PREFECT__FLOW_RUN_ID", "")
    try:
        return UUID(raw)
    except ValueError:
        message = f"tasklane.runtime.engine: {raw!r} is not a flow run id (argument or PREFECT__FLOW_RUN_ID)"
        raise SystemExit(message) from None


def _due(flow_run_id: UUID) -> datetime | None:
    """When the run is due, if it waits for a time still ahead."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    state = run.state
    if state is None or state.type not in (StateType.SCHEDULED, StateType.PENDING):
        return None
    due = state.state_details.scheduled_time or run.expected_start_time
    if due is None or (due - datetime.now(UTC)).total_seconds() <= PROPOSE_LEAD_SECONDS:
        return None  # due now: nothing to hold
    return due


def _hold_seconds(due: datetime) -> float:
    left = (due - datetime.now(UTC)).total_seconds() - PROPOSE_LEAD_SECONDS
    return min(max(left, 0.0), MAX_HOLD_SECONDS)


def hold_running_until(due: datetime) -> bool:
    """Make the flow engine propose Running no earlier than just before `due` (once).

    Returns False where this Prefect's engine offers nothing to wrap.
    """
    from prefect import flow_engine
    from prefect.states import State

    original_async: Callable[..., Awaitable[State]] | None = getattr(flow_engine, "propose_state", None)
    original_sync: Callable[..., State] | None = getattr(flow_engine, "propose_state_sync", None)
    if original_async is None or original_sync is None:
        return False
    pending = {"due": due}

    def _take_hold(state: State) -> float:
        if not state.is_running() or pending.get("due") is None:
            return 0.0
        return _hold_seconds(pending.pop("due"))

    async def propose_state(client: Any, state: State, *args: Any, **kwargs: Any) -> State:
        hold = _take_hold(state)
        if hold:
            await asyncio.sleep(hold)
        return await original_async(client, state, *args, **kwargs)

    def propose_state_sync(client: Any, state: State, *args: Any, **kwargs: Any) -> State:
        hold = _take_hold(state)
        if hold:
            time.sleep(hold)
        return original_sync(client, state, *args, **kwargs)

    flow_engine.propose_state = propose_state
    flow_engine.propose_state_sync = propose_state_sync
    return True


def main() -> None:
    from tasklane.runtime.heartbeats import delay_first_heartbeat

    delay_first_heartbeat()
    flow_run_id = _flow_run_id()
    due = _due(flow_run_id)
    if due is not None and not hold_running_until(due):
        time.sleep(_hold_seconds(due))
    # Prefect's own entry point, as `python -m prefect.engine` would run it. The module is
    # already imported (Prefect imports it), which runpy warns about; that is expected here.
    warnings.filterwarnings("ignore", message=".*found in sys.modules.*", category=RuntimeWarning)
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
