"""`tasklane.tasks.lookup`: schedules read as the catalog writes them, and a task's row (last
outcome, run in flight, next run in the schedule's zone) on a real server."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import make_pool, run

SPECS = [
    ({"every": "10m"}, None, "every 10m"),
    ("30s", "UTC", "every 30s"),  # a bare string, normalized; elapsed time shows no zone
    ({"every": "1h", "timezone": "Europe/Berlin"}, "Europe/Berlin", "every 1h Europe/Berlin"),
    ({"daily": ["02:00"], "timezone": "Asia/Shanghai"}, "Asia/Shanghai", "daily 02:00 Asia/Shanghai"),
    ("02:00", "UTC", "daily 02:00 UTC"),
    ({"type": "daily", "time": "14:30"}, "Europe/Paris", "daily 14:30 Europe/Paris"),
    ({"cron": "0 */6 * * *"}, "UTC", "cron 0 */6 * * * UTC"),
    ({"weekly": {"days": ["fri", "mon"], "at": ["09:00"]}}, "UTC", "weekly mon,fri 09:00 UTC"),
    ({"monthly": {"days": [1, "last"], "at": ["06:00", "18:00"]}}, "UTC", "monthly 1,last 06:00, 18:00 UTC"),
    ({"once": "2020-01-01T09:00"}, "UTC", "once 2020-01-01 09:00 UTC"),  # past: still read back
    (
        {"daily": ["02:00"], "start": "2027-01-01T00:00", "end": "2027-02-01", "max_runs": 5},
        "UTC",
        "daily 02:00 UTC from 2027-01-01 00:00 until 2027-02-01 23:59:59 max 5 runs",
    ),
]


@pytest.mark.parametrize(("raw", "zone", "text"), SPECS)
def test_spec_text_reads_as_the_catalog_writes_it(raw, zone, text) -> None:
    from datetime import UTC, datetime

    from deployments.schedules import parse_schedules
    from tasklane.tasks.lookup import spec_text

    (spec,) = parse_schedules(raw, now=datetime(1970, 1, 1, tzinfo=UTC))
    assert spec_text(spec, zone) == text


def _deployment(definition: dict | None, schedules: list):
    """A deployment as the server answers it, with only what `describe_schedules` reads."""
    from prefect.client.schemas.responses import DeploymentResponse

    labels = {"tasklane.definition": json.dumps(definition)} if definition is not None else {}
    return DeploymentResponse.model_construct(labels=labels, schedules=schedules, paused=False)


def _schedule(schedule, slug: str = "s"):
    from prefect.client.schemas.objects import DeploymentSchedule

    return DeploymentSchedule.model_construct(schedule=schedule, slug=slug, active=True)


def test_describe_schedules_falls_back_on_prefects_schedules_in_the_same_words() -> None:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

    from tasklane.tasks.lookup import describe_schedules, schedule_timezone

    made_elsewhere = _deployment(
        None,
        [
            _schedule(IntervalSchedule(interval=timedelta(minutes=10))),
            _schedule(CronSchedule(cron="0 2 * * *", timezone="Europe/Berlin")),
        ],
    )
    assert describe_schedules(made_elsewhere) == "every 10m; cron 0 2 * * * Europe/Berlin"
    assert schedule_timezone(made_elsewhere, "Asia/Tokyo") == "Europe/Berlin"
    # A definition without a schedule, where someone added one in Prefect's UI: the server's.
    added = _deployment({"name": "x"}, [_schedule(IntervalSchedule(interval=timedelta(hours=36)))])
    assert describe_schedules(added) == "every 36h"
    assert describe_schedules(_deployment({"name": "x"}, [])) == "-"
    assert schedule_timezone(_deployment({"name": "x"}, []), None) == "UTC"


def test_a_spec_without_a_zone_reads_the_zone_it_was_compiled_in() -> None:
    from deployments.schedules import parse_schedules
    from tasklane.tasks.lookup import describe_schedules, schedule_timezone

    (spec,) = parse_schedules({"daily": ["02:00"]})
    compiled = spec.to_prefect("Asia/Shanghai", active=True)  # apply's settings `timezone`
    deployment = _deployment(
        {"schedule": {"daily": ["02:00"]}}, [_schedule(c.schedule, c.slug) for c in compiled]
    )
    # Whatever the caller's default now is, the compiled zone wins: it is when the runs happen.
    assert describe_schedules(deployment, "UTC") == "daily 02:00 Asia/Shanghai"
    assert schedule_timezone(deployment, "UTC") == "Asia/Shanghai"


CATALOG = """
tasks:
  - name: {p}-daily
    type: shell
    command: "true"
    schedule: {{daily: ["02:00"], timezone: Asia/Shanghai}}
  - name: {p}-every
    type: shell
    command: "true"
    schedule: {{every: 10m}}
  - name: {p}-never
    type: shell
    command: "true"
"""


@pytest.fixture
def idle_pool(prefect_server: str) -> str:
    """A pool no worker polls: the runs below change state only as the test says."""
    return make_pool("tasklane-lookup-idle", 1)


def test_rows_show_the_last_outcome_beside_the_run_in_flight(tmp_path: Path, project: str, idle_pool) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Completed, Failed, Running

    from deployments.apply import Target, apply, read_task_deployments
    from deployments.catalog import load_catalog
    from tasklane.tasks.lookup import list_tasks

    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(CATALOG.format(p=project)))
    target = Target(work_pool=idle_pool, timezone="Europe/Berlin", project=project)

    async def go():
        async with get_client() as client:
            await apply(client, load_catalog([path]), target)
            daily = (await read_task_deployments(client, target))[f"{project}-daily"].id
            # `slow` starts first and ends last: the outcome is the last run to END, not to start.
            slow = await client.create_flow_run_from_deployment(daily, state=Running())
            quick = await client.create_flow_run_from_deployment(daily, state=Running())
            await client.set_flow_run_state(quick.id, Completed(), force=True)
            await client.set_flow_run_state(slow.id, Failed(message="boom"), force=True)
            flying = await client.create_flow_run_from_deployment(daily, state=Running())
            ended = (await client.read_flow_run(slow.id)).end_time
            return await list_tasks(client, target), ended, flying.id

    rows, ended, flying_id = run(go())
    daily, every, never = rows
    assert daily.name == f"{project}-daily"
    assert (daily.last_state, daily.last_run) == ("Failed", ended)
    assert daily.last_run.utcoffset() == timedelta(hours=8)  # shown in the schedule's zone
    assert daily.running_state == "Running" and daily.running_since is not None
    assert daily.last_run_id is not None and daily.last_run_id != flying_id
    assert daily.schedule == "daily 02:00 Asia/Shanghai" and daily.timezone == "Asia/Shanghai"
    assert (daily.next_run.hour, daily.next_run.minute) == (2, 0)
    assert daily.next_run.utcoffset() == timedelta(hours=8)

    assert every.schedule == "every 10m" and every.timezone == "Europe/Berlin"  # settings' zone
    assert str(every.next_run.tzinfo) == "Europe/Berlin" and every.next_run.minute % 10 == 0
    assert every.last_state is None and every.running_state is None
    assert never.schedule == "-" and never.next_run is None
