"""The task editor against the real test Prefect server: a shell task created through the form is
the task `tasklane.tasks.lookup` finds (audited as the user); a bad field is refused next to
that field with nothing created; edit, clone, from a template; a file-owned task opens read-only
and Detach makes it editable; block pickers name blocks, never a secret; viewers and operators
are refused; every field is labelled in words, in English and in Chinese."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console

TARGETS: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _target(console: Console) -> None:
    TARGETS[console.project] = console.app.state.tasklane.target


def find(name: str, project: str):
    from deployments.errors import UnknownTaskError
    from tasklane.tasks.lookup import find_task

    async def go(client):
        try:
            return await find_task(client, name, TARGETS[project])
        except UnknownTaskError:
            return None

    return with_client(go)


def form(console: Console, user: str = "admin", **fields: Any) -> dict[str, Any]:
    return {"csrf": console.csrf(user), **fields}


def error_for(html: str, field: str) -> list[str]:
    """The problems the page shows next to form field `field`."""
    pattern = rf'<p class="field-error" data-error-for="{re.escape(field)}">([^<]*)</p>'
    return re.findall(pattern, html)


def shell_fields(name: str, command: str, **more: Any) -> dict[str, Any]:
    return {
        "type": "shell",
        "name": name,
        "group": "g",
        "priority": "HIGH",
        "enabled": ["false", "true"],
        "job.command": command,
        "job.shell": "bash",
        **more,
    }


def test_a_shell_task_made_through_the_form_is_saved_and_audited(console: Console) -> None:
    from tasklane.tasks.audit import read_audit

    admin = console.client("admin")
    choose = admin.get("/console/tasks/new")
    assert choose.status_code == 200 and 'data-type="shell"' in choose.text
    assert 'data-template="http-health-check"' in choose.text
    page = admin.get("/console/tasks/new?type=shell")
    assert page.status_code == 200
    assert 'name="job.command"' in page.text and 'data-mode="shell"' in page.text
    assert 'name="schedule_spec"' in page.text  # the schedule builder's (or the fallback's) input
    for common in ("timeout_seconds", "retry.max_retries", "depends_on", "notify", "max_concurrent"):
        assert f'name="{common}"' in page.text

    name = f"{console.project}-made"
    data = shell_fields(
        name,
        "echo one\r\necho two",
        **{
            "job.env.k": ["GREETING", ""],
            "job.env.v": ["hello", ""],
            "timeout_seconds": "120",
            "schedule_spec": "- cron: '0 3 * * *'\n  timezone: UTC\n",
        },
    )
    saved = admin.post("/console/tasks/new", data=form(console, **data))
    assert saved.status_code == 200, saved.text
    assert str(saved.url).endswith(f"/console/tasks/{name}")

    deployment = find(name, console.project)
    assert deployment is not None
    job = deployment.parameters["job"]
    assert job["command"] == "echo one\necho two"
    assert job["env"] == {"GREETING": "hello"}
    assert "priority:HIGH" in deployment.tags and "group:g" in deployment.tags
    assert len(deployment.schedules) == 1 and deployment.schedules[0].schedule.cron == "0 3 * * *"
    assert deployment.parameters["policy"]["timeout_seconds"] == 120

    rows = wait_for(
        lambda: with_client(lambda c: read_audit(c, console.project, task=name)) or None, timeout=60
    )
    assert rows[0]["action"] == "task.created" and rows[0]["actor"] == "user:admin"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("timeout_seconds", "-5", "greater than or equal to 0"),
        ("max_concurrent", "many", "integer"),
        ("notify", "on: [failed\n", "YAML"),
        ("schedule_spec", "- cron: 'not a cron'\n", "cron"),
    ],
)
def test_a_bad_field_is_shown_next_to_it_and_nothing_is_created(
    console: Console, field: str, value: str, expected: str
) -> None:
    admin = console.client("admin")
    name = f"{console.project}-bad"
    data = shell_fields(name, "echo kept", **{field: value})
    refused = admin.post("/console/tasks/new", data=form(console, **data))
    assert refused.status_code == 422
    messages = error_for(refused.text, field)
    assert messages and expected.lower() in " ".join(messages).lower(), refused.text
    assert "echo kept" in refused.text and f'value="{name}"' in refused.text  # what was typed stays
    assert find(name, console.project) is None


def test_a_job_problem_lands_on_its_parameter(console: Console) -> None:
    admin = console.client("admin")
    name = f"{console.project}-env"
    data = shell_fields(name, "true", **{"job.env.k": "1BAD", "job.env.v": "x"})
    refused = admin.post("/console/tasks/new", data=form(console, **data))
    assert refused.status_code == 422
    assert "environment variable name" in " ".join(error_for(refused.text, "job.env"))
    taken = shell_fields(f"{console.project}-dup", "true")
    assert admin.post("/console/tasks/new", data=form(console, **taken)).status_code == 200
    again = admin.post("/console/tasks/new", data=form(console, **taken))
    assert again.status_code == 422 and "already exists" in " ".join(error_for(again.text, "name"))


def test_edit_changes_the_task_and_it_lasts(console: Console) -> None:
    name = f"{console.project}-edited"
    console.add_shell_task(name, "echo before")
    admin = console.client("admin")
    page = admin.get(f"/console/tasks/{name}/edit")
    assert page.status_code == 200 and "echo before" in page.text
    data = shell_fields(name, "echo after", description="changed here")
    saved = admin.post(f"/console/tasks/{name}/edit", data=form(console, **data))
    assert saved.status_code == 200 and str(saved.url).endswith(f"/console/tasks/{name}")
    deployment = find(name, console.project)
    assert deployment.parameters["job"]["command"] == "echo after"
    assert deployment.description == "changed here"
    assert "echo after" in admin.get(f"/console/tasks/{name}/edit").text
    refused = admin.post(f"/console/tasks/{name}/edit", data=form(console, **{**data, "max_concurrent": "0"}))
    assert refused.status_code == 422 and error_for(refused.text, "max_concurrent")
    assert find(name, console.project).parameters["job"]["command"] == "echo after"


def test_clone_fills_the_form_and_saves_a_new_task(console: Console) -> None:
    name = f"{console.project}-orig"
    console.add_shell_task(name, "echo cloned")
    admin = console.client("admin")
    page = admin.get(f"/console/tasks/{name}/clone")
    assert page.status_code == 200
    assert f'value="{name}-copy"' in page.text and "echo cloned" in page.text
    assert 'action="/console/tasks/new"' in page.text
    saved = admin.post(
        "/console/tasks/new", data=form(console, **shell_fields(f"{name}-copy", "echo cloned"))
    )
    assert saved.status_code == 200
    assert find(f"{name}-copy", console.project).parameters["job"]["command"] == "echo cloned"
    assert find(name, console.project) is not None


def test_a_task_from_a_template_through_its_parameters(console: Console) -> None:
    admin = console.client("admin")
    page = admin.get("/console/tasks/new?template=http-health-check")
    assert page.status_code == 200 and 'name="param.url"' in page.text and 'name="param.method"' in page.text
    name = f"{console.project}-health"
    fields = {"template": "http-health-check", "name": name, "param.method": "GET", "param.interval": "5m"}
    refused = admin.post("/console/tasks/new", data=form(console, **fields, **{"param.url": "not a url"}))
    assert refused.status_code == 422 and "pattern" in " ".join(error_for(refused.text, "param.url"))
    assert find(name, console.project) is None
    made = admin.post(
        "/console/tasks/new", data=form(console, **fields, **{"param.url": "https://example.com/health"})
    )
    assert made.status_code == 200, made.text
    assert find(name, console.project).parameters["job"]["url"] == "https://example.com/health"


def test_a_file_owned_task_is_read_only_until_detached(console: Console) -> None:
    from prefect.client.schemas.actions import DeploymentUpdate

    from deployments.ownership import home_of, home_tag

    name = f"{console.project}-owned"
    console.add_shell_task(name, "echo owned")
    deployment = find(name, console.project)
    tags = [t for t in deployment.tags if not t.startswith("tasklane-home:")] + [
        home_tag("file:tasks/ops.yaml")
    ]
    with_client(lambda c: c.update_deployment(deployment.id, DeploymentUpdate(tags=tags)))

    admin = console.client("admin")
    page = admin.get(f"/console/tasks/{name}/edit")
    assert page.status_code == 200
    assert 'id="owner-file">tasks/ops.yaml<' in page.text and 'id="detach"' in page.text
    assert "<fieldset disabled>" in page.text and 'id="save"' not in page.text
    forged = admin.post(
        f"/console/tasks/{name}/edit", data=form(console, **shell_fields(name, "echo forged"))
    )
    assert forged.status_code == 422 and "tasks/ops.yaml" in " ".join(error_for(forged.text, "_form"))
    assert find(name, console.project).parameters["job"]["command"] == "echo owned"

    detached = admin.post(f"/console/tasks/{name}/detach", data=form(console))
    assert detached.status_code == 200 and str(detached.url).endswith(f"/console/tasks/{name}/edit")
    assert home_of(find(name, console.project).tags) == "api"
    assert 'id="detach"' not in detached.text and 'id="save"' in detached.text
    saved = admin.post(f"/console/tasks/{name}/edit", data=form(console, **shell_fields(name, "echo mine")))
    assert saved.status_code == 200
    assert find(name, console.project).parameters["job"]["command"] == "echo mine"


def test_block_pickers_name_blocks_and_never_show_a_secret(console: Console) -> None:
    from prefect.blocks.system import Secret

    block = f"{console.project}-token"
    value = f"s3cret-{uuid.uuid4().hex}"
    with_client(lambda _c: Secret(value=value).save(block, overwrite=True))
    page = console.client("admin").get("/console/tasks/new?type=shell")
    picker = re.search(r'<datalist id="blocks-secret">(.*?)</datalist>', page.text, re.S)
    assert picker and f'value="{block}"' in picker.group(1)
    assert 'list="blocks-secret"' in page.text
    assert value not in page.text


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_get_no_editor_and_a_forged_save_is_refused(
    console: Console, role: str
) -> None:
    name = f"{console.project}-guarded"
    console.add_shell_task(name, "echo guarded")
    client = console.client(role)
    assert 'id="new-task"' not in client.get("/console/tasks").text
    task_page = client.get(f"/console/tasks/{name}").text
    assert 'id="edit-task"' not in task_page and 'id="clone-task"' not in task_page
    for path in (
        "/console/tasks/new?type=shell",
        f"/console/tasks/{name}/edit",
        f"/console/tasks/{name}/clone",
    ):
        assert client.get(path).status_code == 403, path
    data = form(console, role, **shell_fields(f"{name}-forged", "echo forged"))
    assert client.post("/console/tasks/new", data=data).status_code == 403
    assert client.post(f"/console/tasks/{name}/edit", data=data).status_code == 403
    assert client.post(f"/console/tasks/{name}/detach", data=form(console, role)).status_code == 403
    assert find(f"{name}-forged", console.project) is None
    assert find(name, console.project).parameters["job"]["command"] == "echo guarded"
    admin_page = console.client("admin").get(f"/console/tasks/{name}").text
    assert (
        'id="edit-task"' in admin_page
        and 'id="new-task"' in console.client("admin").get("/console/tasks").text
    )


LABEL = re.compile(r'<label for="f-([^"]+)">([^<]*)')
HELP = re.compile(r'<p class="help muted">([^<]*)</p>')
CJK = re.compile(r"[\u4e00-\u9fff]")
SAME_IN_CHINESE = {"URL"}  # a label Chinese writes as English does


def _labels(html: str) -> dict[str, str]:
    """Each labelled input's label, by the input's form name."""
    return {name: text.strip() for name, text in LABEL.findall(html)}


def _helps(html: str) -> dict[str, str]:
    """Each field's help line, by the field's form name (fields without one left out)."""
    found = {}
    for chunk in html.split('data-field="')[1:]:
        name, _, rest = chunk.partition('"')
        shown = HELP.search(rest.split("</fieldset>", 1)[0])
        if shown:
            found[name] = shown.group(1)
    return found


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_every_field_of_every_type_has_a_human_label_in_both_languages(
    console: Console, language: str
) -> None:
    from deployments.task_types import registered_task_types

    admin = console.client("admin")
    admin.cookies.set("tasklane_lang", language)
    for task_type in sorted(registered_task_types()):
        page = admin.get(f"/console/tasks/new?type={task_type}")
        assert page.status_code == 200, page.text
        labels = _labels(page.text)
        job = {name: text for name, text in labels.items() if name.startswith("job.")}
        assert job and 'name="job.' in page.text, task_type
        for name, text in labels.items():
            key = name.removeprefix("job.")
            assert text and text not in (name, key) and "_" not in text, (task_type, name, text)
            assert not text.startswith("editor."), (task_type, name, text)
            if language == "zh-CN" and text not in SAME_IN_CHINESE:
                assert CJK.search(text), (task_type, name, text)
        helps = _helps(page.text)
        assert all(not text.startswith("editor.") for text in helps.values())
        if language == "zh-CN":
            assert all(CJK.search(text) for text in helps.values()), (task_type, helps)
    shell = admin.get("/console/tasks/new?type=shell").text
    # The inputs keep their names; what they show is words.
    assert 'name="job.command"' in shell and 'id="f-job.command"' in shell
    label, option = {"en": ("Command", "Run once for all missed"), "zh-CN": ("命令", "错过多次只补跑一次")}[
        language
    ]
    assert _labels(shell)["job.command"] == label
    assert f'<option value="run_once" selected>{option}</option>' in shell


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_a_template_form_labels_its_parameters_in_words(console: Console, language: str) -> None:
    admin = console.client("admin")
    admin.cookies.set("tasklane_lang", language)
    page = admin.get("/console/tasks/new?template=http-health-check")
    assert page.status_code == 200 and 'name="param.request_timeout"' in page.text
    labels = _labels(page.text)
    expected = {"en": "Request timeout (seconds)", "zh-CN": "请求超时（秒）"}[language]
    assert labels["param.request_timeout"] == expected
    for name, text in labels.items():
        assert text and "_" not in text and text != name.removeprefix("param."), (name, text)
    helps = _helps(page.text)
    assert (
        helps["param.retries"]
        == {
            "en": "whole number · Retries (10 s apart) before a run fails.",
            "zh-CN": "整数 · 运行判定失败前的重试次数（间隔 10 秒）。",
        }[language]
    )


def test_a_plugin_type_is_labelled_from_its_model_else_its_field_names() -> None:
    from pydantic import Field

    from deployments.jobs import JobModel
    from deployments.task_types import TaskType
    from tasklane.console.editor import job_fields
    from tasklane.console.i18n import translator

    class SftpJob(JobModel):
        remote_path: str = Field(..., title="Remote file", description="Path on the server.")
        keep_local_copy: bool = False

    plugin = TaskType("sftp", SftpJob, "sftp", "sftp_plugin.flows.sftp_flow", "SFTP download")
    for language in ("en", "zh-CN"):
        fields = {f.name: f for f in job_fields(plugin, translator(language))}
        assert (fields["job.remote_path"].label, fields["job.remote_path"].help) == (
            "Remote file",
            "Path on the server.",
        )
        assert (fields["job.keep_local_copy"].label, fields["job.keep_local_copy"].help) == (
            "Keep local copy",
            "",
        )
