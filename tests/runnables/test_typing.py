"""Static types of composed chains; mypy (strict) checks this file, pytest runs it."""

from typing import Any, assert_type

from pydantic import BaseModel

from runnables import (
    Graph,
    Runnable,
    RunnableBinding,
    RunnableLambda,
    RunnableParallel,
    RunnableSequence,
    chain,
)


def to_len(text: str) -> int:
    return len(text)


async def to_str(n: int) -> str:
    return str(n)


@chain
def shout(text: str) -> str:
    return text.upper()


def test_types_flow_through_pipes() -> None:
    length = RunnableLambda(to_len)
    assert_type(length, RunnableLambda[str, int])
    assert_type(RunnableLambda(to_str), RunnableLambda[int, str])
    seq = length | to_str
    assert_type(seq, RunnableSequence[str, str])
    assert_type(seq.invoke("abc"), str)
    assert_type(shout, RunnableLambda[str, str])
    fanned = length | {"a": to_str}
    assert_type(fanned, RunnableSequence[str, dict[str, Any]])
    assert_type(RunnableParallel(a=length).invoke("x"), dict[str, Any])
    assert_type(seq.batch(["a"]), list[str])
    general: Runnable[str, str] = seq
    assert general.invoke("abcd") == "4"


def test_schema_and_graph_types() -> None:
    seq = RunnableLambda(to_len) | to_str
    assert_type(seq.get_input_schema(), type[BaseModel])
    assert_type(seq.output_schema, type[BaseModel])
    assert_type(seq.get_input_jsonschema(), dict[str, Any])
    assert_type(seq.with_types(input_type=bytes), RunnableBinding[str, str])
    assert_type(seq.get_graph(), Graph)
    assert seq.get_graph().first_node() is not None
