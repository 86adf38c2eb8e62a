"""The sources platform flow: polls the due sources, skips the others, fails naming an unreadable one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from prefect.blocks.notifications import CustomWebhookNotificationBlock

from deployments.apply import Target, read_task_deployments
from flows import sources as sources_module
from flows.sources import is_due, sources_flow
from tasklane.settings import Settings
from tasklane.settings.sources import SourceSettings
from tasklane.stack.peers._server import serve
from tasklane.tasks.sources import SourceUnreachableError
from tests.conftest import TEST_POOL, run, with_client

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attempted", "interval", "due"),
    [
        (None, 300, True),
        (NOW - timedelta(seconds=300), 300, True),
        (NOW - timedelta(seconds=58), 60, True),  # a minute's run starting a little early
        (NOW - timedelta(seconds=100), 300, False),
    ],
)
def test_is_due(attempted: datetime | None, interval: float, due: bool) -> None:
    assert is_due(attempted.isoformat() if attempted else None, interval, NOW) is due


@pytest.fixture
def hook(prefect_server: str) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """A webhook that keeps what it is sent, and a custom-webhook block posting to it."""
    received: list[dict[str, Any]] = []
    app = FastAPI()

    @app.post("/hook")
    async def take(request: Request) -> dict[str, str]:
        received.append(await request.json())
        return {"ok": "yes"}

    with serve(app) as url:
        name = f"tl-src-{uuid.uuid4().hex[:6]}"
        CustomWebhookNotificationBlock(
            name="hook",
            url=f"{url}/hook",
            json_data={"text": "{{subject}}: {{body}}"},
            allow_private_urls=True,
        ).save(name, overwrite=True)
        yield received, f"custom-webhook/{name}"


def test_the_flow_syncs_due_sources_and_fails_naming_an_unreadable_one(
    tmp_path: Path,
    project: str,
    work_pool: str,
    monkeypatch: pytest.MonkeyPatch,
    hook: tuple[list[dict[str, Any]], str],
) -> None:
    received, block = hook
    folder = tmp_path / "generated"
    folder.mkdir()
    (folder / "a.yaml").write_text(f"tasks:\n  - {{name: {project}-gen, type: shell, command: echo g}}\n")
    settings = Settings(
        home=tmp_path / "home",
        project=project,
        alerts={"blocks": {"ops": block}},
        sources=[
            SourceSettings(name="gen", kind="directory", path=folder, interval_seconds=3600),
            SourceSettings(
                name="gone",
                kind="directory",
                path=tmp_path / "missing",
                interval_seconds=3600,
                notify=["ops"],
            ),
        ],
    )
    monkeypatch.setattr(sources_module, "get_settings", lambda: settings)
    with pytest.raises(SourceUnreachableError, match="'gone' could not be read"):
        run(sources_flow())
    assert len(received) == 1 and "source 'gone' unreachable" in received[0]["text"]
    assert "could not be read" in received[0]["text"] and "missing is not a folder" in received[0]["text"]
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    assert list(with_client(lambda client: read_task_deployments(client, target))) == [f"{project}-gen"]

    # Neither is due again within the hour: the next run syncs nothing.
    (folder / "a.yaml").unlink()
    assert run(sources_flow()) == {}
    assert list(with_client(lambda client: read_task_deployments(client, target))) == [f"{project}-gen"]
    # Named, a source syncs at once: its file removed, its task goes to the trash.
    assert "0 task(s)" in run(sources_flow(only=["gen"]))["gen"]
    assert with_client(lambda client: read_task_deployments(client, target)) == {}
    # Still down: the run fails again, but the alert was sent when it stopped answering, not again.
    with pytest.raises(SourceUnreachableError):
        run(sources_flow(only=["gone"]))
    assert len(received) == 1


def test_the_flow_reads_the_settings_of_its_project_dir(
    tmp_path: Path, project: str, work_pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker starts each run in a temporary folder: the deployment names the project's."""
    from tasklane.settings import get_settings

    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "a.yaml").write_text(
        f"tasks:\n  - {{name: {project}-pd, type: shell, command: echo p}}\n"
    )
    source = f"gen-{project}"
    (tmp_path / "config.yaml").write_text(
        f"project: {project}\nsources:\n  - {{name: {source}, kind: directory, path: gen}}\n"
    )
    monkeypatch.delenv("TASKLANE_PROJECT", raising=False)
    monkeypatch.delenv("TASKLANE_CONFIG", raising=False)
    elsewhere = tmp_path / "run-folder"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    try:
        summaries = run(sources_flow(project_dir=str(tmp_path)))
    finally:
        get_settings.cache_clear()
    assert list(summaries) == [source] and "1 task(s)" in summaries[source]
    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    assert list(with_client(lambda client: read_task_deployments(client, target))) == [f"{project}-pd"]
