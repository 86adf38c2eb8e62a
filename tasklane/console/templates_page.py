"""The console's Templates page: the templates by category (the built-ins and the project's custom
`templates/*.yaml`, read by `deployments.templates.load_templates` as `tasklane template list`
and the API do), each with its typed parameters, a "New task from this template" link to the
editor, and its YAML to download (`template_yaml`, as `tasklane template show --yaml`).

An admin creates, edits, deletes and imports custom templates: their YAML is checked with the
library's own rules and written by `deployments.templates.save_template` / `delete_template`;
every problem is shown and nothing is saved then. Built-ins are read-only. Each change is
audited as `user:<name>` (resource `tasklane.template.<name>`).
"""

from __future__ import annotations

import email.parser
import email.policy
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from deployments.errors import CatalogError, DeploymentsError
from deployments.templates import Template, delete_template, load_templates, save_template, template_yaml
from tasklane.console.pages import (
    PREFIX,
    ConsoleError,
    Page,
    PageDep,
    SignedIn,
    SignInRequired,
    changing,
    check_csrf,
    read_form,
    redirect,
)
from tasklane.tasks.audit import audited, user_actor

router = APIRouter(include_in_schema=False)

HOME = PREFIX + "/templates"
MAX_UPLOAD = 256 * 1024
STARTER = """\
name: my-template
category: general
description: What a task made from it does
params:
  target: {type: string, required: true, description: What it works on}
task:
  type: shell
  command: echo {{ target | quote }}
"""


def _dirs(current: Page) -> list[Path]:
    return list(current.request.app.state.tasklane.template_dirs)


def _load(current: Page) -> tuple[dict[str, Template], str | None]:
    """The templates, or none and why (a broken custom file: the page says so, it still opens)."""
    try:
        return load_templates(_dirs(current)), None
    except CatalogError as exc:
        return {}, str(exc)


def _admin_only(current: Page) -> None:
    assert current.user is not None
    if not current.may("admin"):
        raise ConsoleError(403, "error.role", role=current.user.role, needed="admin")


@router.get(HOME)
async def templates_page(
    current: SignedIn, category: str = "", saved: str = "", deleted: str = ""
) -> Response:
    found, broken = _load(current)
    by_category: dict[str, list[Template]] = {}
    for template in sorted(found.values(), key=lambda x: (x.category, x.name)):
        by_category.setdefault(template.category, []).append(template)
    shown = {c: items for c, items in by_category.items() if not category or c == category}
    return current.render(
        "templates_page.html",
        by_category=shown,
        categories=sorted(by_category),
        category=category,
        broken=broken,
        saved=saved,
        deleted=deleted,
    )


def _show_form(
    current: Page, text: str, editing: str | None, problems: list[str] | None = None, status: int = 200
) -> Response:
    return current.render(
        "templates_page_form.html", status=status, text=text, editing=editing, problems=problems or []
    )


def _custom(current: Page, name: str) -> Template:
    found, broken = _load(current)
    template = found.get(name)
    if template is None:
        raise ConsoleError(404, "templates_page.error.none", name=name)
    if template.builtin:
        raise ConsoleError(403, "templates_page.error.builtin", name=name)
    return template


@router.get(HOME + "/new")
async def new_form(current: SignedIn, copy: str = "") -> Response:
    _admin_only(current)
    text = STARTER
    if copy:
        found, _ = _load(current)
        if copy not in found:
            raise ConsoleError(404, "templates_page.error.none", name=copy)
        text = template_yaml(found[copy])
    return _show_form(current, text, None)


@router.get(HOME + "/{name}/edit")
async def edit_form(name: str, current: SignedIn) -> Response:
    _admin_only(current)
    template = _custom(current, name)
    return _show_form(current, Path(template.source).read_text(encoding="utf-8"), name)


async def _save(current: Page, text: str, replacing: str | None, action: str) -> Response:
    """Save the template `text` (new, or `replacing` a custom one), audited; its problems if not."""
    assert current.user is not None
    name = replacing or _name_in(text)
    try:
        async with audited(
            action,
            None,
            user_actor(current.user.name, current.user.role),
            project=current.target.project,
            resource=f"tasklane.template.{name}",
            change={"template": name, "yaml": text},
        ) as record:
            saved = save_template(text, _dirs(current), replacing=replacing)
            record["result"] = f"ok; {saved.source}"
    except CatalogError as exc:
        return _show_form(current, text, replacing, [str(p) for p in exc.problems], status=422)
    except DeploymentsError as exc:
        return _show_form(current, text, replacing, [str(exc)], status=422)
    return redirect(current, f"{HOME}?saved={quote(saved.name, safe='')}")


def _name_in(text: str) -> str:
    """The template's name as the text gives it, for the audit trail (before it is validated)."""
    for line in text.splitlines():
        if line.startswith("name:"):
            return line.removeprefix("name:").strip().strip("'\"")[:100] or "-"
    return "-"


@router.post(HOME + "/new")
async def create(current: Annotated[Page, Depends(changing("admin"))]) -> Response:
    form = await read_form(current.request)
    return await _save(current, form.get("yaml", ""), None, "template.created")


@router.post(HOME + "/{name}/edit")
async def update(name: str, current: Annotated[Page, Depends(changing("admin"))]) -> Response:
    _custom(current, name)
    form = await read_form(current.request)
    return await _save(current, form.get("yaml", ""), name, "template.updated")


@router.post(HOME + "/{name}/delete")
async def delete(name: str, current: Annotated[Page, Depends(changing("admin"))]) -> Response:
    _custom(current, name)
    assert current.user is not None
    try:
        async with audited(
            "template.deleted",
            None,
            user_actor(current.user.name, current.user.role),
            project=current.target.project,
            resource=f"tasklane.template.{name}",
            change={"template": name},
        ) as record:
            record["result"] = f"ok; {delete_template(name, _dirs(current))}"
    except DeploymentsError as exc:
        raise ConsoleError(409, "templates_page.error.not_deleted", name=name, reason=str(exc)) from None
    return redirect(current, f"{HOME}?deleted={quote(name, safe='')}")


async def _upload(current: PageDep) -> tuple[Page, dict[str, Any]]:
    """A multipart form (a file upload): its fields, after the CSRF token and an admin's role."""
    request = current.request
    kind = request.headers.get("content-type", "")
    body = await request.body()
    fields: dict[str, Any] = {}
    if kind.startswith("multipart/form-data") and len(body) <= MAX_UPLOAD:
        head = f"Content-Type: {kind}\r\nMIME-Version: 1.0\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            field = part.get_param("name", header="content-disposition")
            if isinstance(field, str):
                fields[field] = part.get_payload(decode=True) or b""
    check_csrf(current, {k: v.decode("utf-8", "replace") for k, v in fields.items() if k == "csrf"})
    if current.user is None:
        raise SignInRequired(HOME)
    if not current.may("admin"):
        raise ConsoleError(403, "error.role", role=current.user.role, needed="admin")
    if len(body) > MAX_UPLOAD:
        raise ConsoleError(413, "templates_page.error.too_big", limit=MAX_UPLOAD // 1024)
    return current, fields


@router.post(HOME + "/import")
async def import_template(upload: Annotated[tuple[Page, dict[str, Any]], Depends(_upload)]) -> Response:
    current, fields = upload
    try:
        text = bytes(fields.get("file") or b"").decode("utf-8")
    except UnicodeDecodeError:
        return _show_form(current, "", None, [current.t("templates_page.error.not_text")], status=422)
    return await _save(current, text, None, "template.imported")


@router.get(HOME + "/{name}/export")
async def export(name: str, current: SignedIn) -> Response:
    found, broken = _load(current)
    if name not in found:
        raise ConsoleError(404, "templates_page.error.none", name=name)
    headers = {"Content-Disposition": f'attachment; filename="{quote(name, safe="")}.yaml"'}
    return Response(template_yaml(found[name]), media_type="application/yaml", headers=headers)
