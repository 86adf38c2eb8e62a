"""Settings `execution`: the timeout and retries of a task that writes none (no server needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from deployments.apply import Target, desired_deployment
from deployments.catalog import TaskSpec, load_catalog
from deployments.errors import CatalogError
from deployments.policy import POLICY_SOURCE_LABEL, describe_run_policy, parse_policy_source_label
from tasklane.settings import CONFIG_FILE_ENV, Settings
from tasklane.settings.execution import ExecutionSettings

CATALOG = """
tasks:
  - {name: plain, type: shell, command: ls}
  - name: own
    type: shell
    command: ls
    timeout_seconds: 30
    retry: {max_retries: 2, retry_delay: 5, backoff_factor: 3}
  - {name: own-timeout, type: shell, command: ls, timeout: 10}
  - {name: own-retry, type: shell, command: ls, retry: {max_retries: 1, retry_delay: 2}}
  - {name: opt-out, type: shell, command: ls, timeout_seconds: 0, retry: {max_retries: 0}}
  - {name: nulls, type: shell, command: ls, timeout_seconds: null, retry: null}
"""


@pytest.fixture
def tasks(tmp_path: Path) -> dict[str, TaskSpec]:
    path = tmp_path / "tasks.yaml"
    path.write_text(textwrap.dedent(CATALOG))
    return load_catalog([path]).by_name()


def policy(
    task: TaskSpec, execution: ExecutionSettings | None = None
) -> tuple[int, list[float], float | None]:
    run = task.run_policy(execution or ExecutionSettings())
    return run.retries, run.retry_delays, run.timeout_seconds


def test_the_defaults_are_the_requirements() -> None:
    execution = ExecutionSettings()
    assert execution.timeout_seconds == 3600
    assert (execution.retry.max_retries, execution.retry.retry_delay, execution.retry.backoff_factor) == (
        3,
        60,
        1,
    )


def test_a_task_that_sets_neither_gets_the_settings(tasks: dict[str, TaskSpec]) -> None:
    assert policy(tasks["plain"]) == (3, [60, 60, 60], 3600)
    assert tasks["plain"].policy_sources() == ("settings", "settings")
    other = ExecutionSettings(
        timeout_seconds=600, retry={"max_retries": 2, "retry_delay": 5, "backoff_factor": 2}
    )
    assert policy(tasks["plain"], other) == (2, [5, 10], 600)
    unlimited = ExecutionSettings(timeout_seconds=0, retry=None)
    assert policy(tasks["plain"], unlimited) == (0, [], None)


def test_a_tasks_own_values_win(tasks: dict[str, TaskSpec]) -> None:
    other = ExecutionSettings(timeout_seconds=600, retry={"max_retries": 5})
    assert policy(tasks["own"], other) == (2, [5, 15], 30)
    assert tasks["own"].policy_sources() == ("task", "task")
    # Each field on its own: the one the task writes is its, the other the settings'.
    assert policy(tasks["own-timeout"]) == (3, [60, 60, 60], 10)
    assert tasks["own-timeout"].policy_sources() == ("task", "settings")
    assert policy(tasks["own-retry"]) == (1, [2], 3600)
    assert tasks["own-retry"].policy_sources() == ("settings", "task")


@pytest.mark.parametrize("name", ["opt-out", "nulls"])
def test_explicit_opt_out(tasks: dict[str, TaskSpec], name: str) -> None:
    assert policy(tasks[name]) == (0, [], None)
    assert tasks[name].policy_sources() == ("task", "task")


def test_to_mapping_keeps_what_the_task_wrote(tasks: dict[str, TaskSpec], tmp_path: Path) -> None:
    mappings = {name: task.to_mapping() for name, task in tasks.items()}
    assert "timeout_seconds" not in mappings["plain"] and "retry" not in mappings["plain"]
    assert mappings["opt-out"]["timeout_seconds"] == 0 and mappings["opt-out"]["retry"] == {"max_retries": 0}
    assert "retry" not in mappings["own-timeout"] and mappings["own-retry"]["retry"]["max_retries"] == 1
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({"tasks": list(mappings.values())}))
    reloaded = load_catalog([again]).by_name()
    for name, task in tasks.items():
        assert reloaded[name] == task and reloaded[name].policy_sources() == task.policy_sources()
        assert policy(reloaded[name]) == policy(task)


def test_a_negative_timeout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tasks.yaml"
    path.write_text("tasks:\n  - {name: x, type: shell, command: ls, timeout_seconds: -1}\n")
    with pytest.raises(CatalogError) as caught:
        load_catalog([path])
    assert "field 'timeout_seconds'" in str(caught.value)


def test_the_deployment_carries_the_policy_and_its_sources(tasks: dict[str, TaskSpec]) -> None:
    execution = ExecutionSettings(timeout_seconds=900, retry={"max_retries": 1, "retry_delay": 7})
    target = Target("pool", "UTC", "p", execution=execution)
    plain = desired_deployment(tasks["plain"], target)
    assert plain.parameters["policy"]["timeout_seconds"] == 900
    assert plain.parameters["policy"]["retries"] == 1 and plain.parameters["policy"]["retry_delays"] == [7]
    assert plain.labels[POLICY_SOURCE_LABEL] == "timeout=settings,retry=settings"
    own = desired_deployment(tasks["own-timeout"], target)
    assert own.labels[POLICY_SOURCE_LABEL] == "timeout=task,retry=settings"
    # Other settings, another deployment: apply updates the tasks that follow them.
    assert desired_deployment(tasks["plain"], Target("pool", "UTC", "p")).version != plain.version


@pytest.mark.parametrize(
    "config",
    [
        # The scheduler requirements' own `execution:` block, as it stands there.
        """
        execution:
          timeout: 1800
          retry:
            enabled: true
            max_attempts: 2
            delay: 30
          concurrency:
            max_concurrent: 5
        """,
        # Tasklane's names.
        """
        execution:
          timeout_seconds: 1800
          retry: {max_retries: 2, retry_delay: 30}
        """,
    ],
)
def test_settings_accept_the_requirements_shape(
    config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TASKLANE_EXECUTION__RETRY__MAX_RETRIES", raising=False)
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(config))
    monkeypatch.setenv(CONFIG_FILE_ENV, str(path))
    execution = Settings().execution
    assert execution.timeout_seconds == 1800
    assert (execution.retry.max_retries, execution.retry.retry_delay, execution.retry.backoff_factor) == (
        2,
        30,
        1,
    )
    # The environment beats the file, under Tasklane's names.
    monkeypatch.setenv("TASKLANE_EXECUTION__TIMEOUT_SECONDS", "0")
    monkeypatch.setenv("TASKLANE_EXECUTION__RETRY__MAX_RETRIES", "5")
    execution = Settings().execution
    assert execution.timeout is None and execution.retry.max_retries == 5


def test_retry_disabled_in_the_requirements_shape() -> None:
    execution = ExecutionSettings.model_validate({"retry": {"enabled": False, "max_attempts": 3, "delay": 5}})
    assert execution.retry.max_retries == 0
    assert ExecutionSettings.model_validate({"retry": {"enabled": "true"}}).retry.max_retries == 3
    assert ExecutionSettings.model_validate({"retry": None}).retry.max_retries == 0


@pytest.mark.parametrize(
    "value",
    [{"timeout_seconds": -1}, {"retry": {"max_retries": -1}}, {"retry": {"backoff_factor": 0.5}}],
)
def test_settings_mistakes_are_refused(value: dict) -> None:
    with pytest.raises(ValidationError):
        ExecutionSettings.model_validate(value)


@pytest.mark.parametrize(
    ("policy_parameter", "label", "lines"),
    [
        (
            {"retries": 3, "retry_delays": [60, 60, 60], "timeout_seconds": 3600},
            "timeout=settings,retry=settings",
            [
                "timeout: 3600 s (settings execution.timeout_seconds)",
                "retry: 3 x 60 s, backoff 1 (settings execution.retry)",
            ],
        ),
        (
            {"retries": 2, "retry_delays": [5, 15], "retry_jitter_factor": 0.2, "timeout_seconds": 30},
            "timeout=task,retry=task",
            ["timeout: 30 s (task)", "retry: 2 x 5 s, backoff 3, jitter 0.2 (task)"],
        ),
        (
            {"retries": 0, "retry_delays": [], "timeout_seconds": None},
            "timeout=task,retry=settings",
            ["timeout: no limit (task)", "retry: none (settings execution.retry)"],
        ),
        (
            {"retries": 1, "retry_delays": [2.5], "timeout_seconds": 90.5},
            None,
            [
                "timeout: 90.5 s (source not recorded: applied before execution defaults)",
                "retry: 1 x 2.5 s (source not recorded: applied before execution defaults)",
            ],
        ),
    ],
)
def test_describe_run_policy(policy_parameter: dict, label: str | None, lines: list[str]) -> None:
    assert describe_run_policy(policy_parameter, label) == lines


def test_source_label_round_trips(tasks: dict[str, TaskSpec]) -> None:
    for task in tasks.values():
        timeout, retry = task.policy_sources()
        assert parse_policy_source_label(task.policy_source_label()) == {"timeout": timeout, "retry": retry}
    assert parse_policy_source_label("garbage,timeout=maybe") == {}
