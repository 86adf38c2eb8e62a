"""`apply` on a real Prefect server: create, leave alone, update, prune, refuse bad input."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployments.apply import Target, apply, plan, read_task_deployments
from deployments.catalog import load_catalog
from deployments.errors import CatalogError
from tests.conftest import TEST_POOL, run

CATALOG = """
tasks:
  - name: {p}-echo
    type: shell
    command: echo hi
    schedule: {{every: 1h}}
    priority: HIGH
    group: g1
    owner: alice
    tags: [nightly]
    timeout_seconds: 30
    retry: {{max_retries: 2, retry_delay: 5, backoff_factor: 3}}
  - name: {p}-ping
    type: http
    url: https://status.example.com/ping
    schedule: [{{cron: "0 2 * * *", timezone: Europe/Berlin}}, {{cron: "30 14 * * 1-5"}}]
  - name: {p}-off
    type: python
    callable: "mod:fn"
    enabled: false
    schedule: {{cron: "*/5 * * * *"}}
"""


@pytest.fixture(autouse=True)
def _pool(work_pool: str) -> None:
    """Apply needs the work pool; every test here uses the session's server."""


def catalog_file(tmp_path: Path, project: str, text: str = CATALOG) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(text.format(p=project)))
    return path


def apply_file(path: Path, target: Target):
    from prefect.client.orchestration import get_client

    async def go():
        async with get_client() as client:
            return await apply(client, load_catalog([path]), target)

    return run(go())


def server_deployments(target: Target):
    from prefect.client.orchestration import get_client

    async def go():
        async with get_client() as client:
            return await read_task_deployments(client, target)

    return run(go())


def test_apply_creates_then_changes_nothing_then_updates_and_prunes(tmp_path: Path, project: str) -> None:
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    path = catalog_file(tmp_path, project)

    first = apply_file(path, target)
    assert [c.action for c in first.changes] == ["create"] * 3
    deployments = server_deployments(target)
    echo = deployments[f"{project}-echo"]
    assert echo.work_queue_name == "high" and echo.work_pool_name == TEST_POOL
    assert {"tasklane", "type:shell", "group:g1", "owner:alice", "priority:HIGH", "nightly"} <= set(echo.tags)
    assert echo.parameters["job"]["command"] == "echo hi"
    assert echo.parameters["policy"] == {
        "retries": 2,
        "retry_delays": [5.0, 15.0],
        "retry_jitter_factor": None,
        "timeout_seconds": 30.0,
        "missed": "run_once",
        "missed_grace_seconds": 60.0,
    }
    assert echo.entrypoint == "flows.shell.shell_flow"
    ping = deployments[f"{project}-ping"]
    assert len(ping.schedules) == 2 and ping.work_queue_name == "medium"
    assert {s.schedule.timezone for s in ping.schedules} == {"Europe/Berlin", "UTC"}
    # Prefect's UI names each schedule after the spec as written.
    assert sorted(s.slug for s in ping.schedules) == ["cron-0-2-x-x-x-europe-berlin", "cron-30-14-x-x-1to5"]
    assert [s.slug for s in echo.schedules] == ["every-1h"]
    off = deployments[f"{project}-off"]
    assert off.paused and all(not s.active for s in off.schedules)

    second = apply_file(path, target)
    assert [c.action for c in second.changes] == ["unchanged"] * 3
    assert server_deployments(target)[f"{project}-echo"].updated == echo.updated

    changed = CATALOG.replace("command: echo hi", "command: echo bye").replace(
        '  - name: {p}-off\n    type: python\n    callable: "mod:fn"\n    enabled: false\n'
        '    schedule: {{cron: "*/5 * * * *"}}\n',
        "",
    )
    third = apply_file(catalog_file(tmp_path, project, changed), target)
    actions = {c.task: c.action for c in third.changes}
    assert actions == {
        f"{project}-echo": "update",
        f"{project}-ping": "unchanged",
        f"{project}-off": "delete",
    }
    after = server_deployments(target)
    assert set(after) == {f"{project}-echo", f"{project}-ping"}
    assert after[f"{project}-echo"].parameters["job"]["command"] == "echo bye"
    assert after[f"{project}-echo"].id == echo.id  # updated in place, history kept


def test_a_tasks_schedule_slugs_are_unique(tmp_path: Path, project: str) -> None:
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    text = """
    tasks:
      - name: {p}-twice
        type: shell
        command: "true"
        schedule: [{{daily: "02:00"}}, {{daily: "02:00", end: "2030-01-01"}}, "02:00"]
    """
    apply_file(catalog_file(tmp_path, project, text), target)
    (twice,) = server_deployments(target).values()
    assert sorted(s.slug for s in twice.schedules) == ["daily-0200", "daily-0200-2", "daily-0200-3"]


def test_apply_renames_schedules_applied_with_hashed_slugs(tmp_path: Path, project: str) -> None:
    """Deployments applied before slugs were readable carry `tasklane-<hash>` slugs: the next apply
    replaces them (no schedule twice) and says so; the apply after that changes nothing."""
    from prefect.client.orchestration import get_client

    from deployments.apply import desired_deployment, push_deployment

    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    path = catalog_file(tmp_path, project)
    catalog = load_catalog([path])
    apply_file(path, target)

    async def push_hashed_slugs():
        async with get_client() as client:
            for task in catalog.tasks:
                desired = desired_deployment(task, target, home=catalog.home_of(task.name))
                for index, schedule in enumerate(desired.schedules):
                    schedule.slug = f"tasklane-{index:012x}"
                await push_deployment(client, desired)

    run(push_hashed_slugs())
    before = server_deployments(target)
    assert all(s.slug.startswith("tasklane-0") for d in before.values() for s in d.schedules)

    renamed = apply_file(path, target)
    assert {c.task: (c.action, c.detail) for c in renamed.changes} == {
        name: ("update", "schedules renamed") for name in before
    }
    after = server_deployments(target)
    assert {name: d.id for name, d in after.items()} == {name: d.id for name, d in before.items()}
    assert sorted(s.slug for s in after[f"{project}-ping"].schedules) == [
        "cron-0-2-x-x-x-europe-berlin",
        "cron-30-14-x-x-1to5",
    ]
    for name, deployment in after.items():
        runs_on = sorted(s.schedule.model_dump_json() for s in deployment.schedules)
        assert runs_on == sorted(s.schedule.model_dump_json() for s in before[name].schedules)
    assert [c.action for c in apply_file(path, target).changes] == ["unchanged"] * 3


def test_apply_never_touches_other_projects(tmp_path: Path, project: str) -> None:
    mine = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    other = Target(work_pool=TEST_POOL, timezone="UTC", project=project + "-other")
    apply_file(catalog_file(tmp_path, project), other)
    empty = tmp_path / "empty.yaml"
    empty.write_text("tasks: []\n")
    result = apply_file(empty, mine)
    assert result.changes == []
    assert len(server_deployments(other)) == 3


def test_a_bad_catalog_applies_nothing(tmp_path: Path, project: str) -> None:
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    bad = catalog_file(tmp_path, project, CATALOG + "  - {{name: {p}-x, type: ftp}}\n")
    with pytest.raises(CatalogError):
        apply_file(bad, target)
    assert server_deployments(target) == {}


def test_a_pause_on_the_server_is_the_operators_and_lasts(tmp_path: Path, project: str) -> None:
    """Disabled through the CLI, the API or Prefect's UI: apply leaves it disabled; only a change of
    the file's own `enabled` value changes it."""
    from prefect.client.orchestration import get_client

    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    path = catalog_file(tmp_path, project)
    apply_file(path, target)
    echo = server_deployments(target)[f"{project}-echo"]

    async def pause_then_plan():
        async with get_client() as client:
            await client.pause_deployment(echo.id)
            return await plan(client, load_catalog([path]), target)

    result = run(pause_then_plan())
    assert result.pending == []
    apply_file(path, target)
    assert server_deployments(target)[f"{project}-echo"].paused
    # The file's own value changes: now the file decides.
    line = "    command: echo hi\n"
    catalog_file(tmp_path, project, CATALOG.replace(line, line + "    enabled: false\n"))
    apply_file(path, target)
    assert server_deployments(target)[f"{project}-echo"].paused
    catalog_file(tmp_path, project, CATALOG.replace(line, line + "    enabled: true\n"))
    changes = {c.task: c.detail for c in apply_file(path, target).pending}
    assert "enabled" in changes[f"{project}-echo"]
    assert not server_deployments(target)[f"{project}-echo"].paused
