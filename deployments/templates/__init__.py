"""Task templates: reusable parameterised task definitions (the seeds' 任务模板, `/templates`,
`/tasks/from-template`) that `tasklane new NAME --from TEMPLATE --set k=v` instantiates.

A template is YAML: an id (`name`), a `category`, a `description`, typed `params` and a `task`,
a catalog task whose strings are Jinja2 templates over those parameters:

    name: backup-dir
    category: backup
    description: Archive a directory into a dated tar.gz
    params:
      source: {type: path, required: true, absolute: true, description: Directory to archive}
      keep_days: {type: integer, default: 7, min: 1}
    task:
      type: shell
      command: tar -czf /var/backups/{{ source | basename | quote }}.tar.gz -C ... {{ keep_days }}

Parameters (`params:`; a bare type such as `keep_days: integer` is short for `{type: integer}`):

- `type`: string | integer | number | boolean | path | list | duration | cron (default string);
  `items` is the type of a list's items (string, integer, number, boolean, path).
- `required`, `default` (none: the parameter is empty), `description`, `example` (shown by
  `describe`, used by `check_examples`), `choices`, `min`/`max` (integer, number, duration,
  and a list's length), `pattern` (regex the whole value matches: string, path, list items),
  `absolute` (path: must start with '/').

What lives where:

- `yaml_text`: writing values out as YAML and as `--set` values.
- `parameters`: the parameter type system (`ParamSpec`): coercing and checking values.
- `jinja_env`: the sandboxed Jinja environment, its filters and `omit`.
- `shell_lint`: the shell-quoting linter a shell task's `command` must pass.
- `definition`: the `Template` model and validating a template mapping or file.
- `library`: where templates come from: the built-ins (`builtin/*.yaml`, shipped inside this
  package), then the project's custom templates (default `templates/*.yaml`).
- `render`: parameter values → a validated catalog task mapping; `--set k=v` options.
- `catalog_editor`: the rendered task as a new catalog file, or appended to one.
- `describe`: `tasklane template show`, and a template as a file to copy and edit.

Imports: the modules above import each other in that order (a module imports only those
listed before it). The package may import `deployments.catalog`, `deployments.errors`,
`deployments.schedules`, `tasklane.settings` and Prefect, never `tasklane.api`, `tasklane.cli`
or other product packages. Callers import from `deployments.templates`, which re-exports the
names below.
"""

from deployments.templates.catalog_editor import append_task, new_task_yaml
from deployments.templates.definition import Template, parse_template
from deployments.templates.describe import describe, template_yaml
from deployments.templates.library import (
    BUILTIN_TEMPLATES,
    DEFAULT_TEMPLATE_DIRS,
    builtin_templates,
    delete_template,
    load_templates,
    save_template,
    template_home,
)
from deployments.templates.parameters import PARAM_TYPES, ParamSpec
from deployments.templates.render import check_examples, check_values, parse_set_options, render

__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_TEMPLATE_DIRS",
    "PARAM_TYPES",
    "ParamSpec",
    "Template",
    "append_task",
    "builtin_templates",
    "check_examples",
    "check_values",
    "delete_template",
    "describe",
    "load_templates",
    "new_task_yaml",
    "parse_set_options",
    "parse_template",
    "render",
    "save_template",
    "template_home",
    "template_yaml",
]
