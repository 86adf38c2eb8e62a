"""`python -m tasklane.launch`: Prefect's flow-run engine, started at the run's time.

The process worker of a Tasklane pool runs this instead of `python -m prefect.engine`
(the pool's job template sets the command; see deployments/pool.py). A worker prefetches
runs, so the process starts seconds before the run is due. Bare Prefect then proposes
Running at once, the server answers "wait N seconds" with N rounded to a whole second, and
the run starts up to half a second early or late (PREFECT-FACTS.md; bench/lateness).

Here the slow part happens while there is time: importing Prefect and the flow's code and
reading the run. Then the process sleeps until just before the scheduled time (LEAD_SECONDS,
less than the server's rounding, so the server lets Running through at once), and hands
over to Prefect's own engine, unchanged. The job's task waits out the last fraction to the
exact instant (flows/_runtime.py), so the command starts on time and never early.
"""

from __future__ import annotations

import importlib
import os
import runpy
import sys
import time
import warnings
from datetime import UTC, datetime
from uuid import UUID

# Wake this long before the due time: under the server's 0.5 s rounding, with room for the
# Running proposal and the flow's start, which take ~0.1 s on a busy 2-core machine.
LEAD_SECONDS = 0.4
# A prefetched run is at most the worker's prefetch ahead; never sleep longer than this.
MAX_SLEEP_SECONDS = 600.0


def _flow_run_id() -> UUID:
    raw = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("PREFECT__FLOW_RUN_ID", "")
    try:
        return UUID(raw)
    except ValueError:
        message = f"tasklane.launch: {raw!r} is not a flow run id (argument or PREFECT__FLOW_RUN_ID)"
        raise SystemExit(message) from None


def _due(flow_run_id: UUID) -> datetime | None:
    """When the run is due, if it is waiting for a time; its flow's module imported meanwhile."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        state = run.state
        if state is None or state.type not in (StateType.SCHEDULED, StateType.PENDING):
            return None
        due = state.state_details.scheduled_time or run.expected_start_time
        if due is None or (due - datetime.now(UTC)).total_seconds() <= LEAD_SECONDS:
            return None  # due now: nothing to win, start the engine at once
        if run.deployment_id is not None:
            entrypoint = client.read_deployment(run.deployment_id).entrypoint or ""
            # Module-path entrypoints ("flows.shell.shell_flow") import once and stay cached
            # for the engine; a file path would be executed again by the engine, so skip it.
            if ":" not in entrypoint and "." in entrypoint:
                try:
                    importlib.import_module(entrypoint.rsplit(".", 1)[0])
                except ImportError:
                    pass  # the engine imports it again and records the error on the run
        return due


def main() -> None:
    flow_run_id = _flow_run_id()
    due = _due(flow_run_id)
    if due is not None:
        wait = (due - datetime.now(UTC)).total_seconds() - LEAD_SECONDS
        if wait > 0:
            time.sleep(min(wait, MAX_SLEEP_SECONDS))
    # Prefect's own entry point, as `python -m prefect.engine` would run it. The module is
    # already imported (Prefect imports it), which runpy warns about; that is expected here.
    warnings.filterwarnings("ignore", message=".*found in sys.modules.*", category=RuntimeWarning)
    runpy.run_module("prefect.engine", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
