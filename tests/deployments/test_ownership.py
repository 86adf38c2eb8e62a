"""A task has one home (a catalog file, or the API) on a real Prefect server: apply creates,
updates and prunes only what the files it reads define, a name two homes claim is refused,
an edit made on the server shows as drift and is put back, and export round-trips."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from deployments.apply import Target, apply, plan, read_task_deployments
from deployments.catalog import load_catalog, parse_task
from deployments.errors import CatalogError, OwnedElsewhereError
from deployments.ownership import API_HOME, file_home, home_of
from tasklane.tasks.manage import detach_task, export_tasks
from tasklane.tasks.save import save_task
from tests.conftest import TEST_POOL, with_client


@pytest.fixture(autouse=True)
def _pool(work_pool: str) -> None:
    """Apply needs the work pool; every test here uses the session's server."""


@pytest.fixture
def target(project: str) -> Target:
    return Target(work_pool=TEST_POOL, timezone="UTC", project=project)


def write(path: Path, project: str, *names: str, extra: str = "") -> Path:
    tasks = "".join(f"  - {{name: {project}-{name}, type: shell, command: echo {name}}}\n" for name in names)
    path.write_text("tasks:\n" + tasks + textwrap.dedent(extra))
    return path


def apply_paths(target: Target, *paths: Path, dry_run: bool = False):
    async def go(client):
        catalog = load_catalog(list(paths))
        return await (plan if dry_run else apply)(client, catalog, target)

    return with_client(go)


def on_server(target: Target) -> dict:
    return with_client(lambda client: read_task_deployments(client, target))


def test_apply_of_one_file_touches_only_that_files_tasks(
    tmp_path: Path, project: str, target: Target
) -> None:
    main = write(tmp_path / "tasks.yaml", project, "a", "b")
    extra = write(tmp_path / "extra.yaml", project, "x")
    apply_paths(target, main)
    result = apply_paths(target, extra)
    assert {c.task: c.action for c in result.pending} == {f"{project}-x": "create"}
    found = on_server(target)
    assert set(found) == {f"{project}-a", f"{project}-b", f"{project}-x"}
    assert home_of(found[f"{project}-a"].tags) == file_home(main)
    assert home_of(found[f"{project}-x"].tags) == file_home(extra)
    # Removing a task from its own file prunes it, and only it.
    write(main, project, "a")
    result = apply_paths(target, main)
    assert [(c.task, c.action) for c in result.pending] == [(f"{project}-b", "delete")]
    assert set(on_server(target)) == {f"{project}-a", f"{project}-x"}


def test_a_directory_owns_the_files_below_it_even_once_deleted(
    tmp_path: Path, project: str, target: Target
) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    write(folder / "one.yaml", project, "one")
    gone = write(folder / "two.yaml", project, "two")
    apply_paths(target, folder)
    gone.unlink()
    result = apply_paths(target, folder)
    assert [(c.task, c.action) for c in result.pending] == [(f"{project}-two", "delete")]


def test_a_name_two_files_claim_is_refused_naming_both(tmp_path: Path, project: str, target: Target) -> None:
    main = write(tmp_path / "tasks.yaml", project, "a")
    other = write(tmp_path / "other.yaml", project, "a")
    apply_paths(target, main)
    with pytest.raises(CatalogError) as refused:
        apply_paths(target, other)
    message = str(refused.value)
    for path in (main, other):
        assert file_home(path).removeprefix("file:") in message
    assert "one home" in message


def test_an_api_task_survives_apply_and_a_file_task_changed_through_the_api_is_refused(
    tmp_path: Path, project: str, target: Target
) -> None:
    main = write(tmp_path / "tasks.yaml", project, "a")
    apply_paths(target, main)
    made = parse_task({"name": f"{project}-api", "type": "shell", "command": "echo"}, "request", 0, tmp_path)

    async def save_new(client):
        return await save_task(client, made, target)

    with_client(save_new)
    result = apply_paths(target, main)
    assert result.pending == []
    found = on_server(target)
    assert home_of(found[f"{project}-api"].tags) == API_HOME
    # The file's task: changing it through the API is refused, naming the file and the way out.
    changed = parse_task({"name": f"{project}-a", "type": "shell", "command": "echo"}, "request", 0, tmp_path)

    async def save_change(client, detach=False):
        return await save_task(client, changed, target, existing=found[f"{project}-a"], detach=detach)

    with pytest.raises(OwnedElsewhereError, match=r"tasks\.yaml.*tasklane detach"):
        with_client(save_change)
    with_client(lambda client: save_change(client, detach=True))
    assert home_of(on_server(target)[f"{project}-a"].tags) == API_HOME
    # The file's entry is now a conflict until it is removed there.
    with pytest.raises(CatalogError, match="owned by the API"):
        apply_paths(target, main, dry_run=True)
    write(main, project)
    assert apply_paths(target, main).pending == []
    assert set(on_server(target)) == {f"{project}-a", f"{project}-api"}


def test_detach_makes_the_file_entry_a_conflict(tmp_path: Path, project: str, target: Target) -> None:
    main = write(tmp_path / "tasks.yaml", project, "a")
    apply_paths(target, main)
    before = with_client(lambda client: detach_task(client, f"{project}-a", target))
    assert before == file_home(main)
    with pytest.raises(CatalogError, match="owned by the API"):
        apply_paths(target, main)


def test_an_edit_on_the_server_shows_as_drift_and_apply_puts_it_back(
    tmp_path: Path, project: str, target: Target
) -> None:
    from prefect.client.schemas.actions import DeploymentUpdate

    main = write(tmp_path / "tasks.yaml", project, "a")
    main.write_text(
        main.read_text().replace("echo a}", "echo a, schedule: {cron: '0 3 * * *'}, description: nightly}")
    )
    apply_paths(target, main)
    deployment = on_server(target)[f"{project}-a"]
    job = {**deployment.parameters["job"], "command": "echo edited in the UI"}

    async def edit(client):
        parameters = {**deployment.parameters, "job": job}
        await client.update_deployment(
            deployment.id, DeploymentUpdate(parameters=parameters, description="changed")
        )

    with_client(edit)
    result = apply_paths(target, main, dry_run=True)
    (change,) = result.pending
    assert change.action == "update"
    assert "changed on the server" in change.detail
    assert "parameters" in change.detail and "description" in change.detail
    apply_paths(target, main)
    back = on_server(target)[f"{project}-a"]
    assert back.parameters["job"]["command"] == "echo a"
    assert back.description == "nightly"
    assert apply_paths(target, main, dry_run=True).pending == []


SCHEDULE_FORMS = [
    "{every: 30m}",
    "{cron: '0 2 * * *', timezone: Europe/Berlin}",
    "{daily: ['02:00', '14:30']}",
    "{weekly: {days: [mon, fri], at: ['09:00']}}",
    "{monthly: {days: [1, last], at: ['06:00']}}",
    "{once: '2099-12-01T09:00'}",
    "{daily: ['02:30'], timezone: Europe/Berlin, start: '2099-01-01T00:00', end: '2099-06-30'}",
    "{every: 1h, start: '2099-01-01T00:00', max_runs: 5}",
]


@pytest.mark.parametrize("spec", SCHEDULE_FORMS)
def test_export_then_apply_changes_nothing(tmp_path: Path, project: str, target: Target, spec: str) -> None:
    main = tmp_path / "tasks.yaml"
    main.write_text(
        "tasks:\n"
        f"  - name: {project}-s\n"
        "    type: shell\n"
        "    command: echo s\n"
        f"    schedule: {spec}\n"
        "    retry: {max_retries: 2, retry_delay: 5}\n"
    )
    apply_paths(target, main)
    exported = with_client(lambda client: export_tasks(client, target))
    main.write_text(yaml.safe_dump(exported, sort_keys=False))
    assert exported["tasks"][0]["schedule"] and "rrule" not in str(exported)
    result = apply_paths(target, main, dry_run=True)
    assert result.pending == [], [str(c) for c in result.pending]

