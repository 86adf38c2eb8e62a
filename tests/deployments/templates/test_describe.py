"""Describing templates: `template show`, and a template as a file that loads back the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments.templates import BUILTIN_TEMPLATES, Template, describe, parse_template, template_yaml
from tests.deployments.templates.support import builtin


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
