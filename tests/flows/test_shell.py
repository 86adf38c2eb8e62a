"""The shell task type on a real Prefect server."""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from deployments.jobs import ShellJob
from deployments.policy import RunPolicy
from flows.shell import secrets_pattern, shell_flow
from tests.conftest import alive, run, with_client
from tests.flows.conftest import artifacts_of, server_flow_run, server_logs


def run_shell(job: ShellJob, policy: RunPolicy | None = None):
    return run(shell_flow(job=job, policy=policy or RunPolicy(), return_state=True))


def test_output_is_logged_and_exit_code_is_the_result(tmp_path: Path) -> None:
    job = ShellJob(
        command='echo "hi $GREETING"; pwd; echo oops >&2',
        env={"GREETING": "there"},
        working_dir=str(tmp_path),
    )
    state = run_shell(job)
    assert state.is_completed()
    result = state.result()
    assert result["exit_code"] == 0
    assert "hi there" in result["output_tail"] and str(tmp_path) in result["output_tail"]
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert "hi there" in logs and "oops" in logs  # stdout and stderr both streamed


def test_script_file_runs(tmp_path: Path) -> None:
    script = tmp_path / "job.sh"
    script.write_text('echo "args ok"; exit 0\n')
    assert run_shell(ShellJob(script=str(script))).result()["output_tail"] == ["args ok"]


def test_non_zero_exit_fails_the_run_with_one_clear_line_and_no_traceback() -> None:
    state = run_shell(ShellJob(command="echo first; echo second; echo last; exit 7"))
    assert state.is_failed()
    reason = (
        "exited with code 7: `echo first; echo second; echo last; exit 7`; last output: first | second | last"
    )
    assert state.message == reason
    assert server_flow_run(state.state_details.flow_run_id).state.message == reason
    logs = server_logs(state.state_details.flow_run_id)
    text = "\n".join(logs)
    assert "Traceback" not in text and "\\n" not in text  # no traceback, no escaped repr
    # The failure, once, with the last output lines on lines of their own.
    assert (
        "exited with code 7: `echo first; echo second; echo last; exit 7`; last output:\nfirst\nsecond\nlast"
        in logs
    )


def test_the_state_message_shortens_a_long_command_and_keeps_the_last_lines() -> None:
    command = "printf 'line %s\\n' $(seq 1 30); " + "true; " * 30 + "exit 2"
    state = run_shell(ShellJob(command=command))
    assert state.message.startswith("exited with code 2: `printf 'line %s")
    assert "…`" in state.message and "\n" not in state.message
    assert state.message.endswith("last output: line 26 | line 27 | line 28 | line 29 | line 30")


def test_timeout_ends_timed_out_and_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A background child, a grandchild and one that ignores SIGTERM: none may survive.
    command = (
        f"sleep 300 & echo $! >> {pids}; "
        f"bash -c 'trap \"\" TERM; sleep 300 & echo $! >> {pids}; wait' & echo $! >> {pids}; "
        "sleep 300"
    )
    started = time.monotonic()
    state = run_shell(ShellJob(command=command), RunPolicy(timeout_seconds=2))
    elapsed = time.monotonic() - started
    assert state.name == "TimedOut" and state.is_failed()
    assert server_flow_run(state.state_details.flow_run_id).state.name == "TimedOut"
    assert state.message == "timed out after 2 s; the job was stopped"
    assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))
    assert elapsed < 20
    recorded = [int(p) for p in pids.read_text().split()]
    assert len(recorded) == 3
    deadline = time.monotonic() + 5
    while any(alive(p) for p in recorded) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [p for p in recorded if alive(p)], "a child of the timed-out command is still running"


def test_retries_wait_the_computed_delays(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    job = ShellJob(command=f"date +%s.%N >> {stamps}; exit 1")
    policy = RunPolicy(retries=2, retry_delays=[1, 2])
    state = run_shell(job, policy)
    assert state.is_failed() and state.message.startswith("exited with code 1")
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert "Retry 2/2" in logs and "Retries are exhausted" in logs and "Traceback" not in logs
    times = [float(t) for t in stamps.read_text().split()]
    assert len(times) == 3
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] == pytest.approx(1, abs=0.9) and gaps[1] == pytest.approx(2, abs=0.9)
    assert gaps[1] > gaps[0]


def test_secret_env_comes_from_a_secret_block_and_is_not_logged() -> None:
    from prefect.blocks.system import Secret

    Secret(value="s3cr3t-value-123").save("tasklane-test-secret", overwrite=True)
    job = ShellJob(
        command='test "$API_TOKEN" = "s3cr3t-value-123" && echo matched',
        secret_env={"API_TOKEN": "tasklane-test-secret"},
    )
    state = run_shell(job)
    assert state.is_completed(), state.message
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert "matched" in logs and "s3cr3t-value-123" not in logs


@pytest.mark.parametrize("exit_code", [0, 5])
def test_a_secret_the_command_prints_is_masked_in_the_result_and_the_failure(exit_code: int) -> None:
    from prefect.blocks.system import Secret

    Secret(value="s3cr3t-value-456").save("tasklane-test-secret-2", overwrite=True)
    job = ShellJob(
        command=f'echo "token=$API_TOKEN"; exit {exit_code}',
        secret_env={"API_TOKEN": "tasklane-test-secret-2"},
    )
    state = run_shell(job)
    kept = [a.data for a in artifacts_of(state.state_details.flow_run_id)] + [state.message or ""]
    assert "token=***" in "\n".join(kept) and "s3cr3t-value-456" not in "\n".join(kept)


def save_secret(value: str) -> str:
    """A Secret block holding `value`; its name."""
    from prefect.blocks.system import Secret

    name = f"tasklane-test-secret-{uuid.uuid4().hex[:12]}"
    Secret(value=value).save(name)
    return name


def secret_run(value: str, command: str) -> Any:
    return run_shell(ShellJob(command=command, secret_env={"API_TOKEN": save_secret(value)}))


@pytest.mark.parametrize(
    ("secret", "command", "shown"),
    [
        pytest.param("s3cr3t.*+(1)", 'echo "token=$API_TOKEN"', ["token=***"], id="stdout"),
        pytest.param("s3cr3t-value-2", 'echo "token=$API_TOKEN" >&2', ["token=***"], id="stderr"),
        pytest.param(
            "s3cr3t-value-3",
            "cat <<EOF\nfirst\ntoken=$API_TOKEN and $API_TOKEN\nlast\nEOF",  # one write, one record
            ["first\ntoken=*** and ***\nlast"],
            id="lines-of-one-record",
        ),
        pytest.param(
            "first-line-s3cr3t\nsecond-line-s3cr3t",
            'echo "key=$API_TOKEN"; sleep 0.2; echo "${API_TOKEN##*$\'\\n\'} alone"',
            ["key=***", "*** alone"],
            id="multi-line-value",
        ),
        pytest.param("s3cr3t-value-5", 'echo "token=$API_TOKEN"; exit 4', ["token=***"], id="failing"),
    ],
)
def test_a_secret_the_command_prints_is_masked_in_the_servers_logs(
    secret: str, command: str, shown: list[str]
) -> None:
    state = secret_run(secret, command)
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert all(line in logs for line in shown), logs
    assert not [part for part in [secret, *secret.splitlines()] if part in logs], logs


def test_output_with_a_secret_is_logged_as_the_command_prints_it() -> None:
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    state = secret_run("s3cr3t-value-6", 'echo "token=$API_TOKEN"; sleep 2')
    run_id = state.state_details.flow_run_id
    server_logs(run_id)  # waits for the API log handler's last batch
    logs = with_client(
        lambda client: client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
    )
    (line,) = [log for log in logs if "token=***" in log.message]
    assert (server_flow_run(run_id).end_time - line.timestamp).total_seconds() > 1.5


@pytest.mark.parametrize(
    ("secret_env", "printed"),
    [
        pytest.param(False, "hello[s3cr3t-value-7]", id="another-run-is-not-masked"),
        pytest.param(True, "hello[]", id="an-empty-value-masks-nothing"),
    ],
)
def test_masking_is_of_the_runs_own_non_empty_secrets(secret_env: bool, printed: str) -> None:
    if secret_env:
        state = secret_run("", 'echo "hello[$API_TOKEN]"')
    else:
        secret_run("s3cr3t-value-7", "true")
        state = run_shell(ShellJob(command="echo 'hello[s3cr3t-value-7]'"))
    logs = "\n".join(server_logs(state.state_details.flow_run_id))
    assert printed in logs and "***" not in logs
    assert state.result()["output_tail"] == [printed]


@pytest.mark.parametrize(
    ("values", "text", "masked"),
    [
        ([""], "a b", "a b"),
        (["  ", "\n"], "a  b", "a  b"),
        (["abc"], "xabcx abc", "x***x ***"),
        (["ab", "abcd"], "abcd ab", "*** ***"),
        (["a.c"], "abc a.c", "abc ***"),
        (["one\ntwo"], "one\ntwo|two|one", "***|***|***"),
        (["tok\n"], "tok", "***"),
    ],
)
def test_secrets_pattern_masks_whole_values_and_lines_and_never_blanks(
    values: list[str], text: str, masked: str
) -> None:
    pattern = secrets_pattern(values)
    assert (pattern.sub("***", text) if pattern else text) == masked


def test_the_result_is_kept_as_a_markdown_artifact_of_the_run() -> None:
    state = run_shell(ShellJob(command="echo kept"))
    (artifact,) = [a for a in artifacts_of(state.state_details.flow_run_id) if a.type == "markdown"]
    assert "### Result of" in artifact.data and '"exit_code": 0' in artifact.data and "kept" in artifact.data


def test_every_run_of_a_task_keeps_its_result_or_failure_under_the_tasks_key(
    monkeypatch: pytest.MonkeyPatch, project: str
) -> None:
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactFilter

    task = f"{project}-Nightly_Backup"  # the deployment's name, as Prefect's runtime gives it
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", task)
    ok = run_shell(ShellJob(command="echo saved"))
    failed = run_shell(ShellJob(command="echo disk full; exit 3"))
    key = f"{project}-nightly-backup"

    def by_key(client):
        from prefect.client.schemas.filters import ArtifactCollectionFilterKey, ArtifactFilterKey

        return asyncio.gather(
            client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))),
            client.read_latest_artifacts(
                artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
            ),
        )

    versions, (latest,) = with_client(by_key)
    by_run = {a.flow_run_id: a.data for a in versions}
    assert set(by_run) == {ok.state_details.flow_run_id, failed.state_details.flow_run_id}
    assert '"exit_code": 0' in by_run[ok.state_details.flow_run_id]
    failure = by_run[failed.state_details.flow_run_id]
    assert f"### `{task}` failed" in failure and "exited with code 3: `echo disk full; exit 3`" in failure
    assert "Last output:" in failure and "    disk full" in failure
    assert latest.flow_run_id == failed.state_details.flow_run_id


NODE, PERL = shutil.which("node"), shutil.which("perl")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed on this machine")
needs_perl = pytest.mark.skipif(PERL is None, reason="perl is not installed on this machine")
# Each prints its language's greeting and whether it leads its process group: the interpreter is the
# process prefect-shell started (exec'd, not a child of a wrapping shell).
LEADER_CODE = {
    "python3": "import os\nprint(f'python says hi {os.getpgrp() == os.getpid()}')\n",
    "node": "const { execSync } = require('child_process');\n"
    "const pgid = execSync(`ps -o pgid= -p ${process.pid}`).toString().trim();\n"
    "console.log('node says hi', pgid === String(process.pid));\n",
    "perl": 'print "perl says hi ", (getpgrp() == $$ ? "True" : "False"), "\\n";\n',
    "sh": 'echo "sh says hi $([ "$(ps -o pgid= -p $$ | tr -d " ")" = "$$" ] && echo True)"\n',
}
LEADER_OUTPUT = {
    "python3": "python says hi True",
    "node": "node says hi true",
    "perl": "perl says hi True",
    "sh": "sh says hi True",
}


def printed(state: Any) -> list[str]:
    # prefect-shell may keep an empty last line after a final newline, depending on its reads.
    return [line for line in state.result()["output_tail"] if line]


INTERPRETER_CASES = [
    pytest.param("python3", id="python3"),
    pytest.param("node", id="node", marks=needs_node),
    pytest.param("perl", id="perl", marks=needs_perl),
    pytest.param("sh", id="sh"),
]


@pytest.mark.parametrize("interpreter", INTERPRETER_CASES)
def test_an_interpreter_runs_inline_code_itself(interpreter: str) -> None:
    state = run_shell(ShellJob(command=LEADER_CODE[interpreter], interpreter=interpreter))
    assert state.is_completed(), state.message
    assert printed(state) == [LEADER_OUTPUT[interpreter]]


@pytest.mark.parametrize("interpreter", INTERPRETER_CASES)
def test_an_interpreter_runs_a_script_file_itself(interpreter: str, tmp_path: Path) -> None:
    script = tmp_path / "job.code"  # no suffix the interpreter could guess from
    script.write_text(LEADER_CODE[interpreter])
    state = run_shell(ShellJob(script=str(script), interpreter=interpreter))
    assert state.is_completed(), state.message
    assert printed(state) == [LEADER_OUTPUT[interpreter]]


@pytest.mark.parametrize(
    ("shebang", "interpreter"),
    [
        pytest.param(f"#!{PERL}", "perl", marks=needs_perl),
        pytest.param("#!/usr/bin/env node", "node", marks=needs_node),
        pytest.param("#!/usr/bin/env python3", "python3", id="env-python3"),
    ],
)
@pytest.mark.parametrize("as_script", [False, True], ids=["command", "script"])
def test_shebang_runs_the_program_of_the_first_line(
    shebang: str, interpreter: str, as_script: bool, tmp_path: Path
) -> None:
    code = f"{shebang}\n{LEADER_CODE[interpreter]}"
    if as_script:
        script = tmp_path / "job"
        script.write_text(code)  # not executable: the '#!' line is read, not left to the kernel
        job = ShellJob(script=str(script), interpreter="shebang")
    else:
        job = ShellJob(command=code, interpreter="shebang")
    state = run_shell(job)
    assert state.is_completed(), state.message
    assert printed(state) == [LEADER_OUTPUT[interpreter]]


def test_an_interpreters_non_zero_exit_fails_the_run() -> None:
    state = run_shell(ShellJob(command="import sys\nprint('bye')\nsys.exit(4)\n", interpreter="python3"))
    assert state.is_failed() and state.message.startswith("exited with code 4:")
    assert state.message.endswith("last output: bye")


def test_a_script_without_a_shebang_fails_clearly_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    script = tmp_path / "job.sh"
    script.write_text(f"touch {marker}\n")
    state = run_shell(ShellJob(script=str(script), interpreter="shebang"))
    assert state.is_failed()
    assert state.message.startswith(
        f"interpreter 'shebang': script {str(script)!r} does not start with '#!program'; found 'touch "
    )
    assert not marker.exists()
    assert "Traceback" not in "\n".join(server_logs(state.state_details.flow_run_id))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"command": "echo", "interpreter": "ruby"},
            "Input should be 'sh', 'bash', 'python3', 'node', 'perl'",
        ),
        ({"command": "echo", "interpreter": "sh", "shell": "zsh"}, "give 'interpreter' or 'shell', not both"),
        ({"command": "echo hi", "interpreter": "shebang"}, "needs a command whose first line is '#!program'"),
    ],
)
def test_bad_interpreter_fields_are_refused(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ShellJob.model_validate(fields)
