"""The console's tasks page and a page per group.

The tasks page: search and filters (group, type, last outcome, owner: the task's home), and per
task its type, group, schedule in words with its zone, next run in the user's zone
(`Page.zone`), last outcome and when, and its 7-day success rate: `task_stats`' (what
`tasklane stats` prints), read once per page for every task. Tasks selected with their
checkboxes are enabled, disabled, run (operator), deleted to the trash (admin) or exported as
catalog YAML (`export_tasks`, what `tasklane export` writes) in one POST; each change is one audit
event per task, as the CLI's batch commands record (`pages.act_on_task`).

`/console/groups/{group}`: the group's tasks (the same table) and its 7-day figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.responses import DeploymentResponse

from deployments.apply import read_task_deployments
from deployments.errors import DeploymentsError
from deployments.ownership import API_HOME, FILE_HOME_PREFIX, SOURCE_HOME_PREFIX, home_of
from integrations.report import Figures, Stats, day_window
from tasklane.api.auth import Role
from tasklane.console.pages import (
    PREFIX,
    Client,
    ConsoleError,
    Page,
    SignedIn,
    act_on_task,
    changing,
    redirect,
)
from tasklane.history.stats import created_of, task_stats
from tasklane.settings.reports import TASKLANE_TAG
from tasklane.tasks.lookup import TaskRow, tag_value, task_rows
from tasklane.tasks.manage import export_tasks

router = APIRouter(include_in_schema=False)

# The window of the success-rate column: the last 7 days (today included), as `tasklane stats`.
RATE_DAYS = 7
# Each batch action and the role it needs.
BATCH_ROLES: dict[str, Role] = {
    "enable": "operator",
    "disable": "operator",
    "run": "operator",
    "delete": "admin",
    "export": "viewer",
}
# The last-outcome filter: these outcomes, a run in flight, or none yet.
OUTCOMES = ("Completed", "Failed", "TimedOut", "Crashed", "Cancelled")
RUNNING, NEVER = "running", "never"
NO_HOME = "none"
# The query fields of a batch's summary (dropped from the page's address before a new one).
FLASH_FIELDS = ("batch", "done", "same", "failed")


@dataclass(frozen=True)
class Filters:
    q: str = ""
    group: str = ""
    type: str = ""
    outcome: str = ""
    owner: str = ""

    def keeps(self, row: TaskRow, home: str | None) -> bool:
        text = self.q.strip().lower()
        if text and not any(
            text in (value or "").lower() for value in (row.name, row.type, row.group, row.schedule)
        ):
            return False
        if self.group and (row.group or "default") != self.group:
            return False
        if self.type and (row.type or "") != self.type:
            return False
        if self.owner and (home or NO_HOME) != self.owner:
            return False
        return not self.outcome or outcome_of(row) == self.outcome


def outcome_of(row: TaskRow) -> str:
    """The row's last-outcome filter value: `running` while a run is in flight, else the last
    outcome's state name, else `never`."""
    if row.running_state:
        return RUNNING
    return row.last_state or NEVER


def home_label(t, home: str | None) -> str:
    if home is None or home == NO_HOME:
        return t("tasks_page.home.none")
    if home == API_HOME:
        return t("tasks_page.home.api")
    if home.startswith(FILE_HOME_PREFIX):
        return t("tasks_page.home.file", path=home.removeprefix(FILE_HOME_PREFIX))
    if home.startswith(SOURCE_HOME_PREFIX):
        return t("tasks_page.home.source", name=home.removeprefix(SOURCE_HOME_PREFIX))
    return home


async def week_stats(client: PrefectClient, current: Page, **scope: Any) -> Stats:
    """`task_stats` over the last RATE_DAYS days of the project's runs (`scope`: task or group)."""
    since, until = day_window(RATE_DAYS)
    return await task_stats(client, since, until, tags=(TASKLANE_TAG, current.target.project_tag), **scope)


async def _listed(
    current: Page, client: PrefectClient, deployments: list[DeploymentResponse], **scope: Any
) -> tuple[list[TaskRow], dict[str, str | None], dict[str, Figures], Stats]:
    """The rows of `deployments` (by name), their homes, and their 7-day figures: the rows' three
    reads and one `task_stats` read, side by side."""
    ordered = sorted(deployments, key=lambda d: d.name)
    since, _ = day_window(RATE_DAYS)
    rows, stats = await asyncio.gather(
        current.cached(
            ("rows", tuple((d.id, d.updated) for d in ordered)),
            lambda: task_rows(client, ordered, current.target.timezone),
        ),
        current.cached(
            ("week-stats", current.target.project, since, tuple(sorted(scope.items()))),
            lambda: week_stats(client, current, created=created_of(ordered), **scope),
        ),
    )
    homes = {d.name: home_of(d.tags) for d in ordered}
    return rows, homes, stats.per_task, stats


async def row_context(current: Page, client: PrefectClient, deployment: DeploymentResponse) -> dict[str, Any]:
    """What `_task_row.html` shows of one task (after an action in its row)."""
    rows, homes, rates, _ = await _listed(current, client, [deployment], task=deployment.name)
    label = partial(home_label, current.t)
    return {"row": rows[0], "homes": homes, "rates": rates, "home_label": label}


async def _visible_deployments(
    current: Page, client: PrefectClient, *, fresh: bool = False
) -> dict[str, DeploymentResponse]:
    """The project's tasks the user may see: for a page, briefly cached (as the REST API's task
    list is); `fresh` for a change, which acts on what the server holds now."""

    def load() -> Awaitable[dict[str, DeploymentResponse]]:
        return read_task_deployments(client, current.target)

    found = await (load() if fresh else current.cached(("deployments", current.target.project), load))
    return {name: d for name, d in found.items() if current.can_see(tag_value(d.tags, "group"))}


def _options(current: Page, deployments: list[DeploymentResponse]) -> dict[str, list[tuple[str, str]]]:
    """The filters' choices: (value, label) of each group, type and owner among the tasks."""
    t = current.t
    groups = sorted({tag_value(d.tags, "group") or "default" for d in deployments})
    types = sorted({tag_value(d.tags, "type") or "" for d in deployments} - {""})
    homes = sorted({home_of(d.tags) or NO_HOME for d in deployments})
    outcomes = [*OUTCOMES, RUNNING, NEVER]
    return {
        "groups": [(g, g) for g in groups],
        "types": [(kind, kind) for kind in types],
        "owners": [(home, home_label(t, home)) for home in homes],
        "outcomes": [(o, _outcome_label(t, o)) for o in outcomes],
    }


def _outcome_label(t, outcome: str) -> str:
    if outcome in (RUNNING, NEVER):
        return t(f"tasks_page.outcome.{outcome}")
    label = t(f"state.{outcome}")
    return outcome if label == f"state.{outcome}" else label


def _flash(current: Page) -> str | None:
    """The summary of the batch the browser was sent back from (its query fields), in words."""
    query = current.request.query_params
    action = query.get("batch", "")
    if action not in BATCH_ROLES:
        return None
    try:
        done, same = int(query.get("done", "0")), int(query.get("same", "0"))
    except ValueError:
        return None
    message = current.t(f"tasks_page.flash.{action}", done=done, same=same)
    if failed := query.get("failed", ""):
        message += " " + current.t("tasks_page.flash.failed", names=failed)
    return message


def _render_tasks(current: Page, template: str, rows, homes, rates, **context: Any) -> Response:
    return current.render(
        template,
        rows=rows,
        homes=homes,
        rates=rates,
        started=None,
        percent=lambda value: "-" if value is None else f"{value:.1f}%",
        home_label=partial(home_label, current.t),
        flash=_flash(current),
        **context,
    )


@router.get(PREFIX + "/tasks")
async def tasks_page(
    current: SignedIn,
    client: Client,
    q: str = "",
    group: str = "",
    type: str = "",
    outcome: str = "",
    owner: str = "",
) -> Response:
    filters = Filters(q=q, group=group, type=type, outcome=outcome, owner=owner)
    visible = list((await _visible_deployments(current, client)).values())
    # The filters read from the tags go first: fewer rows to read.
    chosen = [
        d
        for d in visible
        if (not group or (tag_value(d.tags, "group") or "default") == group)
        and (not type or tag_value(d.tags, "type") == type)
        and (not owner or (home_of(d.tags) or NO_HOME) == owner)
    ]
    rows, homes, rates, _ = await _listed(current, client, chosen)
    rows = [row for row in rows if filters.keeps(row, homes.get(row.name))]
    request = current.request
    if request.headers.get("hx-request") == "true" and request.headers.get("hx-target") == "task-rows":
        return _render_tasks(current, "_task_rows.html", rows, homes, rates)
    return _render_tasks(
        current, "tasks.html", rows, homes, rates, filters=filters, **_options(current, visible)
    )


@router.get(PREFIX + "/groups/{group}")
async def group_page(group: str, current: SignedIn, client: Client) -> Response:
    """The group's tasks (the tasks page's table) and its figures over the last 7 days."""
    if not current.can_see(group):
        raise ConsoleError(404, "tasks_page.error.group", group=group)
    visible = await _visible_deployments(current, client)
    members = [d for d in visible.values() if (tag_value(d.tags, "group") or "default") == group]
    if not members:
        raise ConsoleError(404, "tasks_page.error.group", group=group)
    rows, homes, rates, stats = await _listed(current, client, members, group=group)
    return _render_tasks(
        current,
        "tasks_page_group.html",
        rows,
        homes,
        rates,
        group=group,
        overall=stats.overall,
        days=RATE_DAYS,
        seconds=lambda value: "-" if value is None else f"{value:.1f}",
    )


# --- many tasks at once ---------------------------------------------------------------------------


def _back(next_path: str, **summary: Any) -> str:
    """Where a batch leads back: the page it was sent from (its filters kept), with its summary."""
    parts = urlsplit(next_path or "")
    path = parts.path
    allowed = path == PREFIX + "/tasks" or path.startswith(PREFIX + "/groups/")
    if not allowed or "//" in path or "\\" in path or parts.scheme or parts.netloc:
        path, query = PREFIX + "/tasks", []
    else:
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in FLASH_FIELDS]
    query += [(k, str(v)) for k, v in summary.items() if v != ""]
    return path + "?" + urlencode(query)


@router.post(PREFIX + "/tasks/batch")
async def batch(client: Client, current: Annotated[Page, Depends(changing("viewer"))]) -> Response:
    """One action on the selected tasks (form fields `action`, `task` repeated, `next`): enable,
    disable, run (operator), delete to the trash (admin), each audited per task; or export their
    catalog YAML as a download. Back to the page it came from, saying what was done."""
    assert current.user is not None
    body = (await current.request.body()).decode("utf-8", "replace")
    fields = parse_qsl(body, keep_blank_values=True)
    action = next((value for key, value in fields if key == "action"), "")
    back = next((value for key, value in fields if key == "next"), "")
    names = list(dict.fromkeys(value for key, value in fields if key == "task" and value))
    if action not in BATCH_ROLES:
        raise ConsoleError(400, "tasks_page.error.action", action=action)
    if not current.may(BATCH_ROLES[action]):
        raise ConsoleError(403, "error.role", role=current.user.role, needed=BATCH_ROLES[action])
    visible = await _visible_deployments(current, client, fresh=True)
    for name in names:
        if name not in visible:
            raise ConsoleError(404, "error.no_task", name=name)
    chosen = [visible[name] for name in names]
    if action == "export":
        if not chosen:
            return redirect(current, _back(back, batch=action, done=0, same=0))
        return await _export(current, client, names)
    done = same = 0
    failed: list[str] = []
    for deployment in chosen:
        # Already as asked: audited all the same ("ok; unchanged"), as the CLI does.
        unchanged = action in ("enable", "disable") and deployment.paused == (action == "disable")
        try:
            await act_on_task(current, client, deployment, action)
        except DeploymentsError:
            failed.append(deployment.name)
            continue
        same += unchanged
        done += not unchanged
    summary = {"batch": action, "done": done, "same": same, "failed": ", ".join(failed)}
    return redirect(current, _back(back, **summary))


async def _export(current: Page, client: PrefectClient, names: list[str]) -> Response:
    """The catalog YAML of the tasks `names`: `export_tasks`' document (`tasklane export`), these
    tasks only, as a download."""
    document = await export_tasks(client, current.target)
    wanted = set(names)
    document["tasks"] = [task for task in document["tasks"] if task.get("name") in wanted]
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    stamp = datetime.now(current.zone()).strftime("%Y%m%d-%H%M%S")
    headers = {"Content-Disposition": f'attachment; filename="tasklane-tasks-{stamp}.yaml"'}
    response = Response(text, media_type="application/yaml", headers=headers)
    current.keep(response)
    return response
