"""List content through ChatOpenAI: what the loopback server receives, and streamed replies."""

from __future__ import annotations

from typing import Any

import pytest

from llm import ChatOpenAI
from prompts import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    Usage,
    convert_to_messages,
    tool_call,
)
from tests.openai_server import OpenAIServer

sdk_stream_generators = pytest.mark.filterwarnings(
    r"ignore:Async generator '(openai|httpx2|httpcore2)\.:ResourceWarning"
)
PNG = "data:image/png;base64,iVBORw0KGgo="


def make_model(server: OpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(api_key="test-key", base_url=server.base_url, max_retries=0, model="m")


@pytest.mark.anyio
async def test_list_content_is_sent_as_openai_content_parts(openai_server: OpenAIServer) -> None:
    openai_server.reply("a cat")
    parts: list[str | dict[str, Any]] = [
        "Describe",
        {"type": "text", "text": " this:"},
        {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
        {"type": "image", "base64": "R0lGOD", "mime_type": "image/gif"},
        {"type": "image", "url": "https://example.com/cat.png"},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "audio", "base64": "SUQz", "mime_type": "audio/mp3"},
        {"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf", "filename": "a.pdf"},
        {"type": "file", "file_id": "file-1"},
        {"type": "image", "source_type": "base64", "data": "AAAA", "mime_type": "image/jpeg"},
    ]
    reply = await make_model(openai_server).ainvoke([HumanMessage(content=parts)])
    assert reply.content == "a cat"
    [sent] = openai_server.requests[0]["messages"]
    assert sent == {
        "role": "user",
        "content": [
            {"type": "text", "text": "Describe"},
            {"type": "text", "text": " this:"},
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGOD"}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "input_audio", "input_audio": {"data": "SUQz", "format": "mp3"}},
            {
                "type": "file",
                "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"},
            },
            {"type": "file", "file": {"file_id": "file-1"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
        ],
    }


@pytest.mark.anyio
async def test_history_with_list_content_and_every_role_is_sent_in_openai_form(
    openai_server: OpenAIServer,
) -> None:
    openai_server.reply("ok")
    history = [
        *convert_to_messages([("developer", "Be brief.")]),
        SystemMessage(content=[{"type": "text", "text": "Rules."}]),
        HumanMessage(content="hi"),
        AIMessage(
            content=[
                {"type": "reasoning", "reasoning": "think"},
                {"type": "text", "text": "Let me ", "index": 0},
                "look.",
            ],
            tool_calls=[tool_call(name="look", args={"q": "x"}, id="c1")],
        ),
        ToolMessage(content=[{"type": "text", "text": "seen"}], tool_call_id="c1"),
        AIMessage(content=[{"type": "reasoning", "reasoning": "only"}]),
        ChatMessage(content="Nice.", role="critic"),
        FunctionMessage(content="42", name="answer"),
    ]
    await make_model(openai_server).ainvoke(history)
    assert openai_server.requests[0]["messages"] == [
        {"role": "developer", "content": "Be brief."},
        {"role": "system", "content": [{"type": "text", "text": "Rules."}]},
        {"role": "user", "content": "hi"},
        {
            "role": "assistant",
            "content": "Let me look.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "look", "arguments": '{"q": "x"}'},
                }
            ],
        },
        {"role": "tool", "content": [{"type": "text", "text": "seen"}], "tool_call_id": "c1"},
        {"role": "assistant", "content": ""},
        {"role": "critic", "content": "Nice."},
        {"role": "function", "content": "42", "name": "answer"},
    ]


@pytest.mark.anyio
@sdk_stream_generators
async def test_a_streamed_reply_adds_up_to_the_whole_message(openai_server: OpenAIServer) -> None:
    openai_server.reply("one two three")
    total: AIMessageChunk | None = None
    async for chunk in make_model(openai_server).astream([HumanMessage(content=["count"])]):
        total = chunk if total is None else total + chunk
    assert total is not None
    whole = total.to_message()
    assert whole == AIMessage(
        content="one two three",
        id=whole.id,
        usage=Usage(input_tokens=1, output_tokens=3, total_tokens=4),
        response_metadata={"model": "m", "id": whole.id, "finish_reason": "stop"},
    )
    assert whole.id is not None
    sent = openai_server.requests[0]["messages"]
    assert sent == [{"role": "user", "content": [{"type": "text", "text": "count"}]}]


def test_a_data_block_without_its_mime_type_is_refused_before_sending() -> None:
    model = ChatOpenAI(api_key="test-key", base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(ValueError, match="mime_type"):
        model.invoke([HumanMessage(content=[{"type": "image", "base64": "AAAA"}])])
