"""What every router shares: the request context (Prefect client, project, caller), errors, audit, cache."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from uuid import UUID

import httpx
from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.responses import DeploymentResponse
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from pydantic import BaseModel, BeforeValidator
from starlette.exceptions import HTTPException as StarletteHTTPException

from deployments.apply import Target
from deployments.catalog import TaskSpec, parse_task
from deployments.errors import CatalogError, DeploymentsError, Problem, UnknownTaskError, validation_message
from tasklane.api.auth import Caller, Role, TokenStore
from tasklane.api.settings import ApiSettings
from tasklane.tasks.audit import AUDIT_PREFIX, TASK_RESOURCE_PREFIX, audited, token_actor
from tasklane.tasks.lookup import tag_value

log = logging.getLogger("tasklane.api")
T = TypeVar("T")


# --- errors ---------------------------------------------------------------------------------------


class FieldError(BaseModel):
    field: str | None = None
    message: str


class ErrorResponse(BaseModel):
    """Every error: the old systems' envelope (`code`, `message`) and, for bad input, one entry per field."""

    code: int
    message: str
    errors: list[FieldError] = []


class ApiError(Exception):
    def __init__(self, status: int, message: str, errors: list[FieldError] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No or unknown bearer token."},
    403: {"model": ErrorResponse, "description": "The token's role or groups do not allow this."},
    404: {"model": ErrorResponse, "description": "Unknown task, execution, template or pool."},
    409: {"model": ErrorResponse, "description": "Conflicts with what the server holds."},
    422: {
        "model": ErrorResponse,
        "description": "Invalid input (a malformed JSON body among it); `errors` names each field.",
    },
    429: {
        "model": ErrorResponse,
        "description": "Over the rate limit (settings api.rate_limit_token, api.rate_limit_address).",
        "headers": {
            "Retry-After": {"description": "Seconds until a retry may pass.", "schema": {"type": "integer"}}
        },
    },
    502: {"model": ErrorResponse, "description": "The Prefect server refused or is unreachable."},
}


def error_response(
    status: int, message: str, errors: list[FieldError] | None = None, **headers: str
) -> JSONResponse:
    body = ErrorResponse(code=status, message=message, errors=errors or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers or None)


def problems_to_errors(problems: list[Problem]) -> list[FieldError]:
    return [FieldError(field=p.field, message=p.message) for p in problems]


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives the request's path (its `Allow` header): those of the
    path written exactly so if there is one (`/tasks/from-template` is not a task id), else of the
    first path template that matches it, in the document's (the app's routing) order."""
    path = request.url.path
    paths: dict[str, dict[str, Any]] = request.app.openapi()["paths"]
    item = paths.get(path)
    if item is None:
        for template, candidate in paths.items():
            pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
            if re.fullmatch(pattern, path):
                item = candidate
                break
    return sorted(method.upper() for method in item or {} if method in HTTP_METHODS)


def install_error_handlers(app) -> None:
    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        return error_response(exc.status, exc.message, exc.errors, **headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for detail in exc.errors():
            loc = list(detail.get("loc", ()))
            if detail.get("type") == "json_invalid":  # loc is ("body", <character>)
                where = f" at character {loc[1]}" if len(loc) > 1 else ""
                errors.append(FieldError(field="body", message=f"is not valid JSON ({detail['msg']}{where})"))
                continue
            if loc and loc[0] in ("body", "query", "path", "header"):
                loc = loc[1:]
            message = validation_message(detail, extra=None, found="never")
            errors.append(FieldError(field=".".join(map(str, loc)) or None, message=message))
        count = len(errors)
        return error_response(422, f"{count} problem{'s' if count != 1 else ''} in the request", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's answer to a body it cannot decode at all (not UTF-8): the documented 422.
            problem = FieldError(field="body", message="is not valid JSON")
            return error_response(422, "1 problem in the request", [problem])
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route it tried only; RFC 9110 wants all.
            # The console's pages are not in the document: Starlette's own header for them.
            allowed = allowed_methods(request) or [m.strip() for m in headers.get("Allow", "").split(",")]
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
            return error_response(405, message, **headers)
        return error_response(exc.status_code, str(exc.detail), **headers)

    @app.exception_handler(CatalogError)
    async def _catalog(_request: Request, exc: CatalogError) -> JSONResponse:
        taken = [p for p in exc.problems if "already used on the server" in p.message]
        status = 409 if taken and len(taken) == len(exc.problems) else 422
        count = len(exc.problems)
        return error_response(
            status,
            f"{count} problem{'s' if count != 1 else ''} in the request",
            problems_to_errors(exc.problems),
        )

    @app.exception_handler(UnknownTaskError)
    async def _unknown(_request: Request, exc: UnknownTaskError) -> JSONResponse:
        return error_response(404, f"no task {exc.name!r}")

    @app.exception_handler(DeploymentsError)
    async def _deployments(_request: Request, exc: DeploymentsError) -> JSONResponse:
        return error_response(409, str(exc))

    @app.exception_handler(ObjectNotFound)
    async def _not_found(_request: Request, _exc: ObjectNotFound) -> JSONResponse:
        return error_response(404, "not found on the Prefect server")

    @app.exception_handler(PrefectHTTPStatusError)
    async def _prefect(_request: Request, exc: PrefectHTTPStatusError) -> JSONResponse:
        status = exc.response.status_code
        if status == 404:
            return error_response(404, "not found on the Prefect server")
        if status in (409, 422):
            return error_response(
                422 if status == 422 else 409, f"the Prefect server refused: {exc.response.text[:300]}"
            )
        return error_response(502, f"the Prefect server answered {status}")

    @app.exception_handler(httpx.HTTPError)
    async def _unreachable(_request: Request, exc: httpx.HTTPError) -> JSONResponse:
        return error_response(502, f"the Prefect server is unreachable ({type(exc).__name__})")


# --- context --------------------------------------------------------------------------------------


@dataclass
class AppState:
    """What `create_app` fixes: the project, the API settings, the token store, the cache."""

    target: Target
    api: ApiSettings
    tokens: TokenStore
    base_dir: Path
    cache: TtlCache
    pool: str
    template_dirs: list[Path]
    # Settings `trash.retention_days`: how long a deleted task waits in the trash (`GET /trash`).
    trash_retention_days: float = 30.0


@dataclass
class Ctx:
    """One request: the app's state, a Prefect client and the caller."""

    state: AppState
    client: PrefectClient
    caller: Caller

    @property
    def target(self) -> Target:
        return self.state.target

    def check_group(self, deployment: DeploymentResponse) -> DeploymentResponse:
        """The deployment, if the caller's group grants cover it; else 404 (its existence is not told)."""
        if not self.caller.can_see(tag_value(deployment.tags, "group")):
            raise ApiError(404, f"no task {deployment.name!r}")
        return deployment

    def parse(self, mapping: dict[str, Any]) -> TaskSpec:
        """Validate a task mapping as the catalog does; 422 naming each field."""
        parsed = parse_task(mapping, "request", 0, self.state.base_dir)
        if isinstance(parsed, list):
            raise CatalogError(parsed, where="the request", outcome="nothing was changed")
        return parsed

    def check_may_write(self, task: TaskSpec, job_changed: bool = True) -> None:
        """Group grants for the task's group, and the shell gate for code-running types."""
        if not self.caller.can_see(task.group):
            raise ApiError(403, f"token {self.caller.name!r} has no grant for group {task.group!r}")
        if task.type in self.state.api.shell_types and job_changed:
            if not self.caller.has("admin"):
                raise ApiError(403, f"only admins may set the commands of {task.type} tasks")
            if not self.state.api.allow_shell:
                raise ApiError(
                    403,
                    f"{task.type} tasks are not accepted through the API (api.allow_shell is off); "
                    "put them in the catalog",
                )

    def invalidate(self) -> None:
        self.state.cache.clear()

    @asynccontextmanager
    async def audit(
        self, event: str, resource: str, change: dict[str, Any], deployment_id: UUID | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """`tasklane.tasks.audit.audited` by this caller (`token:<name>`): emit `event` when the
        block ends, result "ok" or "failed: ..." (and re-raise), with the task's definition before
        -> after; the block may set `result`, `deployment_id` and `after` in the record."""
        action = event.removeprefix(AUDIT_PREFIX)
        is_task = resource.startswith(TASK_RESOURCE_PREFIX)
        task = resource.removeprefix(TASK_RESOURCE_PREFIX) if is_task else None
        try:
            async with audited(
                action,
                task,
                token_actor(self.caller.name, self.caller.role),
                project=self.target.project,
                client=self.client,
                deployment_id=deployment_id,
                resource=resource,
                change=change,
            ) as record:
                yield record
        finally:
            self.invalidate()


async def _client(request: Request) -> AsyncIterator[PrefectClient]:
    """The app's Prefect client when this request runs on the loop it was opened on, else one of its own."""
    app_state = request.app.state
    shared = getattr(app_state, "client", None)
    if shared is not None and getattr(app_state, "client_loop", None) is asyncio.get_running_loop():
        yield shared
        return
    async with get_client() as client:
        yield client


bearer = HTTPBearer(auto_error=False, description="A Tasklane API token (`tasklane token create`).")


def _caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiError(401, "a bearer token is required (Authorization: Bearer <token>)")
    caller = request.app.state.tasklane.tokens.caller(credentials.credentials)
    if caller is None:
        raise ApiError(401, "unknown or revoked token")
    return caller


def require(role: Role) -> Callable[..., Awaitable[Ctx]]:
    """A dependency: the request's Ctx, if its token has at least `role`."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        client: Annotated[PrefectClient, Depends(_client)],
    ) -> Ctx:
        caller = _caller(request, credentials)
        if not caller.has(role):
            raise ApiError(403, f"token {caller.name!r} has role {caller.role!r}; this needs {role!r}")
        return Ctx(request.app.state.tasklane, client, caller)

    return dependency


VIEWER = Depends(require("viewer"))
OPERATOR = Depends(require("operator"))
ADMIN = Depends(require("admin"))


# --- cache ----------------------------------------------------------------------------------------


class TtlCache:
    """Short-lived reuse of read results, with concurrent identical loads coalesced into one.

    A value younger than `seconds` is answered as it is. One older, but by less than
    `stale_seconds` more, is answered too while a fresh load runs in the background (stale
    while revalidate), so under steady traffic no caller waits for a load after the first;
    a background load that fails drops the value, and the next caller loads (and sees the
    error) itself. `clear()` (every write through the API) forgets everything, loads in flight
    included, so nobody reads what was there before their own write.
    """

    def __init__(self, seconds: float, stale_seconds: float = 0.0):
        self.seconds = seconds
        self.stale_seconds = stale_seconds
        self._values: dict[Any, tuple[float, Any]] = {}
        self._loading: dict[tuple[int, int, Any], asyncio.Future] = {}
        self._refreshing: set[asyncio.Task] = set()  # held so the loop does not drop them
        self._generation = 0

    def clear(self) -> None:
        self._values.clear()
        self._generation += 1

    async def get(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        if self.seconds <= 0:
            return await load()
        hit = self._values.get(key)
        if hit is not None:
            age = time.monotonic() - hit[0]
            if age < self.seconds:
                return hit[1]
            if age < self.seconds + self.stale_seconds:
                self._refresh(key, load, hit)
                return hit[1]
        return await self._load(key, load)

    def _refresh(self, key: Any, load: Callable[[], Awaitable[T]], stale: tuple[float, Any]) -> None:
        if self._flight(key) in self._loading:
            return
        loop = asyncio.get_running_loop()

        def done(task: asyncio.Task) -> None:
            self._refreshing.discard(task)
            if not task.cancelled() and task.exception() is not None and self._values.get(key) is stale:
                del self._values[key]

        task = loop.create_task(self._load(key, load))
        self._refreshing.add(task)
        task.add_done_callback(done)

    def _flight(self, key: Any) -> tuple[int, int, Any]:
        # Loads are shared per event loop (a future belongs to one) and per generation (a
        # caller after a write must not get a load that started before it).
        return id(asyncio.get_running_loop()), self._generation, key

    async def _load(self, key: Any, load: Callable[[], Awaitable[T]]) -> T:
        flight = self._flight(key)
        pending = self._loading.get(flight)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._loading[flight] = future
        generation = self._generation
        started = time.monotonic()
        try:
            value = await load()
        except BaseException as exc:
            if isinstance(exc, Exception):
                future.set_exception(exc)
                future.exception()  # retrieved: waiting callers get it, nobody else needs to
            else:
                future.cancel()
            raise
        finally:
            self._loading.pop(flight, None)
        if generation == self._generation:
            self._values[key] = (started, value)
        future.set_result(value)
        return value


# Dates and times in queries: ISO 8601 as the OpenAPI document declares (`format: date`,
# `date-time`); pydantic would also take a number as a Unix time (`since=0.5`), which the
# document does not allow.
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_number(value: Any) -> Any:
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError(f"expected an ISO 8601 date or date-time, found the number {value!r}")
    return value


IsoDate = Annotated[date, BeforeValidator(_not_a_number)]
IsoDateTime = Annotated[datetime, BeforeValidator(_not_a_number)]

# Paging parameters of the list endpoints (the default page size is each endpoint's own).
PageNumber = Annotated[int, Query(ge=1, le=100000)]
PageSize = Annotated[int, Query(ge=1, le=500)]
# `?detach=true` on a change of a task a catalog file defines: the API takes the task over.
Detach = Annotated[
    bool,
    Query(description="Take over a task a catalog file defines (it becomes the API's); otherwise 409."),
]
