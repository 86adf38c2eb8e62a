"""A task's own work pool: `pool:` sends its runs to another pool than the catalog's.

    pool: gpu-hosts                                   # that pool, the queue of the task's priority
    pool: {name: docker, queue: default, job_variables: {image: "registry/app:1.4"}}

Whether the pool exists and takes those job variables is a question for the server: `apply` (and
`apply --dry-run`, `validate` when the server answers) reads each pool named and checks the
variables against the pool's own base job template (the JSON schema of its worker type).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound
from pydantic import BaseModel, ConfigDict, Field, model_validator

from deployments.errors import Problem, did_you_mean


class TaskPool(BaseModel):
    """The work pool (and its queue, and the job variables) of one task's runs."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="Name of the work pool on the Prefect server.")
    queue: str | None = Field(None, description="Work queue in that pool; default: the task's priority's.")
    job_variables: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the pool's job template (e.g. image, env)."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


def job_variable_problems(
    pool_type: str, variables_schema: dict[str, Any], job_variables: dict[str, Any]
) -> list[str]:
    """What is wrong with `job_variables` for a pool whose job template has `variables_schema`."""
    known = dict(variables_schema.get("properties", {}))
    problems = [
        f"job variable {name!r} is not one of a {pool_type} pool's ({', '.join(sorted(known))})"
        + did_you_mean(name, known)
        for name in job_variables
        if name not in known
    ]
    # The schema as given, less `required`: what the task does not set, the pool's defaults fill.
    schema = {
        **variables_schema,
        "required": [],
        "properties": {k: v for k, v in known.items() if k in job_variables},
    }
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(job_variables), key=lambda e: list(e.path)):
        where = ".".join(str(part) for part in error.path) or "job_variables"
        problems.append(f"job variable {where!r}: {error.message}")
    return problems


async def pool_problems(
    client: PrefectClient, tasks: Iterable[Any], files_of: dict[str, str]
) -> list[Problem]:
    """The tasks' `pool:` checked on the server: each pool exists, its queue too, its job variables fit.

    Args:
        tasks: the catalog's TaskSpecs (typed loosely: the catalog imports this module).
        files_of: task name -> its catalog file, for the problems' locations.
    """
    problems: list[Problem] = []
    pools: dict[str, Any] = {}
    for task in tasks:
        choice: TaskPool | None = task.pool
        if choice is None:
            continue
        file = files_of.get(task.name, "catalog")
        if choice.name not in pools:
            try:
                pools[choice.name] = await client.read_work_pool(choice.name)
            except ObjectNotFound:
                pools[choice.name] = None
        pool = pools[choice.name]
        if pool is None:
            names = [p.name for p in await client.read_work_pools()]
            problems.append(
                Problem(
                    file,
                    task.name,
                    "pool",
                    f"unknown work pool {choice.name!r} (on the server: {', '.join(sorted(names)) or 'none'})"
                    + did_you_mean(choice.name, names),
                )
            )
            continue
        queue = choice.queue or task.priority.queue
        queues = [q.name for q in await client.read_work_queues(work_pool_name=choice.name)]
        if queue not in queues:
            problems.append(
                Problem(
                    file,
                    task.name,
                    "pool.queue",
                    f"work pool {choice.name!r} has no queue {queue!r} (it has: {', '.join(sorted(queues))})",
                )
            )
        variables = (pool.base_job_template or {}).get("variables", {})
        for message in job_variable_problems(pool.type, variables, choice.job_variables):
            problems.append(Problem(file, task.name, "pool.job_variables", message))
    return problems
