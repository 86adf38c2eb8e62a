"""The catalog model: valid files load, every mistake is reported with file, task and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deployments.catalog import Priority, load_catalog
from deployments.errors import CatalogError
from deployments.jobs import HttpJob, PythonJob, ShellJob


def write(tmp_path: Path, text: str, name: str = "tasks.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        load_catalog([path])
    return [str(p) for p in caught.value.problems]


def test_example_catalog_is_valid() -> None:
    catalog = load_catalog([Path(__file__).parents[2] / "tasks.yaml"])
    types = {task.type for task in catalog.tasks}
    assert {"shell", "python", "http"} <= types
    assert any(task.retry.max_retries > 0 for task in catalog.tasks)


def test_task_fields_and_type_parameters_sit_side_by_side(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tasks:
          - name: backup
            type: shell
            command: /usr/bin/backup.sh
            working_dir: data
            schedule: {cron: "0 2 * * *", timezone: Asia/Shanghai}
            priority: high
            group: ops
            tags: [nightly]
            owner: alice
            timeout: 3600
            retry_policy: {max_retries: 3, retry_delay: 60, backoff_factor: 2}
            enabled: true
          - name: ping
            type: http
            url: https://status.example.com/ping
            json: {a: 1}
          - name: sum
            type: python
            callable: "pkg.mod:fn"
            kwargs: {x: 1}
        """,
    )
    catalog = load_catalog([path])
    backup, ping, summed = catalog.tasks
    assert isinstance(backup.job, ShellJob) and backup.job.command == "/usr/bin/backup.sh"
    assert backup.job.working_dir == str((tmp_path / "data").resolve())  # relative to the file
    assert backup.priority is Priority.HIGH and backup.priority.queue == "high"
    assert backup.timeout_seconds == 3600
    assert backup.retry.delays() == [60, 120, 240]
    assert backup.schedule[0].timezone == "Asia/Shanghai"
    assert isinstance(ping.job, HttpJob) and ping.job.json_body == {"a": 1}
    assert isinstance(summed.job, PythonJob) and summed.job.kwargs == {"x": 1}
    assert ping.priority is Priority.MEDIUM  # the default


def test_directory_of_files_and_duplicate_across_files(tmp_path: Path) -> None:
    (tmp_path / "tasks").mkdir()
    write(tmp_path, "tasks:\n  - {name: a, type: shell, command: 'true'}\n", "tasks/one.yaml")
    write(tmp_path, "tasks:\n  - {name: a, type: shell, command: 'false'}\n", "tasks/two.yaml")
    (problem,) = problems_of(tmp_path / "tasks")
    assert "two.yaml: task 'a': field 'name': duplicate task name (first defined in" in problem
    assert "one.yaml" in problem


@pytest.mark.parametrize(
    ("task_yaml", "expected"),
    [
        ("{name: x, type: ftp}", "task 'x': field 'type': unknown type 'ftp' (known: "),
        ("{name: x}", "task 'x': field 'type': is required"),
        ("{type: shell, command: ls}", "task '#1': field 'name': is required"),
        ("{name: x, type: shell}", "task 'x': give exactly one of 'command' or 'script'"),
        ("{name: x, type: http}", "task 'x': field 'url': is required"),
        (
            "{name: x, type: shell, command: ls, schedule: {cron: '0 */6 * *'}}",
            "field 'schedule.0.cron': cron \"0 */6 * *\" has 4 fields, needs 5",
        ),
        (
            "{name: x, type: shell, command: ls, comand: ls}",
            "task 'x': field 'comand': is not a field of a shell task",
        ),
        ("{name: x, type: shell, command: ls, priority: urgent}", "field 'priority': Input should be 'HIGH'"),
        ("{name: x, type: python, callable: nocolon}", "is not 'module:function'"),
        ("{name: 'bad name', type: shell, command: ls}", "is not a task name"),
        ("{name: x, type: shell, command: ls, retry: {max_retries: -1}}", "field 'retry.max_retries'"),
        ("{name: x, type: http, url: 'ftp://x'}", "field 'url': 'ftp://x' is not an http:// or https:// URL"),
    ],
)
def test_each_mistake_is_named(tmp_path: Path, task_yaml: str, expected: str) -> None:
    path = write(tmp_path, f"tasks:\n  - {task_yaml}\n")
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(path))
    assert expected in problems[0]


@pytest.mark.parametrize(
    ("task_yaml", "expected"),
    [
        ("{name: x, type: shel, command: ls}", "task 'x': field 'type': unknown type 'shel' (known: "),
        ("{name: x, type: shel, command: ls}", "shell, ssh); did you mean 'shell'?"),
        (
            "{name: x, type: shell, command: ls, scedule: '02:00'}",
            "task 'x': field 'scedule': is not a field of a shell task (it takes: command, ",
        ),
        ("{name: x, type: shell, command: ls, scedule: '02:00'}", "notify, pool); did you mean 'schedule'?"),
        ("{name: x, type: shell, comand: ls}", "field 'comand': is not a field of a shell task"),
        ("{name: x, type: shell, command: ls, priorty: HIGH}", "did you mean 'priority'?"),
        (
            "{name: x, type: http, url: 'https://a.example', mehtod: POST}",
            "field 'mehtod': is not a field of a http task",
        ),
        ("{name: x, type: http, url: 'https://a.example', mehtod: POST}", "did you mean 'method'?"),
        ("{name: x, type: shell, command: ls, priority: hihg}", "found 'HIHG'; did you mean 'HIGH'?"),
        (
            "{name: x, type: shell, command: ls, missed: run-once}",
            "found 'run-once'; did you mean 'run_once'?",
        ),
        (
            "{name: x, type: shell, command: ls, schedule: {daily: '02:00', timezone: Europe/Berln}}",
            "task 'x': field 'schedule.0.timezone': unknown timezone 'Europe/Berln' (an IANA name such "
            "as Europe/Berlin); did you mean 'Europe/Berlin'?",
        ),
        (
            "{name: x, type: shell, command: ls, schedule: {evry: 5m}}",
            "task 'x': field 'schedule.0': unknown key 'evry' in a schedule",
        ),
        (
            "{name: x, type: shell, command: ls, notify: {on: [faild], to: [webhook]}}",
            "field 'notify.on.0.kind': Input should be 'failed'",
        ),
        (
            "{name: x, type: shell, command: ls, notify: {on: [failed], to: [webhook], throtle: 5m}}",
            "field 'notify.throtle': is not a field of notify (it takes: on, to, throttle, window, subject, "
            "body); did you mean 'throttle'?",
        ),
        (
            "{name: x, type: shell, command: ls, schedule: {cron: 'every 5 minutes'}}",
            "task 'x': field 'schedule.0.cron': cron \"every 5 minutes\" is not a cron expression (5 fields: "
            "minute hour day-of-month month day-of-week); write {every: 5m}, "
            'or a 5-field cron such as "*/5 * * * *"',
        ),
        (
            "{name: x, type: shell, command: ls, schedule: 'every 5 minutes'}",
            "task 'x': field 'schedule.0': \"every 5 minutes\" is not a schedule",
        ),
    ],
)
def test_misspellings_get_the_closest_valid_name(tmp_path: Path, task_yaml: str, expected: str) -> None:
    path = write(tmp_path, f"tasks:\n  - {task_yaml}\n")
    problems = problems_of(path)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}: task 'x': field ")
    assert expected in problems[0]


@pytest.mark.parametrize(
    ("task_yaml", "field"),
    [
        (
            "{name: x, type: http, url: 'https://a.example', headers: {Authorization: 'Bearer abcdefghij'}}",
            "headers.Authorization",
        ),
        ("{name: x, type: shell, command: ls, env: {DB_PASSWORD: hunter2}}", "env.DB_PASSWORD"),
        ("{name: x, type: python, callable: 'a:b', kwargs: {api_key: 'k-123456789'}}", "kwargs.api_key"),
        (
            "{name: x, type: http, url: 'https://a.example', headers: {X-Auth: 'Token abcdefghijk'}}",
            "headers.X-Auth",
        ),
    ],
)
def test_secret_looking_literals_are_refused(tmp_path: Path, task_yaml: str, field: str) -> None:
    problems = problems_of(write(tmp_path, f"tasks:\n  - {task_yaml}\n"))
    assert any(f"field '{field}'" in p and "Prefect block" in p for p in problems), problems


def test_credentials_in_url_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "tasks:\n  - {name: x, type: http, url: 'https://u:p@a.example/'}\n")
    (problem,) = problems_of(path)
    assert "credentials in the URL" in problem


def test_block_references_are_not_secrets(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tasks:
          - {name: x, type: shell, command: ls, secret_env: {DB_PASSWORD: db-password}}
          - {name: y, type: http, url: 'https://a.example', auth_block: http-bearer-auth/api}
        """,
    )
    assert len(load_catalog([path]).tasks) == 2


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tasks:
          - {name: a, type: nope}
          - {name: b, type: shell}
          - {name: c, type: shell, command: ls, schedule: {every: 0s}}
        """,
    )
    assert len(problems_of(path)) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tasks: [\n", "is not valid YAML at line"),
        ("- a\n- b\n", "a catalog file is a mapping with a 'tasks:' list"),
        ("tasks: {a: 1}\n", "field 'tasks': must be a list"),
        ("tasks: []\nextra: 1\n", "field 'extra': is not a catalog key"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, expected: str) -> None:
    (problem,) = problems_of(write(tmp_path, text))
    assert expected in problem


def test_missing_explicit_path_is_a_problem(tmp_path: Path) -> None:
    (problem,) = problems_of(tmp_path / "missing.yaml")
    assert "no such file or directory" in problem
    assert load_catalog([tmp_path / "missing.yaml"], required=False).tasks == []


def test_to_mapping_round_trips(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tasks:
          - name: ping
            type: http
            url: https://status.example.com/ping
            json: {a: 1}
            schedule: {every: 5m}
            priority: HIGH
            retry: {max_retries: 2}
        """,
    )
    (task,) = load_catalog([path]).tasks
    again = write(tmp_path, "", "again.yaml")
    import yaml

    again.write_text(yaml.safe_dump({"tasks": [task.to_mapping()]}))
    (reloaded,) = load_catalog([again]).tasks
    assert reloaded == task


@pytest.mark.parametrize(
    ("deps", "expected"),
    [
        ({"a": ["b"], "b": ["c"], "c": ["a"]}, "dependency cycle: a -> c -> b -> a"),
        ({"a": ["nope"]}, "task 'a': field 'depends_on': unknown task 'nope'"),
        ({"a": ["a"]}, "task 'a': field 'depends_on': a task cannot depend on itself"),
    ],
)
def test_dependency_mistakes(tmp_path: Path, deps: dict[str, list[str]], expected: str) -> None:
    lines = ["tasks:"] + [
        f"  - {{name: {name}, type: shell, command: 'true', depends_on: {ups}}}" for name, ups in deps.items()
    ]
    problems = problems_of(write(tmp_path, "\n".join(lines) + "\n"))
    assert any(expected in p for p in problems), problems


def test_a_cycle_reads_in_run_order(tmp_path: Path) -> None:
    from deployments.catalog import find_cycle

    # b runs after a, c after b, a after c
    assert find_cycle({"b": ["a"], "c": ["b"], "a": ["c"]}) in (
        ["a", "b", "c", "a"],
        ["b", "c", "a", "b"],
        ["c", "a", "b", "c"],
    )
    assert find_cycle({"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}) is None


def test_dependencies_alias_and_upstream_first_order(tmp_path: Path) -> None:
    from deployments.catalog import upstream_first

    path = write(
        tmp_path,
        """
        tasks:
          - {name: d, type: shell, command: 'true', dependencies: [b, c]}
          - {name: b, type: shell, command: 'true', depends_on: [a]}
          - {name: c, type: shell, command: 'true', depends_on: [a]}
          - {name: a, type: shell, command: 'true'}
        """,
    )
    catalog = load_catalog([path])
    order = [t.name for t in upstream_first(catalog.tasks)]
    assert order.index("a") < order.index("b") < order.index("d") and order.index("c") < order.index("d")
    assert catalog.by_name()["d"].depends_on == ["b", "c"]


NOTIFY_TASKS = """
tasks:
  - name: own
    type: shell
    command: 'true'
    notify:
      on: [failed, {consecutive_failures: 3}, recovered]
      to: [mattermost, custom-webhook/oncall]
      throttle: 1h
  - {name: inherits, type: shell, command: 'true'}
  - {name: partial, type: shell, command: 'true', notify: {on: [timed_out]}}
  - {name: quiet, type: shell, command: 'true', notify: off}
"""


def test_notify_is_laid_over_the_settings_default(tmp_path: Path) -> None:
    from datetime import timedelta

    import yaml

    from tasklane.settings.alerts import AlertSettings

    path = write(tmp_path, NOTIFY_TASKS)
    alerts = AlertSettings(default_notify={"on": ["failed", "crashed"], "to": ["email"]}, throttle="15m")
    tasks = load_catalog([path], alerts=alerts).by_name()
    own = tasks["own"].notify
    assert [r.label for r in own.on] == ["failed", "consecutive_failures_3", "recovered"]
    assert own.to == ["mattermost", "custom-webhook/oncall"] and own.throttle == timedelta(hours=1)
    assert [r.kind for r in tasks["inherits"].notify.on] == ["failed", "crashed"]
    assert tasks["inherits"].notify.to == ["email"] and tasks["inherits"].notify.throttle == timedelta(
        minutes=15
    )
    assert [r.kind for r in tasks["partial"].notify.on] == ["timed_out"] and tasks["partial"].notify.to == [
        "email"
    ]
    assert tasks["quiet"].notify is None
    # No default in settings: no alerts unless a task asks.
    without_partial = write(tmp_path, NOTIFY_TASKS.replace("notify: {on: [timed_out]}", "group: x"), "b.yaml")
    plain = load_catalog([without_partial], alerts=AlertSettings()).by_name()
    assert plain["inherits"].notify is None and plain["own"].notify == own

    # Export writes what the task wrote (resolved), keeps the opt-out, leaves the default to settings.
    mappings = {t.name: t.to_mapping() for t in tasks.values()}
    assert "notify" not in mappings["inherits"] and mappings["quiet"]["notify"] is None
    assert mappings["own"]["notify"]["on"] == ["failed", {"consecutive_failures": 3}, "recovered"]
    assert mappings["own"]["notify"]["throttle"] == "1h"
    again = write(tmp_path, yaml.safe_dump({"tasks": list(mappings.values())}), "again.yaml")
    assert load_catalog([again], alerts=alerts).by_name() == tasks


def test_notify_mistakes_name_file_task_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        tasks:
          - {name: a, type: shell, command: 'true', notify: {on: [failed, exploded], to: [webhook]}}
          - {name: b, type: shell, command: 'true', notify: {on: [failed], to: [webhook], throttle: soon}}
          - {name: c, type: shell, command: 'true', notify: {on: [{consecutive_failures: 1}], to: [email]}}
          - {name: d, type: shell, command: 'true', notify: {on: [failed], to: [email, pager]}}
          - {name: e, type: shell, command: 'true', notify: {on: [failed]}}
          - {name: f, type: shell, command: 'true', notify: [webhook]}
          - {name: g, type: shell, command: 'true', notify: {to: [email], every: 5m}}
        """,
    )
    problems = problems_of(path)
    file = str(path)
    expected = [
        f"{file}: task 'a': field 'notify.on.1.kind': Input should be 'failed',",
        f"{file}: task 'b': field 'notify.throttle': 'soon' is not a duration",
        f"{file}: task 'c': field 'notify.on.0': consecutive_failures needs a count of at least 2",
        f"{file}: task 'd': field 'notify.to.1': 'pager' is neither a destination of settings alerts.blocks "
        "(known: email, mattermost, webhook) nor a block reference 'slug/name'",
        f"{file}: task 'e': field 'notify.to': is required",
        f"{file}: task 'f': field 'notify': expected a mapping like {{on: [failed], to: [mattermost]",
        f"{file}: task 'g': field 'notify.every': is not a field of notify (it takes: on, to, throttle,",
    ]
    assert len(problems) == len(expected), problems
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
