"""A template shown to people: `tasklane template show NAME`, and as a file to copy and edit."""

from __future__ import annotations

import shlex

from deployments.templates.definition import Template
from deployments.templates.yaml_text import cli_value, dump_block, indented


def describe(template: Template) -> str:
    """The text of `tasklane template show NAME`: what it makes, its parameters, its task, an example."""
    lines = [f"{template.name} ({template.category}, {template.origin})"]
    if template.description:
        lines.append(f"  {template.description}")
    lines += ["", "Parameters:" if template.params else "Parameters: none"]
    for pname, spec in template.params.items():
        lines.append(f"  {pname} ({spec.summary()})")
        about = spec.description
        if spec.example is not None:
            about = f"{about} (example: {cli_value(spec.example)})".strip()
        if about:
            lines.append(f"      {about}")
    lines += ["", "Task (Jinja2 over the parameters and `name`):"]
    lines.append(indented(dump_block(template.task), 2).rstrip("\n"))
    shown = [p for p, s in template.params.items() if s.required or s.example is not None]
    sets = " ".join(
        f"--set {shlex.quote(f'{p}={cli_value(template.params[p].example)}')}"
        if template.params[p].example is not None
        else f"--set {p}=..."
        for p in shown
    )
    lines += [
        "",
        "Create a task from it:",
        f"  tasklane new my-{template.name} --from {template.name} {sets}".rstrip(),
    ]
    return "\n".join(lines) + "\n"


def template_yaml(template: Template) -> str:
    """The template as a YAML file (`tasklane template export`): copy a built-in, edit, keep in templates/."""
    params = {
        pname: spec.model_dump(mode="json", exclude_defaults=True) or {"type": spec.type}
        for pname, spec in template.params.items()
    }
    data = {
        "name": template.name,
        "category": template.category,
        "description": template.description,
        "params": params,
        "task": template.task,
    }
    return dump_block(data)
