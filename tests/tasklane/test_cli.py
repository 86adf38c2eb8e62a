"""The `tasklane` CLI end to end: a real server, a real worker, the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TASKLANE = str(Path(sys.executable).with_name("tasklane"))

CATALOG = """
tasks:
  - name: {p}-ok
    type: shell
    command: echo "hello from {p}"
    priority: HIGH
    schedule: {{every: 1h, start: "2099-01-01T00:00"}}  # listed, never due during the test
  - name: {p}-fails
    type: shell
    command: echo "about to fail"; exit 4
    retry: {{max_retries: 1, retry_delay: 1}}
  - name: {p}-py
    type: python
    callable: "json:dumps"
    kwargs: {{obj: [1, 2]}}
"""


def tasklane(*args: str, project: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TASKLANE_PROJECT": project, "COLUMNS": "200"}
    return subprocess.run([TASKLANE, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def catalog(tmp_path: Path, project: str, worker: str) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(CATALOG.format(p=project)))
    return path


def test_apply_list_show_run(catalog: Path, project: str) -> None:
    assert tasklane("validate", str(catalog), project=project).returncode == 0

    first = tasklane("apply", str(catalog), project=project)
    assert first.returncode == 0, first.stderr
    assert f"+ {project}-ok" in first.stdout and "3 created" in first.stdout
    again = tasklane("apply", str(catalog), project=project)
    assert "0 created, 0 updated, 0 deleted, 3 unchanged" in again.stdout

    listed = tasklane("list", project=project)
    assert listed.returncode == 0 and f"{project}-ok" in listed.stdout and "HIGH" in listed.stdout

    ok = tasklane("run", f"{project}-ok", "--wait", project=project)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert f"hello from {project}" in ok.stdout and "Completed" in ok.stdout

    py = tasklane("run", f"{project}-py", "--param", "kwargs.obj={a: 1}", "--wait", project=project)
    assert py.returncode == 0, py.stdout + py.stderr

    fails = tasklane("run", f"{project}-fails", "--wait", project=project)
    assert fails.returncode == 1
    assert fails.stdout.count("about to fail") >= 2  # the first attempt and the retry
    assert "exited with code 4" in fails.stdout

    shown = tasklane("show", f"{project}-fails", project=project)
    assert shown.returncode == 0 and "exit 4" in shown.stdout and "Failed" in shown.stdout

    import re

    run_id = re.search(r"created run \S+ \(([0-9a-f-]{36})\)", ok.stdout).group(1)
    logs = tasklane("logs", run_id, "--grep", "hello", project=project)
    assert logs.returncode == 0 and f"hello from {project}" in logs.stdout
    failed = tasklane("history", "--task", f"{project}-fails", "--state", "failed", project=project)
    assert failed.returncode == 0 and f"{project}-fails" in failed.stdout and "Failed" in failed.stdout
    assert f"{project}-ok" not in failed.stdout
    stats = tasklane("stats", "--days", "1", "--task", f"{project}-ok", "--json", project=project)
    assert stats.returncode == 0, stats.stderr
    assert re.search(r'"runs":\s*1\b', stats.stdout), stats.stdout


def test_clear_errors(catalog: Path, project: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks:\n  - {name: x, type: shell, command: ls, schedule: {cron: '0 */6 * *'}}\n")
    result = tasklane("apply", str(bad), project=project)
    assert result.returncode == 2
    assert """task 'x': field 'schedule.0.cron': cron "0 */6 * *" has 4 fields, needs 5""" in result.stderr
    assert "nothing was applied" in result.stderr

    missing = tasklane("run", "no-such-task", project=project)
    assert missing.returncode == 2 and "no task named 'no-such-task'" in missing.stderr

    tasklane("apply", str(catalog), project=project)
    wrong = tasklane("run", f"{project}-ok", "--param", "comand=ls", project=project)
    assert wrong.returncode == 2 and "field 'comand'" in wrong.stderr and "nothing was run" in wrong.stderr

    unreachable = subprocess.run(
        [TASKLANE, "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
    )
    assert unreachable.returncode == 3 and "cannot reach the Prefect server" in unreachable.stderr


def test_show_prints_the_effective_policy_and_its_sources(
    tmp_path: Path, project: str, work_pool: str
) -> None:
    """Settings `execution` (here in the scheduler requirements' shape) for what a task leaves out."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "execution:\n  timeout: 1800\n  retry: {enabled: true, max_attempts: 2, delay: 30}\n"
        "  concurrency: {max_concurrent: 5}\n"
    )
    path = tmp_path / "tasks.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            tasks:
              - {{name: {project}-plain, type: shell, command: "true"}}
              - name: {project}-own
                type: shell
                command: "true"
                timeout_seconds: 30
                retry: {{max_retries: 2, retry_delay: 5, backoff_factor: 3}}
              - name: {project}-half
                type: shell
                command: "true"
                retry: {{max_retries: 1, retry_delay: 2}}
              - name: {project}-off
                type: shell
                command: "true"
                timeout_seconds: 0
                retry: {{max_retries: 0}}
            """
        )
    )
    # The session's own TASKLANE_EXECUTION__* (no default retries) would beat the file.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLANE_EXECUTION__")}
    env.update({"TASKLANE_PROJECT": project, "TASKLANE_CONFIG": str(config), "COLUMNS": "200"})

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([TASKLANE, *args], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    cli("apply", str(path))
    shown = {name: cli("show", f"{project}-{name}").stdout for name in ("plain", "own", "half", "off")}
    assert "timeout: 1800 s (settings execution.timeout_seconds)" in shown["plain"]
    assert "retry: 2 x 30 s, backoff 1 (settings execution.retry)" in shown["plain"]
    assert "timeout: 30 s (task)" in shown["own"] and "retry: 2 x 5 s, backoff 3 (task)" in shown["own"]
    assert "timeout: 1800 s (settings execution.timeout_seconds)" in shown["half"]
    assert "retry: 1 x 2 s (task)" in shown["half"]
    assert "timeout: no limit (task)" in shown["off"] and "retry: none (task)" in shown["off"]

    # Other settings: the tasks that follow them (plain, half) change, the others are left alone.
    config.write_text("execution: {timeout_seconds: 600}\n")
    again = cli("apply", str(path))
    assert "0 created, 2 updated, 0 deleted, 2 unchanged" in again.stdout, again.stdout
    assert "timeout: 600 s (settings execution.timeout_seconds)" in cli("show", f"{project}-plain").stdout
