"""Shell quoting: values stay one argument, the built-in shell tasks run for real, unsafe ones are refused."""

from __future__ import annotations

import os
import shlex
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from deployments.templates import render
from tests.deployments.templates.support import builtin, custom, template_problems

DAY = 86400


EVIL = 'my src; rm -rf / $(touch INJECTED) `touch INJECTED2` it\'s "q"'


LEAF = Path(EVIL).name  # the last component: EVIL holds a '/'


def run_bash(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=60)


def age(path: Path, days: float) -> None:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp))


def test_shell_values_stay_one_argument() -> None:
    source = f"/srv/{EVIL}"
    command = render(builtin("backup-dir"), "b", {"source": source, "dest": "/var/my backups"})["command"]
    words = {line.split("=", 1)[0]: shlex.split(line) for line in command.splitlines() if "={" not in line}
    assert words["src"] == [f"src={source}"]
    assert words["name"] == [f"name={LEAF}"]
    assert words["dest"] == ["dest=/var/my backups"]
    assert words["parent"] == [f"parent=/srv/{Path(EVIL).parent}"]
    cleanup = render(builtin("cleanup-old-files"), "c", {"directory": source, "pattern": "*; rm -rf /"})
    (find,) = [line for line in cleanup["command"].splitlines() if line.startswith("find")]
    assert "-name '*; rm -rf /' \\" in find


def test_backup_runs_for_real(tmp_path: Path) -> None:
    source = tmp_path / "data" / EVIL
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub" / "b.txt").write_text("beta")
    (source / "skip.tmp").write_text("temporary")
    dest = tmp_path / "my backups"
    dest.mkdir()
    old = dest / f"{LEAF}-20000101-000000.tar.gz"
    recent = dest / f"{LEAF}-20991231-000000.tar.gz"
    other = dest / "otherdir-20000101-000000.tar.gz"
    for path in (old, recent, other):
        path.write_bytes(b"")
    age(old, 30)
    age(recent, 1)
    age(other, 30)
    command = render(
        builtin("backup-dir"),
        "b",
        {"source": str(source), "dest": str(dest), "keep_days": "7", "exclude": "*.tmp"},
    )["command"]
    result = run_bash(command, tmp_path / "cwd")
    assert result.returncode == 0, result.stderr
    assert not old.exists(), "an archive older than keep_days is deleted"
    assert recent.exists() and other.exists(), "recent archives and other directories' archives stay"
    (archive,) = [p for p in dest.glob("*.tar.gz") if p not in (recent, other)]
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {f"{LEAF}/a.txt", f"{LEAF}/sub/b.txt"} <= names
    assert f"{LEAF}/skip.tmp" not in names
    assert not list(tmp_path.rglob("INJECTED*")), "nothing in the path was run"


def test_backup_old_archive_glob_is_escaped(tmp_path: Path) -> None:
    source = tmp_path / "data*"
    source.mkdir()
    (source / "f").write_text("x")
    dest = tmp_path / "backups"
    dest.mkdir()
    lookalike = dest / "dataX-20000101-000000.tar.gz"  # matches 'data*-*.tar.gz' unescaped
    lookalike.write_bytes(b"")
    age(lookalike, 30)
    command = render(builtin("backup-dir"), "b", {"source": str(source), "dest": str(dest)})["command"]
    result = run_bash(command, tmp_path)
    assert result.returncode == 0, result.stderr
    assert lookalike.exists()


def test_backup_of_a_missing_directory_fails(tmp_path: Path) -> None:
    command = render(builtin("backup-dir"), "b", {"source": str(tmp_path / "gone"), "dest": str(tmp_path)})
    result = run_bash(command["command"], tmp_path)
    assert result.returncode == 2 and "no such directory" in result.stderr


@pytest.mark.parametrize(
    ("values", "deleted", "kept"),
    [
        ({}, {"old.log", "sub/old.log"}, {"new.log", "old.txt"}),
        ({"recursive": "false"}, {"old.log"}, {"new.log", "old.txt", "sub/old.log"}),
        ({"dry_run": "true"}, set(), {"old.log", "sub/old.log", "new.log", "old.txt"}),
    ],
)
def test_cleanup_runs_for_real(
    tmp_path: Path, values: dict[str, str], deleted: set[str], kept: set[str]
) -> None:
    directory = tmp_path / EVIL
    (directory / "sub").mkdir(parents=True)
    for name, days in {"old.log": 10, "sub/old.log": 10, "new.log": 1, "old.txt": 10}.items():
        (directory / name).write_text(name)
        age(directory / name, days)
    mapping = render(
        builtin("cleanup-old-files"),
        "c",
        {"directory": str(directory), "days": 7, "pattern": "*.log", **values},
    )
    result = run_bash(mapping["command"], tmp_path / "cwd")
    assert result.returncode == 0, result.stderr
    for name in deleted:
        assert not (directory / name).exists(), name
    for name in kept:
        assert (directory / name).exists(), name
    listed = {Path(line).relative_to(directory).as_posix() for line in result.stdout.splitlines()}
    assert listed == (deleted or {"old.log", "sub/old.log"})
    assert not list(tmp_path.rglob("INJECTED*"))


def test_cleanup_refuses_the_root_directory(tmp_path: Path) -> None:
    link = tmp_path / "root"
    link.symlink_to("/")
    for directory in ("/", str(link)):
        mapping = render(builtin("cleanup-old-files"), "c", {"directory": directory, "dry_run": True})
        result = run_bash(mapping["command"], tmp_path)
        assert result.returncode == 2 and "refusing to clean /" in result.stderr


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls {{ where }}", "puts {{ where }} into the command unquoted; end it with | quote"),
        ("ls {{ where | upper }}", "puts {{ where | upper }} into the command unquoted"),
        (
            'echo "{{ where | quote }}"',
            'puts {{ where | quote }} inside "...", where quoting cannot protect it',
        ),
        ("echo '{{ where | quote }}'", "inside '...'"),
        ('x=$(echo "{{ where }}")', 'inside "..."'),
        ("{% for w in many %}ls {{ w }}; {% endfor %}", "puts {{ w }} into the command unquoted"),
        ("ls # it's {{ where | quote }}\nls", "puts {{ where | quote }} in a comment"),
        ("echo \\{{ where | quote }}", "puts {{ where | quote }} after \\, where quoting cannot"),
        ("echo ${{ where | quote }}", "puts {{ where | quote }} after $"),
    ],
)
def test_unsafe_shell_substitutions_are_refused(tmp_path: Path, command: str, expected: str) -> None:
    text = f"""
        name: unsafe
        params: {{where: path, many: list, n: integer, flag: boolean}}
        task:
          type: shell
          command: {yaml.safe_dump(command).strip().removesuffix("...").strip()}
    """
    (problem,) = template_problems(tmp_path, text)
    assert "template 'unsafe': field 'task.command': " in problem
    assert expected in problem


@pytest.mark.parametrize(
    "command",
    [
        "ls {{ where | quote }}",
        'sleep {{ n }}; echo "{{ n * 2 }} {{ name }}"; test {{ flag }}',
        'x=$(ls {{ where | quote }}) && echo "$x" # it\'s {{ n }}',
        "echo \\$HOME {{ where | quote }} \\\n  {{ where | quote }}",
        "{% for w in many %}ls {{ w | quote }}; {% endfor %}tar {{ many | quote }}",
        'echo "$(basename -- {{ where | quote }})"',
    ],
)
def test_safe_shell_substitutions_are_accepted(tmp_path: Path, command: str) -> None:
    template = custom(
        tmp_path,
        f"""
        name: safe
        params: {{where: path, many: list, n: integer, flag: boolean}}
        task:
          type: shell
          command: {yaml.safe_dump(command).strip().removesuffix("...").strip()}
        """,
    )
    assert template.name == "safe"
