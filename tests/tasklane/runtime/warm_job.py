"""A stand-in flow-run process for tests/tasklane/runtime/test_warm_start.py: reports where it runs.

Prints one JSON line (pid, parent pid, cwd, an env var, its arguments), then acts on its first
argument: `exit N` exits with N, `wait FILE` writes FILE and sleeps until signalled (SIGTERM:
writes FILE.term and exits 143), `hooks DIR` registers the exit hooks Prefect's services drain
in (threading's and atexit's), each writing a file in DIR when it runs, and returns.
"""

import atexit
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

print(
    json.dumps(
        {
            "pid": os.getpid(),
            "ppid": os.getppid(),
            "cwd": os.getcwd(),
            "marker": os.environ.get("WARM_JOB_MARKER"),
            "argv": sys.argv[1:],
            "prefect_loaded_before_main": "prefect.flow_engine" in sys.modules,
        }
    ),
    flush=True,
)
print("to stderr", file=sys.stderr, flush=True)
action = sys.argv[1:2]
if action == ["exit"]:
    sys.exit(int(sys.argv[2]))
if action == ["wait"]:
    marker = Path(sys.argv[2])

    def on_term(_signum, _frame):
        marker.with_suffix(".term").write_text("terminated")
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    marker.write_text(str(os.getpid()))
    time.sleep(120)
if action == ["hooks"]:
    hooks = Path(sys.argv[2])
    # Where Prefect's QueueService (the API log worker) registers its drain.
    threading._register_atexit(lambda: (hooks / "threading").write_text("ran"))
    atexit.register(lambda: (hooks / "atexit").write_text("ran"))
