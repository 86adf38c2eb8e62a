"""The alerts that fired, and a run's timeline and artifacts, read back from a real server.

A task with `notify:` is applied (its automations made by `apply`); its runs are finished through
the client (no worker: the same `prefect.flow-run.*` events a worker's run emits)."""

from __future__ import annotations

import textwrap
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import make_pool, with_client

POOL = "tasklane-fired-alerts-test"  # no worker polls it


@pytest.fixture(scope="module")
def pool(prefect_server: str) -> str:
    return make_pool(POOL, 1)


def save_dead_webhook() -> str:
    """A notification block whose destination does not answer: the alert fires all the same."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"tl-dead-{uuid.uuid4().hex[:6]}"
    CustomWebhookNotificationBlock(
        name="dead", url="http://127.0.0.1:9/hook", json_data={"text": "{{body}}"}, allow_private_urls=True
    ).save(name, overwrite=True)
    return f"custom-webhook/{name}"


def apply_notify_tasks(tmp_path: Path, target, block: str, tasks: list[tuple[str, str, str]]) -> None:
    """Apply shell tasks (name, group, command), each notified on failure and recovery to `block`."""
    from deployments.apply import apply
    from deployments.catalog import load_catalog

    lines = ["tasks:"]
    for name, group, command in tasks:
        lines.append(
            f"  - {{name: {name}, type: shell, group: {group}, command: {command!r}, "
            f"notify: {{on: [failed, recovered], to: [{block}], throttle: 0}}}}"
        )
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent("\n".join(lines)) + "\n")
    with_client(lambda client: apply(client, load_catalog([path]), target))
    time.sleep(1.0)  # the triggers service picks new automations up from the database


def test_fired_alerts_name_task_rule_and_run_and_a_run_has_its_timeline(
    tmp_path: Path, project: str, pool: str
) -> None:
    from deployments.apply import Target, read_task_deployments
    from tasklane.history.alerts_fired import alert_sources, read_fired_alerts
    from tasklane.history.run_detail import run_artifacts, run_timeline
    from tests.tasklane.history.test_runs import make_runs

    target = Target(pool, "UTC", project)
    name = f"{project}-nightly"
    apply_notify_tasks(tmp_path, target, save_dead_webhook(), [(name, "etl", "false")])
    sources = with_client(lambda client: alert_sources(client, target))
    assert sorted((s.task, s.group, s.rule) for s in sources.values()) == [
        (name, "etl", "failed"),
        (name, "etl", "recovered"),
    ]
    deployment = with_client(lambda client: read_task_deployments(client, target))[name]

    def fired_when(count: int) -> list:
        deadline = time.monotonic() + 30
        while True:
            fired = with_client(lambda client: read_fired_alerts(client, target))
            if len(fired) >= count or time.monotonic() > deadline:
                return fired
            time.sleep(0.5)

    # One at a time: a recovery is a failure, then a success, in the order the triggers see them.
    (failed,) = with_client(lambda client: make_runs(client, deployment.id, ["Failed"]))
    assert [a.rule for a in fired_when(1)] == ["failed"]
    (completed,) = with_client(lambda client: make_runs(client, deployment.id, ["Completed"]))
    fired = fired_when(2)
    by_rule = {a.rule: a for a in fired}
    assert set(by_rule) == {"failed", "recovered"}, fired
    assert by_rule["failed"].run_id == str(failed) and by_rule["failed"].state == "Failed"
    assert by_rule["recovered"].run_id == str(completed) and by_rule["recovered"].state == "Completed"
    assert all(a.task == name and a.group == "etl" for a in fired)
    assert fired[0].occurred >= fired[1].occurred  # newest first
    # Another project's reader sees none of them.
    other = Target(pool, "UTC", f"{project}-other")
    assert with_client(lambda client: read_fired_alerts(client, other)) == []

    steps = with_client(lambda client: run_timeline(client, failed))
    assert [s.name for s in steps] == ["Running", "Failed"]  # make_runs creates them Running
    assert steps[-1].seconds is None and steps[-1].message == "boom"
    assert all(s.seconds is not None and s.seconds >= 0 for s in steps[:-1])
    assert with_client(lambda client: run_artifacts(client, failed)) == []
