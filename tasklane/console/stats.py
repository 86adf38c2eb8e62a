"""The console's stats page: runs per day by outcome, success rate, duration p50/p95 per task,
the slowest and the most-failing tasks, per group, over 7/30/90 days or a chosen from-to.

The figures are `tasklane.history.stats.task_stats`'s, the same that `tasklane stats` prints. The
page draws them with Chart.js (vendored) from one `<script type="application/json">` block, and
shows each chart's numbers in a table beside it, readable without JavaScript.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from deployments.apply import read_task_deployments
from integrations.report import STATE_COLORS, STATE_ORDER, Stats, day_window
from tasklane.console.pages import PREFIX, Client, ConsoleError, Page, SignedIn
from tasklane.history.stats import created_of, task_stats
from tasklane.settings.reports import TASKLANE_TAG
from tasklane.tasks.lookup import tag_value

router = APIRouter(include_in_schema=False)

RANGES = (7, 30, 90)
# The longest from-to window the page reads (a year of runs is already a big read).
MAX_DAYS = 366
# How many tasks the slowest / most-failing lists show.
TOP = 10


def stats_window(days: int, start: str, end: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[since, until) in UTC: from `start` 00:00 to the end of `end` (both dates, inclusive; end
    capped at now) when given, else the last `days` days (`day_window`, as `tasklane stats --days`).

    Raises ConsoleError 400 for a date that is not one, a range backwards or longer than MAX_DAYS.
    """
    now = now or datetime.now(UTC)
    if not start and not end:
        if days not in RANGES:
            raise ConsoleError(400, "stats.error.days", days=days)
        return day_window(days, now)
    try:
        first = date.fromisoformat(start) if start else now.date() - timedelta(days=6)
        last = date.fromisoformat(end) if end else now.date()
    except ValueError:
        raise ConsoleError(400, "stats.error.date", start=start, end=end) from None
    if last < first or (last - first).days + 1 > MAX_DAYS:
        raise ConsoleError(400, "stats.error.range", start=first, end=last, days=MAX_DAYS)
    since = datetime.combine(first, time.min, UTC)
    until = min(datetime.combine(last + timedelta(days=1), time.min, UTC), now)
    if until <= since:
        raise ConsoleError(400, "stats.error.range", start=first, end=last, days=MAX_DAYS)
    return since, until


def _states(per_day: dict[str, dict[str, int]]) -> list[str]:
    seen = {state for counts in per_day.values() for state in counts}
    return [s for s in STATE_ORDER if s in seen] + sorted(seen - set(STATE_ORDER))


def _days(since: datetime, until: datetime) -> list[str]:
    first, last = since.date(), (until - timedelta(microseconds=1)).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def chart_data(stats: Stats, groups_of: dict[str, str]) -> dict[str, Any]:
    """What the page's charts draw (the JSON block): every day of the window with its runs by
    outcome, and per task its p50/p95 and failures, slowest / most failing first."""
    days = _days(stats.since, stats.until)
    states = _states(stats.per_day)
    tasks = [
        {"task": name, "group": groups_of.get(name, "default"), **asdict(figures)}
        for name, figures in stats.per_task.items()
    ]
    slowest = sorted(
        (row for row in tasks if row["p95_duration"] is not None),
        key=lambda row: (-row["p95_duration"], row["task"]),
    )[:TOP]
    failing = sorted(
        (row for row in tasks if row["failures"]), key=lambda row: (-row["failures"], row["task"])
    )[:TOP]
    return {
        "since": stats.since.isoformat(),
        "until": stats.until.isoformat(),
        "days": days,
        "states": states,
        "per_day": {state: [stats.per_day.get(day, {}).get(state, 0) for day in days] for state in states},
        "overall": asdict(stats.overall),
        "per_group": {name: asdict(figures) for name, figures in stats.per_group.items()},
        "tasks": tasks,
        "slowest": slowest,
        "failing": failing,
    }


def day_rows(data: dict[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """The per-day table: the days that had runs, newest first, each its runs by outcome."""
    rows = []
    for index, day in enumerate(data["days"]):
        counts = {state: data["per_day"][state][index] for state in data["states"]}
        if any(counts.values()):
            rows.append((day, counts))
    return rows[::-1]


def _group_choice(current: Page, group: str, groups: list[str]) -> str:
    """The group the page shows: the one asked for (if the user may see it); a user with group
    grants always sees one of theirs (else other groups' runs would be counted in)."""
    grants = current.user.caller.groups if current.user else ()
    if group and current.can_see(group):
        return group
    if group:
        raise ConsoleError(404, "stats.error.group", group=group)
    if grants:
        return sorted(grants)[0]
    return ""


@router.get(PREFIX + "/stats")
async def stats_page(
    current: SignedIn, client: Client, days: int = 7, start: str = "", end: str = "", group: str = ""
) -> Response:
    since, until = stats_window(days, start.strip(), end.strip())
    target = current.target
    # Both reads briefly cached, as the REST API's are (`Page.cached`): every change clears them.
    deployments = await current.cached(
        ("deployments-with-trash", target.project),
        lambda: read_task_deployments(client, target, include_trashed=True),
    )
    groups_of = {name: tag_value(d.tags, "group") or "default" for name, d in deployments.items()}
    grants = current.user.caller.groups if current.user else ()
    groups = sorted(g for g in {*groups_of.values(), *grants} if current.can_see(g))
    chosen = _group_choice(current, group, groups)
    stats = await current.cached(
        ("stats", target.project, days, start.strip(), end.strip(), chosen),
        lambda: task_stats(
            client,
            since,
            until,
            group=chosen or None,
            tags=(TASKLANE_TAG, target.project_tag),
            created=created_of(deployments.values()),
        ),
    )
    data = chart_data(stats, groups_of)
    t = current.t
    data["labels"] = {
        "states": {state: _state_text(t, state) for state in data["states"]},
        "colors": {state: STATE_COLORS.get(state, "#90a4ae") for state in data["states"]},
        "runs": t("stats.col.runs"),
        "p50": t("stats.col.p50"),
        "p95": t("stats.col.p95"),
        "failures": t("stats.col.failures"),
        "seconds": t("stats.axis.seconds"),
    }
    return current.render(
        "stats.html",
        data=data,
        day_rows=day_rows(data),
        stats=stats,
        overall=stats.overall,
        ranges=RANGES,
        days=days if not (start or end) else 0,
        start=start,
        end=end,
        group=chosen,
        groups=groups,
        restricted=bool(grants),
        seconds=_seconds,
        percent=_percent,
    )


def _state_text(t, name: str) -> str:
    label = t(f"state.{name}")
    return name if label == f"state.{name}" else label


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"
