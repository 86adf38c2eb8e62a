"""Run an ASGI app (a fake Jira, Confluence, Mattermost, webhook receiver...) on loopback.

The fakes are real HTTP servers on 127.0.0.1 so that the real client libraries talk to them
over sockets exactly as they would to the real services.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

# Wrappers every served app goes through (the tests' contract checks register one): each takes
# an ASGI app and returns the app to serve.
_app_wrappers: list[Callable[[Any], Any]] = []


def add_app_wrapper(wrapper: Callable[[Any], Any]) -> None:
    """Serve every app from now on through `wrapper` (e.g. a check of each request and answer)."""
    _app_wrappers.append(wrapper)


def remove_app_wrapper(wrapper: Callable[[Any], Any]) -> None:
    _app_wrappers.remove(wrapper)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(app: Any, port: int | None = None, *, ready_timeout: float = 10.0) -> Iterator[str]:
    """Serve `app` in a background thread; yield its base URL; stop it on exit."""
    port = port or free_port()
    for wrap in _app_wrappers:
        app = wrap(app)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"fake-server-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + ready_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"fake server on port {port} did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def count_requests(
    requests: Iterable[tuple[str, str, int]],
    *,
    method: str | None = None,
    status: int | None = None,
    path: str | None = None,
) -> int:
    """How many of a peer's recorded (method, path, status) requests match; None matches any,
    `path` matches a part of the path."""
    return sum(
        1
        for m, p, s in requests
        if (method is None or m == method) and (status is None or s == status) and (path is None or path in p)
    )


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    """Poll `predicate` until it holds or `timeout` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
