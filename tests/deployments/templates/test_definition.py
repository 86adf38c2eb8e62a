"""Template definitions: every mistake in a template file is named, with its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deployments.templates.support import template_problems


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
        (
            "name: t\ncategry: ops\ntask: {type: shell, command: ls}\n",
            "field 'categry': is not a template key (allowed: name, category, description, params, task); "
            "did you mean 'category'?",
        ),
        (
            "name: t\nparams: {x: {type: string, defualt: a}}\ntask: {type: shell, command: ls}\n",
            "field 'params.x.defualt': is not a field of a template parameter (it takes: ",
        ),
        (
            "name: t\nparams: {x: {type: string, defualt: a}}\ntask: {type: shell, command: ls}\n",
            "absolute); did you mean 'default'?",
        ),
        (
            "name: t\nparams: {x: {type: strng}}\ntask: {type: shell, command: ls}\n",
            "found 'strng'; did you mean 'string'?",
        ),
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
