"""The FastAPI app of `tasklane api` and the function that serves it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from deployments.apply import Target
from tasklane import console
from tasklane.api import compat
from tasklane.api.auth import TokenStore
from tasklane.api.core import AppState, TtlCache, install_error_handlers
from tasklane.api.ratelimit import RateLimitMiddleware, RateLimits
from tasklane.api.routers import audit, executions, schedules, stats, tasks, templates, trash
from tasklane.api.settings import ApiSettings, load_api_settings
from tasklane.settings import Settings, get_settings

DESCRIPTION = """\
Tasklane's REST API (`/api/scheduler/...`), and the REST APIs of the schedulers it replaces
(`tasklane.api.compat`), served over the Prefect server: a task is a deployment, an execution
a flow run.

Every endpoint but `/health` needs `Authorization: Bearer <token>` (`tasklane token create NAME
--role viewer|operator|admin`). Errors are `{code, message, errors: [{field, message}]}`.
Every change is recorded as a `tasklane.*` Prefect event (`GET /api/scheduler/audit`).
"""


# Where /docs and /redoc find their scripts, styles and icon.
DOCS_ASSETS = "/docs-assets"


def create_app(settings: Settings | None = None, api: ApiSettings | None = None) -> FastAPI:
    """The API app for this project (settings.project), pool and home.

    Args:
        settings: Tasklane settings (default: `get_settings()`).
        api: API settings (default: `settings.api` once folded in, else `TASKLANE_API__*`).
    """
    settings = settings or get_settings()
    api = api or getattr(settings, "api", None) or load_api_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from prefect.client.orchestration import get_client

        from tasklane.history.ledger import keep_current

        async with get_client() as client:
            app.state.client = client
            app.state.client_loop = asyncio.get_running_loop()
            # The run ledger built and kept current beside the API: stats pages never wait for it.
            ledger_keeper = asyncio.create_task(keep_current(client)) if api.keep_ledger else None
            try:
                yield
            finally:
                if ledger_keeper is not None:
                    ledger_keeper.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await ledger_keeper
                app.state.client = None

    # /docs and /redoc load Swagger UI's and ReDoc's JS and CSS from the package (fastapi-offline
    # ships them, under their own licences: Apache-2.0, MIT), not from a CDN: they work offline.
    app = FastAPIOffline(
        title="Tasklane API",
        version="1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )
    app.state.tasklane = AppState(
        target=Target(work_pool=settings.pool.name, timezone=settings.timezone, project=settings.project),
        api=api,
        tokens=TokenStore(api.tokens_path(Path(settings.home))),
        base_dir=Path.cwd(),
        cache=TtlCache(api.cache_seconds, api.cache_stale_seconds),
        pool=settings.pool.name,
        template_dirs=list(settings.templates),
        trash_retention_days=settings.trash.retention_days,
    )
    install_error_handlers(app)
    app.add_middleware(RateLimitMiddleware, limits=RateLimits(api, app.state.tasklane.tokens))
    app.include_router(compat.router)
    app.include_router(compat.scheduler_router)
    for resource in (tasks, trash, executions, stats, templates, schedules, audit):
        app.include_router(resource.router)
    console.mount(app, settings)  # the console's pages at / (/console/...), its sign-in its own
    return app


def serve(settings: Settings | None = None, api: ApiSettings | None = None) -> None:
    """Serve the API with uvicorn on api.host:api.port until interrupted (`tasklane api`)."""
    import uvicorn

    settings = settings or get_settings()
    api = api or getattr(settings, "api", None) or load_api_settings()
    uvicorn.run(create_app(settings, api), host=api.host, port=api.port, log_level="info")
