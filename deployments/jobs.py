"""The parameters of the built-in task types, as they sit beside a task's common fields.

Each model is the single definition of what its task type accepts: the catalog validates
with it, the flow receives it as its `job` parameter, and `export` writes it back.
Paths are resolved against the catalog file's directory when the catalog is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BLOCK_REF = re.compile(r"^[a-z0-9-]+/[A-Za-z0-9_.-]+$")
CALLABLE_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _resolve(base: Path, value: str | None) -> str | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


class JobModel(BaseModel):
    """Base of task-type parameter models: strict about unknown fields."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def with_paths_resolved(self, base: Path) -> JobModel:
        """Return a copy whose relative paths are made absolute against `base`."""
        return self


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str | None], str | None]:
    """A validator of an optional string that must match `pattern` (`what` it is)."""

    def check(value: str | None) -> str | None:
        if value is not None and not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return check


def _exactly_one(job: BaseModel, first: str, second: str) -> None:
    if bool(getattr(job, first)) == bool(getattr(job, second)):
        raise ValueError(f"give exactly one of {first!r} or {second!r}")


def _check_env_names(env: dict[str, str]) -> dict[str, str]:
    for name in env:
        if not ENV_NAME.match(name):
            raise ValueError(f"{name!r} is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return env


# The programs `interpreter:` may name, with the file suffix their inline code is written under.
INTERPRETERS = {"sh": ".sh", "bash": ".sh", "python3": ".py", "node": ".js", "perl": ".pl"}
SHEBANG = "shebang"
Interpreter = Literal["sh", "bash", "python3", "node", "perl", "shebang"]


class ShellJob(JobModel):
    """A command or script run in its own process group, by a shell or another interpreter."""

    command: str | None = Field(None, description="Command line(s), or code of the interpreter.")
    script: str | None = Field(None, description="Path of a script file.")
    shell: str = Field("bash", description="Shell that runs the command or script (without 'interpreter').")
    interpreter: Interpreter | None = Field(
        None,
        description=(
            "Program that runs the command or script itself, not wrapped in a shell: "
            "sh, bash, python3, node, perl, or 'shebang' (the script's own '#!' line)."
        ),
    )
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    secret_env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variable -> name of a Prefect Secret block holding its value.",
    )
    working_dir: str | None = Field(None, description="Working directory of the command.")

    _check_env = field_validator("env", "secret_env")(_check_env_names)

    @model_validator(mode="after")
    def _one_of_command_or_script(self) -> ShellJob:
        _exactly_one(self, "command", "script")
        if self.interpreter is not None and "shell" in self.model_fields_set:
            raise ValueError("give 'interpreter' or 'shell', not both")
        if self.interpreter == SHEBANG and self.command is not None and not self.command.startswith("#!"):
            raise ValueError("interpreter 'shebang' needs a command whose first line is '#!program'")
        return self

    def with_paths_resolved(self, base: Path) -> ShellJob:
        return self.model_copy(
            update={
                "script": _resolve(base, self.script),
                "working_dir": _resolve(base, self.working_dir),
            }
        )


class SshJob(JobModel):
    """A command or a local script run on a remote host over SSH, in its own process group there."""

    ssh_block: str = Field(..., description="Name of the ssh-credentials block: host, user, key.")
    command: str | None = Field(None, description="Command line(s) run by the remote shell.")
    script: str | None = Field(None, description="Path of a local script whose text the remote shell runs.")
    shell: str = Field("sh", description="Remote shell that runs the command or script.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    working_dir: str | None = Field(None, description="Remote working directory.")

    _check_env = field_validator("env")(_check_env_names)

    @model_validator(mode="after")
    def _one_of_command_or_script(self) -> SshJob:
        _exactly_one(self, "command", "script")
        return self

    def with_paths_resolved(self, base: Path) -> SshJob:
        return self.model_copy(update={"script": _resolve(base, self.script)})


def python_syntax_error(code: str, filename: str) -> SyntaxError | None:
    """The syntax error of Python `code` (compiled, not run), or None."""
    try:
        compile(code, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    except ValueError as exc:  # e.g. a null byte in the source
        return SyntaxError(str(exc), (filename, 1, 0, ""))
    return None


def describe_syntax_error(error: SyntaxError) -> str:
    """'syntax error at line 3: invalid syntax: `x = (`' (the line is the code's own)."""
    text = f"syntax error at line {error.lineno}: {error.msg}"
    source_line = (error.text or "").strip()
    return f"{text}: `{source_line}`" if source_line else text


class PythonJob(JobModel):
    """A Python callable `module:function` with keyword arguments, a script file or inline code."""

    callable: str | None = Field(None, description="'package.module:function' to call.")
    script: str | None = Field(None, description="Path of a Python file run as __main__.")
    code: str | None = Field(
        None, description="Python source run as __main__; its top-level `result` is the result."
    )
    kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments.")
    path: list[str] = Field(
        default_factory=list, description="Directories put first on sys.path before importing."
    )

    _callable_ref = field_validator("callable")(
        _matching(CALLABLE_REF, "'module:function' (e.g. 'mypkg.jobs:cleanup')")
    )

    @field_validator("code")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        error = None if value is None else python_syntax_error(value, "<code>")
        if error is not None:
            raise ValueError(describe_syntax_error(error))
        return value

    @model_validator(mode="after")
    def _one_of_callable_script_or_code(self) -> PythonJob:
        given = [name for name in ("callable", "script", "code") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of 'callable', 'script' or 'code'")
        if (self.script or self.code) and self.kwargs:
            raise ValueError("'kwargs' goes with 'callable'; a script or code reads its own arguments")
        return self

    def with_paths_resolved(self, base: Path) -> PythonJob:
        return self.model_copy(
            update={
                "script": _resolve(base, self.script),
                "path": [_resolve(base, p) for p in self.path],
            }
        )


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class HttpJob(JobModel):
    """One HTTP request whose status code decides success."""

    method: HttpMethod = "GET"
    url: str = Field(..., description="http:// or https:// URL, without credentials.")
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict, description="Query parameters.")
    json_body: Any = Field(None, alias="json", description="JSON body.")
    body: str | None = Field(None, description="Raw body (use 'json' for JSON).")
    auth_block: str | None = Field(
        None,
        description="Prefect block with the credentials, 'http-bearer-auth/NAME' or 'http-basic-auth/NAME'.",
    )
    expected_status: list[int] = Field(
        default_factory=list, description="Status codes that mean success; empty means any 2xx."
    )
    request_timeout: float = Field(30.0, gt=0, le=3600, description="Seconds per request.")
    verify_tls: bool = True

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{value!r} is not an http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("credentials in the URL; put them in a block and set 'auth_block'")
        return value

    _block_ref = field_validator("auth_block")(
        _matching(BLOCK_REF, "'block-type/block-name' (e.g. 'http-bearer-auth/api')")
    )

    @field_validator("expected_status")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        bad = [code for code in value if not 100 <= code <= 599]
        if bad:
            raise ValueError(f"{bad} are not HTTP status codes (100-599)")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpJob:
        if self.json_body is not None and self.body is not None:
            raise ValueError("give 'json' or 'body', not both")
        return self
