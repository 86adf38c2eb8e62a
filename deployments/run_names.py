"""The names a task's runs and their result artifacts carry on the server.

A run is named after its task and the time it was due, in the zone the task's times are shown in
(its schedules', else the settings' `timezone`, else UTC: `schedule_timezone` in
tasklane/tasks/lookup.py): `backup-20261206-0200`. Prefect does not need run names to be unique,
and two runs of one task due in the same minute are rare enough that the time says which is meant.

Every run of a task keeps its result (or why it failed) under one artifact key, the task's name
as a slug, so Prefect's Artifacts page shows one timeline per task.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RUN_TIME_FORMAT = "%Y%m%d-%H%M"
ARTIFACT_KEY_CHARS = 100


def run_name(task: str, due: datetime, timezone: str = "UTC") -> str:
    """The name of the run of `task` due at `due`, its time read in `timezone`.

    Examples:
        >>> from datetime import UTC
        >>> run_name("backup", datetime(2026, 12, 6, 1, 0, tzinfo=UTC), "Europe/Berlin")
        'backup-20261206-0200'
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return f"{task}-{due.astimezone(zone).strftime(RUN_TIME_FORMAT)}"


def is_run_name(name: str, task: str) -> bool:
    """Whether `name` is a name `run_name` gives a run of `task`.

    Examples:
        >>> is_run_name("backup-20261206-0200", "backup"), is_run_name("woodoo-jacamar", "backup")
        (True, False)
    """
    return re.fullmatch(re.escape(task) + r"-\d{8}-\d{4}", name) is not None


def task_slug(task: str) -> str:
    """`task` as lower-case letters, digits and dashes (what Prefect allows in artifact keys).

    Examples:
        >>> task_slug("Nightly_Export.v2")
        'nightly-export-v2'
    """
    return re.sub(r"[^a-z0-9-]+", "-", task.lower()).strip("-") or "run"


def result_artifact_key(task: str) -> str:
    """The key of the result artifact of every run of `task`: the task's name as a slug."""
    return task_slug(task)[:ARTIFACT_KEY_CHARS]
