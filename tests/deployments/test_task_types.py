"""Task types come from the `tasklane.task_types` entry point group, plugins included."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from deployments import task_types
from deployments.catalog import load_catalog
from deployments.jobs import JobModel
from deployments.task_types import TaskType, registered_task_types


class SftpJob(JobModel):
    host: str
    path: str


SFTP = TaskType("sftp", SftpJob, "sftp", "my_plugin.flows.sftp_flow", "Fetch a file over SFTP")


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch):
    real = task_types.entry_points

    def with_plugin(group: str):
        found = list(real(group=group))
        return [*found, EntryPoint("sftp", f"{__name__}:SFTP", group)]

    monkeypatch.setattr(task_types, "entry_points", with_plugin)
    registered_task_types.cache_clear()
    yield
    registered_task_types.cache_clear()


def test_installed_builtins_come_from_entry_points() -> None:
    names = {ep.name for ep in task_types.entry_points(group=task_types.ENTRY_POINT_GROUP)}
    assert {"shell", "python", "http"} <= names
    assert registered_task_types()["shell"].entrypoint == "flows.shell.shell_flow"


def test_a_plugin_type_is_usable_in_the_catalog(plugin: None, tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text(
        textwrap.dedent("""
        tasks:
          - {name: fetch, type: sftp, host: files.example.com, path: /in/today.csv}
    """)
    )
    (task,) = load_catalog([path]).tasks
    assert task.task_type is SFTP and isinstance(task.job, SftpJob)


def test_an_entry_point_that_is_not_a_task_type_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_types, "entry_points", lambda group: [EntryPoint("bad", "json:dumps", group)])
    registered_task_types.cache_clear()
    try:
        with pytest.raises(
            TypeError, match="entry point 'bad' \\(json:dumps\\) .* is a function, not a TaskType"
        ):
            registered_task_types()
    finally:
        registered_task_types.cache_clear()


def test_an_ssh_task_loads_with_its_script_resolved_against_the_catalog(tmp_path: Path) -> None:
    from deployments.jobs import SshJob

    path = tmp_path / "tasks.yaml"
    path.write_text(
        "tasks:\n"
        "  - {name: remote, type: ssh, ssh_block: backup-host, script: jobs/run.sh, env: {MODE: full}}\n"
    )
    (task,) = load_catalog([path]).tasks
    assert task.task_type.entrypoint == "flows.ssh.ssh_flow"
    assert task.job == SshJob(
        ssh_block="backup-host", script=str(tmp_path / "jobs/run.sh"), env={"MODE": "full"}
    )
