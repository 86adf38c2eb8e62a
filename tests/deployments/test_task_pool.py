"""A task's own `pool:`: its runs go to that pool's worker; unknown pools, bad job variables are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from deployments.apply import Target, apply, plan
from deployments.catalog import load_catalog
from deployments.errors import CatalogError
from deployments.pool import job_template
from deployments.task_pool import TaskPool, job_variable_problems
from tests.conftest import API_URL, TEST_POOL, make_pool, run
from tests.flows.conftest import server_logs

PROCESS_VARIABLES = job_template(None)["variables"]
TASKLANE = str(Path(sys.executable).with_name("tasklane"))
PROCESS_NAMES = "(command, env, labels, name, stream_output, working_dir)"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"env": {"A": "1"}, "working_dir": "/srv"}, []),
        (
            {"image": "app:1"},
            [f"job variable 'image' is not one of a process pool's {PROCESS_NAMES}"],
        ),
        ({"stream_output": "yes"}, ["job variable 'stream_output': 'yes' is not of type 'boolean'"]),
        (
            {"comand": "x"},
            [
                f"job variable 'comand' is not one of a process pool's {PROCESS_NAMES}; "
                "did you mean 'command'?"
            ],
        ),
    ],
)
def test_job_variables_are_checked_against_the_pools_template(variables: dict, expected: list[str]) -> None:
    assert job_variable_problems("process", PROCESS_VARIABLES, variables) == expected


def test_pool_takes_a_name_or_a_mapping() -> None:
    assert TaskPool.model_validate("gpu") == TaskPool(name="gpu")
    assert TaskPool.model_validate({"name": "gpu", "queue": "high"}).queue == "high"


@pytest.fixture(scope="module")
def second_pool(work_pool: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A second process pool with a worker of its own (its own PREFECT_HOME, which its runs see)."""
    from tasklane.stack import processes as stack

    name = make_pool(f"second-{uuid.uuid4().hex[:6]}", 2)
    home = tmp_path_factory.mktemp("second-worker")
    managed = stack.start_worker(home, API_URL, name, name="second-worker", query_seconds=1)
    yield name, (home / "prefect").resolve()
    stack.stop_process_tree(managed.pid)


def catalog(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def applied(path: Path, target: Target, *, dry_run: bool = False):
    from prefect.client.orchestration import get_client

    async def go():
        async with get_client() as client:
            return await (plan if dry_run else apply)(client, load_catalog([path]), target)

    return run(go())


def test_a_task_on_a_second_pool_runs_on_that_pools_worker(
    tmp_path: Path, project: str, worker: str, second_pool: tuple[str, Path]
) -> None:
    from prefect.deployments import run_deployment

    pool, home = second_pool
    path = catalog(
        tmp_path,
        f"""
        tasks:
          - name: {project}-there
            type: shell
            command: echo "ran with home $PREFECT_HOME and $WHERE"
            priority: HIGH
            pool: {{name: {pool}, job_variables: {{env: {{WHERE: second-pool}}}}}}
          - name: {project}-here
            type: shell
            command: echo "ran with home $PREFECT_HOME"
        """,
    )
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    applied(path, target)
    there = run_deployment(f"shell/{project}-there", timeout=90)
    here = run_deployment(f"shell/{project}-here", timeout=90)
    assert there.state.is_completed() and here.state.is_completed()
    assert (there.work_pool_name, there.work_queue_name) == (pool, "high")
    assert there.labels["prefect.worker.name"] == "second-worker"
    assert here.work_pool_name == TEST_POOL and here.labels["prefect.worker.name"] != "second-worker"
    assert f"ran with home {home} and second-pool" in "\n".join(server_logs(there.id))
    assert not any(str(home) in line for line in server_logs(here.id))


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "apply"])
def test_apply_refuses_an_unknown_pool_or_bad_job_variables_naming_them(
    tmp_path: Path, project: str, work_pool: str, dry_run: bool
) -> None:
    path = catalog(
        tmp_path,
        f"""
        tasks:
          - {{name: {project}-a, type: shell, command: "true", pool: no-such-pool}}
          - {{name: {project}-b, type: shell, command: "true", pool: {{name: {work_pool}, queue: nope}}}}
          - name: {project}-c
            type: shell
            command: "true"
            pool: {{name: {work_pool}, job_variables: {{image: x}}}}
        """,
    )
    with pytest.raises(CatalogError) as caught:
        applied(path, Target(work_pool=TEST_POOL, timezone="UTC", project=project), dry_run=dry_run)
    messages = [str(p) for p in caught.value.problems]
    assert messages[0].startswith(
        f"{path}: task '{project}-a': field 'pool': unknown work pool 'no-such-pool' (on the server: "
    )
    assert messages[1] == (
        f"{path}: task '{project}-b': field 'pool.queue': work pool {work_pool!r} has no queue 'nope' "
        "(it has: default, high, low, medium)"
    )
    assert messages[2].startswith(
        f"{path}: task '{project}-c': field 'pool.job_variables': job variable 'image' is not"
    )
    assert len(messages) == 3


def test_validate_checks_a_tasks_pool_and_job_variables_on_the_server(
    tmp_path: Path, project: str, work_pool: str
) -> None:
    path = catalog(
        tmp_path,
        f"""
        tasks:
          - name: {project}-c
            type: shell
            command: "true"
            pool: {{name: {work_pool}, job_variables: {{stream_output: maybe}}}}
        """,
    )
    env = {**os.environ, "TASKLANE_PROJECT": project, "COLUMNS": "300"}
    done = subprocess.run(
        [TASKLANE, "validate", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert (
        f"task '{project}-c': field 'pool.job_variables': "
        "job variable 'stream_output': 'maybe' is not of type 'boolean'" in "".join(done.stderr.split("\n"))
    )
