"""The console's Upcoming view: the runs to come across tasks in the next 24 hours or 7 days,
grouped by day in the user's zone: `tasklane.history.runs.upcoming`, what `tasklane upcoming`
prints. Any signed-in user; only the tasks of the groups they may see.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import groupby
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response

from tasklane.console.pages import PREFIX, Client, ConsoleError, Page, SignedIn
from tasklane.history.runs import UpcomingRun, upcoming
from tasklane.settings.reports import TASKLANE_TAG

router = APIRouter(include_in_schema=False)

HORIZONS = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}
# The most runs the view reads (a week of a minutely task is 10,080: more is no use to a reader).
MAX_RUNS = 1000


def user_zone(current: Page) -> ZoneInfo:
    """The zone the user's times are shown in: the browser's (cookie `tasklane_tz`), else the
    project's: `Page.zone`, which every page shares."""
    return current.zone()


def by_day(runs: list[UpcomingRun], zone: ZoneInfo) -> list[tuple[str, list[UpcomingRun]]]:
    """The runs (soonest first) in groups by their day in `zone` (ISO date)."""
    return [
        (day, list(members))
        for day, members in groupby(runs, key=lambda run: run.due.astimezone(zone).date().isoformat())
    ]


@router.get(PREFIX + "/upcoming")
async def upcoming_page(current: SignedIn, client: Client, within: str = "24h", group: str = "") -> Response:
    if within not in HORIZONS:
        raise ConsoleError(400, "upcoming.error.within", within=within)
    if group and not current.can_see(group):
        raise ConsoleError(404, "upcoming.error.group", group=group)
    now = datetime.now(UTC)
    horizon = now + HORIZONS[within]
    target = current.target
    found = await upcoming(
        client, group=group or None, limit=MAX_RUNS, tags=(TASKLANE_TAG, target.project_tag), now=now
    )
    runs = [run for run in found if run.due <= horizon and current.can_see(run.group)]
    zone = user_zone(current)
    return current.render(
        "upcoming.html",
        days=by_day(runs, zone),
        count=len(runs),
        within=within,
        horizons=list(HORIZONS),
        group=group,
        zone=str(zone),
        at=lambda value: value.astimezone(zone).strftime("%H:%M:%S %Z"),
        truncated=len(found) >= MAX_RUNS and all(run.due <= horizon for run in found),
    )
