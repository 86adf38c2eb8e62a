"""What `tasklane list`, `stats` and `preview` print: for people (tables) and for programs (`--json`
with the keys each command's --help lists)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from uuid import UUID

import pytest

from tests.conftest import make_pool, with_client
from tests.tasklane.tasks.test_lookup import CATALOG  # tasks -daily (Asia/Shanghai), -every (10m), -never

TASKLANE = str(Path(sys.executable).with_name("tasklane"))


def tasklane(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TASKLANE, *args],
        env={**os.environ, "COLUMNS": "250", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("command", "keys"),
    [
        ("list", ["last_state", "last_ended", "running_state", "running_since", "timezone", "next_run"]),
        ("stats", ["per_task", "per_group", "runs_per_day", "by_state", "per_day"]),
        ("preview", ["schedules", "runs", "local", "utc", "timezone"]),
    ],
)
def test_help_lists_the_json_keys(command: str, keys: list[str]) -> None:
    shown = tasklane(command, "--help")
    assert shown.returncode == 0 and "--json" in shown.stdout
    text = " ".join(shown.stdout.replace("│", " ").split())  # rich folds and frames the help
    assert all(key in text for key in keys), text


def test_preview_json_gives_each_run_in_its_zone_and_in_utc() -> None:
    spec = '{daily: ["02:30"], timezone: Europe/Berlin}'
    result = tasklane("preview", "--spec", spec, "--from", "2027-03-26T00:00", "-n", "4", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["task"] is None
    assert document["schedules"] == [{"daily": ["02:30"], "timezone": "Europe/Berlin"}]
    assert [r["local"] for r in document["runs"]] == [
        "2027-03-26T02:30:00+01:00",
        "2027-03-27T02:30:00+01:00",
        "2027-03-28T03:30:00+02:00",  # 02:30 does not exist that day: shifted by the change
        "2027-03-29T02:30:00+02:00",
    ]
    assert document["runs"][2]["utc"] == "2027-03-28T01:30:00+00:00"
    assert {r["timezone"] for r in document["runs"]} == {"Europe/Berlin"}


@pytest.fixture
def applied(tmp_path: Path, project: str, prefect_server: str) -> dict[str, str]:
    """The catalog applied to a pool no worker polls; the environment of the CLI for it."""
    env = {"TASKLANE_PROJECT": project, "TASKLANE_POOL__NAME": make_pool("tasklane-cli-idle", 1)}
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(CATALOG.format(p=project)))
    result = tasklane("apply", str(path), **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return env


def test_list_shows_the_last_outcome_and_the_run_in_flight(applied: dict[str, str], project: str) -> None:
    from prefect.states import Failed, Running

    rows = {r["name"]: r for r in json.loads(tasklane("list", "--json", **applied).stdout)}
    deployment_id = UUID(rows[f"{project}-daily"]["deployment_id"])

    async def go(client) -> None:
        ended = await client.create_flow_run_from_deployment(deployment_id, state=Running())
        await client.set_flow_run_state(ended.id, Failed(message="boom"), force=True)
        await client.create_flow_run_from_deployment(deployment_id, state=Running())  # in flight

    with_client(go)
    result = tasklane("list", "--json", **applied)
    assert result.returncode == 0, result.stderr
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    daily, every = rows[f"{project}-daily"], rows[f"{project}-every"]
    assert set(daily) == {
        "name",
        "type",
        "group",
        "priority",
        "enabled",
        "schedule",
        "timezone",
        "next_run",
        "last_state",
        "last_ended",
        "running_state",
        "running_since",
        "deployment_id",
    }
    assert (daily["last_state"], daily["running_state"]) == ("Failed", "Running")
    assert daily["schedule"] == "daily 02:00 Asia/Shanghai" and daily["timezone"] == "Asia/Shanghai"
    assert daily["next_run"].endswith("02:00:00+08:00") and daily["last_ended"].endswith("+08:00")
    assert every["schedule"] == "every 10m" and every["last_state"] is None and every["running_since"] is None

    table = tasklane("list", **applied).stdout.splitlines()
    at = next(i for i, line in enumerate(table) if f"{project}-daily" in line)
    # The outcome and when it ended; the run in flight on the row's next line, beneath it.
    assert "daily 02:00 Asia/Shanghai" in table[at] and "02:00 +08:00" in table[at]
    assert f"Failed {daily['last_ended'][:10]}" in table[at] and "Running since" in table[at + 1]
    shown = tasklane("show", f"{project}-daily", **applied).stdout
    assert "02:00 +08:00 (Asia/Shanghai)" in shown
    assert "last state: Failed (ended " in shown and "in flight: Running since" in shown


def test_stats_prints_tables_markdown_or_json(applied: dict[str, str], project: str) -> None:
    from prefect.states import Completed, Running

    rows = {r["name"]: r for r in json.loads(tasklane("list", "--json", **applied).stdout)}

    async def go(client) -> None:
        for _ in range(2):
            made = await client.create_flow_run_from_deployment(
                UUID(rows[f"{project}-every"]["deployment_id"]), state=Running()
            )
            await client.set_flow_run_state(made.id, Completed(), force=True)

    with_client(go)
    task = ("--task", f"{project}-every")
    table = tasklane("stats", *task, **applied)
    assert table.returncode == 0, table.stderr
    assert "Per task" in table.stdout and "runs/day" in table.stdout and "|---" not in table.stdout
    line = next(line for line in table.stdout.splitlines() if f"{project}-every" in line)
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    # Two runs of a task made a moment ago: over the hour it counts at least, not over 7 days.
    assert cells[:4] == [f"{project}-every", "2", "2", "0"] and cells[-1] == "48.00", cells

    markdown = tasklane("stats", *task, "--markdown", **applied).stdout
    assert f"| {project}-every | 2 | 2 | 0 | 0 | 100.0% |" in markdown and "48.00 |" in markdown

    document = json.loads(tasklane("stats", *task, "--json", **applied).stdout)
    assert set(document) == {"since", "until", "overall", "per_task", "per_group", "per_day"}
    figures = document["per_task"][f"{project}-every"]
    assert (figures["runs"], figures["successes"], figures["runs_per_day"]) == (2, 2, 48.0)
    assert set(figures) == {
        "runs",
        "successes",
        "failures",
        "cancelled",
        "success_rate",
        "avg_duration",
        "p50_duration",
        "p95_duration",
        "runs_per_day",
        "by_state",
    }

    both = tasklane("stats", "--json", "--markdown", **applied)
    assert both.returncode == 2 and "not both" in both.stderr
