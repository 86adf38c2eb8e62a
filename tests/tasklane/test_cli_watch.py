"""`tasklane apply --watch`: a saved catalog file reaches the server within seconds; a broken one
applies nothing and says why; Ctrl-C stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_POOL, with_client

TASKLANE = str(Path(sys.executable).with_name("tasklane"))

TASK = """tasks:
  - name: {name}
    type: shell
    command: echo hi
    description: {description}
"""


def descriptions(project: str) -> dict[str, str]:
    from deployments.apply import Target, read_task_deployments

    target = Target(work_pool=TEST_POOL, timezone="UTC", project=project)
    found = with_client(lambda client: read_task_deployments(client, target))
    return {name: d.description or "" for name, d in found.items()}


def wait_for(check: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


class Watching:
    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process, self.log = process, log

    def output(self) -> str:
        return self.log.read_text()

    def wait_for_output(self, text: str, seconds: float = 60) -> None:
        assert wait_for(lambda: text in self.output(), seconds), f"no {text!r} in:\n{self.output()}"


@pytest.fixture
def watching(tmp_path: Path, project: str, work_pool: str) -> Iterator[Watching]:
    catalog = tmp_path / "tasks"
    catalog.mkdir()
    (catalog / "ops.yaml").write_text(TASK.format(name=f"{project}-a", description="first"))
    log = tmp_path / "watch.log"
    env = {**os.environ, "TASKLANE_PROJECT": project, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [TASKLANE, "apply", "--watch", str(catalog)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )
    try:
        yield Watching(process, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_saved_edit_reaches_the_server_and_a_broken_one_applies_nothing(
    watching: Watching, tmp_path: Path, project: str
) -> None:
    watching.wait_for_output("watching")
    assert "+ " + f"{project}-a" in watching.output()
    assert descriptions(project) == {f"{project}-a": "first"}

    catalog = tmp_path / "tasks"
    (catalog / "ops.yaml").write_text(TASK.format(name=f"{project}-a", description="second"))
    (catalog / "more.yaml").write_text(TASK.format(name=f"{project}-b", description="new"))
    assert wait_for(lambda: descriptions(project) == {f"{project}-a": "second", f"{project}-b": "new"}, 5), (
        descriptions(project)
    )
    watching.wait_for_output(f"~ {project}-a", 5)
    watching.wait_for_output(f"+ {project}-b", 5)
    # Named as the catalog names them: relative to the working directory.
    assert "changed: tasks/" in watching.output() and "tasks/more.yaml" in watching.output()

    # A mistake in one file applies nothing, not even the other file's good edit.
    (catalog / "ops.yaml").write_text(TASK.format(name=f"{project}-a", description="third"))
    broken = TASK.format(name=f"{project}-b", description="x") + "    priority: URGENT\n"
    (catalog / "more.yaml").write_text(broken)
    watching.wait_for_output("nothing applied", 10)
    assert "priority" in watching.output()
    assert descriptions(project) == {f"{project}-a": "second", f"{project}-b": "new"}

    # Fixed: both edits land; a removed file's task goes.
    (catalog / "more.yaml").unlink()
    assert wait_for(lambda: descriptions(project) == {f"{project}-a": "third"}, 5), descriptions(project)

    watching.process.send_signal(signal.SIGINT)
    assert watching.process.wait(timeout=10) == 0
    assert "stopped watching" in watching.output()


def test_nothing_to_watch_is_an_error(tmp_path: Path, project: str) -> None:
    env = {**os.environ, "TASKLANE_PROJECT": project}
    missing = tmp_path / "no" / "such.yaml"
    result = subprocess.run(
        [TASKLANE, "apply", "--watch", str(missing)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "nothing to watch" in result.stderr and str(missing) in result.stderr
