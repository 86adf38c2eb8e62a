"""Start and stop the scheduler: pause or resume the work pool (runs already started finish;
no new run starts while it is paused). The old systems' `/scheduler/start|stop`.
"""

from __future__ import annotations

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import WorkPoolUpdate


async def set_pool_paused(client: PrefectClient, pool: str, paused: bool) -> bool:
    """Pause (stop) or resume (start) the work pool: no new run starts while paused; running ones finish.

    Returns whether it changed.
    """
    current = await client.read_work_pool(pool)
    if bool(current.is_paused) == paused:
        return False
    await client.update_work_pool(pool, WorkPoolUpdate(is_paused=paused))
    return True
