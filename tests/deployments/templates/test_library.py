"""Where templates come from: the built-ins, the project's templates/, custom files overriding them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

import deployments.templates
from deployments.catalog import TaskSpec, parse_task
from deployments.errors import CatalogError
from deployments.task_types import registered_task_types
from deployments.templates import (
    BUILTIN_TEMPLATES,
    builtin_templates,
    check_examples,
    check_values,
    load_templates,
    render,
)
from tests.deployments.templates.support import builtin, problems

ROOT = Path(__file__).parents[3]


REQUIRED_BUILTINS = {
    "backup-dir",
    "cleanup-old-files",
    "http-health-check",
    "jira-export",
    "confluence-report",
}


# --- built-ins -----------------------------------------------------------------------------------


def test_builtins_are_there_with_categories() -> None:
    templates = builtin_templates()
    assert REQUIRED_BUILTINS <= set(templates)
    assert set(BUILTIN_TEMPLATES) == set(templates)
    categories = {t.category for t in templates.values()}
    assert {"backup", "cleanup", "monitoring"} <= categories
    for template in templates.values():
        assert template.builtin and template.description
        assert template.summary()["id"] == template.name


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_every_builtin_renders_its_examples_to_a_valid_task(name: str) -> None:
    template = builtin(name)
    task_type = template.task["type"]
    if task_type not in registered_task_types():
        # The plugin is not installed here: the parameters still check, only the type is unknown.
        check_values(template, "example", template.example_values())
        (problem,) = problems(template, template.example_values())
        assert f"unknown type {task_type!r}" in problem
        return
    assert check_examples(template) == []
    mapping = render(template, "example", template.example_values())
    assert mapping["name"] == "example" and mapping["type"] == task_type
    parsed = parse_task(mapping, "t.yaml", 0, Path.cwd())
    assert isinstance(parsed, TaskSpec), parsed
    assert parsed.schedule, "every built-in runs on a schedule"


def test_project_example_templates_load_and_render(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    templates = load_templates()  # default: templates/ of the working directory
    custom_ones = [t for t in templates.values() if not t.builtin]
    assert {"postgres-backup", "disk-space-check"} <= {t.name for t in custom_ones}
    for template in custom_ones:
        assert template.source.startswith("templates")
        assert check_examples(template) == [], template.name


def test_a_missing_default_directory_is_fine_an_explicit_required_one_is_not(tmp_path: Path) -> None:
    assert set(load_templates([tmp_path / "nope"])) == set(BUILTIN_TEMPLATES)
    with pytest.raises(CatalogError, match="no such file or directory"):
        load_templates([tmp_path / "nope"], required=True)


def test_each_builtin_is_a_yaml_file_of_the_package_named_after_its_template() -> None:
    folder = Path(deployments.templates.__file__).parent / "builtin"
    files = sorted(folder.glob("*.yaml"))
    assert {f.stem for f in files} == set(BUILTIN_TEMPLATES) == set(builtin_templates())
    for file in files:
        text = file.read_text(encoding="utf-8")
        assert BUILTIN_TEMPLATES[file.stem] == text
        assert yaml.safe_load(text)["name"] == file.stem


# --- custom templates ----------------------------------------------------------------------------


def test_custom_templates_override_builtins_and_files_may_hold_lists(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "backup.yaml").write_text(
        textwrap.dedent(
            """
            name: backup-dir
            category: backup
            description: Our own backup
            params: {what: {type: path, required: true}}
            task: {type: shell, command: "our-backup {{ what | quote }}"}
            """
        )
    )
    (tmp_path / "templates" / "more.yml").write_text(
        textwrap.dedent(
            """
            templates:
              - {name: one, task: {type: shell, command: "true"}}
              - {name: two, category: misc, task: {type: shell, command: "false"}}
            """
        )
    )
    (tmp_path / "templates" / "README.md").write_text("not a template")
    templates = load_templates([tmp_path / "templates"])
    assert set(BUILTIN_TEMPLATES) | {"one", "two"} == set(templates)
    ours = templates["backup-dir"]
    assert not ours.builtin and ours.source == str(tmp_path / "templates" / "backup.yaml")
    assert render(ours, "b", {"what": "/a b"})["command"] == "our-backup '/a b'"
    assert templates["one"].category == "general" and templates["two"].category == "misc"
    assert builtin("backup-dir").description != "Our own backup"  # the built-in itself is untouched


def test_every_template_mistake_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: dup\ntask: {type: shell, command: 'true'}\n")
    (tmp_path / "b.yaml").write_text("name: dup\ntask: {type: shell, command: 'true'}\n")
    (tmp_path / "c.yaml").write_text(
        "name: c\nparams: {x: {type: integer, default: z}}\ntask: {type: shell}\n"
    )
    with pytest.raises(CatalogError) as caught:
        load_templates([tmp_path])
    found = [str(p) for p in caught.value.problems]
    assert len(found) == 2, found
    assert "b.yaml: template 'dup': field 'name': duplicate template name (first defined in" in found[0]
    assert "a.yaml" in found[0]
    assert "c.yaml: template 'c': field 'params.x.default'" in found[1]
    assert str(caught.value).startswith("2 problems in the templates; no template was loaded")


# --- writing custom templates --------------------------------------------------------------------

CUSTOM = textwrap.dedent(
    """\
    name: say-hello
    category: demo
    description: Say hello
    params:
      who: {type: string, required: true}
    task:
      type: shell
      command: echo hello {{ who | quote }}
    """
)


def test_save_edit_and_delete_a_custom_template(tmp_path: Path) -> None:
    from deployments.templates import delete_template, save_template

    dirs = [tmp_path / "templates"]
    saved = save_template(CUSTOM, dirs)
    assert saved.name == "say-hello" and (tmp_path / "templates" / "say-hello.yaml").read_text() == CUSTOM
    assert load_templates(dirs)["say-hello"].category == "demo"
    with pytest.raises(CatalogError, match="custom template 'say-hello' exists"):
        save_template(CUSTOM, dirs)
    save_template(CUSTOM.replace("category: demo", "category: greetings"), dirs, replacing="say-hello")
    assert load_templates(dirs)["say-hello"].category == "greetings"
    with pytest.raises(CatalogError, match="to rename"):
        save_template(CUSTOM.replace("name: say-hello", "name: other"), dirs, replacing="say-hello")
    assert delete_template("say-hello", dirs) == tmp_path / "templates" / "say-hello.yaml"
    assert "say-hello" not in load_templates(dirs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CUSTOM.replace("{{ who | quote }}", "{{ whom }}"), "'whom', which is not a parameter"),
        (CUSTOM.replace("name: say-hello", "name: 'bad name'"), "must be a template id"),
        ("name: [unclosed", "is not valid YAML"),
    ],
)
def test_an_invalid_template_is_not_saved(tmp_path: Path, text: str, message: str) -> None:
    from deployments.templates import save_template

    dirs = [tmp_path / "templates"]
    with pytest.raises(CatalogError, match=message):
        save_template(text, dirs)
    assert not (tmp_path / "templates").exists() or not list((tmp_path / "templates").iterdir())


def test_builtins_are_read_only(tmp_path: Path) -> None:
    from deployments.errors import DeploymentsError
    from deployments.templates import delete_template, save_template

    with pytest.raises(DeploymentsError, match="built-ins are read-only"):
        delete_template("backup-dir", [tmp_path])
    with pytest.raises(DeploymentsError, match="built-ins are read-only"):
        save_template(CUSTOM.replace("say-hello", "backup-dir"), [tmp_path], replacing="backup-dir")
