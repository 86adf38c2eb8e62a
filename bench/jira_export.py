"""Benchmark: the Jira export (tree fetch + Excel) of 5,000 issues from the local fake Jira.

For each deployment flavour (Server/DC and Cloud) it starts `tasklane.stack.peers.jira.big_project`
(5,000 issues in three levels: epics → stories → sub-tasks, with "blocks" links and cycles) in a
child process on loopback — a separate process, as a real Jira is, so that neither side pays for
the fake's CPU time or garbage-collects its heap — then, after one warm-up run:

- times `fetch_issue_tree(project_key=...)` (atlassian-python-api over requests, plus the tree
  walk) and `write_issue_tree_xlsx`: together "end to end";
- replays exactly the GET requests that run made (same paths, same JQL, same page size, same
  cursors; recorded by a requests response hook and checked again on the httpx side) with a bare
  `httpx.Client` that only parses the JSON: the floor any client pays for the same pages;

and prints the medians over the runs, the fetch/httpx ratio (the same HTTP work on both sides)
and the end-to-end/httpx ratio (ours also writes the workbook).

Run: ``.venv/bin/python -m bench.jira_export [--issues 5000] [--runs 3] [--flavour both] [--check]``
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from integrations.jira import IssueTree, TreeOptions, fetch_issue_tree, make_jira_client
from integrations.jira_excel import write_issue_tree_xlsx
from tasklane.stack.peers._server import free_port
from tasklane.stack.processes import stop_process_tree

USER, TOKEN = "bench@example.com", "bench-token"  # Cloud accounts are e-mail addresses
PROJECT = "BIG"
TARGET_SECONDS = 30.0
TARGET_RATIO = 1.5
READY_TIMEOUT = 60.0


@dataclass
class Run:
    fetch: float
    excel: float
    httpx: float
    requests: int

    @property
    def end_to_end(self) -> float:
        return self.fetch + self.excel


def serve_fake(*, cloud: bool, issues: int, port: int) -> None:
    """Child-process entry: serve the big fake project until terminated."""
    import uvicorn

    from tasklane.stack.peers.jira import big_project, make_fake_jira

    app = make_fake_jira(
        cloud=cloud, users={USER: TOKEN}, issues=big_project(cloud=cloud, n=issues, project=PROJECT)
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


@contextmanager
def fake_jira_process(*, cloud: bool, issues: int) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "bench.jira_export", "--serve-fake", "cloud" if cloud else "server"]
    command += ["--issues", str(issues), "--port", str(port)]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if process.poll() is not None:
                raise SystemExit(f"bench: the fake Jira exited with {process.returncode} before listening")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"bench: the fake Jira did not listen on {port} within {READY_TIMEOUT:g} s"
                    ) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_tree(process.pid, grace=10)
        process.wait()  # reap it


def _replay(http: httpx.Client, requests: list[str]) -> float:
    started = time.perf_counter()
    for path in requests:
        response = http.get(path)
        response.raise_for_status()
        response.json()
    return time.perf_counter() - started


def _check_tree(tree: IssueTree, issues: int) -> None:
    keys = [issue.key for issue in tree.issues]
    levels = {issue.level for issue in tree.issues}
    if len(keys) != issues or len(set(keys)) != issues or levels != {0, 1, 2}:
        raise SystemExit(
            f"bench: expected {issues} distinct issues on levels 0-2, got {len(keys)} on {levels}"
        )


def bench_flavour(*, cloud: bool, issues: int, runs: int, out_dir: Path) -> list[Run]:
    options = TreeOptions(link_types=("blocks",))
    results: list[Run] = []
    sent: list[str] = []
    replayed: list[str] = []

    def record_ours(response: Any, *args: Any, **kwargs: Any) -> None:
        sent.append(response.request.path_url)

    def record_httpx(request: httpx.Request) -> None:
        replayed.append(request.url.raw_path.decode())

    with fake_jira_process(cloud=cloud, issues=issues) as url:
        client = make_jira_client(url, USER, TOKEN, cloud=cloud, timeout=60)
        client.session.hooks["response"].append(record_ours)
        with httpx.Client(
            base_url=url, auth=(USER, TOKEN), timeout=60, event_hooks={"request": [record_httpx]}
        ) as http:
            for attempt in range(runs + 1):  # attempt 0 warms the fake's caches and both connections
                sent.clear()
                replayed.clear()
                started = time.perf_counter()
                tree = fetch_issue_tree(client, project_key=PROJECT, options=options, source="bench")
                fetched = time.perf_counter()
                write_issue_tree_xlsx(tree, out_dir / f"jira-export-{'cloud' if cloud else 'server'}.xlsx")
                written = time.perf_counter()
                _check_tree(tree, issues)
                ours = list(sent)
                bare = _replay(http, ours)
                if replayed != ours:
                    raise SystemExit("bench: the httpx replay did not send the same requests as the export")
                if attempt:
                    results.append(Run(fetched - started, written - fetched, bare, len(ours)))
        client.close()
    return results


def _fmt(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s   (" + ", ".join(f"{v:.2f}" for v in values) + ")"


def report(flavour: str, issues: int, runs: list[Run]) -> tuple[float, float]:
    fetch = [r.fetch for r in runs]
    excel = [r.excel for r in runs]
    end_to_end = [r.end_to_end for r in runs]
    bare = [r.httpx for r in runs]
    fetch_ratio = statistics.median(fetch) / statistics.median(bare)
    e2e_ratio = statistics.median(end_to_end) / statistics.median(bare)
    # Each run times both sides back to back, so the per-run ratio cancels load that other
    # processes put on the machine between runs; its median is the steadier figure.
    paired = statistics.median(r.fetch / r.httpx for r in runs)
    print(
        f"\nJira export, {issues:,} issues (depth 3), local fake Jira {flavour}, median of {len(runs)} runs"
    )
    print(f"  HTTP requests per export          {runs[0].requests}")
    print(f"  tree fetch (atlassian client)     {_fmt(fetch)}")
    print(f"  Excel write (openpyxl)            {_fmt(excel)}")
    print(f"  end to end (fetch + Excel)        {_fmt(end_to_end)}")
    print(f"  bare httpx, same GETs + JSON      {_fmt(bare)}")
    print(f"  ratio fetch / httpx               {fetch_ratio:6.2f}   (target <= {TARGET_RATIO})")
    print(f"  ratio fetch / httpx, run by run   {paired:6.2f}   (median of the per-run ratios)")
    print(f"  ratio end to end / httpx          {e2e_ratio:6.2f}")
    return statistics.median(end_to_end), fetch_ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.jira_export", description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--flavour", choices=["server", "cloud", "both"], default="both")
    parser.add_argument(
        "--out", type=Path, default=None, help="where the workbooks go (a temp dir by default)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--serve-fake", choices=["server", "cloud"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_fake:
        serve_fake(cloud=args.serve_fake == "cloud", issues=args.issues, port=args.port)
        return 0
    logging.basicConfig(level=logging.ERROR)
    flavours = {"server": [False], "cloud": [True], "both": [False, True]}[args.flavour]
    missed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tasklane-bench-") as scratch:
        out_dir = args.out or Path(scratch)
        out_dir.mkdir(parents=True, exist_ok=True)
        for cloud in flavours:
            name = "Cloud" if cloud else "Server/DC"
            runs = bench_flavour(cloud=cloud, issues=args.issues, runs=args.runs, out_dir=out_dir)
            end_to_end, ratio = report(name, args.issues, runs)
            if end_to_end >= TARGET_SECONDS:
                missed.append(f"{name}: end to end {end_to_end:.2f} s >= {TARGET_SECONDS:g} s")
            if ratio > TARGET_RATIO:
                missed.append(f"{name}: fetch/httpx ratio {ratio:.2f} > {TARGET_RATIO}")
    print("\ntargets: " + ("met" if not missed else "MISSED: " + "; ".join(missed)))
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
