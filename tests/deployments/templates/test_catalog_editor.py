"""The catalog editor: a rendered task as a new catalog file, or appended to one keeping its text."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments.catalog import load_catalog
from deployments.errors import CatalogError
from deployments.templates import append_task, new_task_yaml
from tests.deployments.templates.support import builtin, custom


def test_new_task_yaml_is_a_valid_catalog(tmp_path: Path) -> None:
    text = new_task_yaml(builtin("backup-dir"), "nightly", {"source": "/srv/my data", "keep_days": "3"})
    assert text.startswith(
        "# from template 'backup-dir' (built-in): --set 'source=/srv/my data' --set keep_days=3"
    )
    assert "  command: |\n" in text  # multi-line commands stay readable
    path = tmp_path / "tasks.yaml"
    path.write_text(text)
    (task,) = load_catalog([path]).tasks
    assert task.name == "nightly" and task.group == "backup" and "-mmin +4320" in task.job.command


def test_values_cannot_break_out_of_the_header_comment(tmp_path: Path) -> None:
    template = custom(
        tmp_path,
        """
        name: note
        params: {text: {type: string, required: true}}
        task: {type: python, callable: "pkg.mod:fn", kwargs: {text: "{{ text }}"}}
        """,
    )
    text = "hi\ntasks: []\r\n  - name: evil"
    output = new_task_yaml(template, "n", {"text": text})
    assert output.splitlines()[0].endswith("\\ntasks: []\\r\\n  - name: evil'")
    assert yaml.safe_load(output) == {
        "tasks": [{"name": "n", "type": "python", "callable": "pkg.mod:fn", "kwargs": {"text": text}}]
    }
    path = tmp_path / "tasks.yaml"
    append_task(path, template, "n", {"text": text})
    assert load_catalog([path]).tasks[0].job.kwargs == {"text": text}


def test_append_task_keeps_the_file_and_its_indentation(tmp_path: Path) -> None:
    template = builtin("cleanup-old-files")
    created = tmp_path / "new.yaml"
    append_task(created, template, "first", {"directory": "/tmp/a"})
    assert [t.name for t in load_catalog([created]).tasks] == ["first"]

    for indent in ("", "  ", "    "):
        path = tmp_path / f"tasks{len(indent)}.yaml"
        original = f"# our catalog\ntasks:\n{indent}- name: existing  # keep me\n{indent}  type: shell\n"
        original += f"{indent}  command: 'true'\n\n# trailing comment\n"
        path.write_text(original)
        append_task(path, template, "second", {"directory": "/tmp/b", "days": 3})
        text = path.read_text()
        assert text.startswith(original)
        assert f"\n{indent}# from template 'cleanup-old-files' (built-in)" in text
        assert [t.name for t in load_catalog([path]).tasks] == ["existing", "second"]
        with pytest.raises(CatalogError, match="already has a task of this name"):
            append_task(path, template, "second", {"directory": "/tmp/b"})
        assert path.read_text() == text

    flow = tmp_path / "flow.yaml"
    flow.write_text("tasks: [{name: a, type: shell, command: 'true'}]\n")
    with pytest.raises(CatalogError, match="flow list"):
        append_task(flow, template, "b", {"directory": "/tmp/b"})
    other = tmp_path / "other.yaml"
    other.write_text("settings: {a: 1}\n")
    with pytest.raises(CatalogError, match="is not a catalog file"):
        append_task(other, template, "b", {"directory": "/tmp/b"})
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    append_task(empty, template, "b", {"directory": "/tmp/b"})
    assert empty.read_text().startswith("# nothing yet\ntasks:\n  # from template")
    assert [t.name for t in load_catalog([empty]).tasks] == ["b"]


def test_append_task_refuses_bad_values_and_leaves_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("tasks:\n  - {name: a, type: shell, command: 'true'}\n")
    with pytest.raises(CatalogError, match="params.days"):
        append_task(path, builtin("cleanup-old-files"), "b", {"directory": "/tmp", "days": -1})
    assert path.read_text() == "tasks:\n  - {name: a, type: shell, command: 'true'}\n"
