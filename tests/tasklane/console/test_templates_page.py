"""The console's Templates page over a real Prefect server: templates by category; an admin's
custom template (checked with the library's rules, audited) that `tasklane template list` then
lists and the editor makes a task from; an invalid one shows its problem and is not saved; edit,
delete, export and import back; viewers and operators get no write control and 403 on a forged one."""

from __future__ import annotations

import re
import textwrap

import pytest
from typer.testing import CliRunner

from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console

CUSTOM = textwrap.dedent(
    """\
    name: say-hello
    category: greetings
    description: Say hello to someone
    params:
      who: {type: string, required: true, description: Whom to greet}
      times: {type: integer, default: 1, min: 1}
    task:
      type: shell
      command: echo hello {{ who | quote }} {{ times }}
    """
)


def _cli_list(console: Console) -> str:
    from tasklane.cli import app
    from tasklane.settings import get_settings

    env = {"TASKLANE_HOME": str(console.home), "TASKLANE_TEMPLATES": f'["{console.home / "templates"}"]'}
    get_settings.cache_clear()  # the command reads these settings, not the session's
    try:
        result = CliRunner().invoke(app, ["template", "list"], env={**env, "COLUMNS": "250"})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


def _create(console: Console, text: str):
    admin = console.client("admin")
    return admin.post("/console/templates/new", data={"csrf": console.csrf("admin"), "yaml": text})


def test_templates_are_listed_by_category_with_their_parameters(console: Console) -> None:
    page = console.client("viewer").get("/console/templates")
    assert page.status_code == 200 and 'id="nav-templates"' in page.text
    backup = re.search(
        r'<section class="template-category" data-category="backup">(.*?)</section>', page.text, re.S
    )
    assert backup and 'data-template="backup-dir" data-source="builtin"' in backup.group(1)
    assert 'data-param="source"' in backup.group(1)
    assert 'data-action="use"' not in page.text and 'id="template-admin"' not in page.text
    assert 'data-action="export"' in page.text
    only = console.client("viewer").get("/console/templates", params={"category": "backup"}).text
    assert 'data-category="backup"' in only and 'data-category="monitoring"' not in only


def test_create_a_custom_template_list_it_and_make_a_task_from_it(console: Console) -> None:
    admin = console.client("admin")
    assert 'id="template-form"' in admin.get("/console/templates/new").text
    saved = _create(console, CUSTOM)
    assert saved.status_code == 200 and saved.url.path == "/console/templates", saved.text
    assert 'id="template-saved"' in saved.text
    assert 'data-template="say-hello" data-source="custom"' in saved.text
    assert (console.home / "templates" / "say-hello.yaml").read_text() == CUSTOM
    assert "say-hello" in _cli_list(console)

    use = "/console/tasks/new?template=say-hello"
    assert f'href="{use}"' in saved.text
    form = admin.get(use)
    assert form.status_code == 200 and 'name="param.who"' in form.text
    name = f"{console.project}-greet"
    made = admin.post(
        "/console/tasks/new",
        data={"csrf": console.csrf("admin"), "template": "say-hello", "name": name, "param.who": "world"},
    )
    assert made.status_code == 200 and made.url.path == f"/console/tasks/{name}", made.text

    from tasklane.tasks.audit import read_audit

    def events():
        found = with_client(lambda client: read_audit(client, console.project, actor="user:admin"))
        return [e for e in found if e["action"] == "template.created"] or None

    (event,) = wait_for(events, timeout=30)
    assert event["resource"] == "tasklane.template.say-hello" and event["result"].startswith("ok")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (CUSTOM.replace("{{ who | quote }}", "{{ whom }}"), "&#39;whom&#39;, which is not a parameter"),
        (CUSTOM.replace("type: shell\n", ""), "task.type"),
        ("name: [oops", "is not valid YAML"),
    ],
)
def test_an_invalid_template_shows_its_problem_and_is_not_saved(
    console: Console, text: str, problem: str
) -> None:
    shown = _create(console, text)
    assert shown.status_code == 422
    assert 'id="template-problems"' in shown.text and problem in shown.text
    assert not (console.home / "templates").exists() or not list((console.home / "templates").iterdir())


def test_edit_delete_and_the_export_import_round_trip(console: Console) -> None:
    admin = console.client("admin")
    assert _create(console, CUSTOM).status_code == 200
    edit = admin.get("/console/templates/say-hello/edit")
    assert edit.status_code == 200 and "Say hello to someone" in edit.text
    changed = CUSTOM.replace("Say hello to someone", "Greet")
    edited = admin.post(
        "/console/templates/say-hello/edit", data={"csrf": console.csrf("admin"), "yaml": changed}
    )
    assert edited.status_code == 200 and "Greet" in edited.text

    exported = admin.get("/console/templates/say-hello/export")
    assert exported.status_code == 200 and "attachment" in exported.headers["content-disposition"]
    assert "name: say-hello" in exported.text

    deleted = admin.post("/console/templates/say-hello/delete", data={"csrf": console.csrf("admin")})
    assert deleted.status_code == 200 and 'id="template-deleted"' in deleted.text
    assert 'data-template="say-hello"' not in deleted.text and "say-hello" not in _cli_list(console)

    files = {"file": ("say-hello.yaml", exported.content, "application/yaml")}
    imported = admin.post("/console/templates/import", data={"csrf": console.csrf("admin")}, files=files)
    assert imported.status_code == 200 and 'data-template="say-hello" data-source="custom"' in imported.text
    again = admin.get("/console/templates/say-hello/export")
    assert again.text == exported.text
    twice = admin.post("/console/templates/import", data={"csrf": console.csrf("admin")}, files=files)
    assert twice.status_code == 422 and "exists" in twice.text

    assert admin.get("/console/templates/backup-dir/edit").status_code == 403  # built-ins are read-only
    builtin = admin.post("/console/templates/backup-dir/delete", data={"csrf": console.csrf("admin")})
    assert builtin.status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_changes_templates_and_forged_writes_are_403(console: Console, role: str) -> None:
    assert _create(console, CUSTOM).status_code == 200
    client = console.client(role)
    page = client.get("/console/templates")
    assert 'data-action="delete"' not in page.text and 'data-action="edit"' not in page.text
    csrf = console.csrf(role)
    files = {"file": ("x.yaml", CUSTOM.replace("say-hello", "forged").encode(), "application/yaml")}
    for response in (
        client.get("/console/templates/new"),
        client.post(
            "/console/templates/new", data={"csrf": csrf, "yaml": CUSTOM.replace("say-hello", "forged")}
        ),
        client.post("/console/templates/say-hello/edit", data={"csrf": csrf, "yaml": CUSTOM}),
        client.post("/console/templates/say-hello/delete", data={"csrf": csrf}),
        client.post("/console/templates/import", data={"csrf": csrf}, files=files),
    ):
        assert response.status_code == 403, response.url
    no_token = console.client("admin").post("/console/templates/say-hello/delete", data={})
    assert no_token.status_code == 403
    assert sorted(p.name for p in (console.home / "templates").iterdir()) == ["say-hello.yaml"]
