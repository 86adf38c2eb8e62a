"""Python tasks' code: inline code compiled on load; scripts compiled and callables imported by validate."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deployments.catalog import load_catalog
from deployments.errors import CatalogError
from deployments.python_check import python_code_problems

TASKLANE = str(Path(sys.executable).with_name("tasklane"))


def write_catalog(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_inline_code_with_a_syntax_error_is_refused_on_load_with_file_task_and_line(tmp_path: Path) -> None:
    path = write_catalog(
        tmp_path,
        """
        tasks:
          - name: tidy
            type: python
            code: |
              import os
              x = (1,
              print(x)
        """,
    )
    with pytest.raises(CatalogError) as caught:
        load_catalog([path])
    (problem,) = caught.value.problems
    assert (problem.file, problem.task, problem.field) == (str(path), "tidy", "code")
    assert problem.message.startswith("syntax error at line 2: '(' was never closed: `x = (1,`")


def test_inline_code_that_compiles_loads(tmp_path: Path) -> None:
    path = write_catalog(tmp_path, "tasks:\n  - {name: ok, type: python, code: 'result = 1 + 1'}\n")
    (task,) = load_catalog([path]).tasks
    assert task.job.code == "result = 1 + 1"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("code: 'x = 1', script: a.py", "give exactly one of 'callable', 'script' or 'code'"),
        ("code: 'x = 1', kwargs: {a: 1}", "'kwargs' goes with 'callable'"),
    ],
)
def test_code_goes_alone(tmp_path: Path, fields: str, message: str) -> None:
    path = write_catalog(tmp_path, f"tasks:\n  - {{name: t, type: python, {fields}}}\n")
    with pytest.raises(CatalogError, match=message):
        load_catalog([path])


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    package = tmp_path / "jobs"
    package.mkdir()
    (package / "good.py").write_text("def run():\n    return 1\n")
    (package / "broken.py").write_text("def run(:\n    pass\n")
    (package / "raises.py").write_text("raise RuntimeError('no config file')\n")
    (package / "hangs.py").write_text("import time\ntime.sleep(60)\n")
    (package / "bad_script.py").write_text("print('a')\nif True\n    print('b')\n")
    return package


def check(tmp_path: Path, tasks: str, **kwargs: float) -> list[str]:
    path = write_catalog(tmp_path, "tasks:\n" + tasks)
    return [str(p).removeprefix(f"{path}: ") for p in python_code_problems(load_catalog([path]), **kwargs)]


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("{name: t, type: python, callable: 'good:run', path: [jobs]}", []),
        (
            "{name: t, type: python, callable: 'good:missing', path: [jobs]}",
            ["task 't': field 'callable': callable 'good:missing': 'good' has no attribute 'missing'"],
        ),
        (
            "{name: t, type: python, callable: 'broken:run', path: [jobs]}",
            ["task 't': field 'callable': importing 'broken:run' failed: SyntaxError: invalid syntax"],
        ),
        (
            "{name: t, type: python, callable: 'raises:run', path: [jobs]}",
            ["task 't': field 'callable': importing 'raises:run' failed: RuntimeError: no config file"],
        ),
        ("{name: t, type: python, script: jobs/good.py}", []),
        ("{name: t, type: python, script: jobs/bad_script.py}", ["BAD_SCRIPT"]),
        ("{name: t, type: python, script: jobs/none.py}", ["MISSING"]),
    ],
)
def test_validate_reports_each_python_tasks_code(
    tmp_path: Path, jobs: Path, task: str, expected: list[str]
) -> None:
    expected = [
        {
            "BAD_SCRIPT": f"task 't': field 'script': {jobs}/bad_script.py: syntax error at line 2: "
            "expected ':': `if True`",
            "MISSING": f"task 't': field 'script': {jobs}/none.py: cannot be read: No such file or directory",
        }.get(line, line)
        for line in expected
    ]
    assert check(tmp_path, f"  - {task}\n") == expected


def test_an_import_that_hangs_is_stopped_at_the_time_limit(tmp_path: Path, jobs: Path) -> None:
    started = time.monotonic()
    problems = check(
        tmp_path, "  - {name: t, type: python, callable: 'hangs:run', path: [jobs]}\n", time_limit=1
    )
    assert problems == ["task 't': field 'callable': importing 'hangs:run' took longer than 1s; stopped"]
    assert time.monotonic() - started < 10


def test_the_validate_command_prints_the_problem_and_fails(tmp_path: Path, jobs: Path) -> None:
    path = write_catalog(
        tmp_path,
        "tasks:\n  - {name: ok, type: python, callable: 'good:run', path: [jobs]}\n"
        "  - {name: bad, type: python, script: jobs/bad_script.py}\n",
    )
    env = {**os.environ, "COLUMNS": "300"}
    done = subprocess.run(
        [TASKLANE, "validate", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    printed = "".join(done.stderr.split("\n"))  # the console wraps long lines
    assert f"{path}: task 'bad': field 'script': {jobs}/bad_script.py: syntax error at line 2" in printed
    assert "task 'ok'" not in printed
