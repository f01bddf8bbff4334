"""Chains as graphs: `get_graph()` returns the nodes and edges that drawings are made from.

A graph starts at its input node and ends at its output node (both schemas, as pydantic
models), with a node per step that does work in between. How each kind of step is drawn:

- a sequence chains its steps' graphs, output to input;
- a parallel fans out from its input to one branch per key (each edge labelled with the key)
  and joins at its output; an assign is the parallel of its new keys plus a passthrough of the
  input's;
- a branch fans out with one edge per condition (labelled with the condition, marked
  conditional) and one for the default;
- a race fans out to its alternatives;
- a wrapper (bind, retry, timeout, fallbacks, each, ...) is drawn as the step it wraps, with a
  label (`"retry ×3"`) on that step's node; around a step of several nodes the label names a
  group of them.

Node ids are readable and unique within a graph (`ChatPromptTemplate`, `ChatPromptTemplate_2`).
Drawing lives in `runnables._graph_draw`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from runnables._base import Runnable
    from runnables._branch import RunnableBranch
    from runnables._config import RunnableConfig
    from runnables._parallel import RunnableParallel
    from runnables._passthrough import RunnableAssign
    from runnables._race import RunnableRace
    from runnables._sequence import RunnableSequence


@dataclass(frozen=True)
class Node:
    """A node of a graph.

    Attributes:
        id: Unique within its graph.
        name: What a drawing shows (the step's name, without a leading `Runnable`).
        step: The runnable, or the schema (a pydantic model) of an input or output node.
        labels: What wrappers add to the step (`"retry ×3"`, `"timeout 5 s"`), innermost first.
    """

    id: str
    name: str
    step: Runnable[Any, Any] | type[BaseModel] | None
    labels: tuple[str, ...] = ()

    @property
    def data(self) -> Runnable[Any, Any] | type[BaseModel] | None:
        """The step (LCEL's name for it)."""
        return self.step

    @property
    def is_schema(self) -> bool:
        """True for an input or output node (its step is a schema)."""
        from pydantic import BaseModel

        return isinstance(self.step, type) and issubclass(self.step, BaseModel)

    @property
    def label(self) -> str:
        """The name, followed by the wrappers' labels in parentheses."""
        return f"{self.name} ({', '.join(self.labels)})" if self.labels else self.name


@dataclass(frozen=True)
class Edge:
    """An edge from `source` to `target` (node ids), with an optional label.

    `conditional` marks the edges of a branch: only one of them is taken per run.
    """

    source: str
    target: str
    label: str | None = None
    conditional: bool = False


@dataclass(frozen=True)
class Group:
    """Nodes that one wrapper wraps together (e.g. `(prompt | model).with_retry()`)."""

    label: str
    node_ids: tuple[str, ...]


@dataclass
class Graph:
    """Nodes (in insertion order), edges and wrapper groups of a chain.

    Draw it with `draw_ascii()`, `draw_mermaid()` or `draw_png(path)`.
    """

    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.nodes)

    # -- building ---------------------------------------------------------------------------

    def add_node(
        self,
        step: Runnable[Any, Any] | type[BaseModel] | None,
        name: str | None = None,
        *,
        labels: tuple[str, ...] = (),
    ) -> Node:
        """Add a node for `step`, named after it unless `name` is given; return it."""
        name = name or node_name(step)
        node = Node(self._free_id(name), name, step, labels)
        self.nodes[node.id] = node
        return node

    def _free_id(self, name: str) -> str:
        if name not in self.nodes:
            return name
        n = 2
        while f"{name}_{n}" in self.nodes:
            n += 1
        return f"{name}_{n}"

    def add_edge(
        self, source: Node, target: Node, label: str | None = None, *, conditional: bool = False
    ) -> Edge:
        """Add an edge between two nodes of this graph; return it.

        Raises:
            ValueError: a node is not in this graph.
        """
        for node in (source, target):
            if self.nodes.get(node.id) != node:
                raise ValueError(f"Node {node.id!r} is not in the graph")
        edge = Edge(source.id, target.id, label, conditional)
        self.edges.append(edge)
        return edge

    def remove_node(self, node: Node) -> None:
        """Remove a node and its edges."""
        del self.nodes[node.id]
        self.edges = [e for e in self.edges if node.id not in (e.source, e.target)]
        self.groups = [
            Group(g.label, tuple(i for i in g.node_ids if i != node.id)) for g in self.groups
        ]

    def extend(self, other: Graph) -> dict[str, str]:
        """Copy another graph's nodes, edges and groups into this one (not connected).

        Returns:
            The new id of each of `other`'s node ids (ids are renamed where they clash).
        """
        ids: dict[str, str] = {}
        for node in other.nodes.values():
            new = replace(node, id=self._free_id(node.id))
            self.nodes[new.id] = new
            ids[node.id] = new.id
        self.edges.extend(
            replace(e, source=ids[e.source], target=ids[e.target]) for e in other.edges
        )
        self.groups.extend(Group(g.label, tuple(ids[i] for i in g.node_ids)) for g in other.groups)
        return ids

    def replace_step(self, node: Node, step: Runnable[Any, Any] | type[BaseModel]) -> Node:
        """Put another step (or schema) in a node's place, keeping its edges; return the node."""
        name = node_name(step)
        new_id = node.id if name == node.name else self._free_id(name)
        new = replace(node, id=new_id, name=name, step=step)
        self.nodes = {
            (new_id if k == node.id else k): (new if k == node.id else v)
            for k, v in self.nodes.items()
        }
        if new_id != node.id:
            self.edges = [
                replace(
                    e,
                    source=new_id if e.source == node.id else e.source,
                    target=new_id if e.target == node.id else e.target,
                )
                for e in self.edges
            ]
        return new

    def relabel(self, node: Node, label: str) -> Node:
        """Add a wrapper's label to a node; return the new node."""
        new = replace(node, labels=(*node.labels, label))
        self.nodes[node.id] = new
        return new

    # -- reading ----------------------------------------------------------------------------

    def first_node(self) -> Node | None:
        """The one node no edge leads to (None if there is not exactly one)."""
        return _only(self._starts())

    def last_node(self) -> Node | None:
        """The one node no edge leaves (None if there is not exactly one)."""
        return _only(self._ends())

    def _starts(self, exclude: str | None = None) -> list[Node]:
        targets = {e.target for e in self.edges if e.source != exclude}
        return [n for n in self.nodes.values() if n.id not in targets and n.id != exclude]

    def _ends(self, exclude: str | None = None) -> list[Node]:
        sources = {e.source for e in self.edges if e.target != exclude}
        return [n for n in self.nodes.values() if n.id not in sources and n.id != exclude]

    def successors(self, node: Node) -> list[Node]:
        """The nodes `node` has edges to, in edge order."""
        return [self.nodes[e.target] for e in self.edges if e.source == node.id]

    def trim_first_node(self) -> None:
        """Drop the first node if it has one edge out, so the next node becomes the first."""
        first = self.first_node()
        if (
            first is not None
            and len(self._starts(exclude=first.id)) == 1
            and sum(e.source == first.id for e in self.edges) == 1
        ):
            self.remove_node(first)

    def trim_last_node(self) -> None:
        """Drop the last node if it has one edge in, so the previous node becomes the last."""
        last = self.last_node()
        if (
            last is not None
            and len(self._ends(exclude=last.id)) == 1
            and sum(e.target == last.id for e in self.edges) == 1
        ):
            self.remove_node(last)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        """The graph as plain data: `{"nodes": [...], "edges": [...], "groups": [...]}`."""
        return {
            "nodes": [
                {
                    "id": n.id,
                    "name": n.name,
                    "type": "schema" if n.is_schema else "runnable",
                    **({"labels": list(n.labels)} if n.labels else {}),
                }
                for n in self.nodes.values()
            ],
            "edges": [
                {
                    "source": e.source,
                    "target": e.target,
                    **({"label": e.label} if e.label is not None else {}),
                    **({"conditional": True} if e.conditional else {}),
                }
                for e in self.edges
            ],
            "groups": [{"label": g.label, "nodes": list(g.node_ids)} for g in self.groups],
        }

    # -- drawing (runnables._graph_draw) ----------------------------------------------------

    def draw_ascii(self) -> str:
        """The graph as ASCII art, laid out by grandalf (`pip install "runnables[graph]"`).

        Raises:
            ImportError: grandalf is not installed; the message says how to install it.
        """
        from runnables._graph_draw import draw_ascii

        return draw_ascii(self)

    def print_ascii(self) -> None:
        """Print `draw_ascii()`."""
        print(self.draw_ascii())

    def draw_mermaid(self, *, direction: str = "TD") -> str:
        """The graph as a Mermaid flowchart (text; nothing is fetched).

        Args:
            direction: `TD`/`TB` (top down), `BT`, `LR` (left to right) or `RL`.
        """
        from runnables._graph_draw import draw_mermaid

        return draw_mermaid(self, direction=direction)

    def draw_png(self, path: str | Path) -> Path:
        """Render the graph to a PNG file with Graphviz's `dot` program.

        Returns:
            The path written.

        Raises:
            RuntimeError: Graphviz is not installed; the message says how to install it.
        """
        from runnables._graph_draw import draw_png

        return draw_png(self, Path(path))


def _only(nodes: list[Node]) -> Node | None:
    return nodes[0] if len(nodes) == 1 else None


def node_name(step: object) -> str:
    """A node's name for a step: its name without a leading `Runnable` (as LCEL draws it)."""
    from runnables._base import Runnable

    if isinstance(step, Runnable):
        name = step.get_name()
    elif isinstance(step, type):
        name = step.__name__
    else:
        name = "step"
    return name[8:] if name.startswith("Runnable") and len(name) > 8 else name


# -- building graphs of steps ------------------------------------------------------------------


def _schema_of(step: Runnable[Any, Any], suffix: str, config: Any) -> type[BaseModel]:
    from runnables._schema import fields_model

    try:
        if suffix == "Input":
            return step.get_input_schema(config)
        return step.get_output_schema(config)
    except Exception:  # an annotation pydantic cannot model; the node still stands
        return fields_model(step.get_name(suffix), {})


def _schema_node(graph: Graph, step: Runnable[Any, Any], suffix: str, config: Any) -> Node:
    return graph.add_node(_schema_of(step, suffix, config))


def step_graph(step: Runnable[Any, Any], config: RunnableConfig | None = None) -> Graph:
    """The graph of a step that has no drawing of its own: a wrapper is drawn as the step it
    wraps, with its label; any other step as input -> step -> output."""
    wrapped = step._wrapped_step()
    if wrapped is not None:
        graph = wrapped.get_graph(config)
        label = step._graph_label()
        if label:
            _label_inner(graph, label)
        return graph
    graph = Graph()
    first = _schema_node(graph, step, "Input", config)
    node = graph.add_node(step)
    last = _schema_node(graph, step, "Output", config)
    graph.add_edge(first, node)
    graph.add_edge(node, last)
    return graph


def _label_inner(graph: Graph, label: str) -> None:
    ends = {n.id for n in (graph.first_node(), graph.last_node()) if n is not None}
    inner = [n for n in graph.nodes.values() if n.id not in ends]
    if len(inner) == 1:
        graph.relabel(inner[0], label)
    elif inner:
        ids = tuple(n.id for n in inner)
        for i, group in enumerate(graph.groups):
            if set(group.node_ids) == set(ids):  # wrappers of wrappers: one group, both labels
                graph.groups[i] = Group(f"{group.label}, {label}", group.node_ids)
                return
        graph.groups.append(Group(label, ids))


def _inner_graph(step: Runnable[Any, Any], config: RunnableConfig | None) -> Graph:
    graph = step.get_graph(config)
    graph.trim_first_node()
    graph.trim_last_node()
    return graph


def _attach(
    graph: Graph,
    part: Graph,
    source: Node,
    target: Node,
    label: str | None = None,
    *,
    conditional: bool = False,
) -> None:
    """Copy `part` into `graph` between `source` and `target` (an edge only if it is empty)."""
    if not part:
        graph.add_edge(source, target, label, conditional=conditional)
        return
    first, last = part.first_node(), part.last_node()
    if first is None or last is None:
        raise ValueError("a step's graph has no single first and last node")
    ids = graph.extend(part)
    graph.add_edge(source, graph.nodes[ids[first.id]], label, conditional=conditional)
    graph.add_edge(graph.nodes[ids[last.id]], target)


def sequence_graph(sequence: RunnableSequence[Any, Any], config: RunnableConfig | None) -> Graph:
    """Steps chained: each step's output node is the next step's input; the ends show the
    sequence's own input and output schemas."""
    steps = list(sequence.steps)
    graph = Graph()
    for i, step in enumerate(steps):
        part = step.get_graph(config)
        if i > 0:
            part.trim_first_node()
        if i < len(steps) - 1:
            part.trim_last_node()
        previous = graph.last_node()
        first = part.first_node()
        if first is None:
            raise ValueError(f"the graph of {step.name} has no single first node")
        ids = graph.extend(part)
        head = graph.nodes[ids[first.id]]
        if previous is None:
            continue
        if previous.is_schema and head.is_schema:
            # Both ends kept (a fan-in, then a fan-out): one junction node is enough.
            for edge in [e for e in graph.edges if e.source == head.id]:
                graph.edges.append(replace(edge, source=previous.id))
            graph.remove_node(head)
        else:
            graph.add_edge(previous, head)
    first, last = graph.first_node(), graph.last_node()
    if first is not None and first.is_schema:
        graph.replace_step(first, _schema_of(sequence, "Input", config))
    if last is not None and last.is_schema:
        graph.replace_step(last, _schema_of(sequence, "Output", config))
    return graph


def parallel_graph(parallel: RunnableParallel[Any], config: RunnableConfig | None) -> Graph:
    """Input, one branch per key (edges labelled with the key), output."""
    return _fan_out(
        parallel,
        [(key, step, False) for key, step in parallel.branches.items()],
        config,
    )


def race_graph(race: RunnableRace[Any, Any], config: RunnableConfig | None) -> Graph:
    """Input, the alternatives side by side (edges labelled `race 1`, ...), output."""
    return _fan_out(
        race,
        [(f"race {i}", step, False) for i, step in enumerate(race.alternatives, start=1)],
        config,
    )


def branch_graph(branch: RunnableBranch[Any, Any], config: RunnableConfig | None) -> Graph:
    """Input, one conditional edge per condition (labelled with it) and one for the default."""
    arms: list[tuple[str, Runnable[Any, Any], bool]] = []
    for i, (condition, step) in enumerate(branch.branches, start=1):
        name = condition.name
        arms.append((f"condition {i}" if name == "lambda" else name, step, True))
    arms.append(("default", branch.default, True))
    return _fan_out(branch, arms, config)


def _fan_out(
    owner: Runnable[Any, Any],
    arms: list[tuple[str, Runnable[Any, Any], bool]],
    config: RunnableConfig | None,
) -> Graph:
    graph = Graph()
    first = _schema_node(graph, owner, "Input", config)
    last = _schema_node(graph, owner, "Output", config)
    if not arms:
        graph.add_edge(first, last)
    for label, step, conditional in arms:
        _attach(graph, _inner_graph(step, config), first, last, label, conditional=conditional)
    return graph


def assign_graph(assign: RunnableAssign, config: RunnableConfig | None) -> Graph:
    """The new keys' parallel, with a passthrough of the input's keys beside it."""
    from runnables._passthrough import RunnablePassthrough

    graph = assign.mapper.get_graph(config)
    first, last = graph.first_node(), graph.last_node()
    if first is not None and last is not None:
        keep = graph.add_node(RunnablePassthrough())
        graph.add_edge(first, keep, "input keys")
        graph.add_edge(keep, last)
    return graph


def binding_label(kwargs: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """How a binding shows on its step: `bind stop=['END']`, `timeout 5 s`, `config: tags`."""
    parts = [f"bind {', '.join(f'{k}={_short(v)}' for k, v in kwargs.items())}"] if kwargs else []
    if "timeout" in config:
        parts.append(f"timeout {config['timeout']:g} s")
    if "max_concurrency" in config:
        parts.append(f"max_concurrency={config['max_concurrency']}")
    keys = [k for k in ("tags", "metadata", "configurable", "recursion_limit") if k in config]
    if keys:
        parts.append(f"config: {', '.join(keys)}")
    return ", ".join(parts) or None


def _short(value: object, limit: int = 24) -> str:
    text = re.sub(r"\s+", " ", repr(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"
