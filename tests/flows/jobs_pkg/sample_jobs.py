"""Callables that the python task type's tests import by 'module:function'."""

from __future__ import annotations

import time
from pathlib import Path


def add(a: int, b: int = 1) -> dict[str, int]:
    return {"sum": a + b}


def explode(message: str) -> None:
    raise ValueError(f"exploded: {message}")


def nap(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


def fail_until(counter_file: str, successes_after: int) -> int:
    """Fail the first `successes_after` calls, recording the time of each call."""
    path = Path(counter_file)
    with path.open("a") as handle:
        handle.write(f"{time.time()}\n")
    calls = len(path.read_text().split())
    if calls <= successes_after:
        raise RuntimeError(f"attempt {calls} fails")
    return calls


NOT_CALLABLE = 42
