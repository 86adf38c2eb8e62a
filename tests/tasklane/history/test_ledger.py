"""`tasklane.history.ledger`: every figure the run ledger gives equals the one computed from the
server's own runs (read one by one through the API), after runs are added, deleted on the server
(as retention does), inserted with old times (an import) and after a rebuild."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrations.report import compute_stats
from tests.tasklane.history.test_runs import client_ctx, make_deployment, make_runs

STATES_A = ["Completed", "Failed", "Completed", "Crashed", "Cancelled"]
STATES_B = ["Completed", "TimedOut", "Completed"]


async def server_figures(client, project_tag: str, since: datetime, until: datetime) -> dict:
    """The independent count: every run the server holds, read through the API, into compute_stats."""
    from tasklane.history.runs import TERMINAL_TYPES, finished_runs

    found = await finished_runs(client, None, until + timedelta(seconds=1), tags=["tasklane", project_tag])
    ended = [r for r in found if r.state_type in TERMINAL_TYPES]
    return compute_stats(ended, since, until).to_dict()


def test_ledger_figures_equal_the_servers_after_adds_deletes_imports_and_rebuild(
    prefect_server: str, tmp_path: Path
) -> None:
    from bench._seed import seed_finished_runs
    from tasklane.history.ledger import ledger_for, ledger_stats, rebuild, reconcile, refresh

    project = f"ledger-{uuid.uuid4().hex[:8]}"
    project_tag = f"tasklane-project:{project}"
    since = datetime.now(UTC) - timedelta(days=7)

    async def compare(client, ledger) -> None:
        until = datetime.now(UTC) + timedelta(seconds=1)
        held = await asyncio.to_thread(ledger_stats, ledger, since, until, project=project)
        assert held.stats.to_dict() == await server_figures(client, project_tag, since, until)
        assert held.stats.overall.runs > 0

    async def go() -> None:
        async with client_ctx() as client:
            a = await make_deployment(client, f"a-{project}", ["tasklane", project_tag, "group:ops"])
            b = await make_deployment(client, f"b-{project}", ["tasklane", project_tag, "group:etl"])
            ids = await make_runs(client, a, STATES_A, run_seconds=0.05)
            await make_runs(client, b, STATES_B)
            ledger = ledger_for(client, home=tmp_path)
            await rebuild(client, ledger)  # an empty ledger builds itself this way
            await compare(client, ledger)

            # Runs added since: a refresh reads only them.
            await make_runs(client, b, ["Failed", "Completed"], run_seconds=0.05)
            assert await refresh(client, ledger) >= 2
            await compare(client, ledger)

            # Deleted on the server (as retention does) and imported with old times: neither is
            # seen by a refresh by end time; the reconcile finds both days by the server's counts.
            await client.delete_flow_run(ids[0])
            imported = await seed_finished_runs(
                prefect_server, [a], 12, days=4, until=datetime.now(UTC) - timedelta(days=1)
            )
            await refresh(client, ledger)
            until = datetime.now(UTC) + timedelta(seconds=1)
            stale = await asyncio.to_thread(ledger_stats, ledger, since, until, project=project)
            assert stale.stats.to_dict() != await server_figures(client, project_tag, since, until)
            found = await reconcile(client, ledger, days=30)
            assert imported.runs == 12 and len(found.days) >= 2  # the imported runs' days...
            assert datetime.now(UTC).date().isoformat() in found.days  # ...and the deleted run's
            await compare(client, ledger)
            assert (await reconcile(client, ledger, days=30)).days == []  # nothing differs any more

            # A rebuild from nothing gives the same figures.
            await rebuild(client, ledger)
            await compare(client, ledger)
            by_task = (await asyncio.to_thread(ledger_stats, ledger, since, until, task=f"b-{project}")).stats
            assert by_task.per_task[f"b-{project}"].runs == len(STATES_B) + 2
            assert list(by_task.per_group) == ["etl"]
            ledger.close()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("tags", "scope"),
    [
        (["tasklane"], (None, None)),
        (["tasklane", "tasklane-project:p"], ("p", None)),
        (["tasklane", "tasklane-project:p", "group:ops"], ("p", "ops")),
        (["custom-tag"], None),  # not Tasklane's runs: read from the server
        (["tasklane", "custom-tag"], None),
    ],
)
def test_which_tags_the_ledger_answers(tags: list[str], scope) -> None:
    from tasklane.history.ledger import scope_of

    assert scope_of(tags) == scope


@pytest.mark.usefixtures("prefect_server")
def test_task_stats_answers_from_the_ledger_as_from_the_runs() -> None:
    """`task_stats` over a project (the ledger) and over a plain tag (the server, run by run) agree."""
    from tasklane.history.stats import task_stats

    project = f"ledger-{uuid.uuid4().hex[:8]}"
    tags = ["tasklane", f"tasklane-project:{project}", "group:ops"]

    async def go():
        async with client_ctx() as client:
            a = await make_deployment(client, f"a-{project}", [*tags, project])
            await make_runs(client, a, STATES_A, run_seconds=0.05)
            since = datetime.now(UTC) - timedelta(days=1)
            until = datetime.now(UTC) + timedelta(seconds=1)
            from_ledger = await task_stats(client, since, until, tags=tags)
            from_runs = await task_stats(client, since, until, tags=[project])  # not the ledger's
            return from_ledger, from_runs

    from_ledger, from_runs = asyncio.run(go())
    assert from_ledger.to_dict() == from_runs.to_dict()
    assert from_ledger.per_task[f"a-{project}"].runs == len(STATES_A)
