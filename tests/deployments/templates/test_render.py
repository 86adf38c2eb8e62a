"""Rendering: templates render valid tasks; omit, render errors and the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.task_types import registered_task_types
from deployments.templates import render
from tests.deployments.templates.support import builtin, custom, problems


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
