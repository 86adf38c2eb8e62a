"""The console's dependency graph: the project's tasks and their `depends_on` edges (the
`upstream:<name>` tags `tasklane show` reads as "runs after / runs before"), each task coloured
by its last outcome (`tasklane.tasks.lookup.task_rows`, as the tasks page) and linking to its page.

Drawn on the server as SVG, so it needs no JavaScript and tests can read it: a layered layout
(longest-path layers from left to right, tasks ordered within a layer by a few barycenter
sweeps to cut crossings). `validate` refuses dependency cycles, but tasks made elsewhere could
still hold one: the layering then breaks it at the task with the fewest unplaced upstreams and
always ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import Response

from deployments.apply import read_task_deployments
from deployments.tags import UPSTREAM_TAG_PREFIX
from tasklane.console.pages import PREFIX, Client, SignedIn
from tasklane.tasks.lookup import tag_value, task_rows

router = APIRouter(include_in_schema=False)

NODE_WIDTH, NODE_HEIGHT = 180, 46
COLUMN_GAP, ROW_GAP, MARGIN = 80, 22, 16
SWEEPS = 4
# Fill and stroke of a node by its last outcome (colour is not the only sign: the text says it).
OUTCOME_COLOURS = {
    "Completed": ("#e6f4ea", "#1e7e34"),
    "Cached": ("#e6f4ea", "#1e7e34"),
    "Failed": ("#fdecea", "#c62828"),
    "Crashed": ("#fdecea", "#c62828"),
    "TimedOut": ("#fdecea", "#c62828"),
    "Cancelled": ("#f1f1f1", "#757575"),
}
NEVER = ("#ffffff", "#9e9e9e")


def layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Each node's layer: 0 for a task without upstreams, else one more than its deepest upstream
    (the longest path to it). A cycle is broken where it blocks, so this always ends."""
    upstream: dict[str, set[str]] = {n: set() for n in nodes}
    downstream: dict[str, list[str]] = {n: [] for n in nodes}
    for before, after in edges:
        if before in upstream and after in upstream and before != after:
            upstream[after].add(before)
            downstream[before].append(after)
    waiting = {n: len(upstream[n]) for n in nodes}
    ready = sorted(n for n in nodes if waiting[n] == 0)
    placed: dict[str, int] = {}
    while len(placed) < len(nodes):
        if not ready:  # a cycle: start it at the task the fewest unplaced upstreams hold back
            ready = [min((n for n in nodes if n not in placed), key=lambda n: (waiting[n], n))]
        node = ready.pop(0)
        if node in placed:
            continue
        placed[node] = 1 + max((placed[u] for u in upstream[node] if u in placed), default=-1)
        for after in sorted(downstream[node]):
            waiting[after] -= 1
            if waiting[after] <= 0 and after not in placed:
                ready.append(after)
    return placed


def _barycenter(node: str, near: list[str], position: dict[str, int]) -> float:
    """The mean position of a node's neighbours in the next layer swept from (its own, if none)."""
    if not near:
        return float(position[node])
    return sum(position[n] for n in near) / len(near)


def order(placed: dict[str, int], edges: list[tuple[str, str]], sweeps: int = SWEEPS) -> list[list[str]]:
    """The nodes of each layer, top to bottom: by name, then each node at the mean position of its
    neighbours in the layers before (sweeping right) or after (sweeping left)."""
    columns: list[list[str]] = [[] for _ in range(max(placed.values(), default=-1) + 1)]
    for node in sorted(placed):
        columns[placed[node]].append(node)
    neighbours: dict[str, dict[bool, list[str]]] = {n: {True: [], False: []} for n in placed}
    for before, after in edges:
        if before in placed and after in placed and placed[before] != placed[after]:
            left, right = sorted((before, after), key=placed.__getitem__)
            neighbours[right][True].append(left)  # True: its neighbours on the left
            neighbours[left][False].append(right)
    for sweep in range(sweeps):
        rightward = sweep % 2 == 0
        position = {n: i for column in columns for i, n in enumerate(column)}
        indexes = range(1, len(columns)) if rightward else range(len(columns) - 2, -1, -1)
        for index in indexes:
            column = columns[index]
            column.sort(key=lambda n: (_barycenter(n, neighbours[n][rightward], position), n))
            position.update({n: i for i, n in enumerate(column)})
    return columns


@dataclass
class Node:
    name: str
    x: int
    y: int
    outcome: str | None
    label: str
    group: str


def draw(columns: list[list[str]], edges: list[tuple[str, str]], info: dict[str, Node], title: str) -> str:
    """The graph as an SVG element: a node per task (a link to its page), an arrow per edge."""
    tallest = max((len(c) for c in columns), default=0)
    width = MARGIN * 2 + max(len(columns), 1) * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = MARGIN * 2 + max(tallest, 1) * (NODE_HEIGHT + ROW_GAP) - ROW_GAP
    for x, column in enumerate(columns):
        offset = (tallest - len(column)) * (NODE_HEIGHT + ROW_GAP) // 2  # centre short columns
        for y, name in enumerate(column):
            info[name].x = MARGIN + x * (NODE_WIDTH + COLUMN_GAP)
            info[name].y = MARGIN + offset + y * (NODE_HEIGHT + ROW_GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="graph" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for before, after in edges:
        a, b = info[before], info[after]
        x1, y1 = a.x + NODE_WIDTH, a.y + NODE_HEIGHT // 2
        x2, y2 = b.x, b.y + NODE_HEIGHT // 2
        bend = max(COLUMN_GAP // 2, abs(x2 - x1) // 2)
        parts.append(
            f'<path class="edge" data-from="{escape(before)}" data-to="{escape(after)}" '
            f'd="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}" fill="none" stroke="#555" '
            'stroke-width="1.5" marker-end="url(#arrow)"/>'
        )
    for node in info.values():
        fill, stroke = OUTCOME_COLOURS.get(node.outcome or "", NEVER)
        href = f"{PREFIX}/tasks/{quote(node.name, safe='')}"
        parts.append(
            f'<a href="{escape(href)}" class="node" data-task="{escape(node.name)}" '
            f'data-outcome="{escape(node.outcome or "")}" data-group="{escape(node.group)}">'
            f'<rect x="{node.x}" y="{node.y}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="2"/>'
            f'<text x="{node.x + 10}" y="{node.y + 19}" font-weight="bold">{escape(_fit(node.name))}</text>'
            f'<text x="{node.x + 10}" y="{node.y + 36}" fill="{stroke}" class="outcome">'
            f"{escape(node.label)}</text>"
            "</a>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _fit(text: str, room: int = 22) -> str:
    return text if len(text) <= room else text[: room - 1] + "…"


@router.get(PREFIX + "/graph")
async def graph_page(current: SignedIn, client: Client, group: str = "") -> Response:
    deployments = await read_task_deployments(client, current.target)
    visible = {n: d for n, d in deployments.items() if current.can_see(tag_value(d.tags, "group"))}
    groups = sorted({tag_value(d.tags, "group") or "default" for d in visible.values()})
    shown = {
        n: d for n, d in visible.items() if not group or (tag_value(d.tags, "group") or "default") == group
    }
    edges = sorted(
        {
            (tag.removeprefix(UPSTREAM_TAG_PREFIX), name)
            for name, deployment in shown.items()
            for tag in deployment.tags
            if tag.startswith(UPSTREAM_TAG_PREFIX) and tag.removeprefix(UPSTREAM_TAG_PREFIX) in shown
        }
    )
    t = current.t
    rows = await task_rows(client, [shown[n] for n in sorted(shown)], current.target.timezone)
    info = {
        row.name: Node(
            row.name,
            0,
            0,
            row.last_state,
            _outcome_label(t, row.last_state),
            row.group or "default",
        )
        for row in rows
    }
    columns = order(layers(list(info), edges), edges)
    svg = draw(columns, edges, info, t("graph.svg_title")) if info else ""
    legend = [
        (name, _outcome_label(t, name), OUTCOME_COLOURS[name])
        for name in ("Completed", "Failed", "Cancelled")
    ]
    legend.append(("", t("graph.never_ran"), NEVER))
    return current.render(
        "graph.html", svg=svg, groups=groups, group=group, count=len(info), edges=len(edges), legend=legend
    )


def _outcome_label(t, state: str | None) -> str:
    if not state:
        return t("graph.never_ran")
    label = t(f"state.{state}")
    return state if label == f"state.{state}" else label
