"""Watch the catalog's files and folders: which catalog files changed, a moment after a save.

`tasklane apply --watch` (and `make up`, which runs it) re-applies the catalog on each batch of
changes this yields. It watches each file's folder rather than the file itself: an editor that
saves by writing a new file and renaming it over the old one would end a watch on the file.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

from watchfiles import watch

CATALOG_SUFFIXES = (".yaml", ".yml")


def watched_roots(paths: list[Path]) -> list[Path]:
    """The folders to watch for `paths` (catalog files or folders): a folder itself, a file's
    folder (so a catalog file made after the watch started is seen too); none for a path whose
    folder does not exist."""
    roots: set[Path] = set()
    for path in paths:
        resolved = path.resolve()
        folder = resolved if resolved.is_dir() else resolved.parent
        if folder.is_dir():
            roots.add(folder)
    return sorted(roots)


def is_catalog_change(changed: Path, paths: list[Path]) -> bool:
    """Whether `changed` is one of the catalog's files: named in `paths`, or a *.yaml/*.yml directly
    in a catalog folder (`load_catalog` does not read subfolders)."""
    changed = changed.resolve()
    for path in paths:
        resolved = path.resolve()
        if changed == resolved:
            return True
        if changed.parent == resolved and changed.suffix in CATALOG_SUFFIXES:
            return True
    return False


def catalog_changes(
    paths: list[Path], *, stop_event: threading.Event | None = None, debounce_ms: int = 300
) -> Iterator[set[Path]]:
    """Each batch of changed catalog files, once writes have been quiet for `debounce_ms`.

    Ends when `stop_event` is set; Ctrl-C raises KeyboardInterrupt to the caller.
    """
    for batch in watch(
        *watched_roots(paths),
        debounce=debounce_ms,
        step=50,
        stop_event=stop_event,
        recursive=False,  # `load_catalog` reads no subfolder
        watch_filter=lambda _change, name: is_catalog_change(Path(name), paths),
    ):
        changed = {Path(name) for _change, name in batch}
        if changed:
            yield changed
