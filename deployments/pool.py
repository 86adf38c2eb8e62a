"""The work pool the catalog deploys to: one process pool, one queue per priority.

Priorities are Prefect's own: queue `high` has priority 1, `medium` 2, `low` 3, and the
pool's concurrency limit is the global limit on runs at once.

The pool's job template starts each flow run with `tasklane.runtime.warm_start`: a fork of the worker's
zygote, which has Prefect imported already (a cold start where no zygote runs), that runs
`tasklane.runtime.engine` (Prefect's engine, started at the run's time rather than up to half a second
off); see those modules. It uses the Python of the environment that applies the catalog, which
is the one the stack's worker runs.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.exceptions import ObjectNotFound
from prefect.workers.process import ProcessWorker


def launch_command() -> str:
    """The flow-run command of a Tasklane process pool."""
    return f"{sys.executable} -m tasklane.runtime.warm_start"


def job_template(command: str | None) -> dict[str, Any]:
    """Prefect's process job template with `command` as the default flow-run command."""
    template = ProcessWorker.get_default_base_job_template()
    template["variables"]["properties"]["command"]["default"] = command
    return template


def _template_command(template: dict[str, Any]) -> str | None:
    return template.get("variables", {}).get("properties", {}).get("command", {}).get("default")


@dataclass(frozen=True)
class PoolSpec:
    name: str
    concurrency: int
    queues: dict[str, int]  # queue name -> priority
    launch: bool = True  # start runs with `tasklane.runtime.engine`; False: Prefect's own engine command


async def ensure_work_pool(client: PrefectClient, spec: PoolSpec) -> list[str]:
    """Create or update the pool and its queues; return what changed (empty if nothing)."""
    changes: list[str] = []
    command = launch_command() if spec.launch else None
    try:
        pool = await client.read_work_pool(spec.name)
    except ObjectNotFound:
        await client.create_work_pool(
            WorkPoolCreate(
                name=spec.name,
                type="process",
                base_job_template=job_template(command),
                concurrency_limit=spec.concurrency,
                description="Tasklane task catalog",
            )
        )
        changes.append(f"created work pool {spec.name!r} (concurrency {spec.concurrency})")
    else:
        if pool.concurrency_limit != spec.concurrency:
            await client.update_work_pool(spec.name, WorkPoolUpdate(concurrency_limit=spec.concurrency))
            changes.append(
                f"work pool {spec.name!r}: concurrency {pool.concurrency_limit} -> {spec.concurrency}"
            )
        if pool.type == "process" and _template_command(pool.base_job_template) != command:
            await client.update_work_pool(spec.name, WorkPoolUpdate(base_job_template=job_template(command)))
            changes.append(f"work pool {spec.name!r}: flow runs start with {command or 'prefect.engine'!r}")
    existing = {q.name: q for q in await client.read_work_queues(work_pool_name=spec.name)}
    # Create the highest priority first: Prefect shifts other queues down when a priority is taken.
    for name, priority in sorted(spec.queues.items(), key=lambda item: item[1]):
        queue = existing.get(name)
        if queue is None:
            await client.create_work_queue(name=name, priority=priority, work_pool_name=spec.name)
            changes.append(f"created queue {name!r} (priority {priority})")
        elif queue.priority != priority:
            await client.update_work_queue(queue.id, priority=priority)
            changes.append(f"queue {name!r}: priority {queue.priority} -> {priority}")
    return changes
