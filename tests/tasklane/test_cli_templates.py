"""`tasklane template list|show` and `tasklane new NAME --from TEMPLATE` (no server needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TASKLANE = str(Path(sys.executable).with_name("tasklane"))


def tasklane(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TASKLANE_CATALOG": '["tasks.yaml"]', "TASKLANE_TEMPLATES": '["templates"]'}
    return subprocess.run([TASKLANE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_list_show_and_new_into_a_catalog(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    listed = tasklane("template", "list", cwd=tmp_path)
    assert listed.returncode == 0
    for name in ("backup-dir", "cleanup-old-files", "http-health-check", "jira-export", "confluence-report"):
        assert name in listed.stdout
    shown = tasklane("template", "show", "backup-dir", cwd=tmp_path)
    assert shown.returncode == 0 and "keep_days" in shown.stdout

    catalog = tmp_path / "tasks.yaml"
    catalog.write_text("tasks:\n  - {name: first, type: shell, command: 'true'}\n")

    def new_nightly(*more: str) -> subprocess.CompletedProcess[str]:
        """`tasklane new nightly --from backup-dir` into the catalog: the source set, `more` options after."""
        options = ["--set", f"source={tmp_path}", *more, "--into", str(catalog)]
        return tasklane("new", "nightly", "--from", "backup-dir", *options, cwd=tmp_path)

    made = new_nightly("--set", "keep_days=3")
    assert made.returncode == 0, made.stderr
    assert tasklane("validate", str(catalog), cwd=tmp_path).stdout.startswith("ok: 2 tasks")

    again = new_nightly()
    assert again.returncode == 2 and "already in the catalog" in again.stderr


def test_bad_values_are_named(tmp_path: Path) -> None:
    bad = tasklane(
        "new", "x", "--from", "backup-dir", "--set", "source=/data", "--set", "keep_days=0", cwd=tmp_path
    )
    assert bad.returncode == 2 and "keep_days" in bad.stderr
    missing = tasklane("new", "x", "--from", "backup-dir", cwd=tmp_path)
    assert missing.returncode == 2 and "source" in missing.stderr
    unknown = tasklane("new", "x", "--from", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "no template named 'nope'" in unknown.stderr


def test_token_create_list_revoke(tmp_path: Path) -> None:
    env = {**os.environ, "TASKLANE_HOME": str(tmp_path / ".tasklane")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TASKLANE, "token", *args], env=env, capture_output=True, text=True, timeout=60)

    created = cli("create", "ci-bot", "--role", "operator", "--group", "ops")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) >= 32
    listed = cli("list")
    assert "ci-bot" in listed.stdout and "operator" in listed.stdout and token not in listed.stdout
    stored = "".join(p.read_text() for p in (tmp_path / ".tasklane").rglob("*.json"))
    assert token not in stored  # only its hash is kept
    assert cli("create", "x", "--role", "root").returncode == 2
    assert "revoked" in cli("revoke", "ci-bot").stdout
