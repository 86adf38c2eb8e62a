"""Find and run the code of a Python task. Plain Python, no Prefect."""

from __future__ import annotations

import importlib
import runpy
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from integrations.errors import CallableNotFoundError, ScriptExitError


@contextmanager
def extra_sys_path(paths: list[str]) -> Iterator[None]:
    """Put `paths` first on sys.path for the duration, then restore it."""
    saved = list(sys.path)
    sys.path[:0] = [p for p in paths if p not in sys.path]
    try:
        yield
    finally:
        sys.path[:] = saved


def load_callable(reference: str) -> Callable[..., Any]:
    """'package.module:function' (or 'module:Class.method') -> the callable.

    Raises:
        CallableNotFoundError: the module cannot be imported, or the name is missing
            or is not callable.
    """
    module_name, _, qualname = reference.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise CallableNotFoundError(
            f"callable {reference!r}: cannot import module {module_name!r}: {exc}"
        ) from exc
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise CallableNotFoundError(
                f"callable {reference!r}: {getattr(target, '__name__', target)!r} has no attribute {part!r}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise CallableNotFoundError(f"callable {reference!r} is a {type(target).__name__}, not callable")
    return target


def run_script(path: str) -> Any:
    """Run a Python file as __main__; its result is its top-level `result`, if it sets one.

    Raises:
        CallableNotFoundError: the file does not exist.
        ScriptExitError: the script called sys.exit() with a non-zero status.
    """
    script = Path(path)
    if not script.is_file():
        raise CallableNotFoundError(f"script {path!r} does not exist")
    saved_argv = sys.argv
    sys.argv = [str(script)]
    try:
        namespace = runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code in (None, 0):
            return None
        exit_code = code if isinstance(code, int) else 1
        raise ScriptExitError(f"script {path!r} exited with status {code!r}", exit_code) from exc
    finally:
        sys.argv = saved_argv
    return namespace.get("result")


def run_code(code: str, filename: str = "<code>") -> Any:
    """Run Python source as __main__; its result is its top-level `result`, if it sets one.

    Args:
        filename: what tracebacks call the code (e.g. '<task nightly>').

    Raises:
        ScriptExitError: the code called sys.exit() with a non-zero status.
    """
    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": filename}
    try:
        exec(compile(code, filename, "exec", dont_inherit=True), namespace)
    except SystemExit as exc:
        code_ = exc.code
        if code_ in (None, 0):
            return None
        exit_code = code_ if isinstance(code_, int) else 1
        raise ScriptExitError(f"code of {filename} exited with status {code_!r}", exit_code) from exc
    return namespace.get("result")
