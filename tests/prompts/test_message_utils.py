"""Message utilities: conversion, filtering, merging runs, dicts, transcripts, OpenAI form.

Every expected value here was checked against langchain-core 1.8.3 on the same input.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from prompts import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    ChatPromptValue,
    FunctionMessage,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    ToolMessage,
    Usage,
    convert_to_messages,
    convert_to_openai_data_block,
    convert_to_openai_image_block,
    convert_to_openai_messages,
    filter_messages,
    get_buffer_string,
    merge_message_runs,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
    messages_to_dict,
    tool_call,
)
from runnables import Runnable


def conversation() -> list[BaseMessage]:
    return [
        SystemMessage(content="you are nice", id="s"),
        HumanMessage(content="q1", id="h1", name="bob"),
        AIMessage(
            content="a1",
            id="a1",
            tool_calls=[
                tool_call(name="f", args={"x": 1}, id="c1"),
                tool_call(name="g", args={}, id="c2"),
            ],
        ),
        ToolMessage(content="r1", tool_call_id="c1", id="t1"),
        ToolMessage(content="r2", tool_call_id="c2", id="t2"),
        HumanMessage(content="q2", id="h2"),
        AIMessage(content="final", id="a2", name="bot"),
    ]


def ids(messages: list[BaseMessage]) -> list[str | None]:
    return [m.id for m in messages]


def test_convert_to_messages_reads_every_message_like_form() -> None:
    openai_call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = convert_to_messages(
        [
            "hi",
            ("ai", "yo"),
            ("developer", "d"),
            {"role": "user", "content": "u", "name": "n", "id": "i1", "extra": 1},
            {"role": "assistant", "content": None, "tool_calls": [openai_call]},
            {"role": "tool", "content": "r", "tool_call_id": "c1"},
            {"type": "human", "content": "typed"},
            ("user", [{"type": "text", "text": "p"}]),
        ]
    )
    assert messages == [
        HumanMessage(content="hi"),
        AIMessage(content="yo"),
        SystemMessage(content="d", additional_kwargs={"__openai_role__": "developer"}),
        HumanMessage(content="u", name="n", id="i1", additional_kwargs={"extra": 1}),
        AIMessage(content="", tool_calls=[tool_call(name="f", args={}, id="c1")]),
        ToolMessage(content="r", tool_call_id="c1"),
        HumanMessage(content="typed"),
        HumanMessage(content=[{"type": "text", "text": "p"}]),
    ]
    value = ChatPromptValue([HumanMessage(content="x")])
    assert convert_to_messages(value) == [HumanMessage(content="x")]


def test_convert_to_messages_reads_langchains_serialized_messages() -> None:
    serialized = {
        "lc": 1,
        "type": "constructor",
        "id": ["langchain", "schema", "messages", "HumanMessage"],
        "kwargs": {"content": "saved"},
    }
    assert convert_to_messages([serialized]) == [HumanMessage(content="saved")]


@pytest.mark.parametrize(
    ("item", "error"),
    [(("robot", "x"), ValueError), ({"content": "x"}, ValueError), (42, TypeError)],
)
def test_convert_to_messages_rejects_what_is_no_message(item: Any, error: type) -> None:
    with pytest.raises(error):
        convert_to_messages([item])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"include_types": ["human", AIMessage]}, ["h1", "a1", "h2", "a2"]),
        ({"exclude_types": [SystemMessage], "exclude_ids": ["h1"]}, ["a1", "t1", "t2", "h2", "a2"]),
        ({"include_names": ["bob", "bot"]}, ["h1", "a2"]),
        ({"include_types": ["human"], "exclude_names": ["bob"]}, ["h2"]),
        ({"include_types": "human"}, ["h1", "h2"]),  # one type alone, as LangChain reads it
        ({"exclude_types": AIMessage}, ["s", "h1", "t1", "t2", "h2"]),
        ({"exclude_tool_calls": True}, ["s", "h1", "h2", "a2"]),
        ({"exclude_tool_calls": ["c1", "c2"]}, ["s", "h1", "h2", "a2"]),
    ],
)
def test_filter_messages(options: dict[str, Any], expected: list[str]) -> None:
    assert ids(filter_messages(conversation(), **options)) == expected


def test_filtering_out_one_tool_call_keeps_the_others() -> None:
    kept = filter_messages(conversation(), exclude_tool_calls=["c1"])
    assert ids(kept) == ["s", "h1", "a1", "t2", "h2", "a2"]
    ai = kept[2]
    assert isinstance(ai, AIMessage)
    assert [c["id"] for c in ai.tool_calls] == ["c2"]
    assert len(conversation()[2].tool_calls) == 2  # type: ignore[attr-defined]  # not changed


def test_merge_message_runs_merges_consecutive_messages_of_one_class() -> None:
    runs = [
        SystemMessage(content="s1"),
        SystemMessage(content="s2"),
        HumanMessage(content="h1", id="x"),
        HumanMessage(content="h2", id="y"),
        HumanMessage(content=[{"type": "text", "text": "h3"}]),
        HumanMessage(content=""),
        HumanMessage(content="h4"),
        AIMessage(content="a1", tool_calls=[tool_call(name="f", args={}, id="1")]),
        AIMessage(
            content="a2",
            tool_calls=[tool_call(name="g", args={}, id="2")],
            response_metadata={"m": 2},
            additional_kwargs={"k": "v"},
        ),
        ToolMessage(content="t1", tool_call_id="1"),
        ToolMessage(content="t2", tool_call_id="2"),
        ChatMessage(content="c1", role="r"),
        ChatMessage(content="c2", role="r"),
    ]
    merged = merge_message_runs(runs)
    assert [type(m).__name__ for m in merged] == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "ChatMessage",
    ]
    assert merged[0].content == "s1\ns2"
    assert merged[1].content == ["h1\nh2", {"type": "text", "text": "h3"}, "h4"]
    assert merged[1].id == "x"
    ai = merged[2]
    assert isinstance(ai, AIMessage)
    assert (ai.content, ai.additional_kwargs) == ("a1\na2", {"k": "v"})
    assert [c["id"] for c in ai.tool_calls] == ["1", "2"]
    assert merged[5].content == "c1\nc2"
    assert merge_message_runs(runs[:4], chunk_separator=" | ")[1].content == "h1 | h2"
    assert merge_message_runs([]) == []


@pytest.mark.parametrize(
    "options", [{"include_types": [3]}, {"exclude_types": 3}, {"include_types": [dict]}]
)
def test_filter_messages_names_a_bad_type(options: dict[str, Any]) -> None:
    name = next(iter(options))
    with pytest.raises(TypeError, match=f'Invalid "{name}" argument: '):
        filter_messages(conversation(), **options)
    with pytest.raises(TypeError, match=f'Invalid "{name}" argument: '):
        filter_messages(**options)  # the step form: when it is made


def test_message_utilities_without_messages_are_runnables() -> None:
    drop_system = filter_messages(exclude_types=["system"])
    assert isinstance(drop_system, Runnable)
    assert ids(drop_system.invoke(conversation())) == ["h1", "a1", "t1", "t2", "h2", "a2"]
    merge = merge_message_runs(chunk_separator=" ")
    assert merge.invoke([HumanMessage(content="a"), HumanMessage(content="b")]) == [
        HumanMessage(content="a b")
    ]


def test_messages_round_trip_through_dicts_in_langchains_shape() -> None:
    messages = [
        *conversation(),
        ChatMessage(content="c", role="critic"),
        FunctionMessage(content="f", name="fn"),
        HumanMessageChunk(content="hc"),
        AIMessage(content="u", usage=Usage(input_tokens=1, output_tokens=2, total_tokens=3)),
    ]
    dicts = messages_to_dict(messages)
    assert dicts[0] == {
        "type": "system",
        "data": {
            "content": "you are nice",
            "additional_kwargs": {},
            "response_metadata": {},
            "type": "system",
            "name": None,
            "id": "s",
        },
    }
    assert [d["type"] for d in dicts[-4:]] == ["chat", "function", "HumanMessageChunk", "ai"]
    assert message_to_dict(messages[7])["data"]["role"] == "critic"
    # An AI message's usage is saved under LangChain's key, so LangChain reads it back.
    counts = {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
    assert dicts[-1]["data"]["usage_metadata"] == counts
    assert "usage" not in dicts[-1]["data"]
    assert messages_to_dict([AIMessage("n")])[0]["data"]["usage_metadata"] is None
    assert messages_from_dict(dicts) == messages


def test_messages_from_dict_reads_langchains_usage_metadata() -> None:
    saved = {
        "type": "ai",
        "data": {
            "content": "hi",
            "type": "ai",
            "example": False,
            "usage_metadata": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
        },
    }
    [message] = messages_from_dict([saved])
    assert message == AIMessage(
        content="hi", usage=Usage(input_tokens=3, output_tokens=1, total_tokens=4)
    )
    with pytest.raises(ValueError, match="robot"):
        messages_from_dict([{"type": "robot", "data": {"content": "x"}}])


def test_message_chunk_to_message() -> None:
    assert message_chunk_to_message(AIMessageChunk(content="x", id="1")) == AIMessage(
        content="x", id="1"
    )
    assert message_chunk_to_message(HumanMessage(content="h")) == HumanMessage(content="h")


def test_get_buffer_string_labels_every_class_and_reads_text_parts() -> None:
    messages = [
        *conversation(),
        HumanMessage(
            content=[
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "u"}},
            ]
        ),
        ChatMessage(content="c", role="critic"),
        FunctionMessage(content="f", name="fn"),
        AIMessageChunk(content="chunk"),
    ]
    assert get_buffer_string(messages) == (
        "System: you are nice\nHuman: q1\nAI: a1"
        "[{'name': 'f', 'args': {'x': 1}, 'id': 'c1', 'type': 'tool_call'}, "
        "{'name': 'g', 'args': {}, 'id': 'c2', 'type': 'tool_call'}]\n"
        "Tool: r1\nTool: r2\nHuman: q2\nAI: final\nHuman: look\ncritic: c\nFunction: f\nAI: chunk"
    )
    short = [conversation()[0], conversation()[1], AIMessage(content="ok")]
    assert (
        get_buffer_string(short, "User", "Bot", system_prefix="Sys", message_separator="\n\n")
        == "Sys: you are nice\n\nUser: q1\n\nBot: ok"
    )


def test_convert_to_openai_messages_in_langchains_shape() -> None:
    image = {"type": "image", "base64": "AA", "mime_type": "image/png"}
    messages = [
        *conversation()[:4],
        ChatMessage(content="c", role="critic"),
        FunctionMessage(content="fr", name="fn"),
        AIMessage(content=[{"type": "text", "text": "x"}, "z"]),
        HumanMessage(content=[{"type": "text", "text": "see"}, image]),
        AIMessage(content="", tool_calls=[tool_call(name="f", args={"q": "é"}, id="c9")]),
        AIMessage(content="refused", additional_kwargs={"refusal": "no"}),
    ]
    assert convert_to_openai_messages(messages) == [
        {"role": "system", "content": "you are nice"},
        {"role": "user", "name": "bob", "content": "q1"},
        {
            "role": "assistant",
            "content": "a1",
            "tool_calls": [
                {
                    "type": "function",
                    "id": "c1",
                    "function": {"name": "f", "arguments": '{"x": 1}'},
                },
                {"type": "function", "id": "c2", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "r1"},
        {"role": "critic", "content": "c"},
        {"role": "function", "name": "fn", "content": "fr"},
        {"role": "assistant", "content": "x\nz"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "type": "function",
                    "id": "c9",
                    "function": {"name": "f", "arguments": '{"q": "é"}'},
                }
            ],
        },
        {"role": "assistant", "refusal": "no", "content": "refused"},
    ]


def test_convert_to_openai_messages_options() -> None:
    assert convert_to_openai_messages(HumanMessage(content="x")) == {"role": "user", "content": "x"}
    assert convert_to_openai_messages(
        [HumanMessage(content="x", id="i"), ("ai", "z"), {"role": "developer", "content": "d"}],
        include_id=True,
        text_format="block",
    ) == [
        {"role": "user", "id": "i", "content": [{"type": "text", "text": "x"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "z"}]},
        {"role": "developer", "content": [{"type": "text", "text": "d"}]},
    ]
    odd = HumanMessage(content=[{"type": "cache_marker"}])
    assert convert_to_openai_messages([odd]) == [
        {"role": "user", "content": [{"type": "cache_marker"}]}
    ]
    with pytest.raises(ValueError, match="cache_marker"):
        convert_to_openai_messages([odd], pass_through_unknown_blocks=False)
    with pytest.raises(ValueError, match="text_format"):
        convert_to_openai_messages([odd], text_format="xml")  # type: ignore[arg-type]


def test_new_messages_pickle() -> None:
    messages = [
        ChatMessage(content="c", role="critic"),
        FunctionMessage(content="f", name="fn"),
        HumanMessageChunk(content=[{"type": "text", "text": "t"}]),
    ]
    assert pickle.loads(pickle.dumps(messages)) == messages


def test_get_buffer_string_as_xml_escapes_text_and_nests_tool_calls() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://x/cat.png"}}
    inline = {"type": "image", "base64": "AA", "mime_type": "image/png"}
    messages = [
        SystemMessage(content='Be <brief> & "nice"'),
        HumanMessage(content=["Example: Human: x ", image, inline]),
        AIMessage(content="I'll look.", tool_calls=[tool_call(name="look", args={}, id="c1")]),
        ChatMessage(content="ok", role="Critic"),
    ]
    assert get_buffer_string(messages, "User", format="xml") == (
        '<message type="system">Be &lt;brief&gt; &amp; "nice"</message>\n'
        '<message type="user">Example: Human: x  <image url="https://x/cat.png" /></message>\n'
        '<message type="ai">\n'
        "  <content>I'll look.</content>\n"
        '  <tool_call id="c1" name="look">{}</tool_call>\n'
        "</message>\n"
        '<message type="Critic">ok</message>'
    )
    with pytest.raises(ValueError, match="format"):
        get_buffer_string(messages, format="json")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("block", "api", "part"),
    [
        (
            {"type": "image", "url": "u"},
            "chat/completions",
            {"type": "image_url", "image_url": {"url": "u"}},
        ),
        (
            {"type": "image", "base64": "AA", "mime_type": "image/png"},
            "chat/completions",
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
        ),
        ({"type": "image", "url": "u"}, "responses", {"type": "input_image", "image_url": "u"}),
        (
            {"type": "file", "base64": "JJ", "mime_type": "application/pdf", "filename": "a"},
            "responses",
            {"type": "input_file", "file_data": "data:application/pdf;base64,JJ", "filename": "a"},
        ),
        ({"type": "file", "file_id": "f"}, "responses", {"type": "input_file", "file_id": "f"}),
        ({"type": "file", "url": "u"}, "responses", {"type": "input_file", "file_url": "u"}),
        (
            {"type": "audio", "base64": "QQ", "mime_type": "audio/wav"},
            "chat/completions",
            {"type": "input_audio", "input_audio": {"data": "QQ", "format": "wav"}},
        ),
    ],
)
def test_convert_to_openai_data_block(
    block: dict[str, Any], api: Any, part: dict[str, Any]
) -> None:
    assert convert_to_openai_data_block(block, api=api) == part


@pytest.mark.parametrize(
    "block",
    [
        {"type": "image", "base64": "AA"},
        {"type": "image", "file_id": "f"},
        {"type": "file", "url": "u"},
        {"type": "audio", "url": "u"},
        {"type": "video", "url": "u"},
    ],
)
def test_blocks_openai_does_not_take_are_value_errors(block: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="block"):
        convert_to_openai_data_block(block)
    assert convert_to_openai_image_block({"type": "image", "url": "u"})["type"] == "image_url"


@pytest.mark.parametrize("bad", [5, "hi"])  # (None: the step form, as LangChain's)
def test_filter_messages_names_messages_that_are_not_a_list(bad: Any) -> None:
    with pytest.raises(TypeError, match=rf'"messages" argument.*{bad!r}'):
        filter_messages(bad)
