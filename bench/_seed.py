"""Finished flow runs in bulk, written through the Prefect server's own database layer (benchmarks only).

Creating runs through the REST API costs 5-14 runs/s here (each one a flow run, then state
transitions through the orchestration rules), so 100,000 runs of history would take hours. This
module inserts them straight into the bench server's SQLite database with Prefect's ORM tables
(`prefect.server.database`: `provide_database_interface()`, `db.session_context`, `db.FlowRun`,
`db.FlowRunState`), a few thousand rows per statement:

- each run belongs to a real deployment (read through `prefect.server.models`): its flow, its
  tags (plus `extra_tags`), its parameters, work queue, version and Prefect's system labels, as
  `POST /deployments/{id}/create_flow_run` would set them;
- two state rows per run, `Running` at the start and the final state at the end (`state_id`
  points at it, `state_type` / `state_name` / `state_timestamp` copied onto the run as Prefect's
  orchestration does), with `start_time`, `end_time`, `total_run_time`, `run_count = 1`;
- final states mixed like a real history: Completed, Failed, TimedOut (a Failed-type state),
  Crashed and Cancelled, with the messages Tasklane's flows leave; end times spread uniformly
  over `days` before `until`, durations log-normal (median ~20 s), starts 0-3 s late.

Nothing else differs from a run a worker finished (no logs, artifacts or events are made), so
history, stats, reports and the REST API read them exactly as they read real ones; `verify`
checks that through the REST API. Seeding 100,000 runs takes about 20 s on 2 busy cores.

    from bench._seed import seed_finished_runs, verify
    seeded = asyncio.run(seed_finished_runs(api_url, deployment_ids, 100_000, days=30))
"""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

# (final state name, state type, message, weight): ~85% Completed, the rest failures of each kind.
STATE_MIX: list[tuple[str, str, str | None, float]] = [
    ("Completed", "COMPLETED", None, 0.85),
    ("Failed", "FAILED", "Flow run encountered an exception: exit code 1", 0.06),
    ("TimedOut", "FAILED", "the job timed out", 0.03),
    ("Crashed", "CRASHED", "no heartbeat for 90 s: the run's process is gone", 0.03),
    ("Cancelled", "CANCELLED", "Cancelled by the user", 0.03),
]
BATCH = 5_000


@dataclass
class Seeded:
    """What `seed_finished_runs` wrote."""

    runs: int
    states: int
    seconds: float
    by_state: Counter[str] = field(default_factory=Counter)
    first_end: datetime | None = None
    last_end: datetime | None = None
    run_ids: list[uuid.UUID] = field(default_factory=list, repr=False)

    def line(self) -> str:
        mix = ", ".join(f"{name} {count}" for name, count in self.by_state.most_common())
        return (
            f"seeded {self.runs} finished runs ({self.states} state rows) in {self.seconds:.1f} s "
            f"({self.runs / max(self.seconds, 1e-9):,.0f} runs/s): {mix}"
        )


def database_url_of(api_url: str) -> str:
    """The SQLite database of a server started by `tasklane.stack.processes.start_server` (bench `_stack`).

    The server's settings (`GET /admin/settings`) mask the connection URL but give its
    PREFECT_HOME, which the stack puts at `<home>/prefect` beside `<home>/prefect.db`.
    """
    from tasklane.stack.processes import sqlite_url

    response = httpx.get(f"{api_url.rstrip('/')}/admin/settings", timeout=30)
    response.raise_for_status()
    home = Path(response.json()["home"]).parent
    if not (home / "prefect.db").exists():
        raise RuntimeError(f"no SQLite database at {home / 'prefect.db'}: not a tasklane stack server?")
    return sqlite_url(home)


def _plan(
    rng: random.Random, deployments: list[Any], runs: int, days: float, until: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Seeded]:
    """The rows of `runs` finished runs: (flow_run rows, flow_run_state rows, summary)."""
    from prefect.server.schemas.states import StateDetails, StateType
    from prefect.utilities.names import generate_slug

    names = [m[0] for m in STATE_MIX]
    weights = [m[3] for m in STATE_MIX]
    kinds = {m[0]: (StateType(m[1]), m[2]) for m in STATE_MIX}
    span = days * 86400.0
    run_rows: list[dict[str, Any]] = []
    state_rows: list[dict[str, Any]] = []
    seeded = Seeded(runs=runs, states=0, seconds=0.0)
    for i in range(runs):
        d = deployments[i % len(deployments)]
        run_id, running_id, final_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        name = rng.choices(names, weights)[0]
        state_type, message = kinds[name]
        duration = min(max(rng.lognormvariate(3.0, 1.0), 0.2), 3600.0)
        end = until - timedelta(seconds=60 + rng.random() * span)
        start = end - timedelta(seconds=duration)
        expected = start - timedelta(seconds=rng.random() * 3)
        run_rows.append(
            {
                "id": run_id,
                "created": expected - timedelta(seconds=1),
                "updated": end,
                "name": generate_slug(2),
                "flow_id": d["flow_id"],
                "deployment_id": d["id"],
                "deployment_version": d["version"],
                "work_queue_name": d["work_queue_name"],
                "work_queue_id": d["work_queue_id"],
                "infrastructure_document_id": d["infrastructure_document_id"],
                "parameters": d["parameters"],
                "tags": d["tags"],
                "labels": d["labels"],
                "job_variables": {},
                "context": {},
                "empirical_policy": {},
                "run_count": 1,
                "expected_start_time": expected,
                "start_time": start,
                "end_time": end,
                "total_run_time": end - start,
                "state_id": final_id,
                "state_type": state_type,
                "state_name": name,
                "state_timestamp": end,
                "auto_scheduled": False,
            }
        )
        details = StateDetails(flow_run_id=run_id)
        for state_id, kind, state_name, stamp, text in (
            (running_id, StateType.RUNNING, "Running", start, None),
            (final_id, state_type, name, end, message),
        ):
            state_rows.append(
                {
                    "id": state_id,
                    "created": stamp,
                    "updated": stamp,
                    "flow_run_id": run_id,
                    "type": kind,
                    "name": state_name,
                    "timestamp": stamp,
                    "message": text,
                    "state_details": details,
                }
            )
        seeded.by_state[name] += 1
        seeded.first_end = end if seeded.first_end is None else min(seeded.first_end, end)
        seeded.last_end = end if seeded.last_end is None else max(seeded.last_end, end)
        seeded.run_ids.append(run_id)
    seeded.states = len(state_rows)
    return run_rows, state_rows, seeded


async def seed_finished_runs(
    api_url: str,
    deployment_ids: Sequence[uuid.UUID | str],
    runs: int,
    *,
    days: float = 30.0,
    until: datetime | None = None,
    extra_tags: Sequence[str] = (),
    seed: int = 7,
    batch: int = BATCH,
    database_url: str | None = None,
) -> Seeded:
    """Insert `runs` finished flow runs of these deployments (round robin) into the server's database.

    Args:
        api_url: the bench server's API URL (its database is found through `database_url_of`).
        deployment_ids: real deployments on that server; each run gets its deployment's flow,
            tags, parameters, work queue, version and labels.
        days / until: end times are spread uniformly over (until - days, until - 60 s].
        extra_tags: added to every run's tags (e.g. a bench scope tag).
        database_url: the SQLite URL, when it is not a `tasklane.stack.processes` server.
    """
    import sqlalchemy as sa
    from prefect.server import models
    from prefect.server.database import provide_database_interface
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL, temporary_settings

    url = database_url or database_url_of(api_url)
    if not url.startswith("sqlite"):
        raise ValueError(f"bench seeding writes SQLite databases only, not {url.split(':', 1)[0]}")
    until = until or datetime.now(UTC)
    rng = random.Random(seed)
    started = time.perf_counter()
    with temporary_settings(updates={PREFECT_API_DATABASE_CONNECTION_URL: url}):
        db = provide_database_interface()
        async with db.session_context() as session:
            deployments = []
            for ident in deployment_ids:
                d = await models.deployments.read_deployment(session, uuid.UUID(str(ident)))
                if d is None:
                    raise ValueError(f"no deployment {ident} in {url}")
                labels = await models.deployments.with_system_labels_for_deployment_flow_run(
                    session=session, deployment=d
                )
                deployments.append(
                    {
                        "id": d.id,
                        "flow_id": d.flow_id,
                        "version": d.version,
                        "work_queue_name": d.work_queue_name,
                        "work_queue_id": d.work_queue_id,
                        "infrastructure_document_id": d.infrastructure_document_id,
                        "parameters": dict(d.parameters or {}),
                        "tags": sorted(set(d.tags) | set(extra_tags)),
                        "labels": dict(labels),
                    }
                )
        if not deployments:
            raise ValueError("seeding needs at least one deployment")
        run_rows, state_rows, seeded = _plan(rng, deployments, runs, days, until)
        flow_run, flow_run_state = db.FlowRun.__table__, db.FlowRunState.__table__
        for offset in range(0, runs, batch):
            # BEGIN IMMEDIATE: take the write lock first, waiting for the server's own writes.
            async with db.session_context(begin_transaction=True, with_for_update=True) as session:
                # A run points at its final state and the state at its run: check both at commit.
                await session.execute(sa.text("PRAGMA defer_foreign_keys = ON"))
                await session.execute(flow_run.insert(), run_rows[offset : offset + batch])
                await session.execute(flow_run_state.insert(), state_rows[2 * offset : 2 * (offset + batch)])
    seeded.seconds = time.perf_counter() - started
    return seeded


async def verify(client: Any, seeded: Seeded, sample: int = 200) -> str:
    """Read a sample of the seeded runs back through the REST API; raise if any looks unlike a real run."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ids = seeded.run_ids[:: max(1, len(seeded.run_ids) // sample)][:sample]
    found = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
    )
    problems = []
    if len(found) != len(ids):
        problems.append(f"{len(ids)} asked, {len(found)} read back")
    for run in found:
        state = run.state
        if state is None or state.name != run.state_name or state.type != run.state_type:
            problems.append(f"{run.id}: state {state!r} vs {run.state_name}/{run.state_type}")
        elif not state.is_final() or run.deployment_id is None or not run.tags:
            problems.append(f"{run.id}: not a finished deployment run")
        elif not (run.start_time and run.end_time and run.total_run_time.total_seconds() > 0):
            problems.append(f"{run.id}: no start/end/run time")
    names = {r.id: r.state_name for r in found}
    history = [s.name for s in await client.read_flow_run_states(ids[0])]
    if history != ["Running", names.get(ids[0])]:
        problems.append(f"{ids[0]}: state history {history}")
    if problems:
        raise AssertionError("seeded runs do not read back like real ones:\n  " + "\n  ".join(problems[:10]))
    mix = Counter(r.state_name for r in found)
    return f"verified {len(found)} seeded runs through the REST API: " + ", ".join(
        f"{n} {c}" for n, c in mix.most_common()
    )
