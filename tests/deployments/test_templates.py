"""Task templates: built-ins render valid tasks, typed and checked parameters, shell values stay quoted."""

from __future__ import annotations

import os
import shlex
import subprocess
import tarfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from deployments.catalog import TaskSpec, load_catalog, parse_task
from deployments.errors import CatalogError
from deployments.task_types import registered_task_types
from deployments.templates import (
    BUILTIN_TEMPLATES,
    Template,
    append_task,
    builtin_templates,
    check_examples,
    check_values,
    describe,
    load_templates,
    new_task_yaml,
    parse_set_options,
    parse_template,
    render,
    template_yaml,
)

ROOT = Path(__file__).parents[2]
DAY = 86400
REQUIRED_BUILTINS = {
    "backup-dir",
    "cleanup-old-files",
    "http-health-check",
    "jira-export",
    "confluence-report",
}


def builtin(name: str) -> Template:
    return builtin_templates()[name]


def problems(template: Template, values: dict[str, Any], name: str = "my-task") -> list[str]:
    with pytest.raises(CatalogError) as caught:
        render(template, name, values)
    return [str(p) for p in caught.value.problems]


def custom(tmp_path: Path, text: str, file: str = "custom.yaml") -> Template:
    path = tmp_path / file
    path.write_text(textwrap.dedent(text))
    (name,) = [t.name for t in load_templates([path]).values() if not t.builtin]
    return load_templates([path])[name]


def template_problems(tmp_path: Path, text: str, file: str = "bad.yaml") -> list[str]:
    path = tmp_path / file
    path.write_text(textwrap.dedent(text))
    with pytest.raises(CatalogError) as caught:
        load_templates([path])
    return [str(p) for p in caught.value.problems]


def run_bash(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60)


def age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


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


# --- parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        (
            "backup-dir",
            {},
            "built-in template 'backup-dir': task 'my-task': field 'params.source': "
            "is required (path): Directory to archive; e.g. source=/srv/data",
        ),
        (
            "backup-dir",
            {"source": "/srv", "bogus": 1},
            "field 'params.bogus': is not a parameter of this template "
            "(it takes: source, dest, keep_days, exclude, schedule)",
        ),
        ("backup-dir", {"source": "/srv", "keep_day": 3}, "did you mean 'keep_days'?"),
        (
            "backup-dir",
            {"source": "/srv", "keep_days": "abc"},
            "field 'params.keep_days': must be a whole number such as 7; found 'abc'",
        ),
        (
            "backup-dir",
            {"source": "/srv", "keep_days": "0"},
            "field 'params.keep_days': must be between 1 and 3650; found 0",
        ),
        ("backup-dir", {"source": "/srv", "keep_days": True}, "must be a whole number such as 7; found true"),
        (
            "backup-dir",
            {"source": "relative/dir"},
            "field 'params.source': must be an absolute path (starting with '/'); found 'relative/dir'",
        ),
        ("backup-dir", {"source": "/srv\n/etc"}, "must be a path without control characters"),
        (
            "backup-dir",
            {"source": "/srv", "schedule": "0 2 * *"},
            "field 'params.schedule': must be a 5-field cron expression such as \"0 2 * * *\": "
            'cron "0 2 * *" has 4 fields, needs 5',
        ),
        (
            "http-health-check",
            {"url": "https://a.example", "method": "PUT"},
            "field 'params.method': must be one of GET, HEAD, POST; found 'PUT'",
        ),
        (
            "http-health-check",
            {"url": "ftp://a.example"},
            "field 'params.url': must match the pattern https?://\\S+; found 'ftp://a.example'",
        ),
        (
            "http-health-check",
            {"url": "https://a.example", "interval": "5s"},
            "field 'params.interval': must be between 10s and 1d; found '5s'",
        ),
        (
            "http-health-check",
            {"url": "https://a.example", "interval": "soon"},
            "must be a duration such as 30s, 5m, 1h30m, 2d; found 'soon'",
        ),
        (
            "http-health-check",
            {"url": "https://a.example", "expected_status": "200,abc"},
            "field 'params.expected_status': item 2: must be a whole number such as 7; found 'abc'",
        ),
        (
            "http-health-check",
            {"url": "https://a.example", "expected_status": ","},
            "field 'params.expected_status': must be at least 1 items; found 0 items",
        ),
        (
            "http-health-check",
            {"url": "https://a.example", "request_timeout": "fast"},
            "must be a number such as 2.5; found 'fast'",
        ),
        (
            "http-health-check",
            {"url": "https://a.example", "verify_tls": ["true", "false"]},
            "field 'params.verify_tls': takes one value; found 2: 'true', 'false'",
        ),
        (
            "cleanup-old-files",
            {"directory": "/srv", "recursive": "maybe"},
            "must be true or false (or yes/no, on/off, 1/0); found 'maybe'",
        ),
        ("cleanup-old-files", {"directory": "/srv", "days": {"a": 1}}, "takes one value; found a mapping"),
    ],
)
def test_each_bad_value_is_named(template: str, values: dict[str, Any], expected: str) -> None:
    found = problems(builtin(template), values)
    assert len(found) == 1, found
    assert expected in found[0]
    assert found[0].startswith(f"built-in template {template!r}: task 'my-task': field 'params.")


def test_every_bad_value_is_reported_at_once() -> None:
    found = problems(builtin("backup-dir"), {"keep_days": 0, "dest": "x", "nope": 1}, name="bad name")
    fields = [p.split("field ")[1].split(":")[0] for p in found]
    assert fields == ["'name'", "'params.nope'", "'params.source'", "'params.dest'", "'params.keep_days'"]


def test_command_line_strings_are_coerced() -> None:
    health = render(
        builtin("http-health-check"),
        "status",
        {
            "url": "https://a.example/health",
            "expected_status": "200, 204",
            "interval": "90",
            "request_timeout": "2.5",
            "retries": "0",
            "verify_tls": "off",
        },
    )
    assert health["expected_status"] == [200, 204]
    assert health["schedule"] == {"every": "90s"}
    assert health["request_timeout"] == 2.5 and health["verify_tls"] is False
    assert health["retry"] == {"max_retries": 0, "retry_delay": 10}
    assert "auth_block" not in health  # an empty optional parameter leaves its key out
    with_auth = render(
        builtin("http-health-check"),
        "status",
        {"url": "https://a.example", "auth_block": "http-bearer-auth/status", "expected_status": "[200]"},
    )
    assert with_auth["auth_block"] == "http-bearer-auth/status" and with_auth["expected_status"] == [200]

    cleanup = render(
        builtin("cleanup-old-files"),
        "logs",
        {"directory": "/var/log/app", "days": "7", "recursive": "no", "dry_run": "yes", "pattern": "*.log"},
    )
    assert "-maxdepth 1 " in cleanup["command"] and "-mmin +10080 " in cleanup["command"]
    assert "-delete" not in cleanup["command"] and "-name '*.log'" in cleanup["command"]


def test_set_options_parse_and_repeated_keys_make_lists() -> None:
    values = parse_set_options(["source=/srv/data", "note=a=b", "exclude=a,b", "exclude=c", "empty="])
    assert values == {"source": "/srv/data", "note": "a=b", "exclude": ["a,b", "c"], "empty": ""}
    mapping = render(builtin("backup-dir"), "b", {"source": "/srv", "exclude": values["exclude"]})
    assert "--exclude=a,b --exclude=c -C" in mapping["command"]  # repeated: items kept whole
    with pytest.raises(CatalogError, match="'oops' is not KEY=VALUE"):
        parse_set_options(["oops"])


def test_a_required_value_left_empty_on_the_command_line_is_missing() -> None:
    (problem,) = problems(builtin("jira-export"), {"block": "", "root_key": "DEMO-1"})
    assert "field 'params.block': is required (string)" in problem


# --- rendering -----------------------------------------------------------------------------------


@pytest.mark.skipif("jira_export" not in registered_task_types(), reason="jira_export type not installed")
def test_a_template_that_renders_an_invalid_task_is_named() -> None:
    values = {"block": "jira", "root_key": "DEMO-1", "project_key": "DEMO"}
    (problem,) = problems(builtin("jira-export"), values, name="export")
    assert problem.startswith("built-in template 'jira-export': task 'export'")
    assert "give exactly one of 'root_key', 'project_key', 'jql'" in problem
    mapping = render(builtin("jira-export"), "export", {"block": "jira", "jql": "project = DEMO"})
    assert mapping["jql"] == "project = DEMO" and "root_key" not in mapping and "max_depth" not in mapping
    assert mapping["output"] == "exports/{task}-{date}.xlsx"  # run placeholders pass through


@pytest.mark.skipif(
    "confluence_table" not in registered_task_types(), reason="confluence_table type not installed"
)
def test_confluence_report_keys_and_pairs() -> None:
    mapping = render(
        builtin("confluence-report"),
        "board",
        {
            "block": "wiki",
            "page_id": 42,
            "table_heading": "Jobs",
            "key_column": "Job",
            "columns": "Status=OK,When={datetime}",
        },
    )
    assert mapping["page_id"] == "42"
    assert mapping["rows"] == [{"Job": "{task}"}]
    assert mapping["run_columns"] == {"Status": "OK", "When": "{datetime}"}
    (problem,) = problems(
        builtin("confluence-report"), {"block": "wiki", "page_id": "x1", "table_heading": "Jobs"}
    )
    assert "field 'params.page_id': must match the pattern [0-9]+; found 'x1'" in problem


def test_custom_template_that_renders_an_invalid_task(tmp_path: Path) -> None:
    template = custom(
        tmp_path,
        """
        name: ping
        params:
          target: {type: string, required: true}
          port: {type: integer, default: 8080}
          note: string
        task:
          type: http
          url: "{{ target }}"
          description: "ping {{ target }} on {{ port }}{{ note }}"
          headers: {X-Port: "{{ port | string }}"}
        """,
    )
    mapping = render(template, "p", {"target": "https://a.example"})
    assert mapping["description"] == "ping https://a.example on 8080"  # empty optional: ""
    assert mapping["headers"] == {"X-Port": "8080"}
    (problem,) = problems(template, {"target": "gopher://a.example"}, name="p")
    assert problem.startswith(f"{tmp_path / 'custom.yaml'}: template 'ping': task 'p': field 'url'")
    assert "is not an http:// or https:// URL" in problem


def test_omit_and_render_errors(tmp_path: Path) -> None:
    template = custom(
        tmp_path,
        """
        name: t
        params:
          flag: boolean
          items: {type: list, items: integer, default: [1, 2]}
        task:
          type: python
          callable: "pkg.mod:fn"
          kwargs:
            flag: "{{ flag if flag is not none else omit }}"
            items: "{{ items }}"
            total: "{{ items | sum }}"
            also: ["{{ omit }}", "kept"]
            text: "{{ '%s-%s' | format(name, items | length) }}"
        """,
    )
    assert render(template, "x", {})["kwargs"] == {
        "items": [1, 2],
        "total": 3,
        "also": ["kept"],
        "text": "x-2",
    }
    assert render(template, "x", {"flag": "true"})["kwargs"]["flag"] is True

    bad = custom(
        tmp_path,
        """
        name: bad
        params: {n: integer}
        task:
          type: python
          callable: "pkg.mod:fn"
          kwargs: {a: "x{{ omit }}", b: "{{ n + 1 }}"}
        """,
        "bad-render.yaml",
    )
    (problem,) = problems(bad, {"n": 1})
    assert "field 'task.kwargs.a': uses omit inside text" in problem
    omitted, typed = problems(bad, {})  # n is empty: None + 1; every failure is reported
    assert "field 'task.kwargs.a'" in omitted
    assert "field 'task.kwargs.b': cannot be rendered: TypeError" in typed


def test_the_sandbox_refuses_python_internals(tmp_path: Path) -> None:
    template = custom(
        tmp_path,
        """
        name: sneaky
        task:
          type: python
          callable: "pkg.mod:fn"
          kwargs: {x: "{{ name.__class__.__mro__[1].__subclasses__() }}"}
        """,
    )
    (problem,) = problems(template, {})
    assert "field 'task.kwargs.x': cannot be rendered" in problem


# --- shell quoting -------------------------------------------------------------------------------

EVIL = 'my src; rm -rf / $(touch INJECTED) `touch INJECTED2` it\'s "q"'
LEAF = Path(EVIL).name  # the last component: EVIL holds a '/'


def test_shell_values_stay_one_argument() -> None:
    source = f"/srv/{EVIL}"
    command = render(builtin("backup-dir"), "b", {"source": source, "dest": "/var/my backups"})["command"]
    words = {line.split("=", 1)[0]: shlex.split(line) for line in command.splitlines() if "={" not in line}
    assert words["src"] == [f"src={source}"]
    assert words["name"] == [f"name={LEAF}"]
    assert words["dest"] == ["dest=/var/my backups"]
    assert words["parent"] == [f"parent=/srv/{Path(EVIL).parent}"]
    cleanup = render(builtin("cleanup-old-files"), "c", {"directory": source, "pattern": "*; rm -rf /"})
    (find,) = [line for line in cleanup["command"].splitlines() if line.startswith("find")]
    assert "-name '*; rm -rf /' \\" in find


def test_backup_runs_for_real(tmp_path: Path) -> None:
    source = tmp_path / "data" / EVIL
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub" / "b.txt").write_text("beta")
    (source / "skip.tmp").write_text("temporary")
    dest = tmp_path / "my backups"
    dest.mkdir()
    old = dest / f"{LEAF}-20000101-000000.tar.gz"
    recent = dest / f"{LEAF}-20991231-000000.tar.gz"
    other = dest / "otherdir-20000101-000000.tar.gz"
    for path in (old, recent, other):
        path.write_bytes(b"")
    age(old, 30)
    age(recent, 1)
    age(other, 30)
    command = render(
        builtin("backup-dir"),
        "b",
        {"source": str(source), "dest": str(dest), "keep_days": "7", "exclude": "*.tmp"},
    )["command"]
    result = run_bash(command, tmp_path / "cwd")
    assert result.returncode == 0, result.stderr
    assert not old.exists(), "an archive older than keep_days is deleted"
    assert recent.exists() and other.exists(), "recent archives and other directories' archives stay"
    (archive,) = [p for p in dest.glob("*.tar.gz") if p not in (recent, other)]
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {f"{LEAF}/a.txt", f"{LEAF}/sub/b.txt"} <= names
    assert f"{LEAF}/skip.tmp" not in names
    assert not list(tmp_path.rglob("INJECTED*")), "nothing in the path was run"


def test_backup_old_archive_glob_is_escaped(tmp_path: Path) -> None:
    source = tmp_path / "data*"
    source.mkdir()
    (source / "f").write_text("x")
    dest = tmp_path / "backups"
    dest.mkdir()
    lookalike = dest / "dataX-20000101-000000.tar.gz"  # matches 'data*-*.tar.gz' unescaped
    lookalike.write_bytes(b"")
    age(lookalike, 30)
    command = render(builtin("backup-dir"), "b", {"source": str(source), "dest": str(dest)})["command"]
    result = run_bash(command, tmp_path)
    assert result.returncode == 0, result.stderr
    assert lookalike.exists()


def test_backup_of_a_missing_directory_fails(tmp_path: Path) -> None:
    command = render(builtin("backup-dir"), "b", {"source": str(tmp_path / "gone"), "dest": str(tmp_path)})
    result = run_bash(command["command"], tmp_path)
    assert result.returncode == 2 and "no such directory" in result.stderr


@pytest.mark.parametrize(
    ("values", "deleted", "kept"),
    [
        ({}, {"old.log", "sub/old.log"}, {"new.log", "old.txt"}),
        ({"recursive": "false"}, {"old.log"}, {"new.log", "old.txt", "sub/old.log"}),
        ({"dry_run": "true"}, set(), {"old.log", "sub/old.log", "new.log", "old.txt"}),
    ],
)
def test_cleanup_runs_for_real(
    tmp_path: Path, values: dict[str, str], deleted: set[str], kept: set[str]
) -> None:
    directory = tmp_path / EVIL
    (directory / "sub").mkdir(parents=True)
    for name, days in {"old.log": 10, "sub/old.log": 10, "new.log": 1, "old.txt": 10}.items():
        (directory / name).write_text(name)
        age(directory / name, days)
    mapping = render(
        builtin("cleanup-old-files"),
        "c",
        {"directory": str(directory), "days": 7, "pattern": "*.log", **values},
    )
    result = run_bash(mapping["command"], tmp_path / "cwd")
    assert result.returncode == 0, result.stderr
    for name in deleted:
        assert not (directory / name).exists(), name
    for name in kept:
        assert (directory / name).exists(), name
    listed = {Path(line).relative_to(directory).as_posix() for line in result.stdout.splitlines()}
    assert listed == (deleted or {"old.log", "sub/old.log"})
    assert not list(tmp_path.rglob("INJECTED*"))


def test_cleanup_refuses_the_root_directory(tmp_path: Path) -> None:
    link = tmp_path / "root"
    link.symlink_to("/")
    for directory in ("/", str(link)):
        mapping = render(builtin("cleanup-old-files"), "c", {"directory": directory, "dry_run": True})
        result = run_bash(mapping["command"], tmp_path)
        assert result.returncode == 2 and "refusing to clean /" in result.stderr


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls {{ where }}", "puts {{ where }} into the command unquoted; end it with | quote"),
        ("ls {{ where | upper }}", "puts {{ where | upper }} into the command unquoted"),
        (
            'echo "{{ where | quote }}"',
            'puts {{ where | quote }} inside "...", where quoting cannot protect it',
        ),
        ("echo '{{ where | quote }}'", "inside '...'"),
        ('x=$(echo "{{ where }}")', 'inside "..."'),
        ("{% for w in many %}ls {{ w }}; {% endfor %}", "puts {{ w }} into the command unquoted"),
        ("ls # it's {{ where | quote }}\nls", "puts {{ where | quote }} in a comment"),
        ("echo \\{{ where | quote }}", "puts {{ where | quote }} after \\, where quoting cannot"),
        ("echo ${{ where | quote }}", "puts {{ where | quote }} after $"),
    ],
)
def test_unsafe_shell_substitutions_are_refused(tmp_path: Path, command: str, expected: str) -> None:
    text = f"""
        name: unsafe
        params: {{where: path, many: list, n: integer, flag: boolean}}
        task:
          type: shell
          command: {yaml.safe_dump(command).strip().removesuffix("...").strip()}
    """
    (problem,) = template_problems(tmp_path, text)
    assert "template 'unsafe': field 'task.command': " in problem
    assert expected in problem


@pytest.mark.parametrize(
    "command",
    [
        "ls {{ where | quote }}",
        'sleep {{ n }}; echo "{{ n * 2 }} {{ name }}"; test {{ flag }}',
        'x=$(ls {{ where | quote }}) && echo "$x" # it\'s {{ n }}',
        "echo \\$HOME {{ where | quote }} \\\n  {{ where | quote }}",
        "{% for w in many %}ls {{ w | quote }}; {% endfor %}tar {{ many | quote }}",
        'echo "$(basename -- {{ where | quote }})"',
    ],
)
def test_safe_shell_substitutions_are_accepted(tmp_path: Path, command: str) -> None:
    template = custom(
        tmp_path,
        f"""
        name: safe
        params: {{where: path, many: list, n: integer, flag: boolean}}
        task:
          type: shell
          command: {yaml.safe_dump(command).strip().removesuffix("...").strip()}
        """,
    )
    assert template.name == "safe"


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: [", "is not valid YAML at line"),
        ("- a\n- b\n", "a template is a mapping; found list"),
        (
            "name: t\n",
            "template 't': field 'task': must be a catalog task mapping (type, ...); found nothing",
        ),
        ("name: t\nfoo: 1\ntask: {type: shell, command: ls}\n", "field 'foo': is not a template key"),
        ("name: 'bad name'\ntask: {type: shell, command: ls}\n", "field 'name': must be a template id"),
        ("task: {type: shell, command: ls}\n", "template: field 'name': must be a template id"),
        ("name: t\nparams: [a]\ntask: {type: shell, command: ls}\n", "field 'params': must be a mapping"),
        (
            "name: t\nparams: {x: strin}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.type': Input should be",
        ),
        (
            "name: t\nparams: {x: {minimum: 1}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.minimum': is not a field of a template parameter",
        ),
        (
            "name: t\nparams: {x: {type: string, min: 1}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.min': applies to integer, number, duration and list parameters only",
        ),
        (
            "name: t\nparams: {x: {type: integer, default: abc}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.default': must be a whole number such as 7; found 'abc'",
        ),
        (
            "name: t\nparams: {x: {type: integer, default: 0, min: 1}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.default': must be at least 1; found 0",
        ),
        (
            "name: t\nparams: {x: {type: integer, min: 5, max: 1}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.max': 1 is below min 5",
        ),
        (
            "name: t\nparams: {x: {required: true, default: a}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.default': a required parameter has no default",
        ),
        (
            "name: t\nparams: {x: {pattern: '('}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.pattern': '(' is not a regular expression",
        ),
        (
            "name: t\nparams: {x: {type: integer, choices: [1, b]}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.choices': must be a whole number such as 7; found 'b'",
        ),
        (
            "name: t\nparams: {x: {type: duration, min: soon}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.min': 'soon' is not a duration",
        ),
        (
            "name: t\nparams: {x: {type: integer, items: integer}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.items': applies to list parameters only",
        ),
        ("name: t\nparams: {name: string}\ntask: {type: shell, command: ls}\n", "'name' is reserved"),
        ("name: t\nparams: {my-x: string}\ntask: {type: shell, command: ls}\n", "is not a parameter name"),
        (
            "name: t\ntask: {name: x, type: shell, command: ls}\n",
            "field 'task.name': is set from the new task's name",
        ),
        ("name: t\ntask: {command: ls}\n", "field 'task.type': is required"),
        (
            "name: t\ntask: {type: shell, command: 'ls {{ x '}\n",
            "field 'task.command': is not a valid Jinja2",
        ),
        (
            "name: t\nparams: {source: path}\ntask: {type: shell, command: 'ls {{ sorce | quote }}'}\n",
            "field 'task.command': uses 'sorce', which is not a parameter (declared: source); "
            "did you mean 'source'?",
        ),
        ("templates: {a: 1}\n", "field 'templates': must be a list; found dict"),
        ("templates: []\nextra: 1\n", "field 'extra': is not a key of a templates file"),
    ],
)
def test_bad_template_files_are_named(tmp_path: Path, text: str, expected: str) -> None:
    found = template_problems(tmp_path, text)
    assert len(found) == 1, found
    assert found[0].startswith(str(tmp_path / "bad.yaml"))
    assert expected in found[0]


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


# --- output --------------------------------------------------------------------------------------


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


def test_describe_shows_parameters_task_and_an_example() -> None:
    text = describe(builtin("backup-dir"))
    assert text.startswith("backup-dir (backup, built-in)\n  Archive a directory")
    assert "  source (path, required, absolute)\n      Directory to archive (example: /srv/data)" in text
    assert "  keep_days (integer, default 7, 1..3650)" in text
    assert "  interval" not in text and "command: |" in text
    assert "tasklane new my-backup-dir --from backup-dir --set source=/srv/data" in text
    assert "--set url=https://status.example.com/health" in describe(builtin("http-health-check"))


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
def test_template_yaml_round_trips(tmp_path: Path, name: str) -> None:
    template = builtin(name)
    again = parse_template(yaml.safe_load(template_yaml(template)), "copy.yaml")
    assert isinstance(again, Template), again
    assert again.params == template.params and again.task == template.task
    assert again.category == template.category and again.description == template.description
