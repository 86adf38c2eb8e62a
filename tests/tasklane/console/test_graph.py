"""The console's dependency graph over a real Prefect server: tasks a -> b -> c and d alone,
drawn as SVG with a node per task (a link to its page), an arrow per `depends_on` edge and each
task's last outcome; the group filter; and the layout on its own (layers, order, cycles)."""

from __future__ import annotations

import re

import pytest

from tasklane.console.graph import layers, order
from tests.conftest import with_client
from tests.tasklane.console.conftest import Console


def _make(console: Console, name: str, group: str, depends_on: list[str] | None = None) -> None:
    body = {"name": name, "type": "shell", "command": "echo hi", "group": group}
    if depends_on:
        body["depends_on"] = depends_on
    response = console.api_post("/api/scheduler/tasks", json=body)
    assert response.status_code == 201, response.text


def _finish(name: str, state: str) -> None:
    from prefect.states import Completed, Failed, Running

    from tasklane.tasks.lookup import find_task

    async def go(client):
        deployment = await find_task(client, name)
        run = await client.create_flow_run_from_deployment(deployment.id, state=Running())
        final = Completed() if state == "Completed" else Failed(message="boom")
        await client.set_flow_run_state(run.id, final, force=True)

    with_client(go)


def _node(svg: str, name: str) -> str:
    found = re.search(
        rf'<a href="/console/tasks/{name}" class="node" data-task="{name}"[^>]*>(.*?)</a>', svg, re.S
    )
    assert found, f"no node {name} in {svg}"
    return found.group(0)


def test_the_graph_draws_tasks_edges_and_last_outcomes(console: Console) -> None:
    p = console.project
    a, b, c, d = (f"{p}-{x}" for x in "abcd")
    _make(console, a, "etl")
    _make(console, b, "etl", [a])
    _make(console, c, "etl", [b])
    _make(console, d, "other")
    _finish(a, "Completed")
    _finish(b, "Failed")

    page = console.client("viewer").get("/console/graph")
    assert page.status_code == 200
    svg = page.text[page.text.index("<svg") : page.text.index("</svg>")]
    for name in (a, b, c, d):
        _node(svg, name)
    assert 'data-outcome="Completed"' in _node(svg, a) and ">Completed</text>" in _node(svg, a)
    assert 'data-outcome="Failed"' in _node(svg, b) and ">Failed</text>" in _node(svg, b)
    assert 'data-outcome=""' in _node(svg, c) and ">never ran</text>" in _node(svg, c)
    edges = set(re.findall(r'class="edge" data-from="([^"]+)" data-to="([^"]+)"', svg))
    assert edges == {(a, b), (b, c)}
    xs = {name: int(re.search(r'<rect x="(\d+)"', _node(svg, name)).group(1)) for name in (a, b, c, d)}
    assert xs[a] == xs[d] < xs[b] < xs[c]  # layers left to right: a and d first, then b, then c

    etl = console.client("viewer").get("/console/graph", params={"group": "etl"}).text
    assert f'data-task="{a}"' in etl and f'data-task="{c}"' in etl and f'data-task="{d}"' not in etl
    other = console.client("viewer").get("/console/graph", params={"group": "other"}).text
    assert f'data-task="{d}"' in other and f'data-task="{a}"' not in other and 'class="edge"' not in other
    assert 'id="nav-graph"' in page.text

    viewer = console.client("viewer")
    viewer.cookies.set("tasklane_lang", "zh-CN")
    chinese = viewer.get("/console/graph")
    assert "任务依赖图" in chinese.text and "从未运行" in chinese.text


def test_an_operator_of_one_group_sees_only_its_tasks(console: Console) -> None:
    p = console.project
    _make(console, f"{p}-mine", "ops")
    _make(console, f"{p}-theirs", "etl", [f"{p}-mine"])
    svg = console.client("ops-operator").get("/console/graph").text
    assert f'data-task="{p}-mine"' in svg and f'data-task="{p}-theirs"' not in svg


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ([("a", "b"), ("b", "c")], {"a": 0, "b": 1, "c": 2, "d": 0}),
        ([("a", "c"), ("b", "c"), ("a", "b")], {"a": 0, "b": 1, "c": 2, "d": 0}),  # longest path
        ([("a", "b"), ("b", "c"), ("c", "a")], None),  # a cycle: still ends, every node placed
        ([("a", "a")], {"a": 0, "b": 0, "c": 0, "d": 0}),
    ],
)
def test_layers_are_longest_paths_and_a_cycle_does_not_loop(edges, expected) -> None:
    placed = layers(["a", "b", "c", "d"], edges)
    assert set(placed) == {"a", "b", "c", "d"}
    if expected is not None:
        assert placed == expected


def test_the_barycenter_sweeps_undo_a_crossing() -> None:
    # By name the second layer is [x, y]; x hangs under b and y under a: sorted, no edges cross.
    edges = [("a", "y"), ("b", "x")]
    columns = order(layers(["a", "b", "x", "y"], edges), edges)
    assert columns == [["a", "b"], ["y", "x"]]
