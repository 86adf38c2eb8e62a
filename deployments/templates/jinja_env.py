"""The sandboxed Jinja environment templates render in: its filters, `omit`, and the names it reserves.

Filters: `quote` (shell-quote; a list becomes quoted words), `basename`, `dirname`, `seconds` (a
duration in seconds), `pairs` (["K=V", ...] → {K: V}).
"""

from __future__ import annotations

import posixpath
import shlex
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from deployments.templates.parameters import duration_seconds


class _Omit:
    """`omit`: a value that leaves its key (or list item) out of the rendered task."""

    MARK = "\x00tasklane-omit\x00"

    def __repr__(self) -> str:
        return "omit"

    def __str__(self) -> str:
        return self.MARK


OMIT = _Omit()
OMIT_MARK = _Omit.MARK


def _quote(value: Any) -> str:
    """Shell-quote a value; a list becomes space-separated quoted words."""
    if value is None:
        raise ValueError("quote: the value is empty (an optional parameter that was not given)")
    if isinstance(value, list | tuple):
        return " ".join(_quote(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return shlex.quote(str(value))


def _basename(value: Any) -> str:
    text = str(value)
    stripped = text.rstrip("/")
    return posixpath.basename(stripped) if stripped else text


def _dirname(value: Any) -> str:
    text = str(value)
    stripped = text.rstrip("/")
    if not stripped:
        return text
    return posixpath.dirname(stripped) or "."


def _pairs(value: Any) -> dict[str, str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    result: dict[str, str] = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"pairs: {item!r} is not KEY=VALUE")
        result[key.strip()] = text.strip()
    return result


def _finalize(value: Any) -> Any:
    # Inside text an empty optional parameter renders as "", not "None".
    return "" if value is None else value


@lru_cache
def environment() -> SandboxedEnvironment:
    """The sandboxed Jinja environment templates render in."""
    env = SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters.update(
        quote=_quote, basename=_basename, dirname=_dirname, seconds=duration_seconds, pairs=_pairs
    )
    return env


# Names a parameter cannot take: the template's own variables, Jinja keywords and loop helpers.
RESERVED_NAMES = {
    *"name omit true false none True False None".split(),
    *"and or not in is if else loop self super varargs kwargs".split(),
}


def reserved_names() -> set[str]:
    """RESERVED_NAMES and the environment's globals (range, dict, ...)."""
    return RESERVED_NAMES | set(environment().globals)


def is_templated(text: str) -> bool:
    """Whether `text` holds Jinja markup (else it is used as it is)."""
    return "{{" in text or "{%" in text or "{#" in text
