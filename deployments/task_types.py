"""The registry of task types.

A task type is a flow plus the model of its parameters. Built-in types and those of
third-party packages are found the same way, through the `tasklane.task_types` entry
point group; an entry point names a `TaskType` object:

    [project.entry-points."tasklane.task_types"]
    sftp = "my_package.tasklane:SFTP_TASK_TYPE"
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points

from deployments.jobs import HttpJob, JobModel, PythonJob, ShellJob, SshJob

ENTRY_POINT_GROUP = "tasklane.task_types"


@dataclass(frozen=True)
class TaskType:
    """A kind of task: its name, its parameter model and the flow that runs it.

    Attributes:
        name: the catalog's `type:` value.
        job_model: the model (a JobModel) of the parameters beside the task's common fields.
        flow_name: name of the Prefect flow (deployments are `flow_name/task name`).
        entrypoint: module path of the flow object, e.g. `flows.shell.shell_flow`.
        description: one line shown by `tasklane types`.
    """

    name: str
    job_model: type[JobModel]
    flow_name: str
    entrypoint: str
    description: str = ""


SHELL = TaskType("shell", ShellJob, "shell", "flows.shell.shell_flow", "Shell command or script")
PYTHON = TaskType("python", PythonJob, "python", "flows.python.python_flow", "Python callable or script")
HTTP = TaskType("http", HttpJob, "http", "flows.http.http_flow", "HTTP request")
SSH = TaskType("ssh", SshJob, "ssh", "flows.ssh.ssh_flow", "Command or script on a remote host over SSH")


@lru_cache
def registered_task_types() -> dict[str, TaskType]:
    """Every task type installed in this environment, by name."""
    found: dict[str, TaskType] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        task_type = ep.load()
        if not isinstance(task_type, TaskType):
            raise TypeError(
                f"entry point {ep.name!r} ({ep.value}) in {ENTRY_POINT_GROUP!r} is a "
                f"{type(task_type).__name__}, not a TaskType"
            )
        found[task_type.name] = task_type
    # The built-ins stay available even where the package metadata is missing (a bare checkout).
    for builtin in (SHELL, PYTHON, HTTP, SSH):
        found.setdefault(builtin.name, builtin)
    return found
