"""`tasklane sources list|sync|show` end to end: the installed command on a directory source."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TASKLANE = str(Path(sys.executable).with_name("tasklane"))


@pytest.fixture
def cli(tmp_path: Path, project: str, work_pool: str):
    folder = tmp_path / "generated"
    folder.mkdir()
    (folder / "ops.yaml").write_text(
        f"tasks:\n  - {{name: {project}-g1, type: shell, command: echo 1}}\n"
        f"  - {{name: {project}-g2, type: shell, command: echo 2, priority: URGENT}}\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(
        f"sources:\n  - {{name: gen, kind: directory, path: {folder}, interval_seconds: 120}}\n"
        f"  - {{name: gone, kind: directory, path: {tmp_path / 'missing'}}}\n"
    )
    env = {
        **os.environ,
        "TASKLANE_PROJECT": project,
        "TASKLANE_CONFIG": str(config),
        "TASKLANE_HOME": str(tmp_path / "home"),
        "COLUMNS": "200",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [TASKLANE, *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
        )

    return run


def test_sources_list_sync_show(cli, project: str) -> None:
    before = cli("sources", "list")
    assert before.returncode == 0 and "gen" in before.stdout and "never synced" in before.stdout

    synced = cli("sources", "sync", "gen")
    assert synced.returncode == 0, synced.stderr
    assert (
        f"+ {project}-g1" in synced.stdout and "1 task(s), 1 change(s), 1 bad row(s) skipped" in synced.stdout
    )
    assert f"skipped: source gen ops.yaml #2: task '{project}-g2': field 'priority'" in synced.stderr

    shown = cli("sources", "show", "gen")
    assert shown.returncode == 0 and f"tasks (1): {project}-g1" in shown.stdout
    assert "bad row: source gen ops.yaml #2" in shown.stdout and "every 120s" in shown.stdout

    listed = cli("list")
    assert f"{project}-g1" in listed.stdout

    down = cli("sources", "sync", "gone")
    assert down.returncode == 1 and "could not be read" in down.stderr and "kept its 0 task(s)" in down.stderr
    assert "unreachable" in cli("sources", "list").stdout

    unknown = cli("sources", "show", "nope")
    assert (
        unknown.returncode == 2
        and "no source named 'nope'" in unknown.stderr
        and "gen, gone" in unknown.stderr
    )
