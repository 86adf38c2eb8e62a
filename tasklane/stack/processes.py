"""The local stack of `make up`: a Prefect server, the work pool, blocks and a worker.

Every process is started in its own session so that stopping it stops its whole process
tree (a worker's flow-run processes and their shell jobs included), and its pid is written
under `<home>/run/` so that `tasklane down` from another terminal stops exactly what
`tasklane up` started and nothing else.

A server that listens beyond loopback asks for Prefect's basic auth (`server_auth`): the
credentials are made once under home and handed to the stack's own processes only.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tasklane.settings import CONFIG_FILE_ENV

AUTH_FILE = "prefect-auth"
AUTH_USER = "admin"
STOP_GRACE_SECONDS = 8.0
SERVER_READY_SECONDS = 90.0
# How far ahead a run that met a full per-task limit is scheduled again (see start_server).
CONCURRENCY_SLOT_WAIT_SECONDS = 3.0


class StackError(Exception):
    """A process of the stack failed to start or to stop."""


@dataclass
class Managed:
    """A process the stack started, in its own session (pgid == pid)."""

    name: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Stack:
    """The processes of one `tasklane up`, stopped in reverse order of starting."""

    home: Path
    processes: list[Managed] = field(default_factory=list)

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / "stack.json"

    def record(self) -> None:
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        data = {"supervisor": os.getpid(), "processes": {m.name: m.pid for m in self.processes}}
        self.pid_file.write_text(json.dumps(data))

    def stop(self) -> None:
        stop_in_tiers([(m.name, m.pid) for m in self.processes])
        self.processes.clear()
        self.pid_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class ServerAuth:
    """The basic-auth credentials of the stack's Prefect server, `user:password` as Prefect takes them."""

    auth_string: str
    path: Path
    created: bool  # made just now: `tasklane up` shows them this once


def beyond_loopback(host: str) -> bool:
    """Whether a server bound to `host` answers other machines (0.0.0.0, a LAN address, a name)."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True  # a host name other than localhost may resolve to anything


def server_auth(home: Path) -> ServerAuth:
    """The server's credentials from `<home>/prefect-auth` (0600), made there the first time."""
    from tasklane.console.users import write_private

    path = Path(home) / AUTH_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    if ":" in text:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return ServerAuth(text, path, created=False)
    text = f"{AUTH_USER}:{secrets.token_urlsafe(24)}"
    write_private(path, text + "\n")
    return ServerAuth(text, path, created=True)


def prefect_env(
    api_url: str, home: Path, extra: dict[str, str] | None = None, *, auth_string: str | None = None
) -> dict[str, str]:
    """The environment of every Prefect process of the stack; `auth_string`: the server's basic
    auth, which every Prefect client of the process then sends (PREFECT_API_AUTH_STRING)."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_API_URL": api_url,
            "PREFECT_HOME": str((home / "prefect").resolve()),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOCAL_STORAGE_PATH": str((home / "results").resolve()),
            # Heartbeats let the server tell a run whose process died (zombie) from a slow one.
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30",
        }
    )
    if auth_string:
        env["PREFECT_API_AUTH_STRING"] = auth_string
    # A flow run starts in a working directory of its own: it finds the project's settings file
    # (report targets, alerts, sources) by this absolute path, not by the name `config.yaml`.
    config = Path(env.get(CONFIG_FILE_ENV, "config.yaml"))
    if config.is_file():
        env[CONFIG_FILE_ENV] = str(config.resolve())
    env.update(extra or {})
    return env


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _start(name: str, argv: list[str], env: dict[str, str], home: Path) -> Managed:
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child, closed with it
    process = subprocess.Popen(
        argv,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    return Managed(name, process, log_path)


def start_process(name: str, argv: list[str], env: dict[str, str], home: Path) -> Managed:
    """Start one of the project's own commands (argv[0] from the venv) in its own session."""
    return _start(name, [_bin(argv[0]), *argv[1:]], env, home)


def sqlite_url(home: Path) -> str:
    """The SQLAlchemy URL of the stack's own SQLite database under home."""
    return f"sqlite+aiosqlite:///{(home / 'prefect.db').resolve()}"


def start_server(
    home: Path,
    host: str,
    port: int,
    *,
    database_url: str | None = None,
    ui: bool = True,
    auth_string: str | None = None,
) -> Managed:
    """Start Prefect's server (`tasklane.runtime.server`: `prefect server start`, its SQLite transactions
    taking the write lock up front) and wait until it answers /api/health (which stays open).

    auth_string: `user:password`; the server then refuses (401) any request without it.
    """
    home.mkdir(parents=True, exist_ok=True)
    api_url = f"http://{host}:{port}/api"
    env = prefect_env(
        api_url,
        home,
        {
            "PREFECT_API_DATABASE_CONNECTION_URL": database_url or sqlite_url(home),
            "PREFECT_UI_ENABLED": "true" if ui else "false",
            "PREFECT_UI_API_URL": api_url,
            # A run that finds its task's limit (`max_concurrent`) full goes back to Scheduled
            # (AwaitingConcurrencySlot) this far ahead, and the server will not start it before
            # then even once the slot is free. Prefect's 30 s made `tasklane run` wait half a
            # minute whenever the worker had prefetched the task's next scheduled run (a prefetched
            # run holds the slot from Pending). Each retry is one rejected Pending, no process.
            "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": str(CONCURRENCY_SLOT_WAIT_SECONDS),
            **({"PREFECT_SERVER_API_AUTH_STRING": auth_string} if auth_string else {}),
        },
        auth_string=auth_string,
    )
    managed = _start(
        "server",
        [sys.executable, "-m", "tasklane.runtime.server", "start", "--host", host, "--port", str(port)],
        env,
        home,
    )
    wait_for_health(api_url, managed)
    return managed


def wait_for_health(
    api_url: str, managed: Managed | None = None, timeout: float = SERVER_READY_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if managed is not None and managed.process.poll() is not None:
            tail = managed.log.read_text(errors="replace")[-2000:]
            raise StackError(f"the Prefect server exited with {managed.process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise StackError(f"the Prefect server at {api_url} did not answer /health within {timeout:g} s")


def start_worker(
    home: Path,
    api_url: str,
    pool: str,
    *,
    name: str = "worker",
    query_seconds: float = 2.0,
    prefetch_seconds: float = 15.0,
    limit: int | None = None,
    bare: bool = False,
    auth_string: str | None = None,
) -> Managed:
    """Start a process worker on `pool`.

    Tasklane's worker (what `make up` runs) is `tasklane.runtime.worker`'s, which Prefect's events wake
    as well as its poll, under `tasklane.runtime.warm_start`'s zygote, which forks flow runs from a
    process that has Prefect imported; the pid is the zygote's, and its tree holds the worker
    and every run. `bare`: Prefect's own `prefect worker start`, for comparisons.
    """
    env = prefect_env(
        api_url,
        home,
        {
            "PREFECT_WORKER_QUERY_SECONDS": str(query_seconds),
            # A busy SQLite server answers 503 (database is locked) for a while; with Prefect's
            # default 5 retries (backoff 2..32 s) the worker gave up submitting a run and
            # reported it Crashed. 8 rides out about 8 minutes; the run processes inherit it.
            "PREFECT_CLIENT_MAX_RETRIES": "8",
            # A run's log lines reach the server in batches, every 2 s by Prefect's default: the
            # console's live tail showed a job's first line 2.1 s after it was printed (bench/console),
            # 0.7 s with 0.5 s batches. A run writes at most two small batches a second.
            "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.5",
        },
        auth_string=auth_string,
    )
    argv = [
        *([_bin("prefect"), "worker"] if bare else [sys.executable, "-m", "tasklane.runtime.worker"]),
        "start",
        "--pool",
        pool,
        "--type",
        "process",
        "--name",
        name,
        "--prefetch-seconds",
        str(prefetch_seconds),
    ]
    if limit is not None:
        argv += ["--limit", str(limit)]
    if not bare:
        argv = [
            sys.executable,
            "-m",
            "tasklane.runtime.warm_start",
            "serve",
            "--socket",
            warm_socket(home, name),
            "--",
            *argv,
        ]
    return _start(name, argv, env, home)


def warm_socket(home: Path, name: str) -> str:
    """Where the zygote of worker `name` listens: under home, or in /tmp if that path is too
    long for a Unix socket (108 bytes)."""
    path = (home / "run" / f"warm-{name}.sock").resolve()
    if len(str(path)) < 100:
        return str(path)
    return str(Path(tempfile.mkdtemp(prefix="tasklane-warm-")) / f"{name}.sock")


def register_blocks(home: Path, api_url: str, auth_string: str | None = None) -> None:
    """`prefect block register -m blocks` against the stack's server."""
    result = subprocess.run(
        [_bin("prefect"), "block", "register", "-m", "blocks"],
        env=prefect_env(api_url, home, auth_string=auth_string),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise StackError(f"registering blocks failed:\n{result.stdout}\n{result.stderr}")


def _children_by_parent() -> dict[int, list[int]]:
    """One scan of /proc: every live process's children, keyed by parent pid."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def descendants(pid: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """Every live descendant of `pid` (Linux /proc), children first-level before deeper."""
    children = _children_by_parent() if children is None else children
    found, frontier = [], [pid]
    while frontier:
        nxt = []
        for parent in frontier:
            nxt.extend(children.get(parent, []))
        found.extend(nxt)
        frontier = nxt
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        for send in (lambda p: os.killpg(p, sig), lambda p: os.kill(p, sig)):
            try:
                send(pid)
            except (ProcessLookupError, PermissionError):
                pass


def stop_process_trees(pids: Iterable[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM processes, their groups and every descendant; SIGKILL what is left after `grace`.

    Descendants are collected before signalling because shell jobs run in sessions of their
    own and would otherwise be orphaned when their parent exits. All trees share one deadline
    and each poll scans /proc once, so stopping N processes takes `grace` at most, not N times
    it (on a loaded machine a scan per process per poll made a stack take minutes to stop).
    """
    roots = list(pids)
    children = _children_by_parent()
    tree = {p for root in roots for p in (root, *descendants(root, children))}
    _signal_all(tree, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while True:
        children = _children_by_parent()
        # Children forked while we wait (a worker starting a run) are stopped too.
        tree = {p for p in tree | {d for p in tree for d in descendants(p, children)} if _alive(p)}
        if not tree or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    if tree:
        _signal_all(tree, signal.SIGKILL)
    for root in roots:  # reap our own children so none is left a zombie
        try:
            os.waitpid(root, os.WNOHANG)
        except ChildProcessError:
            pass


def stop_process_tree(pid: int, grace: float = STOP_GRACE_SECONDS) -> None:
    """`stop_process_trees` for one process."""
    stop_process_trees([pid], grace)


def stop_in_tiers(started: list[tuple[str, int]]) -> None:
    """Stop a stack's processes, given as (name, pid) in the order they were started.

    What was started after the server (worker, sandbox, API) stops first and together, so
    that it can still report to the server and stopping takes one grace period, not one per
    process; then the server; then what the server stood on (PostgreSQL).
    """
    names = [name for name, _ in started]
    split = names.index("server") if "server" in names else -1
    tiers = [started[split + 1 :], started[split : split + 1] if split >= 0 else []]
    tiers += [[item] for item in reversed(started[: max(split, 0)])]
    for tier in tiers:
        stop_process_trees(pid for _, pid in tier)


def stop_recorded(home: Path) -> list[str]:
    """Stop what a `tasklane up` recorded under `home` (used by `tasklane down`)."""
    pid_file = home / "run" / "stack.json"
    if not pid_file.exists():
        return []
    data = json.loads(pid_file.read_text())
    stopped = []
    supervisor = data.get("supervisor")
    if supervisor and supervisor != os.getpid() and _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)  # it stops its children itself
        deadline = time.monotonic() + STOP_GRACE_SECONDS * 2
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.1)
        stopped.append(f"tasklane up (pid {supervisor})")
    left = [(name, pid) for name, pid in data.get("processes", {}).items() if _alive(pid)]
    stop_in_tiers(left)
    stopped.extend(f"{name} (pid {pid})" for name, pid in reversed(left))
    pid_file.unlink(missing_ok=True)
    return stopped


def running_supervisor(home: Path) -> int | None:
    """The pid of a live `tasklane up` recorded under `home`, if any."""
    pid_file = home / "run" / "stack.json"
    if not pid_file.exists():
        return None
    try:
        pid = json.loads(pid_file.read_text()).get("supervisor")
    except (OSError, ValueError):
        return None
    return pid if pid and pid != os.getpid() and _alive(pid) else None


def server_answers(api_url: str) -> bool:
    try:
        return httpx.get(f"{api_url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
