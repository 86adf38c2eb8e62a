"""What the worker's polling costs when nothing runs: idle CPU per `worker.query_seconds`.

One server (SQLite) with nothing scheduled; a process worker started with each query interval
in turn; CPU time (user + system, from /proc) of the worker and of the server over a window,
as a percentage of one core. The first line is the server alone, without a worker.

    .venv/bin/python -m bench.idle_cpu [WINDOW_SECONDS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = [None, 10.0, 2.0, 1.0, 0.5]  # None: no worker; 10 s is Prefect's default
WARM_UP_SECONDS = 8


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def server_pid(api_url: str) -> int:
    """The pid of the Prefect server listening on the API URL's port."""
    port = api_url.rsplit(":", 1)[1].split("/")[0]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            # `prefect server start` or `python -m tasklane.runtime.server start` (tasklane.stack.processes)
            if any(a.endswith(b"server") for a in argv) and b"start" in argv and port.encode() in argv:
                return int(proc.name)
    raise RuntimeError(f"no Prefect server process on port {port}")


def main(window: float) -> None:
    from bench._stack import bench_stack
    from tasklane.stack import processes as stack

    home = Path(tempfile.mkdtemp(prefix="tasklane-idle-"))
    with bench_stack("idle", worker=False) as api_url:
        server = server_pid(api_url)
        print(f"idle CPU over {window:.0f} s, % of one core (2 cores; server on SQLite)")
        for query_seconds in SETTINGS:
            worker = None
            if query_seconds is not None:
                worker = stack.start_worker(home, api_url, "idle", name="idle", query_seconds=query_seconds)
            time.sleep(WARM_UP_SECONDS)
            # As `make up` runs it: the zygote with the worker under it (the zygote's own stat
            # holds only children it has reaped, so each process is counted).
            pids = [server] + ([worker.pid, *stack.descendants(worker.pid)] if worker else [])
            before = [cpu_seconds(pids[:1]), cpu_seconds(pids[1:])]
            time.sleep(window)
            after = [cpu_seconds(pids[:1]), cpu_seconds(pids[1:])]
            used = [(a - b) / window * 100 for a, b in zip(after, before, strict=True)]
            label = "no worker" if query_seconds is None else f"worker query {query_seconds:g} s"
            worker_part = f"worker {used[1]:5.1f} %" if worker else "worker    -   "
            total = f"total {sum(used):5.1f} %"
            print(f"  {label:20s} server {used[0]:5.1f} %   {worker_part}   {total}", flush=True)
            if worker is not None:
                stack.stop_process_tree(worker.pid)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 30.0)
