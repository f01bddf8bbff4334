"""Drawings of a `Graph`: ASCII art (laid out by grandalf), Mermaid text, PNG through Graphviz.

None of them uses the network. ASCII needs the optional `grandalf` package (the `graph` extra);
PNG needs Graphviz's `dot` program. Mermaid needs nothing: it is text, for a Markdown file or
any Mermaid renderer.
"""

from __future__ import annotations

import itertools
import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnables._graph import Graph, Node

_GRANDALF_HINT = (
    'draw_ascii() lays the graph out with grandalf: pip install "runnables[graph]" '
    "(or pip install grandalf)"
)
_GRAPHVIZ_HINT = (
    "draw_png() renders with Graphviz's `dot` program, which is not on PATH. Install Graphviz: "
    "`apt-get install graphviz` (Debian, Ubuntu), `brew install graphviz` (macOS), "
    "`choco install graphviz` (Windows); or use draw_mermaid() or draw_ascii(), which need no "
    "renderer"
)

# -- ASCII ------------------------------------------------------------------------------------

_BOX_HEIGHT = 3
_X_SPACE = 3
_Y_SPACE = 3


class _Box:
    """A grandalf vertex view: the size grandalf lays out, and the centre it assigns."""

    def __init__(self, w: int, h: int) -> None:
        self.w = w
        self.h = h
        self.xy = (0.0, 0.0)


class _Route:
    """A grandalf edge view: the points grandalf routes the edge through."""

    def __init__(self) -> None:
        self.points: list[tuple[float, float]] = []

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = list(points)


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.rows = [[" "] * width for _ in range(height)]

    def put(self, x: int, y: int, char: str) -> None:
        if 0 <= y < len(self.rows) and 0 <= x < len(self.rows[y]):
            self.rows[y][x] = char

    def free(self, x: int, y: int, length: int) -> bool:
        if not 0 <= y < len(self.rows) or x < 0 or x + length > len(self.rows[y]):
            return False
        return all(c == " " for c in self.rows[y][x : x + length])

    def text(self, x: int, y: int, text: str) -> None:
        for i, char in enumerate(text):
            self.put(x + i, y, char)

    def stroke(self, x: int, y: int, char: str) -> None:
        """Draw a line character; where a vertical and a horizontal line cross, a `+`."""
        if not (0 <= y < len(self.rows) and 0 <= x < len(self.rows[y])):
            return
        here = self.rows[y][x]
        if (here in "|:" and char in "-.") or (here in "-." and char in "|:"):
            char = "+"
        elif here in "+v":
            return
        self.rows[y][x] = char

    def vertical(self, x: int, top: int, bottom: int, dotted: bool) -> None:
        for y in range(top, bottom + 1):
            self.stroke(x, y, ":" if dotted else "|")

    def horizontal(self, y: int, x0: int, x1: int, dotted: bool) -> None:
        if x0 == x1:
            return
        for x in range(min(x0, x1) + 1, max(x0, x1)):
            self.stroke(x, y, "." if dotted else "-")
        self.put(x0, y, "+")
        self.put(x1, y, "+")

    def box(self, left: int, top: int, width: int, label: str) -> None:
        border = "+" + "-" * (width - 2) + "+"
        self.text(left, top, border)
        self.text(left, top + 1, "| " + label.center(width - 4) + " |")
        self.text(left, top + 2, border)

    def render(self) -> str:
        return "\n".join("".join(row).rstrip() for row in self.rows)


def draw_ascii(graph: Graph) -> str:
    """Draw the graph as ASCII art: boxes for nodes, lines for edges, `v` where they arrive.

    Edge labels are written beside their edge where there is room. Groups made by wrappers
    are listed under the drawing.

    Raises:
        ImportError: grandalf is not installed.
    """
    try:
        from grandalf.graphs import Edge as GEdge
        from grandalf.graphs import Graph as GGraph
        from grandalf.graphs import Vertex
        from grandalf.layouts import SugiyamaLayout
    except ImportError as exc:
        raise ImportError(_GRANDALF_HINT) from exc

    if not graph.nodes:
        return ""
    vertices = {node_id: Vertex(node) for node_id, node in graph.nodes.items()}
    for node_id, vertex in vertices.items():
        vertex.view = _Box(len(graph.nodes[node_id].label) + 4, _BOX_HEIGHT)
    edges = []
    for edge in graph.edges:
        g_edge = GEdge(vertices[edge.source], vertices[edge.target], data=edge)
        g_edge.view = _Route()
        edges.append(g_edge)
    layout_graph = GGraph(list(vertices.values()), edges)

    offset = 0.0
    for component in layout_graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = _X_SPACE, _Y_SPACE
        roots = [v for v in component.sV if not v.e_in()]
        sugiyama.init_all(roots=roots or None, optimize=True)
        sugiyama.draw()
        views = [v.view for v in component.sV]
        left = min(view.xy[0] - view.w / 2 for view in views)
        right = max(view.xy[0] + view.w / 2 for view in views)
        shift = offset - left
        for view in views:
            view.xy = (view.xy[0] + shift, view.xy[1])
        for g_edge in component.sE:
            g_edge.view.points = [(x + shift, y) for x, y in g_edge.view.points]
        offset += right - left + _X_SPACE

    boxes = [v.view for v in vertices.values()]
    width = math.ceil(max(b.xy[0] + b.w / 2 for b in boxes)) + 2
    height = math.ceil(max(b.xy[1] + b.h / 2 for b in boxes)) + 1
    canvas = _Canvas(width, height)

    def top_left(box: _Box) -> tuple[int, int]:
        return round(box.xy[0] - box.w / 2), round(box.xy[1] - box.h / 2)

    def centre(box: _Box) -> tuple[int, int]:
        left, top = top_left(box)
        return left + box.w // 2, top + box.h // 2

    labels: list[tuple[tuple[int, int], str]] = []
    for g_edge in edges:
        source, target = g_edge.v[0].view, g_edge.v[1].view
        # grandalf routes a long edge through the centres of dummy vertices, one per layer.
        via = [
            (round(x), round(y - _BOX_HEIGHT / 2) + _BOX_HEIGHT // 2)
            for x, y in g_edge.view.points[1:-1]
        ]
        points = [centre(source), *via, centre(target)]
        for i in range(len(points) - 2, -1, -1):
            # A one-column offset comes from rounding centres: draw it straight.
            if abs(points[i][0] - points[i + 1][0]) == 1:
                points[i] = (points[i + 1][0], points[i][1])
        dotted = g_edge.data.conditional
        for i, ((xa, ya), (xb, yb)) in enumerate(itertools.pairwise(points)):
            # Down from under A, across on the gap's middle row, down to just above B.
            turn = ya + _BOX_HEIGHT // 2 + 2
            below_b = yb - _BOX_HEIGHT // 2 - 1
            canvas.vertical(xa, ya + _BOX_HEIGHT // 2 + 1 if i == 0 else ya - 1, turn, dotted)
            canvas.horizontal(turn, xa, xb, dotted)
            canvas.vertical(xb, turn, below_b, dotted)
        x_end, y_end = points[-1]
        arrow_row = y_end - _BOX_HEIGHT // 2 - 1
        canvas.put(x_end, arrow_row, "v")
        if g_edge.data.label:
            labels.append(((x_end, arrow_row), g_edge.data.label))
    for vertex in vertices.values():
        left, top = top_left(vertex.view)
        canvas.box(left, top, vertex.view.w, vertex.data.label)
    for (x, y), label in labels:
        for start in (x + 2, x - len(label) - 2):
            if canvas.free(start - 1, y, len(label) + 2):
                canvas.text(start, y, label)
                break

    text = canvas.render()
    for group in graph.groups:
        names = ", ".join(graph.nodes[i].name for i in group.node_ids)
        text += f"\n[{group.label}] around: {names}"
    return text


# -- Mermaid ----------------------------------------------------------------------------------

_MERMAID_RESERVED = {
    "end",
    "graph",
    "flowchart",
    "subgraph",
    "style",
    "class",
    "classdef",
    "click",
    "linkstyle",
    "default",
    "direction",
    "call",
    "href",
}


def mermaid_ids(graph: Graph) -> dict[str, str]:
    """A Mermaid-safe identifier for each node id (letters, digits and `_`, unique)."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for node_id in graph.nodes:
        base = re.sub(r"[^A-Za-z0-9_]", "_", node_id).strip("_") or "node"
        if base.lower() in _MERMAID_RESERVED or not base[0].isalpha():
            base = f"n_{base}"
        safe, n = base, 2
        while safe in used:
            safe, n = f"{base}_{n}", n + 1
        used.add(safe)
        ids[node_id] = safe
    return ids


def _mermaid_text(text: str) -> str:
    # Mermaid's own entity codes: quotes and angle brackets would otherwise end the label or
    # be read as HTML (a parallel's schema is named `RunnableParallel<a,b>Input`).
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def draw_mermaid(graph: Graph, *, direction: str = "TD") -> str:
    """The graph as a Mermaid flowchart.

    The first node (the input) and the last (the output) are drawn as stadiums, the steps as
    boxes; edges keep their labels, conditional edges are dotted; a group made by a wrapper is
    a subgraph titled with its label.

    Raises:
        ValueError: `direction` is not one of `TD`, `TB`, `BT`, `LR`, `RL`.
    """
    if direction not in ("TD", "TB", "BT", "LR", "RL"):
        raise ValueError(
            f'Invalid "direction" argument: expected TD, TB, BT, LR or RL, got {direction!r}'
        )
    ids = mermaid_ids(graph)
    first, last = graph.first_node(), graph.last_node()
    lines = [f"flowchart {direction}"]

    def node_line(node: Node) -> str:
        label = f'"{_mermaid_text(node.label)}"'
        if first is not None and node.id == first.id:
            return f"{ids[node.id]}([{label}]):::first"
        if last is not None and node.id == last.id:
            return f"{ids[node.id]}([{label}]):::last"
        return f"{ids[node.id]}[{label}]"

    # A group sits inside the smallest group holding all its nodes; a node, in the smallest
    # group holding it.
    sets = [set(g.node_ids) for g in graph.groups]

    def smallest(members: set[str], exclude: int | None = None) -> int | None:
        holders = [i for i, s in enumerate(sets) if i != exclude and members <= s]
        if exclude is not None:
            holders = [i for i in holders if sets[i] != sets[exclude] or i < exclude]
        return min(holders, key=lambda i: len(sets[i]), default=None)

    parent = {i: smallest(sets[i], exclude=i) for i in range(len(sets))}
    home = {node_id: smallest({node_id}) for node_id in graph.nodes}

    def emit(group: int | None, indent: str) -> None:
        for node in graph.nodes.values():
            if home[node.id] == group:
                lines.append(indent + node_line(node))
        for i, g in enumerate(graph.groups):
            if parent[i] == group:
                lines.append(f'{indent}subgraph group_{i + 1}["{_mermaid_text(g.label)}"]')
                emit(i, indent + "    ")
                lines.append(f"{indent}end")

    emit(None, "    ")
    for edge in graph.edges:
        arrow = "-.->" if edge.conditional else "-->"
        label = f'|"{_mermaid_text(edge.label)}"|' if edge.label else ""
        lines.append(f"    {ids[edge.source]} {arrow}{label} {ids[edge.target]}")
    lines.append("    classDef default fill:#f2f0ff,stroke:#6b5fc7,line-height:1.2")
    lines.append("    classDef first fill:#ffffff")
    lines.append("    classDef last fill:#bfb6fc")
    return "\n".join(lines) + "\n"


# -- PNG through Graphviz ---------------------------------------------------------------------


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def draw_dot(graph: Graph) -> str:
    """The graph in Graphviz's DOT language."""
    lines = [
        "digraph {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded,filled", fillcolor="#f2f0ff", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    first, last = graph.first_node(), graph.last_node()
    for node in graph.nodes.values():
        shape = f'label="{_dot_text(node.label)}"'
        if node is first or node is last:
            shape += ', shape=oval, fillcolor="#bfb6fc"' if node is last else ", shape=oval"
        lines.append(f'  "{_dot_text(node.id)}" [{shape}];')
    for n, group in enumerate(graph.groups, start=1):
        members = " ".join(f'"{_dot_text(i)}";' for i in group.node_ids)
        lines.append(
            f'  subgraph cluster_{n} {{ label="{_dot_text(group.label)}"; style=dashed; '
            f"{members} }}"
        )
    for edge in graph.edges:
        attrs: list[str] = []
        if edge.label:
            attrs.append(f'label="{_dot_text(edge.label)}"')
        if edge.conditional:
            attrs.append("style=dashed")
        suffix = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'  "{_dot_text(edge.source)}" -> "{_dot_text(edge.target)}"{suffix};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def draw_png(graph: Graph, path: Path) -> Path:
    """Render the graph to a PNG file with Graphviz's `dot`.

    Raises:
        RuntimeError: `dot` is not installed (the message says how to install it), or it
            failed (the message has its error output).
    """
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError(_GRAPHVIZ_HINT)
    result: Any = subprocess.run(
        [dot, "-Tpng", "-o", str(path)],
        input=draw_dot(graph).encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"Graphviz's dot failed (exit {result.returncode}): {result.stderr.decode().strip()}"
        )
    return path
