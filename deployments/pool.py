"""The work pool the catalog deploys to: one process pool, one queue per priority.

Priorities are Prefect's own: queue `high` has priority 1, `medium` 2, `low` 3, and the
pool's concurrency limit is the global limit on runs at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolCreate, WorkPoolUpdate
from prefect.exceptions import ObjectNotFound
from prefect.workers.process import ProcessWorker


@dataclass(frozen=True)
class PoolSpec:
    name: str
    concurrency: int
    queues: dict[str, int]  # queue name -> priority


async def ensure_work_pool(client: PrefectClient, spec: PoolSpec) -> list[str]:
    """Create or update the pool and its queues; return what changed (empty if nothing)."""
    changes: list[str] = []
    try:
        pool = await client.read_work_pool(spec.name)
    except ObjectNotFound:
        await client.create_work_pool(
            WorkPoolCreate(
                name=spec.name,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
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
