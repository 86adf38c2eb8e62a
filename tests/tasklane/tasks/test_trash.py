"""The trash on a real Prefect server: a deleted task waits there, hidden and idle, and a restored
task is the same task (deployment id, schedules and next runs, runs and stats, dependencies,
alerts); purge deletes for good, by name, all, or by the retention."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deployments.errors import CatalogError, DeploymentsError, TrashedTaskError, UnknownTaskError
from tests.tasklane.tasks.test_manage import TASKLANE, NotifyProject

CATALOG = """
tasks:
  - name: {p}-up
    type: shell
    command: "true"
    group: etl
    owner: alice
    schedule: [{{cron: "0 3 * * *", timezone: Europe/Berlin}}, {{every: 7h}}]
    retry: {{max_retries: 1, retry_delay: 1}}
    notify: {{on: [failed], to: [webhook]}}
  - name: {p}-down
    type: shell
    command: "true"
    group: etl
    depends_on: [{p}-up]
  - name: {p}-off
    type: shell
    command: "true"
    group: other
    schedule: {{cron: "0 4 * * *"}}
"""


@pytest.fixture
def server(tmp_path: Path, project: str, work_pool: str) -> NotifyProject:
    """The catalog applied to the test pool (no worker: nothing runs by itself)."""
    server = NotifyProject(project, work_pool, tmp_path)
    server.path = server.write(CATALOG.format(p=project))
    assert [c.action for c in server.apply(server.path).changes] == ["create"] * 3
    return server


async def scheduled_times(client, deployment_id) -> list[datetime]:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterDeploymentId,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
        )
    )
    return sorted(r.expected_start_time for r in runs)


async def automations_of(client, deployment_id) -> dict[str, bool]:
    """The deployment's own automations: their kind (dependencies, crash retries, alert) -> enabled."""
    from deployments.automations.sync import automation_slot, owned_automations

    found = {}
    for automation in await owned_automations(client, deployment_id):
        found[automation_slot(automation).split(":")[0]] = automation.enabled
    return found


def test_delete_then_restore_is_the_same_task(server: NotifyProject, project: str) -> None:
    from deployments.apply import read_task_deployments
    from deployments.trash import schedule_next_runs
    from tasklane.history.statuses import run_stats
    from tasklane.tasks.lookup import find_task, list_tasks, next_runs
    from tasklane.tasks.trash import list_trash, restore_task, trash_tasks
    from tests.tasklane.history.test_runs import make_runs

    up, down = f"{project}-up", f"{project}-down"
    target = server.target

    async def before(client):
        deployment = await find_task(client, up, target)
        await make_runs(client, deployment.id, ["Completed", "Failed"])
        await schedule_next_runs(client, deployment.id)
        return (
            deployment,
            await scheduled_times(client, deployment.id),
            (await run_stats(client, target, [deployment.id])).total,
            await automations_of(client, deployment.id),
            await automations_of(client, (await find_task(client, down, target)).id),
        )

    deployment, scheduled, runs, automations, trigger = server.call(before)
    assert len(scheduled) >= 3 and runs == 2
    assert automations == {"tasklane-crash-retries": True, "tasklane-alert": True}
    assert trigger == {"tasklane-dependencies": True, "tasklane-alert": True}  # `down`: the default alert
    planned = next_runs(deployment, 3)

    trashed = server.call(trash_tasks, [deployment], target)
    assert trashed.names == [up] and trashed.downstream == {up: [down]} and trashed.affected == [down]

    async def in_trash(client):
        with pytest.raises(TrashedTaskError, match=f"in the trash: tasklane trash restore {up}"):
            await find_task(client, up, target)
        assert up not in [row.name for row in await list_tasks(client, target)]
        assert up not in await read_task_deployments(client, target)
        held = (await read_task_deployments(client, target, include_trashed=True))[up]
        assert held.id == deployment.id and held.paused  # kept, and idle
        assert await scheduled_times(client, deployment.id) == []  # nothing runs from the trash
        assert not any((await automations_of(client, deployment.id)).values())
        (entry,) = [e for e in await list_trash(client, target)]
        assert (entry.name, entry.group, entry.downstream, entry.was_enabled) == (up, "etl", [down], True)
        assert entry.home is not None and entry.home.startswith("file:")
        assert entry.trashed_at is not None and datetime.now(UTC) - entry.trashed_at < timedelta(minutes=5)

    server.call(in_trash)

    restored = server.call(restore_task, up, target)
    assert (restored.name, restored.deployment_id, restored.enabled) == (up, deployment.id, True)
    assert restored.automations == 2 and restored.missing_upstream == []

    async def after(client):
        again = await find_task(client, up, target)
        return (
            again,
            await scheduled_times(client, again.id),
            (await run_stats(client, target, [again.id])).total,
            await automations_of(client, again.id),
            await list_trash(client, target),
        )

    again, rescheduled, runs_after, automations_after, left = server.call(after)
    assert again.id == deployment.id and again.name == up and not again.paused
    assert set(again.tags) == set(deployment.tags) and again.labels == deployment.labels
    assert [s.schedule for s in again.schedules] == [s.schedule for s in deployment.schedules]
    assert rescheduled[:3] == scheduled[:3] and next_runs(again, 3) == planned  # the same next runs
    assert runs_after == runs  # the runs from before the delete are still its own
    assert automations_after == automations and all(automations_after.values())
    assert left == []
    # Nothing for apply to change: the restored task is what its file defines.
    assert [c.action for c in server.apply(server.path).changes] == ["unchanged"] * 3


def test_dependencies_work_again_after_a_restore(server: NotifyProject, project: str) -> None:
    """The downstream task's trigger is disabled in the trash and enabled by the restore; its
    upstream's id is unchanged, so the trigger it holds is still the right one."""
    from tasklane.tasks.lookup import find_task
    from tasklane.tasks.trash import restore_task, trash_tasks

    up, down = f"{project}-up", f"{project}-down"

    async def trash_down(client):
        deployment = await find_task(client, down, server.target)
        result = await trash_tasks(client, [deployment], server.target)
        return deployment, result, await automations_of(client, deployment.id)

    deployment, result, automations = server.call(trash_down)
    assert result.downstream == {} and automations == {
        "tasklane-dependencies": False,
        "tasklane-alert": False,
    }
    restored = server.call(restore_task, down, server.target)
    assert restored.automations == 2 and restored.missing_upstream == []
    assert server.call(automations_of, deployment.id) == {
        "tasklane-dependencies": True,
        "tasklane-alert": True,
    }

    # Its upstream in the trash: a restore says it will not be triggered by it until it is back.
    server.call(lambda client: trash_tasks(client, [deployment], server.target))

    async def trash_up(client):
        return await trash_tasks(client, [await find_task(client, up, server.target)], server.target)

    assert server.call(trash_up).downstream == {}  # `down` is in the trash already: nobody is affected
    assert server.call(restore_task, down, server.target).missing_upstream == [up]


def test_a_disabled_task_comes_back_disabled(server: NotifyProject, project: str) -> None:
    from tasklane.tasks.lookup import find_task
    from tasklane.tasks.manage import set_enabled
    from tasklane.tasks.trash import list_trash, restore_task, trash_tasks

    name = f"{project}-off"

    async def disable_and_trash(client):
        deployment = await find_task(client, name, server.target)
        await set_enabled(client, [deployment], False)
        await trash_tasks(client, [await find_task(client, name, server.target)], server.target)
        return await list_trash(client, server.target)

    (entry,) = server.call(disable_and_trash)
    assert entry.was_enabled is False
    restored = server.call(restore_task, name, server.target)
    assert restored.enabled is False
    again = server.call(find_task, name, server.target)
    assert again.paused and server.call(scheduled_times, again.id) == []


def test_trashed_names_are_hidden_and_refused(server: NotifyProject, project: str, tmp_path: Path) -> None:
    from deployments.apply import apply
    from deployments.catalog import load_catalog, parse_task
    from tasklane.tasks.lookup import find_task
    from tasklane.tasks.manage import clone_task, export_tasks, tasks_by_name_or_group
    from tasklane.tasks.save import find_task_by_id, save_task
    from tasklane.tasks.trash import check_not_trashed, restore_task, trash_tasks

    up, off = f"{project}-up", f"{project}-off"
    deployment = server.call(find_task, off, server.target)
    server.call(trash_tasks, [deployment], server.target)

    with pytest.raises(TrashedTaskError):
        server.call(find_task_by_id, str(deployment.id), server.target)
    with pytest.raises(DeploymentsError, match="no tasks in group 'other'"):
        server.call(tasks_by_name_or_group, server.target, None, "other")
    assert off not in [t["name"] for t in server.call(export_tasks, server.target)["tasks"]]
    with pytest.raises(DeploymentsError, match=f"a task named '{off}' is in the trash; restore it"):
        server.call(clone_task, up, off, server.target)
    with pytest.raises(DeploymentsError, match="is in the trash"):
        server.call(check_not_trashed, off, server.target)
    task = parse_task({"name": off, "type": "http", "url": "https://a.example"}, "request", 0, tmp_path)
    with pytest.raises(CatalogError, match="in the trash") as refused:
        server.call(save_task, task, server.target)
    assert f"tasklane trash restore {off}" in str(refused.value)
    depends = parse_task(
        {"name": f"{project}-new", "type": "http", "url": "https://a.example", "depends_on": [off]},
        "request",
        0,
        tmp_path,
    )
    with pytest.raises(CatalogError, match=f"task '{off}' is in the trash"):
        server.call(save_task, depends, server.target)

    # Another file defining the name: a conflict naming the trash (the task has one home).
    other = server.write(f"tasks:\n  - {{name: {off}, type: shell, command: 'true'}}\n", "other.yaml")
    with pytest.raises(CatalogError, match="is in the trash since"):
        server.call(apply, load_catalog([other], alerts=server.settings), server.target)

    # Its own file, applied without the task: the trash keeps it (no prune); with it: restored.
    without = server.write(CATALOG.format(p=project).split(f"  - name: {off}")[0])
    result = server.apply(without)
    assert [c.action for c in result.pending] == [] and off in {
        e.name for e in server.call(lambda client: _trash(client, server.target))
    }
    result = server.apply(server.write(CATALOG.format(p=project)))
    (change,) = result.pending
    assert str(change) == f"~ {off}  (restored from the trash: the file still defines it)"
    again = server.call(find_task, off, server.target)
    assert again.id == deployment.id and not again.paused  # the file says enabled; it was enabled
    with pytest.raises(UnknownTaskError):
        server.call(restore_task, off, server.target)  # not in the trash any more


async def _trash(client, target):
    from tasklane.tasks.trash import list_trash

    return await list_trash(client, target)


def test_purge_one_all_and_by_retention(server: NotifyProject, project: str) -> None:
    from deployments.apply import read_task_deployments
    from tasklane.tasks.trash import purge, trash_tasks

    up, down, off = (f"{project}-{n}" for n in ("up", "down", "off"))

    async def trash_all(client):
        every = await read_task_deployments(client, server.target)
        old = datetime.now(UTC) - timedelta(days=40)
        await trash_tasks(client, [every[off]], server.target, now=old)
        await trash_tasks(client, [every[up], every[down]], server.target)
        return every

    every = server.call(trash_all)
    with pytest.raises(UnknownTaskError, match="the trash of project"):
        server.call(purge, server.target, "nope")
    would = server.call(
        lambda client: purge(client, server.target, older_than=timedelta(days=30), dry_run=True)
    )
    assert would == [off]
    assert server.call(purge, server.target, None, timedelta(days=30)) == [off]
    assert server.call(purge, server.target, down) == [down]
    assert server.call(purge, server.target) == [up]

    async def gone(client):
        from deployments.automations.sync import owned_automations

        left = await read_task_deployments(client, server.target, include_trashed=True)
        return left, await owned_automations(client, every[up].id)

    left, automations = server.call(gone)
    assert left == {} and automations == []


def test_the_maintenance_flow_purges_the_trash_after_the_retention(
    server: NotifyProject, project: str
) -> None:
    """A dry run: it names what it would purge (everything else on the shared server is left alone)."""
    from flows.maintenance import maintenance_flow
    from tasklane.tasks.lookup import find_task
    from tasklane.tasks.trash import trash_tasks
    from tests.conftest import run

    async def trash(client):
        old = datetime.now(UTC) - timedelta(days=31)
        await trash_tasks(
            client, [await find_task(client, f"{project}-off", server.target)], server.target, now=old
        )
        await trash_tasks(client, [await find_task(client, f"{project}-down", server.target)], server.target)

    server.call(trash)
    outcome = run(maintenance_flow(dry_run=True))
    assert f"{project}-off" in outcome["purged_tasks"] and f"{project}-down" not in outcome["purged_tasks"]


def test_cli_delete_trash_list_restore_purge(tmp_path: Path, project: str, work_pool: str) -> None:
    from tests.tasklane.tasks.test_manage import tasklane

    up, down = f"{project}-up", f"{project}-down"
    path = tmp_path / "tasks.yaml"
    path.write_text(
        f"tasks:\n  - {{name: {up}, type: shell, command: 'true', schedule: {{cron: '0 3 * * *'}}}}\n"
        f"  - {{name: {down}, type: shell, command: 'true', depends_on: [{up}]}}\n"
    )
    assert tasklane("apply", str(path), project=project).returncode == 0
    shown = tasklane("show", up, project=project).stdout

    deleted = tasklane("delete", up, "--yes", project=project)
    assert deleted.returncode == 0, deleted.stderr
    assert f"warning: {down} depends on {up}" in deleted.stdout
    assert f"deleted: {up} (in the trash for 30 days" in deleted.stdout
    assert up not in tasklane("list", project=project).stdout
    missing = tasklane("show", up, project=project)
    assert missing.returncode == 2 and f"(in the trash: tasklane trash restore {up})" in missing.stderr

    listed = tasklane("trash", "list", project=project)
    assert listed.returncode == 0 and up in listed.stdout and down in listed.stdout  # depended on by
    refused = tasklane(
        "new",
        up,
        "--from",
        "http-health-check",
        "--set",
        "url=https://a.example",
        "--into",
        str(tmp_path / "more.yaml"),
        project=project,
    )
    assert refused.returncode == 2 and "is in the trash" in refused.stderr
    assert not (tmp_path / "more.yaml").exists()

    restored = tasklane("trash", "restore", up, project=project)
    assert restored.returncode == 0 and f"restored {up} (enabled)" in restored.stdout
    again = tasklane("show", up, project=project).stdout
    deployment_line = next(line for line in shown.splitlines() if line.startswith("deployment:"))
    assert deployment_line in again  # the same deployment
    assert "the trash is empty" in tasklane("trash", "list", project=project).stdout

    assert tasklane("delete", "--yes", down, project=project).returncode == 0
    no = subprocess.run(
        [TASKLANE, "trash", "purge"],
        input="n\n",
        capture_output=True,
        text=True,
        env={**os.environ, "TASKLANE_PROJECT": project},
        timeout=60,
    )
    assert no.returncode == 1 and down in no.stdout
    purged = tasklane("trash", "purge", down, "--yes", project=project)
    assert purged.returncode == 0 and f"purged: {down}" in purged.stdout
    assert "the trash is empty" in tasklane("trash", "purge", "--yes", project=project).stdout
    gone = tasklane("trash", "restore", down, project=project)
    assert gone.returncode == 2 and "the trash of project" in gone.stderr
