"""`deploy_platform` on a real Prefect server: the report and maintenance flows, scheduled from the
settings, created once, left alone, updated when a setting changes, never seen as catalog tasks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
from prefect.client.schemas.objects import ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule

from deployments.apply import Target, read_task_deployments
from deployments.errors import CatalogError
from deployments.platform import (
    MAINTENANCE_DEPLOYMENT,
    PLATFORM_TAG,
    REPORT_DEPLOYMENT,
    deploy_platform,
    platform_queue,
)
from tasklane.settings import PoolSettings, Settings
from tasklane.settings.reports import TASKLANE_TAG, HistorySettings, ReportSettings
from tests.conftest import PRIORITY_QUEUES, make_pool, with_client

# A pool no worker polls: the report's runs are scheduled on the server but never run here.
POOL = "tasklane-platform-test"
REPORT = f"tasklane-report/{REPORT_DEPLOYMENT}"
MAINTENANCE = f"tasklane-maintenance/{MAINTENANCE_DEPLOYMENT}"


def settings(interval: int = 30, cron: str = "17 3 * * *", timezone: str = "Europe/Berlin") -> Settings:
    return Settings(
        pool=PoolSettings(name=POOL, queues=dict(PRIORITY_QUEUES)),
        report=ReportSettings(interval_minutes=interval),
        history=HistorySettings(maintenance_cron=cron),
        timezone=timezone,
    )


def delete_platform_deployments() -> None:
    async def go(client):
        for deployment in await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[PLATFORM_TAG]))
        ):
            await client.delete_deployment(deployment.id)

    with_client(go)


@pytest.fixture(autouse=True)
def _clean(prefect_server: str) -> Iterator[None]:
    """The platform deployments have fixed names: each test starts and ends without them."""
    make_pool(POOL, 1)
    delete_platform_deployments()
    yield
    delete_platform_deployments()


def deploy(s: Settings):
    return with_client(lambda client: deploy_platform(client, s))


def read(name: str):
    return with_client(lambda client: client.read_deployment_by_name(name))


def test_deploys_both_flows_with_the_configured_schedules() -> None:
    plan = deploy(settings())
    assert [(c.flow, c.action) for c in plan.changes] == [("report", "create"), ("maintenance", "create")]
    assert str(plan) == (
        "platform flows: report every 30 min, maintenance 17 3 * * * (Europe/Berlin) (2 changed)"
    )

    report = read(REPORT)
    assert report.entrypoint == "flows.report.report_flow"
    assert report.work_pool_name == POOL and report.work_queue_name == "high"
    assert report.tags == [PLATFORM_TAG] and report.parameters == {}
    assert report.global_concurrency_limit is not None and report.global_concurrency_limit.limit == 1
    assert report.concurrency_options is not None
    assert report.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    [schedule] = report.schedules
    assert isinstance(schedule.schedule, IntervalSchedule) and schedule.active
    assert schedule.schedule.interval == timedelta(minutes=30)

    maintenance = read(MAINTENANCE)
    assert maintenance.entrypoint == "flows.maintenance.maintenance_flow"
    assert maintenance.work_pool_name == POOL and maintenance.tags == [PLATFORM_TAG]
    [schedule] = maintenance.schedules
    assert isinstance(schedule.schedule, CronSchedule) and schedule.active
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("17 3 * * *", "Europe/Berlin")

    async def start_each(client):  # the server accepts a run with the (enforced) parameter schemas
        parameters = []
        for deployment in (report, maintenance):
            flow_run = await client.create_flow_run_from_deployment(deployment.id)
            parameters.append(flow_run.parameters)
            await client.delete_flow_run(flow_run.id)
        return parameters

    assert with_client(start_each) == [{}, {}]


def test_a_second_call_changes_nothing() -> None:
    deploy(settings())
    before = {name: read(name) for name in (REPORT, MAINTENANCE)}
    again = deploy(settings())
    assert [c.action for c in again.changes] == ["unchanged", "unchanged"] and not again.pending
    assert str(again).endswith("(0 changed)")
    for name, deployment in before.items():
        after = read(name)
        assert after.updated == deployment.updated
        assert [s.id for s in after.schedules] == [s.id for s in deployment.schedules]


def test_a_changed_setting_replaces_the_schedule() -> None:
    deploy(settings())
    report = read(REPORT)
    plan = deploy(settings(interval=15))
    actions = {c.flow: (c.action, c.detail) for c in plan.changes}
    assert actions == {
        "report": ("update", "schedule every 30 min -> every 15 min"),
        "maintenance": ("unchanged", ""),
    }
    after = read(REPORT)
    assert after.id == report.id  # updated in place, its runs' history kept
    [schedule] = after.schedules
    assert schedule.schedule.interval == timedelta(minutes=15)

    plan = deploy(settings(interval=15, cron="5 4 * * 1-5", timezone="UTC"))
    assert [c.action for c in plan.changes] == ["unchanged", "update"]
    [schedule] = read(MAINTENANCE).schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("5 4 * * 1-5", "UTC")


def test_an_operators_pause_lasts_through_an_update() -> None:
    deploy(settings())
    report = read(REPORT)
    with_client(lambda client: client.pause_deployment(report.id))
    assert [c.action for c in deploy(settings(interval=10)).changes] == ["update", "unchanged"]
    after = read(REPORT)
    assert after.paused and after.schedules[0].schedule.interval == timedelta(minutes=10)


def test_the_platform_flows_are_no_catalog_tasks() -> None:
    deploy(settings())

    async def go(client):
        tasks = await read_task_deployments(client, Target(POOL, "UTC", "default"))
        tagged = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TASKLANE_TAG]))
        )
        return tasks, tagged

    tasks, tagged = with_client(go)
    names = {REPORT_DEPLOYMENT, MAINTENANCE_DEPLOYMENT}
    assert not names & set(tasks)
    assert not names & {d.name for d in tagged}


def test_a_bad_cron_setting_deploys_nothing() -> None:
    with pytest.raises(CatalogError, match="history.maintenance_cron"):
        deploy(settings(cron="61 3 * * *"))
    with pytest.raises(CatalogError, match="field 'timezone': unknown timezone 'Mars/Olympus'"):
        deploy(settings(timezone="Mars/Olympus"))

    async def go(client):
        return await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[PLATFORM_TAG]))
        )

    assert with_client(go) == []


def test_the_queue_is_the_highest_priority() -> None:
    assert platform_queue({"low": 3, "high": 1, "medium": 2}) == "high"
    assert platform_queue({}) is None


def test_the_sources_flow_is_deployed_when_settings_name_sources() -> None:
    from pathlib import Path

    from deployments.platform import SOURCES_DEPLOYMENT, platform_flows
    from tasklane.settings.sources import SourceSettings

    assert [f.key for f in platform_flows(settings())] == ["report", "maintenance"]
    with_sources = settings().model_copy(
        update={"sources": [SourceSettings(name="gen", kind="directory", path="gen")]}
    )
    plan = deploy(with_sources)
    assert [(c.flow, c.action) for c in plan.changes if c.flow == "sources"] == [("sources", "create")]
    assert "sources every 1 min" in str(plan)
    deployment = read(f"tasklane-sources/{SOURCES_DEPLOYMENT}")
    try:
        assert deployment.entrypoint == "flows.sources.sources_flow" and deployment.tags == [PLATFORM_TAG]
        # Its runs start in a temporary folder: it names the project's.
        assert deployment.parameters == {"project_dir": str(Path.cwd().resolve())}
        [schedule] = deployment.schedules
        assert isinstance(schedule.schedule, IntervalSchedule)
        assert schedule.schedule.interval == timedelta(minutes=1)
    finally:
        with_client(lambda client: client.delete_deployment(deployment.id))
