"""Dependencies (deployment triggers) and per-task concurrency, on a real server and worker."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from deployments.apply import Target, apply
from deployments.catalog import load_catalog
from tasklane.tasks.lookup import find_task, run_task
from tests.conftest import TEST_POOL, with_client

ApplyText = Callable[[str], None]


@pytest.fixture(autouse=True)
def _worker(worker: str) -> None:
    """These tests need runs to really execute."""


@pytest.fixture
def apply_text(tmp_path: Path, project: str) -> ApplyText:
    """Apply a catalog, given as text with `{p}` for the test's project, to the test pool."""

    def apply_catalog(text: str) -> None:
        path = tmp_path / "tasks.yaml"
        path.write_text(textwrap.dedent(text.replace("{p}", project)))
        target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
        with_client(lambda client: apply(client, load_catalog([path]), target))

    return apply_catalog


async def runs_of(client, name: str):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterDeploymentId

    deployment = await find_task(client, name)
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]))
    )


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


def test_diamond_runs_the_join_once_per_upstream_run(apply_text: ApplyText, project: str) -> None:
    apply_text(
        """
        tasks:
          - {name: {p}-a, type: shell, command: "echo a"}
          - {name: {p}-b, type: shell, command: "echo b", depends_on: [{p}-a]}
          - {name: {p}-c, type: shell, command: "echo c", depends_on: [{p}-a]}
          - {name: {p}-d, type: shell, command: "echo d", depends_on: [{p}-b, {p}-c]}
        """
    )

    async def scenario(client) -> None:
        async def completed(name: str) -> int:
            return sum(r.state.is_completed() for r in await runs_of(client, name))

        for round_number in (1, 2):
            await run_task(client, f"{project}-a")

            async def d_done(expected: int = round_number) -> bool:
                return await completed(f"{project}-d") >= expected

            await wait_for(d_done, 150, f"{project}-d round {round_number}")
            await asyncio.sleep(4)  # room for a wrong second firing to show up
            for name in ("a", "b", "c", "d"):
                assert len(await runs_of(client, f"{project}-{name}")) == round_number, name

    with_client(scenario)


def test_a_failed_upstream_does_not_start_its_downstream(apply_text: ApplyText, project: str) -> None:
    apply_text(
        """
        tasks:
          - {name: {p}-up, type: shell, command: "exit 1"}
          - {name: {p}-down, type: shell, command: "echo never", depends_on: [{p}-up]}
        """
    )

    async def scenario(client) -> None:
        await run_task(client, f"{project}-up")

        async def failed() -> bool:
            return any(r.state.is_failed() for r in await runs_of(client, f"{project}-up"))

        await wait_for(failed, 90, "the upstream to fail")
        await asyncio.sleep(5)
        assert await runs_of(client, f"{project}-down") == []

    with_client(scenario)


def test_a_task_never_overlaps_itself(apply_text: ApplyText, project: str) -> None:
    apply_text(
        """
        tasks:
          - {name: {p}-slow, type: shell, command: "sleep 3"}
        """
    )

    async def scenario(client) -> None:
        await run_task(client, f"{project}-slow")
        await run_task(client, f"{project}-slow")

        async def both_done() -> bool:
            runs = await runs_of(client, f"{project}-slow")
            return sum(r.state.is_completed() for r in runs) == 2

        await wait_for(both_done, 150, "both runs")
        first, second = sorted(await runs_of(client, f"{project}-slow"), key=lambda r: r.start_time)
        assert second.start_time >= first.end_time, "the two runs overlapped"

    with_client(scenario)


def test_run_now_meeting_a_busy_task_waits_for_its_slot_only_and_says_why(
    apply_text: ApplyText, project: str
) -> None:
    """A manual run of a task whose one slot is taken starts seconds after the slot frees (the
    server retries every CONCURRENCY_SLOT_WAIT_SECONDS, not Prefect's 30), and `run --wait` says
    why it waits in one sentence instead of the worker's "Aborted submission" lines."""
    from typer.testing import CliRunner

    from tasklane.cli import app

    apply_text(
        """
        tasks:
          - {name: {p}-busy, type: shell, command: "sleep 6; echo done", max_concurrent: 1}
        """
    )
    name = f"{project}-busy"
    first = with_client(lambda client: run_task(client, name))

    async def running(client) -> bool:
        state = (await client.read_flow_run(first.id)).state
        return state is not None and state.is_running()

    with_client(lambda client: wait_for(lambda: running(client), 60, "the first run to start"))
    started = time.monotonic()
    result = CliRunner().invoke(app, ["run", name, "--wait"], env={"COLUMNS": "250"})
    took = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert result.output.count("waiting:") == 1, result.output
    assert f"{name} allows 1 run(s) at a time" in result.output and "holds it" in result.output
    assert "Aborted submission" not in result.output
    assert result.output.count("submitting flow run") == 1, result.output  # the worker's retries, once
    # It started seconds after the first run ended (Prefect's own wait alone is 30 s).
    second_id = result.output.split("(", 1)[1].split(")", 1)[0]
    first_run, second_run = with_client(
        lambda client: asyncio.gather(client.read_flow_run(first.id), client.read_flow_run(second_id))
    )
    gap = (second_run.start_time - first_run.end_time).total_seconds()
    assert gap < 12, f"started {gap:.1f} s after the slot freed ({took:.1f} s in all):\n{result.output}"
