"""Flow-run heartbeats only while a run is really under way, so crash detection never fires for a healthy run.

Prefect's flow engine sends a heartbeat the moment a run starts and then every
PREFECT_FLOWS_HEARTBEAT_FREQUENCY seconds (30 under `make up`); the server's zombie automation
(`deployments.automations.crash_retry`) marks a run Crashed when a heartbeat is followed by
silence. On Prefect 3.9.1 that automation also fired for runs that had completed right after
their heartbeat (the run's Completed event arrived in order, yet was not counted:
PrefectHQ/prefect#21932, #18653), and each firing is a failed automation action in the event
feed. Most Tasklane jobs last a second or two, so nearly every run was exposed.

Here a run's first heartbeat waits one interval, and none is sent once the flow's own code has
returned: a run that ends within its first interval sends none at all, and a longer one stops
before its final state. A run whose process dies before its first heartbeat is caught by the
other half of the detection, "Running, then silence" (`crash_retry.ensure_zombie_detection`).
"""

from __future__ import annotations

import time
from typing import Any


def delay_first_heartbeat() -> bool:
    """Patch Prefect's flow engine in this process; False where this Prefect lacks the hook."""
    from prefect import flow_engine

    engine_class = getattr(flow_engine, "BaseFlowRunEngine", None)
    emit = getattr(engine_class, "_emit_flow_run_heartbeat", None)
    if emit is None:
        return False
    if getattr(emit, "_tasklane_delayed", False):
        return True
    not_set = getattr(flow_engine, "NotSet", None)

    def emit_when_under_way(self: Any, *args: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        first = self.__dict__.setdefault("_tasklane_first_heartbeat", now)
        if now - first < (self.heartbeat_seconds or 0):
            return None  # the run's first interval: a run this short needs no heartbeat
        finished = self._return_value is not not_set or self._raised is not not_set
        if not_set is not None and finished:
            return None  # the flow's code has returned; its final state follows at once
        return emit(self, *args, **kwargs)

    emit_when_under_way._tasklane_delayed = True  # type: ignore[attr-defined]
    engine_class._emit_flow_run_heartbeat = emit_when_under_way  # type: ignore[union-attr]
    return True
