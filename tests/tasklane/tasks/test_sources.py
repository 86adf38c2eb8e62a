"""External task sources against a local HTTP source and the local Confluence peer, on a real server:
creates, updates and removes flow through in one sync, a bad row is skipped with its message while
the good ones apply, an unreachable source keeps its tasks, and no file- or API-owned task is touched."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from deployments.apply import Target, apply, read_task_deployments
from deployments.catalog import Catalog, load_catalog, parse_task
from deployments.ownership import API_HOME
from deployments.trash import is_trashed
from tasklane.settings.sources import SourceSettings
from tasklane.stack.peers._server import serve
from tasklane.stack.peers.confluence import FakeConfluence
from tasklane.tasks.sources import SyncResult, read_record, sync_source
from tests.conftest import TEST_POOL, with_client

TOKEN = "src-tok-5d1e"
TOKEN_BLOCK = "tl-test-source-token"
CONFLUENCE_BLOCK = "tl-test-source-confluence"
PAGE_ID = "4242"


class HttpSource:
    """A task list behind a bearer token, that can be made to fail."""

    def __init__(self) -> None:
        self.tasks: list[Any] = []
        self.status = 200
        self.app = FastAPI()

        @self.app.get("/tasks")
        async def tasks(request: Request) -> JSONResponse:
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return JSONResponse({"detail": "no"}, status_code=401)
            if self.status != 200:
                return JSONResponse({"detail": "down"}, status_code=self.status)
            return JSONResponse(self.tasks)


@pytest.fixture(scope="module")
def http_source(prefect_server: str) -> Iterator[tuple[HttpSource, str]]:
    from blocks import HttpBearerAuth

    HttpBearerAuth(token=TOKEN).save(TOKEN_BLOCK, overwrite=True)
    source = HttpSource()
    with serve(source.app) as url:
        yield source, url


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def target(project: str) -> Target:
    return Target(work_pool=TEST_POOL, timezone="UTC", project=project)


def on_server(project: str) -> dict[str, Any]:
    return with_client(lambda client: read_task_deployments(client, target(project), include_trashed=True))


def sync(source: SourceSettings, project: str, home: Path) -> SyncResult:
    return with_client(lambda client: sync_source(client, source, target(project), home))


def shell(name: str, description: str = "", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "shell", "command": "echo hi", "description": description, **extra}


@pytest.fixture
def others(tmp_path: Path, project: str, work_pool: str) -> tuple[str, str]:
    """A task a catalog file owns and one the API owns, in the test's project."""
    file_task, api_task = f"{project}-file", f"{project}-api"
    catalog_file = tmp_path / "tasks.yaml"
    catalog_file.write_text(
        f"tasks:\n  - {{name: {file_task}, type: shell, command: echo f, description: file}}\n"
    )
    with_client(lambda client: apply(client, load_catalog([catalog_file]), target(project)))
    spec = parse_task(shell(api_task, "api"), "api", 0, tmp_path)
    assert not isinstance(spec, list)
    api_catalog = Catalog(tasks=[spec], homes={api_task: API_HOME})
    with_client(lambda client: apply(client, api_catalog, target(project), prune=False))
    return file_task, api_task


def test_http_source_creates_updates_trashes_skips_bad_rows_and_keeps_tasks_when_down(
    http_source: tuple[HttpSource, str], others: tuple[str, str], project: str, tmp_path: Path
) -> None:
    server, url = http_source
    file_task, api_task = others
    source = SourceSettings(
        name="web", kind="http", url=f"{url}/tasks", auth_block=f"http-bearer-auth/{TOKEN_BLOCK}"
    )
    a, b = f"{project}-a", f"{project}-b"
    server.tasks = [
        shell(a, "one"),
        shell(b, "two"),
        shell(f"{project}-bad", priority="URGENT"),
        shell(file_task, "taken"),
        shell(api_task, "taken"),
        # Seed 003's task JSON: a display name, its schedule shape.
        {
            "name": f"Nightly Backup {project}",
            "type": "shell",
            "command": "b.sh",
            "schedule": {"type": "daily", "time": "02:00"},
        },
    ]
    first = sync(source, project, tmp_path)
    seed_name = f"nightly-backup-{project}"
    assert first.reachable and first.error is None
    assert sorted(first.tasks) == sorted([a, b, seed_name])
    assert {c.split()[0] for c in first.changes} == {"+"}
    bad = [p for p in first.problems if f"{project}-bad" in p]
    assert len(bad) == 1 and bad[0].startswith("source web row 3: ") and "'priority'" in bad[0]
    assert any(file_task in p and "tasks.yaml" in p for p in first.problems)
    assert any(api_task in p and "the API" in p for p in first.problems)
    held = on_server(project)
    assert held[file_task].description == "file" and held[api_task].description == "api"
    assert held[a].description == "one" and "tasklane-home:source:web" in held[a].tags

    server.tasks = [shell(a, "changed"), server.tasks[-1]]
    second = sync(source, project, tmp_path)
    assert any(c.startswith(f"~ {a}") for c in second.changes), second.changes
    assert any(c.startswith(f"- {b}") and "trash" in c for c in second.changes), second.changes
    held = on_server(project)
    assert held[a].description == "changed" and is_trashed(held[b].tags)
    assert not is_trashed(held[file_task].tags) and not is_trashed(held[api_task].tags)
    assert held[file_task].description == "file" and held[api_task].description == "api"

    # On the audit trail as the source: its creates and its moves to the trash.
    def by_source() -> set[tuple[str, str]]:
        from tasklane.tasks.audit import read_audit

        events = with_client(lambda client: read_audit(client, project, actor="source:web"))
        return {(e["action"], e["task"]) for e in events}

    wanted = {("task.created", a), ("task.updated", a), ("task.deleted", b)}
    assert wait_for(lambda: wanted <= by_source(), 10), by_source()

    # A row that gains a mistake is skipped; its task stays as last applied, not trashed.
    good = list(server.tasks)
    server.tasks = [shell(a, "worse", priority="URGENT"), good[1]]
    broken = sync(source, project, tmp_path)
    assert broken.changes == [] and any(a in p and "'priority'" in p for p in broken.problems)
    assert sorted(broken.tasks) == sorted([a, seed_name])
    held = on_server(project)
    assert not is_trashed(held[a].tags) and held[a].description == "changed"
    server.tasks = good
    second = sync(source, project, tmp_path)

    server.status = 503
    try:
        down = sync(source, project, tmp_path)
    finally:
        server.status = 200
    assert not down.reachable and "503" in (down.error or "")
    assert sorted(down.tasks) == sorted([a, seed_name]) and down.synced_at == second.synced_at
    assert "could not be read" in down.summary() and "kept its 2 task(s)" in down.summary()
    held = on_server(project)
    assert not is_trashed(held[a].tags) and held[a].description == "changed"
    record = read_record(tmp_path, "web")
    assert record is not None and not record.reachable

    server.tasks.append(shell(b, "back"))
    back = sync(source, project, tmp_path)
    assert any(c.startswith(f"~ {b}") and "restored from the trash" in c for c in back.changes), back.changes
    assert not is_trashed(on_server(project)[b].tags)


def page(rows: list[tuple[str, str, str]]) -> str:
    cells = "".join(f"<tr><td>{n}</td><td>{t}</td><td>{d}</td></tr>" for n, t, d in rows)
    return (
        "<h2>Scheduled tasks</h2><table><tbody><tr><th>Name</th><th>Type</th><th>What</th></tr>"
        f"{cells}</tbody></table>"
    )


def test_confluence_table_rows_are_tasks(
    prefect_server: str, work_pool: str, project: str, tmp_path: Path
) -> None:
    from blocks import ConfluenceCredentials

    fake = FakeConfluence(users={"bot": "pw-61c0"}, tokens={})
    a, b = f"{project}-wa", f"{project}-wb"
    with serve(fake.app) as url:
        ConfluenceCredentials(url=url, username="bot", token="pw-61c0").save(CONFLUENCE_BLOCK, overwrite=True)
        source = SourceSettings(
            name="wiki",
            kind="confluence_table",
            block=CONFLUENCE_BLOCK,
            page_id=PAGE_ID,
            table="Scheduled tasks",
            columns={"What": "command"},
        )
        fake.add_page(
            PAGE_ID,
            "Tasks",
            page([(a, "shell", "echo a"), (b, "shell", "echo b"), ("Bad Name", "shell", "x")]),
        )
        first = sync(source, project, tmp_path)
        assert first.reachable and sorted(first.tasks) == [a, b]
        assert len(first.problems) == 1 and first.problems[0].startswith("source wiki row 3: ")
        assert "'name'" in first.problems[0]

        fake.add_page(PAGE_ID, "Tasks", page([(a, "shell", "echo changed")]), version=2)
        second = sync(source, project, tmp_path)
        held = on_server(project)
        assert held[a].parameters["job"]["command"] == "echo changed"
        assert is_trashed(held[b].tags) and second.tasks == [a]

    # The peer is gone: the source is unreachable and keeps its task.
    down = sync(source, project, tmp_path)
    assert not down.reachable and down.tasks == [a]
    assert not is_trashed(on_server(project)[a].tags)
