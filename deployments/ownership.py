"""Who owns a task's definition: its home.

A task has one home, recorded on its deployment as a tag (`tasklane-home:HOME`):

- `file:PATH`: a catalog file, PATH relative to the project directory (absolute outside it).
  `apply` of that file creates, updates and prunes it; nothing else changes its definition.
- `api`: made (or taken over, `tasklane detach`) through the REST API, the chat bot or a UI;
  no `apply` touches it.
- `source:NAME`: an external task source.

A deployment made before homes existed has none: an `apply` whose catalog names it adopts it,
and no `apply` prunes it. An operator's pause or resume is not part of the definition: it lasts
until the home's own `enabled` value changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from deployments.tags import HOME_TAG_PREFIX

API_HOME = "api"
FILE_HOME_PREFIX = "file:"
SOURCE_HOME_PREFIX = "source:"


def file_home(path: Path, project_dir: Path | None = None) -> str:
    """The home of a catalog file: `file:` and its path relative to the project directory."""
    resolved = path.resolve()
    base = (project_dir or Path.cwd()).resolve()
    try:
        shown = resolved.relative_to(base).as_posix()
    except ValueError:
        shown = resolved.as_posix()
    return FILE_HOME_PREFIX + shown


def directory_claim(path: Path, project_dir: Path | None = None) -> str:
    """What reading a catalog directory claims: every file home below it, present or gone."""
    return file_home(path, project_dir).rstrip("/") + "/"


def home_tag(home: str) -> str:
    return HOME_TAG_PREFIX + home


def home_of(tags: Iterable[str]) -> str | None:
    """The home a deployment's tags record; None for a deployment made before homes existed."""
    for tag in tags:
        if tag.startswith(HOME_TAG_PREFIX):
            return tag.removeprefix(HOME_TAG_PREFIX)
    return None


def describe_home(home: str | None) -> str:
    """A home in words: `tasks/ops.yaml`, `the API`, `source 'wiki'`."""
    if home is None:
        return "no recorded home"
    if home == API_HOME:
        return "the API"
    if home.startswith(FILE_HOME_PREFIX):
        return home.removeprefix(FILE_HOME_PREFIX)
    if home.startswith(SOURCE_HOME_PREFIX):
        return f"source {home.removeprefix(SOURCE_HOME_PREFIX)!r}"
    return home
