"""Tool calls on messages: whole, invalid, streamed in chunks that add up; tool messages."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from prompts import (
    AIMessage,
    AIMessageChunk,
    ChatPromptTemplate,
    HumanMessage,
    MessagesPlaceholder,
    ToolMessage,
    get_buffer_string,
    invalid_tool_call,
    tool_call,
    tool_call_chunk,
)


def test_ai_message_tool_calls_get_their_type() -> None:
    message = AIMessage(content="", tool_calls=[{"name": "add", "args": {"a": 1}, "id": "c1"}])
    assert message.tool_calls == [
        {"name": "add", "args": {"a": 1}, "id": "c1", "type": "tool_call"}
    ]
    assert message.invalid_tool_calls == []
    assert tool_call(name="add", args={"a": 1}, id="c1") == message.tool_calls[0]


def test_tool_call_args_must_be_a_dict() -> None:
    with pytest.raises(ValidationError, match="args"):
        AIMessage(content="", tool_calls=[{"name": "add", "args": "{}", "id": "c1"}])  # type: ignore[typeddict-item]


def test_chunks_add_up_by_index_into_tool_calls() -> None:
    pieces = [
        AIMessageChunk(
            content="", tool_call_chunks=[tool_call_chunk(name="add", id="c1", index=0)]
        ),
        AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(args='{"a": 1,', index=0)]),
        AIMessageChunk(
            content="", tool_call_chunks=[tool_call_chunk(name="neg", id="c2", index=1)]
        ),
        AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(args=' "b": 2}', index=0)]),
        AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(args='{"x": 3}', index=1)]),
    ]
    total = pieces[0]
    for piece in pieces[1:]:
        total = total + piece
    assert [(c["name"], c["args"], c["id"], c["index"]) for c in total.tool_call_chunks] == [
        ("add", '{"a": 1, "b": 2}', "c1", 0),
        ("neg", '{"x": 3}', "c2", 1),
    ]
    assert total.tool_calls == [
        tool_call(name="add", args={"a": 1, "b": 2}, id="c1"),
        tool_call(name="neg", args={"x": 3}, id="c2"),
    ]
    assert total.to_message().tool_calls == total.tool_calls


def test_a_growing_chunk_shows_partial_args() -> None:
    head = AIMessageChunk(
        content="",
        tool_call_chunks=[tool_call_chunk(name="f", args='{"city": "Par', id="c", index=0)],
    )
    assert head.tool_calls == [tool_call(name="f", args={"city": "Par"}, id="c")]
    # Unfinished JSON is not a valid call once the message is whole.
    whole = head.to_message()
    assert whole.tool_calls == []
    assert [(c["name"], c["args"], c["id"]) for c in whole.invalid_tool_calls] == [
        ("f", '{"city": "Par', "c")
    ]
    error = whole.invalid_tool_calls[0]["error"]
    assert error is not None
    assert error.startswith("arguments are not valid JSON")


def test_args_that_are_not_an_object_are_invalid_not_dropped() -> None:
    chunk = AIMessageChunk(
        content="", tool_call_chunks=[tool_call_chunk(name="f", args="[1]", index=0)]
    )
    message = chunk.to_message()
    assert message.tool_calls == []
    assert message.invalid_tool_calls == [
        invalid_tool_call(
            name="f", args="[1]", id=None, error="arguments are not a JSON object: '[1]'"
        )
    ]


def test_a_whole_message_as_a_chunk_keeps_its_calls_through_a_sum() -> None:
    calls = [tool_call(name="f", args={"a": [1, 2]}, id="c1")]
    chunk = AIMessageChunk(content="thinking", tool_calls=calls)
    total = chunk + AIMessageChunk(content=" done")
    assert total.content == "thinking done"
    assert total.to_message().tool_calls == calls


def test_chunks_without_index_are_not_merged() -> None:
    a = AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(name="f", args="{}")])
    b = AIMessageChunk(content="", tool_call_chunks=[tool_call_chunk(name="g", args="{}")])
    assert [c["name"] for c in (a + b).tool_calls] == ["f", "g"]


def test_tool_message_fields_and_defaults() -> None:
    message = ToolMessage(content="42", tool_call_id="c1")
    assert (message.type, message.role, message.status, message.artifact) == (
        "tool",
        "tool",
        "success",
        None,
    )
    assert ToolMessage(content="boom", tool_call_id="c1", status="error").status == "error"
    with pytest.raises(ValidationError, match="tool_call_id"):
        ToolMessage(content="42")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="status"):
        ToolMessage(content="42", tool_call_id="c1", status="failed")  # type: ignore[arg-type]


def test_messages_with_tool_calls_pickle() -> None:
    ai = AIMessage(content="", tool_calls=[tool_call(name="f", args={"a": 1}, id="c1")])
    tool = ToolMessage(content="1", tool_call_id="c1", name="f")
    assert pickle.loads(pickle.dumps([ai, tool])) == [ai, tool]


def test_placeholder_and_prompt_carry_tool_messages() -> None:
    ai = AIMessage(content="", tool_calls=[tool_call(name="add", args={"a": 1, "b": 2}, id="c1")])
    result = ToolMessage(content="3", tool_call_id="c1", name="add")
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You add."), MessagesPlaceholder("history"), ("human", "{q}")]
    )
    history = [HumanMessage(content="1+2?"), ai, result]
    messages = prompt.invoke({"history": history, "q": "and now?"}).to_messages()
    assert messages[1:4] == history
    assert messages[2] is ai
    assert messages[3] is result
    assert get_buffer_string(messages).splitlines() == [
        "System: You add.",
        "Human: 1+2?",
        "AI: [{'name': 'add', 'args': {'a': 1, 'b': 2}, 'id': 'c1', 'type': 'tool_call'}]",
        "Tool: 3",
        "Human: and now?",
    ]


def test_pretty_shows_the_calls() -> None:
    message = AIMessage(
        content="checking",
        tool_calls=[tool_call(name="f", args={"a": 1}, id="c1")],
        invalid_tool_calls=[invalid_tool_call(name="g", args="{", id="c2", error="not JSON")],
    )
    assert message.pretty().splitlines() == [
        "ai: checking",
        '  tool call f({"a": 1}) id=c1',
        "  invalid tool call g: not JSON",
    ]
