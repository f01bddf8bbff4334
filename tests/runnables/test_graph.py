"""`get_graph()`: nodes and edges of every kind of step, first and last nodes, wrapper labels."""

from collections.abc import Callable
from operator import itemgetter
from typing import Any

import pytest

from runnables import (
    Graph,
    Runnable,
    RunnableBranch,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
    RunnableRace,
)


def to_len(text: str) -> int:
    return len(text)


def to_text(n: int) -> str:
    return str(n)


def is_long(text: str) -> bool:
    return len(text) > 3


def names(graph: Graph) -> list[str]:
    return [node.name for node in graph.nodes.values()]


def edges(graph: Graph) -> set[tuple[str, str, str | None]]:
    """Edges as (source name, target name, label)."""
    return {(graph.nodes[e.source].name, graph.nodes[e.target].name, e.label) for e in graph.edges}


def ends(graph: Graph) -> tuple[str, str]:
    first, last = graph.first_node(), graph.last_node()
    assert first is not None
    assert last is not None
    return first.name, last.name


def test_a_step_is_input_step_output() -> None:
    graph = RunnableLambda(to_len).get_graph()
    assert names(graph) == ["to_len_input", "to_len", "to_len_output"]
    assert edges(graph) == {("to_len_input", "to_len", None), ("to_len", "to_len_output", None)}
    assert ends(graph) == ("to_len_input", "to_len_output")
    first = graph.first_node()
    assert first is not None
    assert first.is_schema
    assert graph.nodes["to_len"].step is not None
    assert not graph.nodes["to_len"].is_schema


def test_sequence_is_a_chain() -> None:
    graph = (RunnableLambda(to_len) | to_text | RunnablePassthrough()).get_graph()
    assert names(graph) == ["to_len_input", "to_len", "to_text", "Passthrough", "PassthroughOutput"]
    assert edges(graph) == {
        ("to_len_input", "to_len", None),
        ("to_len", "to_text", None),
        ("to_text", "Passthrough", None),
        ("Passthrough", "PassthroughOutput", None),
    }


def test_a_repeated_step_gets_its_own_node() -> None:
    graph = (RunnableLambda(to_len) | to_text | to_len).get_graph()
    assert [n.id for n in graph.nodes.values()][1:4] == ["to_len", "to_text", "to_len_2"]
    assert len(graph.edges) == 4


def test_parallel_draws_one_branch_per_key() -> None:
    par = RunnableParallel(
        length=to_len, shout=RunnableLambda(str.upper) | str.strip, same=RunnablePassthrough()
    )
    graph = par.get_graph()
    # Node names drop the "Runnable" of the schema titles, as LCEL's drawings do.
    assert ends(graph) == ("Parallel<length,shout,same>Input", "Parallel<length,shout,same>Output")
    first, last = ends(graph)
    assert edges(graph) == {
        (first, "to_len", "length"),
        ("to_len", last, None),
        (first, "upper", "shout"),
        ("upper", "strip", None),
        ("strip", last, None),
        (first, "Passthrough", "same"),
        ("Passthrough", last, None),
    }


def test_empty_parallel_joins_input_to_output() -> None:
    graph = RunnableParallel().get_graph()
    assert len(graph.nodes) == 2
    assert len(graph.edges) == 1


def test_parallel_then_step_shares_one_junction_node() -> None:
    graph = (
        RunnableParallel(a=to_len, b=to_len) | RunnableLambda(lambda d: d) | to_text
    ).get_graph()
    junction = "Parallel<a,b>Output"
    assert names(graph).count(junction) == 1
    assert (junction, "lambda", None) in edges(graph)
    assert ends(graph)[1] == "to_text_output"


def test_branch_draws_conditions_as_labelled_conditional_edges() -> None:
    branch = RunnableBranch(
        (is_long, RunnableLambda(to_len)), (lambda x: not x, to_text), RunnablePassthrough()
    )
    graph = branch.get_graph()
    first, last = ends(graph)
    assert {(s, t, label) for s, t, label in edges(graph) if s == first} == {
        (first, "to_len", "is_long"),
        (first, "to_text", "condition 2"),
        (first, "Passthrough", "default"),
    }
    assert all(e.conditional for e in graph.edges if graph.nodes[e.source].name == first)
    assert {(s, t) for s, t, _ in edges(graph) if t == last} == {
        ("to_len", last),
        ("to_text", last),
        ("Passthrough", last),
    }


def test_assign_draws_new_keys_beside_a_passthrough_of_the_input() -> None:
    graph = RunnablePassthrough.assign(n=RunnableLambda(itemgetter("text")) | to_len).get_graph()
    first, last = ends(graph)
    assert edges(graph) == {
        (first, "itemgetter", "n"),
        ("itemgetter", "to_len", None),
        ("to_len", last, None),
        (first, "Passthrough", "input keys"),
        ("Passthrough", last, None),
    }


def test_pick_is_a_step_in_the_chain() -> None:
    graph = (RunnableParallel(a=to_len, b=to_text) | RunnablePick("a")).get_graph()
    assert "Pick<a>" in names(graph)
    assert ends(graph) == ("Parallel<a,b>Input", "SequenceOutput")
    assert ("Parallel<a,b>Output", "Pick<a>", None) in edges(graph)


def test_race_draws_its_alternatives_side_by_side() -> None:
    graph = RunnableRace(to_len, RunnableLambda(len)).get_graph()
    first, last = ends(graph)
    assert edges(graph) == {
        (first, "to_len", "race 1"),
        (first, "len", "race 2"),
        ("to_len", last, None),
        ("len", last, None),
    }


WRAPPERS: dict[str, tuple[Callable[[Runnable[Any, Any]], Runnable[Any, Any]], str]] = {
    "bind": (lambda s: s.bind(stop=["x"]), "bind stop=['x']"),
    "with_config": (lambda s: s.with_config(timeout=5, tags=["t"]), "timeout 5 s, config: tags"),
    "with_retry": (lambda s: s.with_retry(stop_after_attempt=3), "retry ×3"),
    "with_timeout": (lambda s: s.with_timeout(5), "timeout 5 s"),
    "with_fallbacks": (
        lambda s: s.with_fallbacks([RunnableLambda(len)]),
        "fallbacks: len",
    ),
    "map": (lambda s: s.map(), "each item"),
}


@pytest.mark.parametrize(("wrap", "label"), WRAPPERS.values(), ids=WRAPPERS.keys())
def test_a_wrapper_is_drawn_as_its_step_with_a_label(
    wrap: Callable[[Runnable[Any, Any]], Runnable[Any, Any]], label: str
) -> None:
    graph = wrap(RunnableLambda(to_len)).get_graph()
    assert [n.id for n in graph.nodes.values()][1] == "to_len"
    node = graph.nodes["to_len"]
    assert node.labels == (label,)
    assert node.label == f"to_len ({label})"
    assert len(graph.nodes) == 3
    assert len(graph.edges) == 2


def test_nested_wrappers_stack_their_labels_innermost_first() -> None:
    graph = RunnableLambda(to_len).with_timeout(2).with_retry(stop_after_attempt=4).get_graph()
    assert graph.nodes["to_len"].labels == ("timeout 2 s", "retry ×4")


def test_a_wrapper_around_several_steps_groups_them() -> None:
    graph = (RunnableLambda(to_len) | to_text).with_retry(stop_after_attempt=2).get_graph()
    assert [(g.label, g.node_ids) for g in graph.groups] == [("retry ×2", ("to_len", "to_text"))]
    assert all(not n.labels for n in graph.nodes.values())


def test_wrapped_step_inside_a_chain_keeps_its_label() -> None:
    graph = (RunnableLambda(to_len) | RunnableLambda(to_text).with_retry()).get_graph()
    assert graph.nodes["to_text"].labels == ("retry ×3",)
    assert ends(graph) == ("to_len_input", "to_text_output")


def test_to_json_lists_nodes_edges_and_groups() -> None:
    data = RunnableLambda(to_len).with_retry().get_graph().to_json()
    assert data["nodes"][1] == {
        "id": "to_len",
        "name": "to_len",
        "type": "runnable",
        "labels": ["retry ×3"],
    }
    assert data["nodes"][0]["type"] == "schema"
    assert data["edges"] == [
        {"source": "to_len_input", "target": "to_len"},
        {"source": "to_len", "target": "to_len_output"},
    ]
    assert data["groups"] == []


def test_add_edge_rejects_a_node_from_another_graph() -> None:
    graph, other = Graph(), Graph()
    a = graph.add_node(RunnablePassthrough())
    b = other.add_node(RunnablePassthrough())
    with pytest.raises(ValueError, match="'Passthrough' is not in the graph"):
        graph.add_edge(a, b)
