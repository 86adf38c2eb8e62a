"""The console's stats and upcoming pages over a real Prefect server: real runs (one that
succeeds, one that fails) counted per day by outcome with their p50/p95, the same figures as
`tasklane.history.stats.task_stats`; the window's choices and their mistakes; a group-restricted
user kept to their groups; runs still to come grouped by day."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tasklane.console.pages import ConsoleError
from tasklane.console.stats import stats_window
from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console

DATA = re.compile(r'<script type="application/json" id="stats-data">(.*?)</script>', re.S)
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def stats_data(html: str) -> dict:
    found = DATA.search(html)
    assert found, "no stats data block in the page"
    return json.loads(found.group(1))


def add_task(console: Console, name: str, command: str, group: str = "g", **extra) -> None:
    body = {"name": name, "type": "shell", "command": command, "group": group, "retry": {"max_retries": 0}}
    response = console.api_post("/api/scheduler/tasks", json={**body, **extra})
    assert response.status_code == 201, response.text


def run_to_the_end(console: Console, name: str) -> str:
    """Run task `name` now through the console (as an operator); its final state type."""
    started = console.client("operator").post(
        f"/console/tasks/{name}/run", data={"csrf": console.csrf("operator")}
    )
    assert started.status_code == 200 and started.url.path.startswith("/console/runs/")
    run_id = uuid.UUID(started.url.path.rsplit("/", 1)[1])

    def final() -> str | None:
        run = with_client(lambda client: client.read_flow_run(run_id))
        kind = run.state.type.value if run.state else None
        return kind if kind in FINAL and run.end_time else None

    return wait_for(final, timeout=90, interval=1)


def test_stats_of_real_runs_per_day_by_outcome_with_p50_p95(console: Console, worker: str) -> None:
    ok, bad = f"{console.project}-ok", f"{console.project}-bad"
    add_task(console, ok, "echo fine")
    add_task(console, bad, "echo broken; exit 3")
    assert run_to_the_end(console, ok) == "COMPLETED"
    assert run_to_the_end(console, bad) == "FAILED"

    viewer = console.client("viewer")
    page = viewer.get("/console/stats", params={"days": 7})
    assert page.status_code == 200, page.text
    data = stats_data(page.text)
    today = datetime.now(UTC).date().isoformat()
    assert data["days"][-1] == today and len(data["days"]) == 7
    at = data["days"].index(today)
    assert data["per_day"]["Completed"][at] == 1 and data["per_day"]["Failed"][at] == 1
    assert data["overall"]["runs"] == 2 and data["overall"]["success_rate"] == 50.0
    tasks = {row["task"]: row for row in data["tasks"]}
    assert set(tasks) == {ok, bad}
    for row in tasks.values():
        assert 0 < row["p50_duration"] <= row["p95_duration"]
    assert [row["task"] for row in data["failing"]] == [bad]
    assert {row["task"] for row in data["slowest"]} == {ok, bad}
    assert data["per_group"]["g"]["runs"] == 2
    # The tables beside the charts carry the same numbers, readable without JavaScript.
    assert f'<tr data-day="{today}">' in page.text
    assert re.search(
        rf'<tr data-day="{today}">\s*<td>{today}</td><td data-state="Completed">1</td>', page.text
    )
    assert 'id="chart-per-day"' in page.text and "vendor/chart.js/chart.umd.js" in page.text

    # The same figures as `tasklane stats` (the one implementation), p50 included.
    from tasklane.history.stats import task_stats
    from tasklane.settings.reports import TASKLANE_TAG

    since = datetime.fromisoformat(data["since"])
    until = datetime.fromisoformat(data["until"])
    tags = (TASKLANE_TAG, f"tasklane-project:{console.project}")
    direct = with_client(lambda client: task_stats(client, since, until, tags=tags))
    assert direct.per_task[bad].p95_duration == tasks[bad]["p95_duration"]
    assert direct.per_task[ok].p50_duration == tasks[ok]["p50_duration"]

    # A group of its own: none of these runs; a user granted only "ops" is kept to it.
    assert stats_data(viewer.get("/console/stats", params={"group": "other"}).text)["overall"]["runs"] == 0
    restricted = console.client("ops-operator").get("/console/stats")
    assert restricted.status_code == 200
    assert stats_data(restricted.text)["overall"]["runs"] == 0 and bad not in restricted.text
    assert console.client("ops-operator").get("/console/stats", params={"group": "g"}).status_code == 404

    # Chinese texts on the same page.
    viewer.cookies.set("tasklane_lang", "zh-CN")
    assert "每日运行（按结果）" in viewer.get("/console/stats").text
    viewer.cookies.delete("tasklane_lang")


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"days": 30}, 200),
        ({"start": "2024-01-01", "end": "2024-01-31"}, 200),
        ({"days": 5}, 400),
        ({"start": "yesterday"}, 400),
        ({"start": "2024-02-01", "end": "2024-01-01"}, 400),
        ({"start": "2020-01-01", "end": "2024-01-01"}, 400),
    ],
)
def test_the_stats_window_is_chosen_and_a_mistake_explained(console: Console, params, status) -> None:
    page = console.client("viewer").get("/console/stats", params=params)
    assert page.status_code == status, page.text
    if status == 400:
        assert "Not possible" in page.text and "Traceback" not in page.text
    else:
        assert stats_data(page.text)["since"] < stats_data(page.text)["until"]


def test_stats_window_reads_a_range_or_from_to() -> None:
    now = datetime(2025, 3, 10, 15, 30, tzinfo=UTC)
    assert stats_window(7, "", "", now) == (datetime(2025, 3, 4, tzinfo=UTC), now)
    since, until = stats_window(7, "2025-03-01", "2025-03-02", now)
    assert (since, until) == (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 3, tzinfo=UTC))
    assert stats_window(7, "2025-03-09", "", now) == (datetime(2025, 3, 9, tzinfo=UTC), now)
    with pytest.raises(ConsoleError) as raised:
        stats_window(7, "2025-03-11", "2025-03-12", now)  # all of it still to come
    assert raised.value.status == 400


def test_upcoming_runs_grouped_by_day_for_the_users_groups(console: Console) -> None:
    hourly, other = f"{console.project}-hourly", f"{console.project}-ops"
    add_task(console, hourly, "echo tick", schedule="1h")
    add_task(console, other, "echo ops", group="ops", schedule="1h")

    def scheduled() -> str | bool:
        page = console.client("viewer").get("/console/upcoming", params={"within": "24h"})
        assert page.status_code == 200
        return page.text.count(f'data-task="{hourly}"') >= 3 and page.text

    text = wait_for(scheduled, timeout=60, interval=1)
    assert 'class="day-heading"' in text and f'data-task="{other}"' in text
    today = datetime.now(UTC).date().isoformat()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    days = re.findall(r'class="day-heading" data-day="([0-9-]+)"', text)
    assert days == sorted(days) and set(days) <= {today, tomorrow}
    assert text.count(f'data-task="{hourly}"') <= 25  # nothing past the next 24 hours
    week = console.client("viewer").get("/console/upcoming", params={"within": "7d"}).text
    assert week.count(f'data-task="{hourly}"') >= text.count(f'data-task="{hourly}"')
    # A user granted only "ops" sees the ops task's runs, not the others'.
    mine = console.client("ops-operator").get("/console/upcoming").text
    assert f'data-task="{other}"' in mine and f'data-task="{hourly}"' not in mine
    assert console.client("viewer").get("/console/upcoming", params={"within": "1y"}).status_code == 400
