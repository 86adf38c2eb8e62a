"""Warm starts: flow-run processes forked from a process that has Prefect imported already.

A process worker starts every flow run as a new Python process, and importing Prefect and
the job's libraries costs ~1.5 CPU-s and 2.7-3.3 s before the run is Running
(PREFECT-FACTS.md). That is most of the delay between an upstream task completing and its
downstream running, and it is what a burst of runs queues on. Here one long-lived process
(the *zygote*) imports those libraries once; each flow run is `os.fork()`ed from it and
starts in a fraction of a second. Prefect's own worker still picks, submits, watches and
cancels every run; only the process it starts is different:

    tasklane.runtime.warm_start serve --socket S -- prefect worker start ...    (the zygote)
      |-- prefect worker start ...           (Prefect's worker, started by the zygote)
      |     `-- python -m tasklane.runtime.warm_start     (the pool's flow-run command: the client)
      `-- <forked flow-run process>          (runs `tasklane.runtime.engine`, i.e. Prefect's engine)

The client, started by the worker as it would start `python -m tasklane.runtime.engine`, hands the
zygote its stdin/stdout/stderr (SCM_RIGHTS), its working directory, environment and
arguments over a Unix socket, forwards the signals it gets to the forked process, and exits
with that process's exit status, so to the worker the client *is* the flow run's process.
Should the client die (the worker kills it), the zygote SIGKILLs the run's process group;
should the zygote die, its runs die with it (PR_SET_PDEATHSIG), as one process tree would.

What is preloaded is Prefect and third-party libraries only: the project's own code (flows/,
integrations/, deployments/, the tasks' scripts) is imported fresh by each run, so an edit
takes effect on the next run. Where the zygote cannot serve (no socket in the environment,
the zygote gone, a preloaded file changed on disk since it started) the client becomes the
cold start it replaces: it execs `python -m tasklane.runtime.engine` in place.

Linux only (fork, SCM_RIGHTS, /proc, prctl), like the rest of the stack.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

SOCKET_ENV = "TASKLANE_WARM_SOCKET"
# Imported once by the zygote: what every flow run would import (Prefect's engine, the task
# types' libraries). Third-party only, so a change to the project's code needs no restart.
PRELOAD = (
    "prefect",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.client.orchestration",
    "prefect.logging.configuration",
    "prefect_shell",
    "httpx",
    "pydantic_settings",
    "pandas",
    "openpyxl",
    "atlassian",
    "mattermostdriver",
    "ctypes",
)
RUN_MODULE = "tasklane.runtime.engine"  # what a flow-run process runs, warm or cold
_LENGTH = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1


class WarmStartError(Exception):
    """The zygote could not start (bad arguments, socket in use)."""


# --------------------------------------------------------------------------- the client


def _cold_start(module: str, reason: str | None) -> None:
    """Become `python -m module` with the same pid, stdio and arguments."""
    if reason:
        print(f"tasklane.runtime.warm_start: cold start ({reason})", file=sys.stderr, flush=True)
    os.execv(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]])


def _relay_exit(status: int) -> None:
    """Exit as the forked process did: with its code, or killed by its signal."""
    if status < 0:
        if -status not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught anyway
            signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status if status >= 0 else 128 - status)


def client(module: str = RUN_MODULE) -> None:
    """The flow-run command of a warm pool: run `python -m module` in a fork of the zygote.

    The zygote is the one named by $TASKLANE_WARM_SOCKET; without it, a cold start.
    """
    path = os.environ.get(SOCKET_ENV)
    if not path:
        _cold_start(module, None)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError as exc:
        conn.close()
        _cold_start(module, f"no zygote at {path}: {exc.strerror or exc}")
    request = {"module": module, "argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}
    request = json.dumps(request).encode()
    socket.send_fds(conn, [_LENGTH.pack(len(request))], [0, 1, 2])
    conn.sendall(request)
    reader = conn.makefile("rb")
    first = json.loads(reader.readline() or b"{}")
    if "cold" in first:
        conn.close()
        _cold_start(module, first["cold"])
    child = first.get("pid")
    if not child:
        print(f"tasklane.runtime.warm_start: the zygote at {path} answered {first!r}", file=sys.stderr)
        os._exit(1)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(signum, forward)
    line = reader.readline()
    if not line:
        print(f"tasklane.runtime.warm_start: the zygote at {path} went away during the run", file=sys.stderr)
        os._exit(1)
    _relay_exit(int(json.loads(line)["exit"]))


# --------------------------------------------------------------------------- the zygote


@dataclass
class _Run:
    conn: socket.socket
    pid: int


def _preload() -> dict[Path, float]:
    """Import PRELOAD; return the project files that came with them and their mtimes."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    project = Path(__file__).resolve().parents[2]  # the directory holding tasklane/, flows/, ...
    files = {}
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if not origin:
            continue
        path = Path(origin).resolve()
        if project in path.parents and ".venv" not in path.parts:
            files[path] = path.stat().st_mtime
    return files


def _stale(files: dict[Path, float]) -> str | None:
    for path, mtime in files.items():
        try:
            if path.stat().st_mtime != mtime:
                return f"{path} changed since the zygote started"
        except OSError:
            return f"{path} is gone"
    return None


def _read_request(conn: socket.socket) -> tuple[dict, list[int]]:
    conn.settimeout(10)
    head, fds, _flags, _addr = socket.recv_fds(conn, _LENGTH.size, 3)
    try:
        while len(head) < _LENGTH.size:
            more = conn.recv(_LENGTH.size - len(head))
            if not more:
                raise ConnectionError("the client closed the connection mid-request")
            head += more
        (length,) = _LENGTH.unpack(head)
        body = bytearray()
        while len(body) < length:
            more = conn.recv(min(65536, length - len(body)))
            if not more:
                raise ConnectionError("the client closed the connection mid-request")
            body += more
        if len(fds) != 3:
            raise ConnectionError(f"the client sent {len(fds)} file descriptors, expected 3")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    conn.settimeout(None)
    return json.loads(body), fds


def _become_the_run(request: dict, fds: list[int]) -> None:
    """In the forked child: take the client's stdio, directory and environment, run the engine."""
    import ctypes
    import runpy

    for signum in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
        signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgid(0, 0)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # Prefect read its settings and configured logging from the zygote's environment at
    # import; the run's environment (the worker's settings, the job's env) decides here.
    import prefect.context
    import prefect.logging.configuration

    prefect.context.refresh_global_settings_context()
    prefect.logging.configuration.setup_logging(incremental=False)
    module = request["module"]
    sys.argv = [module, *request["argv"]]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        # What a normal interpreter exit does before it ends: Prefect's services (the API log
        # worker among them) drain in threading's exit hooks, others in atexit's. Without
        # this a run's last log lines never reach the server.
        import atexit
        import threading

        try:
            threading._shutdown()  # type: ignore[attr-defined]
            atexit._run_exitfuncs()
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
    os._exit(code)


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client is gone; its run is killed when its end of the socket closes


def serve(socket_path: str, worker_argv: list[str]) -> int:
    """Preload, listen on `socket_path`, start the worker, fork a run per client.

    Returns the worker's exit code once the worker has exited and every run has ended.
    """
    if not worker_argv:
        raise WarmStartError("serve needs the worker's command after --")
    preloaded = _preload()
    path = Path(socket_path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket runs code: its owner only
    try:
        listener.bind(socket_path)
    finally:
        os.umask(old_umask)
    listener.listen(64)

    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_read, False)
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    worker_pid = 0
    stopping = False

    def on_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if worker_pid:
            try:
                os.kill(worker_pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the loop through the wakeup fd
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)

    import subprocess

    env = dict(os.environ, **{SOCKET_ENV: socket_path})
    worker_pid = subprocess.Popen(worker_argv, env=env).pid
    print(f"tasklane warm start: zygote {os.getpid()} serving {socket_path}; worker {worker_pid}", flush=True)

    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "wake")
    runs: dict[int, _Run] = {}
    worker_code: int | None = None
    while worker_code is None or runs:
        for key, _ in selector.select(timeout=5):
            if key.data == "wake":
                try:
                    while os.read(wake_read, 512):
                        pass
                except BlockingIOError:
                    pass
            elif key.data == "accept":
                conn, _ = listener.accept()
                if stopping or worker_code is not None:
                    _send(conn, {"cold": "the zygote is stopping"})
                    conn.close()
                    continue
                stale = _stale(preloaded)
                if stale:
                    print(f"tasklane.runtime.warm_start: {stale}; serving cold starts", flush=True)
                    _send(conn, {"cold": stale})
                    conn.close()
                    continue
                try:
                    request, fds = _read_request(conn)
                except (OSError, ValueError, ConnectionError) as exc:
                    print(f"tasklane.runtime.warm_start: a bad request: {exc}", flush=True)
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    try:
                        selector.close()
                        listener.close()
                        for other in runs.values():
                            other.conn.close()
                        conn.close()
                        os.close(wake_read)
                        os.close(wake_write)
                        _become_the_run(request, fds)
                    finally:
                        os._exit(1)
                for fd in fds:
                    os.close(fd)
                runs[pid] = _Run(conn, pid)
                selector.register(conn, selectors.EVENT_READ, pid)
                _send(conn, {"pid": pid})
            else:  # a client's end: it says nothing after its request, so this is EOF
                run = runs.get(key.data)
                selector.unregister(key.fileobj)
                if run is not None:
                    try:
                        os.killpg(run.pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
        # Reap: runs report their status to their client; the worker ends the zygote.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            code = os.waitstatus_to_exitcode(status)
            if pid == worker_pid:
                worker_code = code
                continue
            run = runs.pop(pid, None)
            if run is not None:
                _send(run.conn, {"exit": code})
                try:
                    selector.unregister(run.conn)
                except (KeyError, ValueError):
                    pass
                run.conn.close()
    listener.close()
    path.unlink(missing_ok=True)
    return worker_code if worker_code >= 0 else 128 - worker_code


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] != ["serve"]:
        client()
        return
    if "--socket" not in argv or "--" not in argv:
        raise SystemExit("usage: python -m tasklane.runtime.warm_start serve --socket PATH -- WORKER...")
    socket_path = argv[argv.index("--socket") + 1]
    sys.exit(serve(socket_path, argv[argv.index("--") + 1 :]))


if __name__ == "__main__":
    main()
