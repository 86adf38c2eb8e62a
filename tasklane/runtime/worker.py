"""Prefect's process worker, woken by the server's events as well as by its poll.

    python -m tasklane.runtime.worker start --pool P ...   # the arguments of `prefect worker start`

A stock worker finds new work only when it polls (`PREFECT_WORKER_QUERY_SECONDS`, 2 s under
`make up`): a downstream run a dependency trigger has just created, or a run waiting for a
pool slot another run has just freed, waits up to a whole poll. Polling faster costs the
server CPU all day (bench/idle_cpu: 4.0 % of a core at 2 s, 7.5 % at 0.5 s). Instead this
worker also subscribes to the server's event stream (one idle websocket) for the flow-run
events of its own work pool that mean "there may be work now": a run Scheduled (created) or
Late, and a run reaching a final state (a slot is free). Each wakes one extra
`get_and_submit_flow_runs`, the same call the poll makes, so Prefect's own rules decide what
starts: pool and queue limits, queue priority, the prefetch window. Wakes arriving while one
runs are folded into one more.

The poll stays the source of truth: if the event stream is down (the server restarting), the
worker says so in its log, keeps polling, and subscribes again.

Everything else is Prefect's CLI: the arguments are handed to `prefect worker start`, with
this class registered as the `process` worker type (in this process only).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import warnings
from typing import Any

from prefect.workers.process import ProcessWorker

# Flow-run events of the pool after which a poll may find something to start.
WAKE_EVENTS = [
    "prefect.flow-run.Scheduled",
    "prefect.flow-run.Late",
    "prefect.flow-run.AwaitingRetry",
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Crashed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.TimedOut",
]
RESUBSCRIBE_SECONDS = 5.0


# Defining the subclass registers it under its type, `process`, replacing Prefect's own in
# this process (the reason the module exists); Prefect warns that it does.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")

    class WakingProcessWorker(ProcessWorker):
        """A `ProcessWorker` that also polls when its pool's flow-run events say there is work."""

        async def start(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
            wake = asyncio.Event()
            helpers = [
                asyncio.create_task(self._listen(wake), name="tasklane-worker-listen"),
                asyncio.create_task(self._poll_when_woken(wake), name="tasklane-worker-wake"),
            ]
            try:
                await super().start(*args, **kwargs)
            finally:
                for helper in helpers:
                    helper.cancel()
                for helper in helpers:
                    with contextlib.suppress(asyncio.CancelledError):
                        await helper

        async def _listen(self, wake: asyncio.Event) -> None:
            from prefect.events.clients import get_events_subscriber
            from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

            while self._work_pool is None:  # the pool's id comes with the worker's first sync
                await asyncio.sleep(0.2)
            pool_resource = f"prefect.work-pool.{self._work_pool.id}"
            event_filter = EventFilter(
                event=EventNameFilter(name=WAKE_EVENTS),
                related=EventRelatedFilter(id=[pool_resource]),
            )
            while True:
                try:
                    async with get_events_subscriber(filter=event_filter, reconnection_attempts=2) as events:
                        self._logger.debug("listening for flow-run events of %s", pool_resource)
                        async for _event in events:
                            wake.set()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the poll still runs; say so and resubscribe
                    self._logger.warning(
                        "worker %r: the server's event stream failed (%s: %s); polling every "
                        "query interval only, subscribing again in %g s",
                        self.name,
                        type(exc).__name__,
                        exc,
                        RESUBSCRIBE_SECONDS,
                    )
                await asyncio.sleep(RESUBSCRIBE_SECONDS)

        async def _poll_when_woken(self, wake: asyncio.Event) -> None:
            while True:
                await wake.wait()
                wake.clear()
                if not self.is_setup:
                    continue
                try:
                    await self.get_and_submit_flow_runs()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the regular poll retries with backoff
                    self._logger.warning(
                        "worker %r: a poll woken by an event failed (%s: %s); the regular poll goes on",
                        self.name,
                        type(exc).__name__,
                        exc,
                    )


def main(argv: list[str] | None = None) -> None:
    from prefect.cli import app
    from prefect.utilities.dispatch import lookup_type
    from prefect.workers.base import BaseWorker

    if lookup_type(BaseWorker, "process") is not WakingProcessWorker:
        raise RuntimeError(f"{__name__}: Prefect's `process` worker type is not WakingProcessWorker")
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["prefect", "worker", *args]  # Prefect's CLI entry point reads its arguments there
    sys.exit(app())


if __name__ == "__main__":
    main()
