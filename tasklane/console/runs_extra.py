"""The rest of the console's runs: a run's state timeline, result and artifacts, its log searched
and downloaded, Cancel, and "Run again with parameters" from a task's page.

Every read and change is the CLI's own: `tasklane.history.run_detail` (timeline, artifacts),
`tasklane.history.results.run_results` (the result), `tasklane.history.logs.read_run_logs`
(`tasklane logs --grep --level`), `tasklane.tasks.manage.cancel` (`tasklane cancel`) and
`tasklane.tasks.lookup.run_task` with overrides (`tasklane run --param KEY=VALUE`); changes are
audited as `user:<name>`, operator only, CSRF-checked.

Artifacts show as Prefect's UI shows them: markdown drawn as HTML (markdown-it, CommonMark with
tables, raw HTML off and links checked, so an artifact cannot put script in the page), a table
artifact as a table, a link artifact as a link; anything else as its text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import yaml
from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup
from prefect.client.schemas.objects import Artifact, FlowRun

from deployments.errors import CatalogError, DeploymentsError
from tasklane.console.pages import (
    PREFIX,
    Client,
    ConsoleError,
    Page,
    SignedIn,
    _is_htmx,
    _visible_run,
    _visible_task,
    changing,
    read_form,
    redirect,
)
from tasklane.history.logs import FINAL_STATES, LEVELS, format_log, read_run_logs
from tasklane.history.results import run_results
from tasklane.history.run_detail import run_artifacts, run_timeline
from tasklane.tasks.audit import audited, user_actor
from tasklane.tasks.lookup import run_task
from tasklane.tasks.manage import cancel

router = APIRouter(include_in_schema=False)
Operator = Annotated[Page, Depends(changing("operator"))]
SEARCH_LINES = 1000  # lines a search shows in the page; the download has them all
ARTIFACT_CHARS = 4000
MARKDOWN_CHARS = 20_000  # of an artifact's markdown drawn in the page
TABLE_ROWS = 200  # of a table artifact's rows shown in the page
# Raw HTML in an artifact's markdown is shown as text; markdown-it refuses javascript: and the like.
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def _is_final(run: FlowRun) -> bool:
    return run.state is not None and run.state.type in FINAL_STATES


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return text if len(text) <= ARTIFACT_CHARS else text[: ARTIFACT_CHARS - 1] + "…"


@dataclass
class ShownArtifact:
    """An artifact as the run's page shows it: `kind` says which of the rest is set (markdown:
    `html`; table: `columns` (none: a header-less table) and `rows`; link: `href` and `data`, its
    text; text: `data`)."""

    key: str | None
    type: str | None
    description: str | None
    created: Any
    kind: str = "text"
    data: str = ""
    html: Markup | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more_rows: int = 0
    href: str = ""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _table(data: Any) -> tuple[list[str], list[list[Any]]] | None:
    """The columns and rows of a table artifact's data (Prefect's three shapes: a list of row
    mappings, a mapping of columns, a list of row lists), or None when it is none of them."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            return None
    if isinstance(data, dict) and all(isinstance(v, list) for v in data.values()):
        return [str(k) for k in data], [list(row) for row in zip_longest(*data.values())]
    if isinstance(data, list) and data and all(isinstance(row, dict) for row in data):
        columns = list(dict.fromkeys(str(k) for row in data for k in row))
        return columns, [[row.get(c) for c in columns] for row in data]
    if isinstance(data, list) and all(isinstance(row, list) for row in data):
        return [], data
    return None


def shown_artifact(artifact: Artifact) -> ShownArtifact:
    """What the run's page shows of an artifact (see ShownArtifact)."""
    shown = ShownArtifact(artifact.key, artifact.type, artifact.description, artifact.created)
    data = artifact.data
    if artifact.type == "markdown" and isinstance(data, str):
        text = data if len(data) <= MARKDOWN_CHARS else data[: MARKDOWN_CHARS - 1] + "…"
        shown.kind, shown.html = "markdown", Markup(MARKDOWN.render(text))
        return shown
    if artifact.type == "table":
        table = _table(data)
        if table is not None:
            columns, rows = table
            shown.kind, shown.columns, shown.more_rows = "table", columns, max(0, len(rows) - TABLE_ROWS)
            shown.rows = [[_cell(v) for v in row] for row in rows[:TABLE_ROWS]]
            return shown
    if artifact.type == "link" and isinstance(data, str):
        if urlsplit(data.strip()).scheme in ("http", "https"):
            shown.kind, shown.href, shown.data = "link", data.strip(), data.strip()
            return shown
        shown.kind, shown.html = "markdown", Markup(MARKDOWN.render(data[:MARKDOWN_CHARS]))
        return shown
    shown.data = _shown(data)
    return shown


@router.get(PREFIX + "/runs/{run_id}/details")
async def run_details(run_id: str, current: SignedIn, client: Client) -> Response:
    """The run's state timeline, result and artifacts: a part of its page (htmx loads it, and
    again every few seconds while the run has not ended)."""
    run, _ = await _visible_run(current, client, run_id)
    steps = await run_timeline(client, run.id)
    results = await run_results(client, [run.id])
    artifacts = await run_artifacts(client, run.id)
    shown = [shown_artifact(a) for a in artifacts]
    return current.render(
        "runs_extra_details.html",
        run=run,
        final=_is_final(run),
        steps=steps,
        has_result=run.id in results,
        result=_shown(results.get(run.id)),
        artifacts=shown,
    )


def _search(q: str, level: str) -> tuple[str | None, str | None]:
    return (q.strip() or None), (level.strip().upper() or None)


async def _matching_logs(current: Page, client, run_id: str, q: str, level: str, limit: int | None):
    run, task = await _visible_run(current, client, run_id)
    grep, minimum = _search(q, level)
    if minimum is not None and minimum not in LEVELS:
        raise ConsoleError(400, "runs_extra.bad_level", level=level, levels=", ".join(LEVELS))
    try:
        logs = await read_run_logs(client, run.id, grep=grep, level=minimum, limit=limit)
    except DeploymentsError as exc:
        raise ConsoleError(400, "runs_extra.search_failed", reason=str(exc)) from None
    return run, task, logs


@router.get(PREFIX + "/runs/{run_id}/logs/search")
async def log_search(
    run_id: str, current: SignedIn, client: Client, q: str = "", level: str = ""
) -> Response:
    """The run's log lines with `q` in them (any case), at `level` or above: `tasklane logs
    RUN --grep q --level level`. A part of the run's page (htmx), or a page of its own."""
    run, task, logs = await _matching_logs(current, client, run_id, q, level, SEARCH_LINES + 1)
    context = {
        "run": run,
        "task": task,
        "lines": [format_log(log) for log in logs[:SEARCH_LINES]],
        "more": len(logs) > SEARCH_LINES,
        "q": q,
        "level": level.upper(),
        "levels": list(LEVELS),
        "download": f"{PREFIX}/runs/{run.id}/logs/download?q={quote(q)}&level={quote(level)}",
    }
    if _is_htmx(current.request):
        return current.render("runs_extra_log_lines.html", **context)
    return current.render("runs_extra_log_search.html", **context)


@router.get(PREFIX + "/runs/{run_id}/logs/download")
async def log_download(
    run_id: str, current: SignedIn, client: Client, q: str = "", level: str = ""
) -> Response:
    """The run's (matching) log lines as a text file, as `tasklane logs RUN --output FILE` writes them."""
    run, _, logs = await _matching_logs(current, client, run_id, q, level, None)
    text = "".join(format_log(log) + "\n" for log in logs)
    filename = f"{run.name or run.id}.log".replace('"', "")
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return PlainTextResponse(text, headers=headers)


@router.post(PREFIX + "/runs/{run_id}/cancel")
async def cancel_run(run_id: str, client: Client, current: Operator) -> Response:
    """Cancel the run (`tasklane cancel RUN`): the worker stops its process; audited."""
    assert current.user is not None
    run, task = await _visible_run(current, client, run_id)
    actor = user_actor(current.user.name, current.user.role)
    async with audited(
        "task.cancelled",
        task,
        actor,
        project=current.target.project,
        client=client,
        deployment_id=run.deployment_id,
        change={"cancel": str(run.id)},
    ) as record:
        cancelled = await cancel(client, str(run.id), current.target)
        record["result"] = f"ok; {len(cancelled)} run(s): {', '.join(r.name for r in cancelled) or '-'}"
    return redirect(current, f"{PREFIX}/runs/{run.id}")


def parse_overrides(text: str) -> dict[str, Any]:
    """KEY=VALUE lines (a YAML value each, as `tasklane run --param`); blank lines and # comments skipped.

    Raises:
        ValueError: a line that is not KEY=VALUE (the message names it).
    """
    overrides: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        item = line.strip()
        if not item or item.startswith("#"):
            continue
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"line {number}: {item!r} is not KEY=VALUE")
        try:
            overrides[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise ValueError(f"line {number}: {raw.strip()!r} is not a YAML value ({exc})") from None
    return overrides


def _job_lines(job: dict[str, Any]) -> str:
    """The task's job parameters as KEY=VALUE lines (nested keys dotted), to edit."""
    lines: list[str] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for key, child in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), child)
            return
        dumped = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        if isinstance(value, str) and ("\n" in value or value != value.strip() or value == ""):
            dumped = json.dumps(value, ensure_ascii=False)
        lines.append(f"{prefix}={dumped}")

    walk("", job)
    return "\n".join(lines)


@router.get(PREFIX + "/tasks/{name}/run-with")
async def run_with_form(name: str, current: SignedIn, client: Client) -> Response:
    deployment = await _visible_task(current, client, name)
    if not current.may("operator"):
        raise ConsoleError(
            403, "error.role", role=current.user.role if current.user else "-", needed="operator"
        )
    job = deployment.parameters.get("job", {}) or {}
    return current.render(
        "runs_extra_run_with.html", name=deployment.name, job=_job_lines(job), overrides="", problems=[]
    )


@router.post(PREFIX + "/tasks/{name}/run-with")
async def run_with(name: str, client: Client, current: Operator) -> Response:
    """Run the task now with these job parameters changed (`tasklane run NAME --param K=V ...`); audited."""
    assert current.user is not None
    deployment = await _visible_task(current, client, name)
    form = await read_form(current.request)
    text = form.get("overrides", "")

    def refused(problems: list[str]) -> Response:
        """The form again, as sent, with why it was refused."""
        job = _job_lines(deployment.parameters.get("job", {}) or {})
        return current.render(
            "runs_extra_run_with.html",
            status=400,
            name=deployment.name,
            job=job,
            overrides=text,
            problems=problems,
        )

    try:
        overrides = parse_overrides(text)
    except ValueError as exc:
        return refused([str(exc)])
    actor = user_actor(current.user.name, current.user.role)
    change = {"run": True, "overrides": overrides} if overrides else {"run": True}
    try:
        async with audited(
            "task.run",
            deployment.name,
            actor,
            project=current.target.project,
            client=client,
            deployment_id=deployment.id,
            change=change,
        ) as record:
            started = await run_task(client, deployment.name, overrides, target=current.target)
            record["result"] = f"ok; run {started.id}"
    except CatalogError as exc:
        return refused([str(p) for p in exc.problems])
    return redirect(current, f"{PREFIX}/runs/{started.id}")
