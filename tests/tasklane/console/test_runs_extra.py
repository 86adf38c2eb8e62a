"""The rest of the runs pages over HTTP against a real server and worker: history filters by
group and time, a run's timeline / result / artifacts, its log searched and downloaded, Cancel,
and Run again with parameters; a viewer's forged change refused; markdown, table and link
artifacts drawn, never a live script."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.conftest import with_client
from tests.tasklane.api.conftest import wait_for
from tests.tasklane.console.conftest import Console

HTMX = {"HX-Request": "true"}


def _task(project: str) -> str:
    return f"{project}-{uuid.uuid4().hex[:4]}"


def _state(run_id: str) -> str | None:
    run = with_client(lambda client: client.read_flow_run(uuid.UUID(run_id)))
    return run.state.name if run.state else None


def _start(console: Console, name: str) -> str:
    started = console.client("operator").post(
        f"/console/tasks/{name}/run", data={"csrf": console.csrf("operator")}
    )
    assert started.status_code == 200 and started.url.path.startswith("/console/runs/")
    return started.url.path.rsplit("/", 1)[1]


def test_a_finished_run_shows_its_timeline_result_and_its_log_searched_and_downloaded(
    console: Console, worker: str
) -> None:
    name = _task(console.project)
    console.add_shell_task(
        name, "echo alpha-line; sleep 1.5; echo beta-line; sleep 1.5; echo gamma-line", group="etl"
    )
    run_id = _start(console, name)
    wait_for(lambda: _state(run_id) == "Completed", timeout=90)
    viewer = console.client("viewer")

    page = viewer.get(f"/console/runs/{run_id}")
    assert f'hx-get="/console/runs/{run_id}/details"' in page.text and 'id="log-search"' in page.text
    assert 'id="cancel-run"' not in page.text and 'id="run-again"' not in page.text  # a viewer's page
    details = viewer.get(f"/console/runs/{run_id}/details", headers=HTMX)
    assert details.status_code == 200 and "<html" not in details.text
    states = [
        s for s in ("Scheduled", "Pending", "Running", "Completed") if f'data-state="{s}"' in details.text
    ]
    assert states[-2:] == ["Running", "Completed"]
    assert 'id="run-result"' in details.text and "hx-trigger" not in details.text  # ended: no refresh
    assert ">now<" not in details.text  # an ended run's last state does not last "until now"

    found = viewer.get(f"/console/runs/{run_id}/logs/search", params={"q": "BETA"}, headers=HTMX)
    assert found.status_code == 200 and "beta-line" in found.text
    assert "alpha-line" not in found.text and "gamma-line" not in found.text
    assert "1 matching lines." in found.text
    none = viewer.get(f"/console/runs/{run_id}/logs/search", params={"q": "beta", "level": "CRITICAL"})
    assert "<html" in none.text and "beta-line" not in none.text and "0 matching lines." in none.text
    bad = viewer.get(f"/console/runs/{run_id}/logs/search", params={"level": "LOUD"})
    assert bad.status_code == 400 and "LOUD" in bad.text

    download = viewer.get(f"/console/runs/{run_id}/logs/download")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"].startswith("attachment; filename=")
    text = download.text
    assert text.index("alpha-line") < text.index("beta-line") < text.index("gamma-line")
    only = viewer.get(f"/console/runs/{run_id}/logs/download", params={"q": "gamma"}).text
    assert "gamma-line" in only and "alpha-line" not in only

    # History filters: group, and a time window (a duration back, or a date-time in the user's zone).
    runs = viewer.get("/console/runs", params={"group": "etl", "since": "1h"})
    assert run_id in runs.text and 'id="run-since"' in runs.text
    assert run_id not in viewer.get("/console/runs", params={"group": "other"}).text
    assert run_id not in viewer.get("/console/runs", params={"until": "2000-01-01T00:00"}).text
    assert run_id in viewer.get("/console/runs", params={"since": "2000-01-01", "task": name}).text
    wrong = viewer.get("/console/runs", params={"since": "last tuesday"})
    assert wrong.status_code == 400 and "last tuesday" in wrong.text
    # Another group's user finds neither the run nor its log.
    other = console.client("ops-operator")
    assert other.get(f"/console/runs/{run_id}/details").status_code == 404
    assert other.get(f"/console/runs/{run_id}/logs/download").status_code == 404


def test_an_operator_cancels_a_running_run_and_a_viewer_cannot(console: Console, worker: str) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "sleep 30")
    run_id = _start(console, name)
    wait_for(lambda: _state(run_id) == "Running", timeout=90)
    operator = console.client("operator")
    assert 'id="cancel-run"' in operator.get(f"/console/runs/{run_id}").text

    viewer = console.client("viewer")
    forged = viewer.post(f"/console/runs/{run_id}/cancel", data={"csrf": console.csrf("viewer")})
    assert forged.status_code == 403
    no_token = operator.post(f"/console/runs/{run_id}/cancel", data={})
    assert no_token.status_code == 403
    assert _state(run_id) == "Running"

    done = operator.post(f"/console/runs/{run_id}/cancel", data={"csrf": console.csrf("operator")})
    assert done.status_code == 200 and done.url.path == f"/console/runs/{run_id}"
    wait_for(lambda: _state(run_id) == "Cancelled", timeout=60)
    assert 'id="cancel-run"' not in operator.get(f"/console/runs/{run_id}").text

    def audited() -> bool:
        response = console.client("admin").get(
            "/api/scheduler/audit",
            params={"actor": "user:operator"},
            headers={"Authorization": f"Bearer {console.tokens['admin']}"},
        )
        return any(e["task"] == name and e["action"] == "task.cancelled" for e in response.json()["events"])

    wait_for(audited, timeout=30)


def test_run_again_with_parameters(console: Console, worker: str) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "echo as-defined")
    operator = console.client("operator")
    form = operator.get(f"/console/tasks/{name}/run-with")
    assert form.status_code == 200 and "command=echo as-defined" in form.text
    assert f'href="/console/tasks/{name}/run-with"' in operator.get(f"/console/tasks/{name}").text
    assert console.client("viewer").get(f"/console/tasks/{name}/run-with").status_code == 403
    forged = console.client("viewer").post(
        f"/console/tasks/{name}/run-with", data={"csrf": console.csrf("viewer"), "overrides": "command=id"}
    )
    assert forged.status_code == 403

    token = console.csrf("operator")
    broken = operator.post(
        f"/console/tasks/{name}/run-with", data={"csrf": token, "overrides": "no equals sign"}
    )
    assert broken.status_code == 400 and "is not KEY=VALUE" in broken.text
    invalid = operator.post(
        f"/console/tasks/{name}/run-with", data={"csrf": token, "overrides": "no_such_field=1"}
    )
    assert invalid.status_code == 400 and "no_such_field" in invalid.text  # the type's own model said so

    started = operator.post(
        f"/console/tasks/{name}/run-with", data={"csrf": token, "overrides": "command=echo overridden-value"}
    )
    assert started.status_code == 200 and started.url.path.startswith("/console/runs/")
    run_id = started.url.path.rsplit("/", 1)[1]
    run = with_client(lambda client: client.read_flow_run(uuid.UUID(run_id)))
    assert run.parameters["job"]["command"] == "echo overridden-value" and "manual" in run.tags
    wait_for(lambda: _state(run_id) == "Completed", timeout=90)

    def download() -> str:
        return operator.get(f"/console/runs/{run_id}/logs/download").text

    # A run's logs are shipped in batches and can trail its final state by a moment.
    wait_for(lambda: "overridden-value" in download(), timeout=15)
    assert "as-defined" not in download()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("command=echo hi\n\n# a comment\nkwargs.days=7", {"command": "echo hi", "kwargs.days": 7}),
        ("flag=true\nname=", {"flag": True, "name": ""}),
    ],
)
def test_overrides_are_key_value_lines_with_yaml_values(text: str, expected: dict) -> None:
    from tasklane.console.runs_extra import parse_overrides

    assert parse_overrides(text) == expected
    with pytest.raises(ValueError, match="line 2"):
        parse_overrides(text.splitlines()[0] + "\n=nokey")


REPORT = """# Nightly report

| task | state |
|------|-------|
| backup | <b>ok</b> |

<script>alert("from the artifact")</script>

[bad link](javascript:alert(1)) and [Prefect](https://www.prefect.io)
"""


def _artifact(run_id: str, **fields) -> None:
    from prefect.client.schemas.actions import ArtifactCreate

    with_client(
        lambda client: client.create_artifact(ArtifactCreate(flow_run_id=uuid.UUID(run_id), **fields))
    )


def test_artifacts_show_markdown_as_html_tables_as_tables_and_links_as_links(console: Console) -> None:
    name = _task(console.project)
    console.add_shell_task(name, "echo unused")
    run_id = _start(console, name)  # no worker: the run waits, its artifacts are made here
    _artifact(run_id, key="report", type="markdown", data=REPORT, description="The night's report")
    rows = [{"task": "backup", "runs": 3}, {"task": "export", "runs": None, "note": "<i>x</i>"}]
    _artifact(run_id, key="counts", type="table", data=json.dumps(rows))
    _artifact(run_id, type="link", data="https://example.com/reports/7")

    details = console.client("viewer").get(f"/console/runs/{run_id}/details", headers=HTMX)
    assert details.status_code == 200
    html = details.text
    markdown = re.search(r'<div class="artifact-markdown">(.*?)</div>', html, re.S)
    assert markdown, html
    drawn = markdown.group(1)
    assert "<h1>Nightly report</h1>" in drawn and "<th>task</th>" in drawn and "<td>backup</td>" in drawn
    # Raw HTML and a javascript: link in the markdown stay text: no live script, no live tag.
    assert "<script" not in html and "&lt;script&gt;" in drawn
    assert "&lt;b&gt;ok&lt;/b&gt;" in drawn and 'href="javascript:' not in html
    assert '<a href="https://www.prefect.io">Prefect</a>' in drawn
    assert "The night&#39;s report" in html

    table = re.search(r'<table class="artifact-table">(.*?)</table>', html, re.S)
    assert table, html
    headers = re.findall(r"<th>([^<]*)</th>", table.group(1))
    assert headers == ["task", "runs", "note"]
    cells = re.findall(r"<td>([^<]*)</td>", table.group(1))
    assert cells == ["backup", "3", "", "export", "", "&lt;i&gt;x&lt;/i&gt;"]
    assert re.search(r'<a href="https://example.com/reports/7"[^>]*>https://example.com/reports/7</a>', html)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('[{"a": 1, "b": 2}, {"b": 3, "c": 4}]', (["a", "b", "c"], [[1, 2, None], [None, 3, 4]])),
        ({"a": [1, 2], "b": [3]}, (["a", "b"], [[1, 3], [2, None]])),
        ([[1, 2], [3, 4]], ([], [[1, 2], [3, 4]])),
        ("not json", None),
        ('{"a": 1}', None),
    ],
)
def test_a_table_artifact_in_each_of_prefects_shapes(data, expected) -> None:
    from tasklane.console.runs_extra import _table

    assert _table(data) == expected
