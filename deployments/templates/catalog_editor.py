"""The catalog editor: a task rendered from a template, as a new catalog file or appended to one.

Appending keeps the file's text as it is (comments included) and refuses, leaving the file
untouched, whatever it cannot add safely.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from deployments.errors import CatalogError, Problem
from deployments.templates.definition import Template
from deployments.templates.render import render
from deployments.templates.yaml_text import cli_value, dump_block, indented


def _header(template: Template, values: Mapping[str, Any] | None) -> str:
    given = " ".join(
        f"--set {shlex.quote(f'{k}={cli_value(v)}')}" for k, v in (values or {}).items() if v is not None
    )
    line = f"# from template {template.name!r} ({template.origin}){': ' + given if given else ''}"
    # One comment line whatever the values hold: a newline would end the comment.
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], line) + "\n"


def new_task_yaml(template: Template, name: str, values: Mapping[str, Any] | None = None) -> str:
    """A catalog file (`tasks:` with the one rendered task) for `tasklane new NAME --from TEMPLATE`."""
    mapping = render(template, name, values)
    return _header(template, values) + dump_block({"tasks": [mapping]})


def append_task(
    file: Path, template: Template, name: str, values: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Render the task and append it to catalog `file` (created if missing); return the mapping.

    The file's text is kept as it is (comments included); the task goes after its last line, at
    the indentation of its `tasks:` items. Refused (CatalogError, file untouched) if the file is
    not a catalog, already has a task of this name, or its `tasks:` list is not the last block
    of the file in block style (`tasks: [...]`): then print the task and paste it in.
    """
    mapping = render(template, name, values, base_dir=file.parent)
    header = _header(template, values)
    where = str(file)

    def refuse(message: str) -> CatalogError:
        return CatalogError([Problem(where, name, None, message)], where=where, outcome="it was not changed")

    text = file.read_text(encoding="utf-8") if file.exists() else ""
    try:
        document = yaml.safe_load(text) if text.strip() else None
        root = yaml.compose(text) if text.strip() else None
    except yaml.YAMLError as exc:
        raise refuse(f"is not valid YAML: {exc}") from None
    if document is not None and not (isinstance(document, dict) and set(document) <= {"tasks"}):
        raise refuse("is not a catalog file (a mapping with a 'tasks:' list)")
    existing = (document or {}).get("tasks") or []
    if not isinstance(existing, list):
        raise refuse("its 'tasks' is not a list")
    if any(isinstance(t, dict) and t.get("name") == name for t in existing):
        raise refuse("the file already has a task of this name")
    indent = 2
    if isinstance(root, yaml.MappingNode):
        for key, node in root.value:
            if key.value == "tasks" and isinstance(node, yaml.SequenceNode):
                if node.flow_style:
                    raise refuse("its tasks are written as a flow list (tasks: [...]); add the task yourself")
                if node.value:
                    mark = node.value[0].start_mark
                    indent = text.splitlines()[mark.line].rfind("-", 0, mark.column)
    addition = indented(header + dump_block([mapping]), max(indent, 0))
    if document is None or "tasks" not in (document or {}):
        addition = "tasks:\n" + addition
    new_text = text + ("\n" if text and not text.endswith("\n") else "") + addition
    try:
        check = yaml.safe_load(new_text)
    except yaml.YAMLError:
        check = None
    if not (
        isinstance(check, dict) and check.get("tasks") == [*existing, mapping] and set(check) == {"tasks"}
    ):
        raise refuse(
            "its tasks list is not the last block of the file; add the task yourself (tasklane new prints it)"
        )
    temporary = file.with_name(f".{file.name}.tasklane-new")
    temporary.write_text(new_text, encoding="utf-8")
    temporary.replace(file)
    return mapping
