"""Drawings of graphs: ASCII (grandalf), Mermaid, PNG through Graphviz; checked by structure."""

import re
import shutil
import sys
from pathlib import Path

import pytest

from runnables import Graph, RunnableBranch, RunnableLambda, RunnableParallel, RunnablePassthrough
from runnables._graph_draw import draw_dot, mermaid_ids


def to_len(text: str) -> int:
    return len(text)


def to_text(n: int) -> str:
    return str(n)


def is_long(text: str) -> bool:
    return len(text) > 3


NODE = re.compile(r'^\s+(\w+)(\(\[|\[)"(.*)"(\]\)|\])(:::\w+)?$')
EDGE = re.compile(r'^\s+(\w+) (-->|-\.->)(?:\|"(.*)"\|)? (\w+)$')


def parse_mermaid(text: str) -> tuple[dict[str, str], list[tuple[str, str, str | None, bool]]]:
    """Node id -> label with its class, and the edges (source, target, label, dotted)."""
    nodes: dict[str, str] = {}
    edges: list[tuple[str, str, str | None, bool]] = []
    for line in text.splitlines():
        if m := NODE.match(line):
            nodes[m[1]] = m[3] + (m[5] or "")
        elif m := EDGE.match(line):
            edges.append((m[1], m[4], m[3], m[2] == "-.->"))
    return nodes, edges


def sample() -> Graph:
    par = RunnableParallel(length=to_len, same=RunnablePassthrough())
    return (par | RunnableLambda(to_text).with_retry()).get_graph()


def test_mermaid_has_every_node_and_edge_and_marks_the_ends() -> None:
    graph = sample()
    text = graph.draw_mermaid()
    assert text.startswith("flowchart TD\n")
    nodes, edges = parse_mermaid(text)
    ids = mermaid_ids(graph)
    assert set(nodes) == set(ids.values())
    assert len(nodes) == len(graph.nodes)
    expected = {(ids[e.source], ids[e.target], e.label, e.conditional) for e in graph.edges}
    assert set(edges) == expected
    first, last = graph.first_node(), graph.last_node()
    assert first is not None
    assert last is not None
    assert nodes[ids[first.id]].endswith(":::first")
    assert nodes[ids[last.id]].endswith(":::last")
    assert nodes[ids["to_text"]] == "to_text (retry ×3)"
    assert [n for n, label in nodes.items() if label.endswith((":::first", ":::last"))] == [
        ids[first.id],
        ids[last.id],
    ]


def test_mermaid_escapes_what_would_end_a_label() -> None:
    text = RunnableLambda(to_len, name='say "hi" <b>').get_graph().draw_mermaid()
    nodes, _ = parse_mermaid(text)
    assert "say #quot;hi#quot; #lt;b#gt;" in nodes.values()
    assert "<b>" not in text


def test_mermaid_draws_branch_conditions_as_dotted_labelled_edges() -> None:
    branch = RunnableBranch((is_long, RunnableLambda(to_len)), RunnablePassthrough())
    _, edges = parse_mermaid(branch.get_graph().draw_mermaid(direction="LR"))
    assert {(label, dotted) for _, _, label, dotted in edges if label} == {
        ("is_long", True),
        ("default", True),
    }


def test_mermaid_nests_groups_of_wrappers() -> None:
    inner = (RunnableLambda(to_len) | to_text).with_retry(stop_after_attempt=2)
    text = (inner | to_len).with_timeout(5).get_graph().draw_mermaid()
    lines = [line.strip() for line in text.splitlines()]
    outer = lines.index('subgraph group_2["timeout 5 s"]')
    nested = lines.index('subgraph group_1["retry ×2"]')
    assert outer < nested
    assert lines[outer + 1] == 'to_len_2["to_len"]'
    assert lines[nested + 1 : nested + 4] == ['to_len["to_len"]', 'to_text["to_text"]', "end"]


def test_mermaid_ids_are_safe_and_unique() -> None:
    graph = Graph()
    for name in ("end", "a-b", "a_b", "1st"):
        graph.add_node(RunnablePassthrough(), name)
    assert list(mermaid_ids(graph).values()) == ["n_end", "a_b", "a_b_2", "n_1st"]


def test_mermaid_rejects_an_unknown_direction() -> None:
    with pytest.raises(ValueError, match="'sideways'"):
        sample().draw_mermaid(direction="sideways")


def test_ascii_draws_a_box_per_node_and_an_arrow_per_edge() -> None:
    graph = sample()
    art = graph.draw_ascii()
    for node in graph.nodes.values():
        assert f"| {node.label} |" in art
    lines = art.splitlines()
    # Every node an edge leads to has an arrowhead on the line above its box.
    for node in {graph.nodes[e.target] for e in graph.edges}:
        row = next(i for i, line in enumerate(lines) if f"| {node.label} |" in line)
        assert "v" in lines[row - 2]
    first, last = graph.first_node(), graph.last_node()
    assert first is not None
    assert last is not None
    assert f"| {first.label} |" in lines[1]
    assert f"| {last.label} |" in lines[-2]


def test_ascii_lists_groups_under_the_drawing() -> None:
    art = (
        (RunnableLambda(to_len) | to_text).with_retry(stop_after_attempt=2).get_graph().draw_ascii()
    )
    assert art.splitlines()[-1] == "[retry ×2] around: to_len, to_text"


def test_ascii_without_grandalf_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "grandalf.graphs", None)
    with pytest.raises(ImportError, match=r'pip install "runnables\[graph\]"'):
        sample().draw_ascii()


def test_dot_has_every_node_edge_and_group() -> None:
    graph = (RunnableLambda(to_len) | to_text).with_retry(stop_after_attempt=2).get_graph()
    dot = draw_dot(graph)
    for node in graph.nodes.values():
        assert f'"{node.id}" [label="{node.label}"' in dot
    for edge in graph.edges:
        assert f'"{edge.source}" -> "{edge.target}";' in dot
    assert 'subgraph cluster_1 { label="retry ×2"; style=dashed; "to_len"; "to_text"; }' in dot


def test_png_without_graphviz_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        sample().draw_png(tmp_path / "chain.png")
    assert not (tmp_path / "chain.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_png_is_rendered_by_graphviz(tmp_path: Path) -> None:
    path = sample().draw_png(tmp_path / "chain.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
