"""The task editor: create a task (of a type, or from a template), edit it, clone it, detach it.

The form is generated from the task type's parameter model (its JSON schema: a plugin's type gets
a form too) beside the catalog's common fields; the schedule is the schedule builder's partial.
Saving is the REST API's own create and update (`tasklane.api.views.create_task` / `update_task`:
the catalog's validation, the shell gate, group grants, `tasklane.tasks.save.save_task`), audited
as the signed-in user; each problem is shown next to its field and nothing is applied. A task a
catalog file owns opens read-only, with a Detach button (`tasklane.tasks.manage.detach_task`, as
`tasklane detach` and the API's `?detach=true`).

Long on purpose: the form (its fields from each type's model with their words in both languages,
values into and out of a catalog mapping, problems placed by field) comes first, then the pages
that show and save it; they are read together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import yaml
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prefect.client.orchestration import PrefectClient

from deployments.catalog import Priority
from deployments.errors import CatalogError, DeploymentsError, Problem
from deployments.ownership import FILE_HOME_PREFIX, describe_home, home_of
from deployments.task_types import TaskType, registered_task_types
from deployments.templates import Template, load_templates, render
from tasklane.api.core import ApiError, Ctx
from tasklane.api.views import create_task, named, update_task
from tasklane.console.i18n import Translate
from tasklane.console.pages import (
    HERE,
    PREFIX,
    Client,
    ConsoleError,
    Page,
    SignedIn,
    _visible_task,
    changing,
    redirect,
)
from tasklane.tasks.audit import audited, user_actor
from tasklane.tasks.blocks import SECRET_BLOCK_TYPE, block_names
from tasklane.tasks.lookup import list_tasks
from tasklane.tasks.manage import detach_task
from tasklane.tasks.save import task_mapping

router = APIRouter(include_in_schema=False)
Admin = Annotated[Page, Depends(changing("admin"))]
GENERAL = "_form"  # problems that belong to no one field: shown above the form
# Fields shown in the code editor (CodeMirror over the textarea), and its mode for each.
CODE_MODES = {"command": "shell", "code": "python", "source": "python"}
LONG_TEXT = {"message", "body", "jql", "version_comment", "description"}
SCHEDULE_BUILDER = HERE / "templates" / "_schedule_builder.html"


# --- the form's fields ----------------------------------------------------------------------------


@dataclass
class FormField:
    """One input of the editor. `name` is the form's (`job.command`, `retry.max_retries`);
    `key` where the value sits in the catalog mapping (`command`, `retry.max_retries`).

    kind: text, textarea, code, yaml, number, checkbox, select, multi (many of `options`),
    pairs (key/value rows), rows (one value a row).
    """

    name: str
    key: str
    kind: str
    label: str
    help: str = ""
    required: bool = False
    options: list[str] = field(default_factory=list)
    mode: str = ""
    default: Any = None
    value: Any = None
    picker: str = ""  # the id of a <datalist> of block names offered for its values
    option_labels: dict[str, str] = field(default_factory=dict)  # what an option shows, by its value


def _known(t: Translate, key: str, fallback: str) -> str:
    """The catalog's text for `key`, or `fallback` when the catalog has none (`t` then echoes the
    key). An empty text in the catalog is kept: it means "nothing to add"."""
    text = t(key)
    return fallback if text == key else text


def prettified(name: str) -> str:
    """A field name as words, for a field no catalog and no model names: `request_timeout` ->
    `Request timeout`."""
    words = " ".join(name.replace(".", " ").replace("_", " ").split())
    return words[:1].upper() + words[1:]


def _option_labels(t: Translate, name: str, options: list[str]) -> dict[str, str]:
    """Each option's words (`editor.option.<field>.<value>`, a job field's field is `<type>.<name>`);
    an option the catalog lacks shows its value."""
    return {option: _known(t, f"editor.option.{name}.{option}", option) for option in options}


def _unwrap(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A property's own schema: an Optional's non-null branch, a $ref followed."""
    if "$ref" in schema:
        schema = {
            **defs.get(schema["$ref"].rsplit("/", 1)[-1], {}),
            **{k: v for k, v in schema.items() if k != "$ref"},
        }
    branches = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(branches) == 1:
        merged = {k: v for k, v in schema.items() if k != "anyOf"}
        return {**_unwrap(branches[0], defs), **merged}
    return schema


def _kind(key: str, schema: dict[str, Any]) -> tuple[str, list[str]]:
    if "enum" in schema:
        return "select", [str(v) for v in schema["enum"]]
    kind = schema.get("type")
    if kind == "string":
        if key in CODE_MODES:
            return "code", []
        return ("textarea" if key in LONG_TEXT else "text"), []
    if kind in ("integer", "number"):
        return "number", []
    if kind == "boolean":
        return "checkbox", []
    if kind == "object" and schema.get("additionalProperties", {}) == {"type": "string"}:
        return "pairs", []
    if kind == "array" and schema.get("items", {}).get("type") in ("string", "integer", "number"):
        return "rows", []
    return "yaml", []  # a mapping or list of anything, or Any: written as YAML


def job_fields(task_type: TaskType, t: Translate) -> list[FormField]:
    """The inputs of a task type's parameters, from its model's JSON schema (by alias, as the
    catalog writes them).

    Labels and help are the catalog's (`editor.job.<type>.<field>`, `editor.job_help.<type>.<field>`)
    for the types we ship; a plugin's type brings its own words in its model (a field's `title`
    and `description`), else the field's name is written out as words."""
    declared = {info.alias or key: info for key, info in task_type.job_model.model_fields.items()}
    try:
        schema = task_type.job_model.model_json_schema(by_alias=True)
    except Exception:  # a plugin model pydantic cannot describe: each field as YAML
        schema = {
            "properties": {info.alias or key: {} for key, info in task_type.job_model.model_fields.items()}
        }
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    found = []
    for key, raw in schema.get("properties", {}).items():
        prop = _unwrap(raw, defs)
        kind, options = _kind(key, prop)
        picker = ""
        if key == "secret_env":
            picker = "blocks-secret"
        elif key == "block" or key.endswith("_block"):
            picker = "blocks-ref" if key.endswith("_block") else "blocks-name"
        info = declared.get(key)
        title = (info.title if info is not None else None) or prettified(key)
        description = (info.description if info is not None else None) or prop.get("description") or ""
        found.append(
            FormField(
                name=f"job.{key}",
                key=key,
                kind=kind,
                label=_known(t, f"editor.job.{task_type.name}.{key}", title),
                help=_known(t, f"editor.job_help.{task_type.name}.{key}", description),
                required=key in required,
                options=options,
                mode=CODE_MODES.get(key, "yaml" if kind == "yaml" else ""),
                default=prop.get("default"),
                picker=picker,
                option_labels=_option_labels(t, f"{task_type.name}.{key}", options),
            )
        )
    return found


def common_fields(t: Translate, tasks: list[str]) -> list[FormField]:
    """The catalog's fields every task has (`deployments.catalog.TaskSpec`), schedule aside."""

    def made(key: str, kind: str, **more: Any) -> FormField:
        item = FormField(
            name=key, key=key, kind=kind, label=t(f"editor.field.{key}"), help=t(f"editor.help.{key}"), **more
        )
        if kind == "select":
            item.option_labels = _option_labels(t, key, item.options)
        return item

    return [
        made("name", "text", required=True),
        made("description", "text"),
        made("group", "text", default="default"),
        made("owner", "text"),
        made("tags", "rows"),
        made("priority", "select", options=[p.value for p in Priority], default=Priority.MEDIUM.value),
        made("enabled", "checkbox", default=True),
        made("timeout_seconds", "number"),
        made("retry.max_retries", "number"),
        made("retry.retry_delay", "number"),
        made("retry.backoff_factor", "number"),
        made("max_concurrent", "number", default=1),
        made("missed", "select", options=["run_once", "run_all", "skip"], default="run_once"),
        made("depends_on", "multi", options=tasks),
        made("notify", "yaml", mode="yaml"),
    ]


def _lookup(mapping: dict[str, Any], key: str) -> Any:
    head, _, rest = key.partition(".")
    value = mapping.get(head)
    if rest:
        return value.get(rest) if isinstance(value, dict) else None
    return value


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def fill(fields: list[FormField], mapping: dict[str, Any]) -> None:
    """Set each field's value from a catalog mapping (or its default when the mapping lacks it)."""
    for item in fields:
        raw = _lookup(mapping, item.key)
        if item.kind == "pairs":
            item.value = list(raw.items()) if isinstance(raw, dict) else []
        elif item.kind in ("rows", "multi"):
            item.value = [str(v) for v in raw] if isinstance(raw, list) else []
        elif item.kind == "yaml":
            item.value = "" if raw is None else yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)
        elif item.kind == "checkbox":
            item.value = bool(item.default) if raw is None else bool(raw)
        elif item.kind == "number":
            item.value = _number(raw)
        elif item.kind == "select":
            item.value = str(raw if raw is not None else (item.default or ""))
        else:
            item.value = "" if raw is None else str(raw)


def refill(fields: list[FormField], form: dict[str, list[str]]) -> None:
    """Set each field's value to what the user sent (so a refused form keeps what was typed)."""
    for item in fields:
        sent = form.get(item.name, [])
        if item.kind == "pairs":
            keys, values = form.get(item.name + ".k", []), form.get(item.name + ".v", [])
            item.value = [(k, v) for k, v in zip(keys, values, strict=False) if k.strip() or v.strip()]
        elif item.kind in ("rows", "multi"):
            item.value = [v for v in sent if v.strip()]
        elif item.kind == "checkbox":
            item.value = bool(sent) and sent[-1] == "true"
        else:
            item.value = sent[-1] if sent else ""


def _text(value: str) -> str:
    return value.replace("\r\n", "\n")  # browsers send a textarea's lines with CRLF


def _as_number(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text  # the catalog's validation says what is wrong with it


def mapping_from_fields(fields: list[FormField], problems: dict[str, list[str]], t) -> dict[str, Any]:
    """The catalog mapping of the (refilled) fields: blank inputs are left out (the catalog's
    defaults, or settings', apply); YAML that does not parse is a problem of its field."""
    mapping: dict[str, Any] = {}
    for item in fields:
        value: Any = None
        if item.kind == "pairs":
            value = {k.strip(): v for k, v in item.value if k.strip()} or None
        elif item.kind in ("rows", "multi"):
            value = [v.strip() for v in item.value] or None
        elif item.kind == "checkbox":
            value = item.value
        elif item.kind == "number":
            value = _as_number(item.value.strip()) if item.value.strip() else None
        elif item.kind == "yaml":
            if item.value.strip():
                try:
                    value = yaml.safe_load(_text(item.value))
                except yaml.YAMLError as exc:
                    mark = getattr(exc, "problem_mark", None)
                    line = mark.line + 1 if mark else 1
                    problems.setdefault(item.name, []).append(t("editor.bad_yaml", line=line))
        elif item.kind in ("code", "textarea"):
            value = _text(item.value) if item.value.strip() else None
        else:
            value = item.value.strip() or None
        if value is None:
            continue
        head, _, rest = item.key.partition(".")
        if rest:
            mapping.setdefault(head, {})[rest] = value
        else:
            mapping[head] = value
    return mapping


def schedule_text(mapping: dict[str, Any]) -> str:
    """The schedule builder's input: YAML of the task's list of schedules (empty: none)."""
    schedule = mapping.get("schedule")
    if not schedule:
        return ""
    schedules = schedule if isinstance(schedule, list) else [schedule]
    return yaml.safe_dump(schedules, allow_unicode=True, sort_keys=False)


def parse_schedule(text: str, problems: dict[str, list[str]], t) -> Any:
    if not text.strip():
        return None
    try:
        return yaml.safe_load(_text(text)) or None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.setdefault("schedule_spec", []).append(
            t("editor.bad_yaml", line=mark.line + 1 if mark else 1)
        )
        return None


def form_field_of(path: str | None, fields: list[FormField]) -> str:
    """The form field a problem's field path (`retry.max_retries`, `schedule.0.cron`, `env.X`,
    `params.url`) belongs to; GENERAL when none."""
    if not path:
        return GENERAL
    head, _, rest = path.partition(".")
    second = rest.partition(".")[0]
    names = {item.name for item in fields}
    if head == "schedule":
        return "schedule_spec"
    if head == "params" and f"param.{second}" in names:
        return f"param.{second}"
    if head == "timeout":
        head = "timeout_seconds"
    for candidate in (f"{head}.{second}", head, f"job.{head}"):
        if candidate in names:
            return candidate
    if head in ("retry", "retry_policy"):
        return "retry.max_retries"
    return GENERAL


def place(problems: list[Problem], fields: list[FormField], into: dict[str, list[str]]) -> None:
    for problem in problems:
        where = form_field_of(problem.field, fields)
        text = (
            problem.message
            if where != GENERAL or not problem.field
            else f"{problem.field}: {problem.message}"
        )
        into.setdefault(where, []).append(text)


def _api_problem(exc: ApiError, into: dict[str, list[str]]) -> None:
    where = "name" if exc.status == 409 and "named" in exc.message else GENERAL
    into.setdefault(where, []).append(exc.message)
    for error in exc.errors:
        into.setdefault(GENERAL, []).append(
            f"{error.field}: {error.message}" if error.field else error.message
        )


@asynccontextmanager
async def _saving(ctx: Ctx, fields: list[FormField], problems: dict[str, list[str]]) -> AsyncIterator[None]:
    """Save a task in the block: what the save refuses lands in `problems`, by field (then
    the block ends early); the task list is read afresh after it either way."""
    try:
        yield
    except CatalogError as exc:
        place(exc.problems, fields, problems)
    except ApiError as exc:
        _api_problem(exc, problems)
    except DeploymentsError as exc:
        problems.setdefault(GENERAL, []).append(str(exc))
    finally:
        ctx.invalidate()


# --- reading a request ----------------------------------------------------------------------------


async def read_fields(current: Page) -> dict[str, list[str]]:
    """Every value of every field of the urlencoded form (rows repeat a name)."""
    body = (await current.request.body()).decode("utf-8", "replace")
    return parse_qs(body, keep_blank_values=True)


def _admin_only(current: Page) -> None:
    assert current.user is not None
    if not current.may("admin"):
        raise ConsoleError(403, "error.role", role=current.user.role, needed="admin")


def _ctx(current: Page, client: PrefectClient) -> Ctx:
    assert current.user is not None
    return Ctx(current.request.app.state.tasklane, client, current.user.caller)


def _task_type(current: Page, name: str | None) -> TaskType:
    found = registered_task_types().get(name or "")
    if found is None:
        raise ConsoleError(404, "editor.no_type", name=name or "-")
    return found


def _templates(current: Page) -> dict[str, Template]:
    try:
        return load_templates(list(current.request.app.state.tasklane.template_dirs))
    except CatalogError as exc:
        raise ConsoleError(409, "editor.templates_broken", reason=str(exc)) from None


async def _pickers(client: PrefectClient) -> dict[str, list[str]]:
    """The <datalist>s of block names: Secret blocks (secret_env), `type/name` (auth_block), names."""
    blocks = await block_names(client)
    return {
        "blocks-secret": [b.name for b in blocks if b.type == SECRET_BLOCK_TYPE],
        "blocks-ref": [b.reference for b in blocks],
        "blocks-name": sorted({b.name for b in blocks}),
    }


async def _visible_names(current: Page, client: PrefectClient) -> list[str]:
    return sorted(row.name for row in await list_tasks(client, current.target) if current.can_see(row.group))


# --- pages ----------------------------------------------------------------------------------------


@dataclass
class Editing:
    """What the editor form shows: new (`action` = /tasks/new) or an existing task's edit."""

    task_type: TaskType
    common: list[FormField]
    job: list[FormField]
    schedule_spec: str
    action: str
    existing: str | None = None  # the task's name when editing
    read_only: bool = False
    owner_file: str | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def fields(self) -> list[FormField]:
        return [*self.common, *self.job]


async def _editing(
    current: Page, client: PrefectClient, task_type: TaskType, mapping: dict[str, Any], existing: str | None
) -> Editing:
    common = common_fields(current.t, [n for n in await _visible_names(current, client) if n != existing])
    job = job_fields(task_type, current.t)
    fill(common, mapping)
    fill(job, mapping)
    action = f"{PREFIX}/tasks/{quote(existing, safe='')}/edit" if existing else f"{PREFIX}/tasks/new"
    return Editing(task_type, common, job, schedule_text(mapping), action, existing)


async def _show(current: Page, client: PrefectClient, editing: Editing, status: int = 200) -> Response:
    return current.render(
        "editor.html",
        status=status,
        editing=editing,
        general=editing.problems.get(GENERAL, []),
        problems=editing.problems,
        schedule_spec=editing.schedule_spec,
        has_schedule_builder=SCHEDULE_BUILDER.exists(),
        pickers=await _pickers(client),
    )


@router.get(PREFIX + "/tasks/new")
async def new_task(current: SignedIn, client: Client, type: str = "", template: str = "") -> Response:
    _admin_only(current)
    if template:
        found = _templates(current).get(template)
        if found is None:
            raise ConsoleError(404, "editor.no_template", name=template)
        return _show_template(current, found, {})
    if type:
        task_type = _task_type(current, type)
        return await _show(current, client, await _editing(current, client, task_type, {"type": type}, None))
    by_category: dict[str, list[Template]] = {}
    for item in sorted(_templates(current).values(), key=lambda x: (x.category, x.name)):
        by_category.setdefault(item.category, []).append(item)
    types = sorted(registered_task_types().values(), key=lambda x: x.name)
    return current.render("editor_choose.html", types=types, by_category=by_category)


@router.get(PREFIX + "/tasks/{name}/edit")
async def edit_task(name: str, current: SignedIn, client: Client) -> Response:
    _admin_only(current)
    deployment = await _visible_task(current, client, name)
    mapping = task_mapping(deployment)
    editing = await _editing(
        current, client, _task_type(current, mapping.get("type")), mapping, deployment.name
    )
    home = home_of(deployment.tags)
    if home is not None and home.startswith(FILE_HOME_PREFIX):
        editing.read_only, editing.owner_file = True, describe_home(home)
    return await _show(current, client, editing)


@router.get(PREFIX + "/tasks/{name}/clone")
async def clone_task(name: str, current: SignedIn, client: Client) -> Response:
    _admin_only(current)
    deployment = await _visible_task(current, client, name)
    mapping = task_mapping(deployment)
    mapping["name"] = f"{deployment.name}-copy"
    mapping["tags"] = [tag for tag in mapping.get("tags") or [] if not str(tag).startswith("title:")]
    editing = await _editing(current, client, _task_type(current, mapping.get("type")), mapping, None)
    return await _show(current, client, editing)


def _submitted(current: Page, editing: Editing, form: dict[str, list[str]]) -> dict[str, Any]:
    """The mapping the form describes (its fields refilled with what was sent)."""
    t = current.t
    refill(editing.fields, form)
    sent = form.get("schedule_spec", [""])
    editing.schedule_spec = sent[-1]
    mapping = mapping_from_fields(editing.fields, editing.problems, t)
    mapping["type"] = editing.task_type.name
    schedule = parse_schedule(editing.schedule_spec, editing.problems, t)
    if schedule is not None:
        mapping["schedule"] = schedule
    return mapping


@router.post(PREFIX + "/tasks/new")
async def create(current: Admin, client: Client) -> Response:
    form = await read_fields(current)
    template = (form.get("template") or [""])[-1]
    if template:
        return await _create_from_template(current, client, template, form)
    task_type = _task_type(current, (form.get("type") or [""])[-1])
    editing = await _editing(current, client, task_type, {"type": task_type.name}, None)
    mapping = _submitted(current, editing, form)
    if editing.problems:
        return await _show(current, client, editing, status=422)
    mapping = named(mapping)
    assert current.user is not None
    ctx = _ctx(current, client)
    async with (
        _saving(ctx, editing.fields, editing.problems),
        audited(
            "task.created",
            str(mapping.get("name") or ""),
            user_actor(current.user.name, current.user.role),
            project=current.target.project,
            client=client,
            change={"task": mapping},
        ) as record,
    ):
        task, _ = await create_task(ctx, mapping, record)
    if editing.problems:
        return await _show(current, client, editing, status=422)
    return redirect(current, f"{PREFIX}/tasks/{quote(task.name, safe='')}")


@router.post(PREFIX + "/tasks/{name}/edit")
async def update(name: str, current: Admin, client: Client) -> Response:
    deployment = await _visible_task(current, client, name)
    before = task_mapping(deployment)
    editing = await _editing(
        current, client, _task_type(current, before.get("type")), before, deployment.name
    )
    mapping = _submitted(current, editing, await read_fields(current))
    mapping["name"] = deployment.name  # renaming is clone + delete
    if editing.problems:
        return await _show(current, client, editing, status=422)
    was = before.get("schedule")
    schedule_given = mapping.get("schedule") != (was if isinstance(was, list) or was is None else [was])
    assert current.user is not None
    ctx = _ctx(current, client)
    async with (
        _saving(ctx, editing.fields, editing.problems),
        audited(
            "task.updated",
            deployment.name,
            user_actor(current.user.name, current.user.role),
            project=current.target.project,
            client=client,
            deployment_id=deployment.id,
            change=mapping,
        ) as record,
    ):
        _, saved = await update_task(ctx, deployment, mapping, schedule_given=schedule_given)
        record["deployment_id"] = saved.id
    if editing.problems:
        return await _show(current, client, editing, status=422)
    return redirect(current, f"{PREFIX}/tasks/{quote(deployment.name, safe='')}")


@router.post(PREFIX + "/tasks/{name}/detach")
async def detach(name: str, current: Admin, client: Client) -> Response:
    """Take the task over from its catalog file (`tasklane detach`): the console may edit it."""
    deployment = await _visible_task(current, client, name)
    assert current.user is not None
    async with audited(
        "task.detached",
        deployment.name,
        user_actor(current.user.name, current.user.role),
        project=current.target.project,
        client=client,
        deployment_id=deployment.id,
    ) as record:
        was = await detach_task(client, deployment.name, current.target)
        record["change"] = {"home": {"before": was, "after": "api"}}
    _ctx(current, client).invalidate()
    return redirect(current, f"{PREFIX}/tasks/{quote(deployment.name, safe='')}/edit")


# --- from a template ------------------------------------------------------------------------------


def template_fields(t: Translate, template: Template) -> list[FormField]:
    """The inputs of a template's typed parameters (`deployments.templates.ParamSpec`).

    A parameter's label is the catalog's (`editor.param.<name>`), else its name as words; its help
    is its type in words and the catalog's help for a template we ship
    (`editor.param_help.<template>.<name>`), else the template's own description of it."""
    found = [FormField("name", "name", "text", t("editor.field.name"), t("editor.help.name"), required=True)]
    for key, spec in template.params.items():
        if spec.type == "boolean":
            kind, options = "checkbox", []
        elif spec.choices:
            kind, options = "select", [str(c) for c in spec.choices]
        elif spec.type in ("integer", "number"):
            kind, options = "number", []
        else:
            kind, options = "text", []
        hint = " · ".join(
            part
            for part in (
                _known(t, f"editor.param_type.{spec.type}", spec.type),
                _known(t, f"editor.param_help.{template.name}.{key}", spec.description),
                t("editor.list_hint") if spec.type == "list" else "",
            )
            if part
        )
        default = ", ".join(map(str, spec.default)) if isinstance(spec.default, list) else spec.default
        label = _known(t, f"editor.param.{key}", prettified(key))
        found.append(
            FormField(f"param.{key}", key, kind, label, hint, spec.required, options, default=default)
        )
    return found


def _show_template(
    current: Page, template: Template, values: dict[str, Any], problems: dict[str, list[str]] | None = None
) -> Response:
    fields = template_fields(current.t, template)
    for item in fields:
        sent = values.get(item.name)
        if item.kind == "checkbox":
            item.value = (sent == "true") if sent is not None else bool(item.default)
        else:
            item.value = sent if sent is not None else ("" if item.default is None else _number(item.default))
    problems = problems or {}
    return current.render(
        "editor_template.html",
        status=422 if problems else 200,
        chosen=template,
        fields=fields,
        problems=problems,
        general=problems.get(GENERAL, []),
    )


async def _create_from_template(
    current: Page, client: PrefectClient, name: str, form: dict[str, list[str]]
) -> Response:
    template = _templates(current).get(name)
    if template is None:
        raise ConsoleError(404, "editor.no_template", name=name)
    sent = {key: values[-1] for key, values in form.items() if key == "name" or key.startswith("param.")}
    fields = template_fields(current.t, template)
    values: dict[str, Any] = {}
    for item in fields[1:]:
        given = sent.get(item.name, "")
        if item.kind == "checkbox":
            values[item.key] = given == "true"
        elif given.strip():
            values[item.key] = given.strip()
    problems: dict[str, list[str]] = {}
    assert current.user is not None
    ctx = _ctx(current, client)
    target_name = named({"name": sent.get("name", "").strip()})
    async with (
        _saving(ctx, fields, problems),
        audited(
            "task.created",
            target_name["name"],
            user_actor(current.user.name, current.user.role),
            project=current.target.project,
            client=client,
            change={"template": template.name, "params": values},
        ) as record,
    ):
        mapping = render(template, target_name["name"], values, base_dir=ctx.state.base_dir)
        if "tags" in target_name:
            mapping["tags"] = [*(mapping.get("tags") or []), *target_name["tags"]]
        task, _ = await create_task(ctx, mapping, record)
    if problems:
        return _show_template(current, template, sent, problems)
    return redirect(current, f"{PREFIX}/tasks/{quote(task.name, safe='')}")
