"""The console's pages: sign-in, tasks, a task, runs, a run and its live log tail.

Server-rendered (Jinja2 templates), htmx for the parts that change in place (the task list as
the search is typed, a task's row after Run now / Enable / Disable / Delete). Every read and
change is the operation the CLI and the REST API call (`tasklane.tasks.lookup`, `.manage`,
`.trash`; `tasklane.history.runs`, `.logs`); every change is audited as `user:<name>`.

The pages live under `/console` (`/` leads there): the REST API's compatibility routes already
answer `/tasks` and `/tasks/{id}` at the root.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.exceptions import ObjectNotFound
from starlette.concurrency import run_in_threadpool

from deployments.apply import Target, read_task_deployments
from deployments.errors import DeploymentsError
from tasklane.api.auth import Role
from tasklane.api.core import TtlCache
from tasklane.api.core import _client as prefect_client
from tasklane.api.views import trashed_result
from tasklane.console.i18n import LANG_COOKIE, LANGUAGES, pick_language, translator
from tasklane.console.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    LoginThrottle,
    Session,
    Sessions,
    csrf_ok,
    load_secret,
    new_session,
    signed_out,
)
from tasklane.console.users import User, UserStore, users_path
from tasklane.history.logs import FINAL_STATES, follow_run, format_log
from tasklane.history.runs import find_run, read_runs, run_link, to_records
from tasklane.history.statuses import STATE_WORDS, project_runs
from tasklane.settings import Settings
from tasklane.tasks.audit import audited, user_actor
from tasklane.tasks.lookup import find_task, run_task, show_task, tag_value
from tasklane.tasks.manage import set_enabled
from tasklane.tasks.trash import trash_tasks

T = TypeVar("T")

PREFIX = "/console"
STATIC = "/static/console"
HERE = Path(__file__).parent
RUNS_PAGE = 50
# How long one log stream follows a run before it lets the browser go (it may open a new one).
STREAM_SECONDS = 6 * 3600.0
KEEPALIVE_SECONDS = 15.0
# The browser's zone, as console.js sets it (Intl's `timeZone`): the zone the user's times are shown in.
TZ_COOKIE = "tasklane_tz"

router = APIRouter(include_in_schema=False)
Client = Annotated[PrefectClient, Depends(prefect_client)]


@dataclass
class ConsoleState:
    """What `mount` fixes: the users, the session signer, the sign-in throttle, the templates."""

    users: UserStore
    sessions: Sessions
    throttle: LoginThrottle
    templates: Jinja2Templates


class ConsoleError(Exception):
    """A page that cannot be shown: 403 (not allowed, a bad CSRF token), 404 (not there, or not yours)."""

    def __init__(self, status: int, key: str, **values: Any):
        super().__init__(key)
        self.status = status
        self.key = key
        self.values = values


class SignInRequired(Exception):
    def __init__(self, next_path: str):
        super().__init__(next_path)
        self.next_path = next_path


def mount(app: FastAPI, settings: Settings | None = None) -> None:
    """Serve the console on the API app: its pages under /console, `/` leading there, its
    assets at /static/console. Its sign-in is its own (a session cookie); the API's bearer
    tokens are untouched."""
    from tasklane.settings import get_settings

    settings = settings or get_settings()
    home = Path(settings.home)
    templates = Jinja2Templates(directory=HERE / "templates")
    app.state.console = ConsoleState(
        users=UserStore(users_path(home)),
        sessions=Sessions(load_secret(home)),
        throttle=LoginThrottle(),
        templates=templates,
    )
    app.mount(STATIC, StaticFiles(directory=HERE / "static"), name="console-static")
    from tasklane.console import editor  # before the pages: /tasks/new is not a task named "new"

    app.include_router(editor.router)
    app.include_router(router)
    from tasklane.console import audit, schedules, stats, trash, upcoming  # they import this module

    for feature in (stats, upcoming, trash, audit, schedules):
        app.include_router(feature.router)
    from tasklane.console import inbox, runs_extra  # they import this module

    app.include_router(runs_extra.router)
    app.include_router(inbox.router)
    from tasklane.console import tasks_page  # it imports this module

    app.include_router(tasks_page.router)
    from tasklane.console import graph, templates_page  # they import this module

    app.include_router(graph.router)
    app.include_router(templates_page.router)
    app.add_exception_handler(ConsoleError, _console_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request(app))
    app.add_exception_handler(SignInRequired, _sign_in)  # type: ignore[arg-type]


# --- the request's page context -------------------------------------------------------------------


@dataclass
class Page:
    """One request: its session (new if it came without one), user, language, and how to render."""

    request: Request
    console: ConsoleState
    session: Session
    fresh: bool
    user: User | None
    language: str

    @property
    def t(self):
        return translator(self.language)

    @property
    def target(self) -> Target:
        return self.request.app.state.tasklane.target

    @property
    def reads(self) -> TtlCache:
        """The app's short-lived cache of reads (the REST API's own: `api.cache_seconds`, stale
        while revalidating `api.cache_stale_seconds`), cleared by every change."""
        return self.request.app.state.tasklane.cache

    async def cached(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        """`load()`'s value, reused for identical reads within the cache's lifetime."""
        return await self.reads.get(("console", *key), load)

    def may(self, role: Role) -> bool:
        return self.user is not None and self.user.caller.has(role)

    def can_see(self, group: str | None) -> bool:
        return self.user is not None and self.user.caller.can_see(group)

    def zone(self) -> ZoneInfo:
        """The zone the user's times are shown (and typed times read) in: the browser's (cookie
        `tasklane_tz`) when it names a zone, else the project's (settings `timezone`), else UTC."""
        return zone_named(self.request.cookies.get(TZ_COOKIE)) or ZoneInfo(self.target.timezone or "UTC")

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        t = self.t
        values = {
            "t": t,
            "lang": self.language,
            "languages": LANGUAGES,
            "base": PREFIX,
            "static": STATIC,
            "csrf": self.session.csrf,
            "csrf_field": CSRF_FIELD,
            "user": self.user,
            "may_operate": self.may("operator"),
            "may_admin": self.may("admin"),
            "here": _here(self.request),
            "when": lambda value, zone=None: _when(value, zone),
            "local": lambda value: _when(value, self.zone()),
            "user_zone": self.zone().key,
            "state_label": lambda name: _state_label(t, name),
            "quote": lambda text: quote(str(text), safe=""),
            **context,
        }
        response = self.console.templates.TemplateResponse(self.request, template, values, status_code=status)
        self.keep(response)
        return response

    def keep(self, response: Response) -> None:
        if self.fresh:
            self.console.sessions.write(response, self.request, self.session)


def zone_named(name: str | None) -> ZoneInfo | None:
    """The zone `name` names (an IANA name), else None (empty, unknown, or not a zone's name)."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _here(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return request.url.path + query


def _when(value: datetime | None, zone: ZoneInfo | None = None) -> str:
    if value is None:
        return "-"
    if zone is not None:
        value = value.astimezone(zone)
    return value.strftime("%Y-%m-%d %H:%M:%S %Z")


def _state_label(t, name: str | None) -> str:
    if not name:
        return "-"
    label = t(f"state.{name}")
    return name if label == f"state.{name}" else label


async def page(request: Request) -> Page:
    console: ConsoleState = request.app.state.console
    session = console.sessions.read(request)
    fresh = session is None
    session = session or new_session()
    user = console.users.get(session.user) if session.user else None
    if user is not None and user.fingerprint != session.fingerprint:
        user = None  # the password changed since this session signed in
    language = pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))
    return Page(request, console, session, fresh, user, language)


PageDep = Annotated[Page, Depends(page)]


async def signed_in(current: PageDep) -> Page:
    if current.user is None:
        raise SignInRequired(_here(current.request))
    return current


SignedIn = Annotated[Page, Depends(signed_in)]


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each); empty for any other body."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def check_csrf(current: Page, form: dict[str, str]) -> None:
    sent = current.request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
    if current.fresh or not csrf_ok(current.session, sent):
        raise ConsoleError(403, "error.csrf")


def changing(role: Role):
    """A dependency of every POST that changes something: the CSRF token, then a user of `role`."""

    async def dependency(current: PageDep) -> AsyncIterator[Page]:
        check_csrf(current, await read_form(current.request))
        if current.user is None:
            raise SignInRequired(PREFIX + "/tasks")
        if not current.may(role):
            raise ConsoleError(403, "error.role", role=current.user.role, needed=role)
        try:
            yield current
        finally:
            # After the change (before its answer leaves): the next page reads what it changed,
            # never a cached read from before it (as every write through the REST API does).
            current.reads.clear()

    return dependency


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


async def _console_error(request: Request, exc: ConsoleError) -> Response:
    current = await page(request)
    message = current.t(exc.key, **exc.values)
    if _is_htmx(request):
        return HTMLResponse(f'<p class="error">{_escape(message)}</p>', status_code=exc.status)
    return current.render("error.html", status=exc.status, message=message)


def _invalid_request(app: FastAPI):
    """A handler of FastAPI's own refusals (a query parameter that is not a number, say): a
    console page with a 400 saying which fields were wrong, under /console; the API's answer (its
    JSON 422, `install_error_handlers`) everywhere else."""
    api_handler = app.exception_handlers.get(RequestValidationError)

    async def handler(request: Request, exc: RequestValidationError) -> Response:
        if api_handler is not None and not request.url.path.startswith(PREFIX):
            return await api_handler(request, exc)
        problems = "; ".join(
            f"{'.'.join(map(str, detail['loc'][1:])) or '-'}: {detail['msg']}" for detail in exc.errors()
        )
        return await _console_error(request, ConsoleError(400, "error.bad_request", problems=problems))

    return handler


async def _sign_in(request: Request, exc: SignInRequired) -> Response:
    location = f"{PREFIX}/login?next={quote(exc.next_path, safe='')}"
    if _is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of the console, never another site."""
    if value and value.startswith(PREFIX + "/") and "//" not in value and "\\" not in value:
        return value
    return PREFIX + "/tasks"


def redirect(current: Page, location: str) -> RedirectResponse:
    """A 303 to `location` that keeps the request's session (a new one is written)."""
    response = RedirectResponse(location, status_code=303)
    current.keep(response)
    return response


# --- sign-in --------------------------------------------------------------------------------------


@router.get("/")
async def root(current: PageDep) -> Response:
    return redirect(current, PREFIX + ("/tasks" if current.user else "/login"))


@router.get(PREFIX)
@router.get(PREFIX + "/")
async def console_root(current: PageDep) -> Response:
    return await root(current)


@router.get(PREFIX + "/login")
async def login_form(current: PageDep, next: str | None = None) -> Response:
    return current.render("login.html", next=_safe_next(next), error=None, name="")


@router.post(PREFIX + "/login")
async def login(current: PageDep) -> Response:
    form = await read_form(current.request)
    check_csrf(current, form)
    name, password = form.get("name", "").strip(), form.get("password", "")
    target = _safe_next(form.get("next"))
    client = current.request.client.host if current.request.client else "-"
    throttle = current.console.throttle
    wait = throttle.wait_seconds(name, client)
    if wait > 0:
        error = current.t("login.locked", seconds=math.ceil(wait))
        return current.render("login.html", status=429, next=target, error=error, name=name)
    user = await run_in_threadpool(current.console.users.authenticate, name, password)
    if user is None:
        throttle.failed(name, client)
        error = current.t("login.failed")
        return current.render("login.html", status=401, next=target, error=error, name=name)
    throttle.succeeded(name, client)
    response = RedirectResponse(target, status_code=303)
    # A new session (and CSRF token) on signing in: one planted before sign-in is worth nothing.
    current.console.sessions.write(response, current.request, new_session(user.name, user.fingerprint))
    return response


@router.post(PREFIX + "/logout")
async def logout(current: PageDep) -> Response:
    check_csrf(current, await read_form(current.request))
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    current.console.sessions.write(response, current.request, signed_out(new_session()))
    return response


@router.get(PREFIX + "/lang/{language}")
async def set_language(language: str, current: PageDep, next: str | None = None) -> Response:
    response = redirect(current, _safe_next(next))
    if language in LANGUAGES:
        secure = current.request.url.scheme == "https"
        response.set_cookie(LANG_COOKIE, language, max_age=365 * 86400, samesite="lax", secure=secure)
    return response


# --- tasks ----------------------------------------------------------------------------------------


async def _visible_task(current: Page, client: PrefectClient, name: str) -> DeploymentResponse:
    try:
        deployment = await find_task(client, name, current.target)
    except DeploymentsError:
        raise ConsoleError(404, "error.no_task", name=name) from None
    if not current.can_see(tag_value(deployment.tags, "group")):
        raise ConsoleError(404, "error.no_task", name=name)
    return deployment


async def act_on_task(
    current: Page, client: PrefectClient, deployment: DeploymentResponse, action: str
) -> FlowRun | None:
    """Run, enable, disable or delete (to the trash) the task of `deployment`, as one audit event
    by the signed-in user (what the CLI's commands record for each task); the run it started."""
    assert current.user is not None
    name = deployment.name
    target = current.target
    actor = user_actor(current.user.name, current.user.role)
    event = {
        "run": "task.run",
        "enable": "task.enabled",
        "disable": "task.disabled",
        "delete": "task.deleted",
    }
    change: dict[str, Any] = {
        "run": {"run": True},
        "enable": {"enabled": True},
        "disable": {"enabled": False},
        "delete": {"delete": name, "trash": True},
    }[action]
    started: FlowRun | None = None
    async with audited(
        event[action],
        deployment.name,
        actor,
        project=target.project,
        client=client,
        deployment_id=deployment.id,
        change=change,
    ) as record:
        if action == "run":
            started = await run_task(client, deployment.name, target=target)
            record["result"] = f"ok; run {started.id}"
        elif action == "delete":
            record["result"] = trashed_result(await trash_tasks(client, [deployment], target))
        else:
            changed = await set_enabled(client, [deployment], action == "enable")
            record["result"] = "ok" if changed else "ok; unchanged"
    forget_cached_reads(current)
    return started


def forget_cached_reads(current: Page) -> None:
    """The API's briefly cached reads must not show what was there before a change."""
    cache = getattr(getattr(current.request.app.state, "tasklane", None), "cache", None)
    if cache is not None:
        cache.clear()


async def _task_action(current: Page, client: PrefectClient, name: str, action: str) -> Response:
    """Run, enable, disable or delete task `name`, audited as the signed-in user; the task's row
    again (htmx), or back to where the browser was."""
    from tasklane.console.tasks_page import row_context  # it imports this module

    deployment = await _visible_task(current, client, name)
    started = await act_on_task(current, client, deployment, action)
    if not _is_htmx(current.request):
        if started is not None:
            return redirect(current, f"{PREFIX}/runs/{started.id}")
        return redirect(current, PREFIX + "/tasks")
    if action == "delete":
        return HTMLResponse("")  # htmx swaps the row for nothing: it is gone from the list
    fresh = await client.read_deployment(deployment.id)
    return current.render("_task_row.html", started=started, **await row_context(current, client, fresh))


def _row_action_route(action: str, role: Role) -> None:
    """POST /console/tasks/NAME/ACTION: a button in the task's row, for users of `role` and above."""

    async def endpoint(name: str, client: Client, current: PageDep) -> Response:
        return await _task_action(current, client, name, action)  # `current` is the checked page

    endpoint.__name__ = f"task_{action}"
    router.post(f"{PREFIX}/tasks/{{name}}/{action}", dependencies=[Depends(changing(role))])(endpoint)


for _action, _role in (("run", "operator"), ("enable", "operator"), ("disable", "operator")):
    _row_action_route(_action, _role)
_row_action_route("delete", "admin")


@router.get(PREFIX + "/tasks/{name}")
async def task_page(name: str, current: SignedIn, client: Client) -> Response:
    await _visible_task(current, client, name)
    detail = await show_task(client, name, current.target)
    return current.render("task.html", detail=detail, row=detail.row, deployment=detail.deployment)


# --- runs -----------------------------------------------------------------------------------------


@router.get(PREFIX + "/runs")
async def runs_page(
    current: SignedIn,
    client: Client,
    task: str = "",
    state: str = "",
    offset: int = 0,
    group: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    deployments = await read_task_deployments(client, current.target)
    visible = {n: d for n, d in deployments.items() if current.can_see(tag_value(d.tags, "group"))}
    groups = sorted({tag_value(d.tags, "group") or "default" for d in visible.values()})
    ids: list[UUID] | None = None if not current.user.caller.groups else [d.id for d in visible.values()]
    if group:
        ids = [d.id for n, d in visible.items() if (tag_value(d.tags, "group") or "default") == group]
    if task:
        ids = [visible[task].id] if task in visible and (ids is None or visible[task].id in ids) else []
    window = {"since": parse_moment(since, current.zone()), "until": parse_moment(until, current.zone())}
    word = STATE_WORDS.get(state)
    records = []
    more = False
    if ids != []:
        names = (word.names or None) if word else None
        query = project_runs(current.target, ids, state_names=names, **window)
        if word and word.types:
            query = query.replace(state_types=word.types)
        offset = max(0, offset)
        runs = await read_runs(client, query.past(datetime.now(UTC)), offset=offset, limit=RUNS_PAGE + 1)
        more = len(runs) > RUNS_PAGE
        records = await to_records(client, runs[:RUNS_PAGE])
    return current.render(
        "runs.html",
        records=records,
        tasks=sorted(visible),
        task=task,
        state=state,
        groups=groups,
        group=group,
        since=since,
        until=until,
        states=list(STATE_WORDS),
        offset=offset,
        more=more,
        page_size=RUNS_PAGE,
    )


def parse_moment(text: str, zone: ZoneInfo) -> datetime | None:
    """A time the user typed (clock.parse_moment: a date-time in the user's zone unless it names
    one, or a duration back from now as `tasklane history --since`); a 400 page if it is neither."""
    from deployments.schedules.clock import parse_moment as parse

    try:
        return parse(text, zone)
    except ValueError:
        raise ConsoleError(400, "runs_extra.bad_time", text=text.strip()) from None


async def _visible_run(current: Page, client: PrefectClient, ref: str) -> tuple[FlowRun, str | None]:
    """The run, and its task's name, if it is a run of this project's task the user may see."""
    run = await find_run(client, ref)
    deployment = None
    if run is not None and run.deployment_id is not None:
        try:
            deployment = await client.read_deployment(run.deployment_id)
        except ObjectNotFound:
            deployment = None
    if (
        run is None
        or deployment is None
        or current.target.project_tag not in deployment.tags
        or not current.can_see(tag_value(deployment.tags, "group"))
    ):
        raise ConsoleError(404, "error.no_run", run=ref)
    return run, deployment.name


@router.get(PREFIX + "/runs/{run_id}")
async def run_page(run_id: str, current: SignedIn, client: Client) -> Response:
    run, task = await _visible_run(current, client, run_id)
    final = run.state is not None and run.state.type in FINAL_STATES
    return current.render("run.html", run=run, task=task, final=final, link=run_link(str(run.id)))


def sse(event: str, data: str) -> str:
    """One server-sent event; each line of `data` its own `data:` line (the browser joins them)."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


@router.get(PREFIX + "/runs/{run_id}/logs/stream")
async def run_log_stream(run_id: str, current: SignedIn, client: Client) -> StreamingResponse:
    """The run's log lines as server-sent events (`line`), from its first, following new ones
    until it ends; then one `end` event, its final state and times as JSON (the browser stops
    there and shows them)."""
    run, _ = await _visible_run(current, client, run_id)
    t, zone = current.t, current.zone()

    async def events() -> AsyncIterator[str]:
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def follow() -> None:
            try:
                # A client of its own: the stream outlives the request's dependencies.
                async with get_client() as own:
                    final = await follow_run(
                        own,
                        run.id,
                        on_log=lambda log: queue.put_nowait(("line", format_log(log))),
                        timeout=STREAM_SECONDS,
                    )
                await queue.put(("end", final))
            except Exception as exc:  # the server went away: tell the page, do not hang it
                await queue.put(("error", f"{type(exc).__name__}: {exc}"))

        follower = asyncio.create_task(follow())
        try:
            yield ": following the run's log\n\n"
            while True:
                try:
                    kind, value = await asyncio.wait_for(queue.get(), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if kind == "line":
                    yield sse("line", value)
                elif kind == "end":
                    ended = {
                        "state": _state_label(t, value.state_name),
                        "start": _when(value.start_time, zone),
                        "end": _when(value.end_time, zone),
                    }
                    yield sse("end", json.dumps(ended, ensure_ascii=False))
                    return
                else:
                    yield sse("failure", t("run.stream_failed", reason=value))
                    return
        finally:
            follower.cancel()

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
