"""A webhook receiver: records every request (any method, any path) and answers 200.

Serves as the target of Prefect's `CustomWebhookNotificationBlock` and of `MattermostWebhook`
(apprise posts to `/hooks/<token>`), so tests can see exactly which alerts were sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tasklane.stack.peers._server import wait_until


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass
class WebhookReceiver:
    """The receiver's state; `app` is the ASGI app to serve with `tasklane.stack.peers._server.serve`.

    Examples:
        >>> receiver = WebhookReceiver()
        >>> receiver.received
        []
    """

    status: int = 200
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.app = self._build_app()

    def on(self, path_contains: str = "") -> list[Received]:
        with self.lock:
            return [r for r in self.received if path_contains in r.path]

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
        return wait_until(predicate, timeout, interval=0.05)

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="webhook receiver")
        receiver = self

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        async def anything(path: str, request: Request) -> JSONResponse:
            body = await request.body()
            with receiver.lock:
                receiver.received.append(
                    Received(request.method, "/" + path, dict(request.headers), body, time.time())
                )
            return JSONResponse({"ok": True}, status_code=receiver.status)

        return app
