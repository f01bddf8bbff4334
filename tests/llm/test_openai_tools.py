"""Tool calling and structured output through ChatOpenAI, against the loopback server.

The server records every request body, so each test checks what went over the wire (tools and
tool_choice in OpenAI's format, tool results sent back) as well as what came back.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from llm import ChatOpenAI, InjectedToolArg, OutputParserError, ToolExecutor, tool
from prompts import AIMessage, AIMessageChunk, ChatPromptTemplate, MessagesPlaceholder, tool_call
from tests.openai_server import OpenAIServer, Reply, ToolCallSpec

pytestmark = [
    pytest.mark.anyio,
    # The SDK leaves its SSE generators for the collector (see tests/llm/test_openai.py).
    pytest.mark.filterwarnings(
        r"ignore:Async generator '(openai|httpx2|httpcore2)\.:ResourceWarning"
    ),
]


def make_model(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("max_retries", 0)
    return ChatOpenAI(api_key="test-key", base_url=server.base_url, **kwargs)


@tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"Sunny in {city}"


@tool
async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


WEATHER_SPEC = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class Person(BaseModel):
    """A person."""

    name: str
    age: int


async def test_tools_and_tool_choice_arrive_in_openai_format(openai_server: OpenAIServer) -> None:
    model = make_model(openai_server)
    await model.bind_tools([get_weather]).ainvoke("weather?")
    await model.bind_tools([get_weather, add], tool_choice="get_weather").ainvoke("weather?")
    await model.bind_tools(
        [get_weather], tool_choice="required", parallel_tool_calls=False
    ).ainvoke("weather?")
    first, forced, required = openai_server.requests
    assert first["tools"] == [WEATHER_SPEC]
    assert "tool_choice" not in first  # none given, none sent
    assert "parallel_tool_calls" not in first
    assert [t["function"]["name"] for t in forced["tools"]] == ["get_weather", "add"]
    assert forced["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert (required["tool_choice"], required["parallel_tool_calls"]) == ("required", False)


async def test_argument_descriptions_and_no_injected_arguments_go_over_the_wire(
    openai_server: OpenAIServer,
) -> None:
    @tool
    def book(
        city: Annotated[str, "The city to book in"],
        nights: Annotated[int, Field(description="How many nights", ge=1)],
        guests: int = Field(default=1, description="How many guests"),
        user_id: Annotated[str, InjectedToolArg] = "",
    ) -> str:
        """Book a hotel."""
        return city

    await make_model(openai_server).bind_tools([book]).ainvoke("book")
    (request,) = openai_server.requests
    assert request["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "book",
                "description": "Book a hotel.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "description": "The city to book in"},
                        "nights": {
                            "type": "integer",
                            "description": "How many nights",
                            "minimum": 1,
                        },
                        "guests": {
                            "type": "integer",
                            "default": 1,
                            "description": "How many guests",
                        },
                    },
                    "required": ["city", "nights"],
                },
            },
        }
    ]


async def test_a_reply_with_tool_calls(openai_server: OpenAIServer) -> None:
    openai_server.queue(
        Reply(
            tool_calls=[
                ToolCallSpec("get_weather", {"city": "Oslo"}, id="call_a"),
                ToolCallSpec("add", {"a": 1, "b": 2}, id="call_b"),
            ]
        )
    )
    reply = await make_model(openai_server).bind_tools([get_weather, add]).ainvoke("x")
    assert reply.content == ""
    assert reply.tool_calls == [
        tool_call(name="get_weather", args={"city": "Oslo"}, id="call_a"),
        tool_call(name="add", args={"a": 1, "b": 2}, id="call_b"),
    ]
    assert reply.invalid_tool_calls == []
    assert reply.response_metadata["finish_reason"] == "tool_calls"


async def test_streamed_tool_call_deltas_add_up(openai_server: OpenAIServer) -> None:
    calls = [
        ToolCallSpec("get_weather", {"city": "Reykjavik"}, id="call_a", fragment=4),
        ToolCallSpec("add", {"a": 10, "b": 20}, id="call_b", fragment=3),
    ]
    openai_server.queue(Reply("Let me check.", tool_calls=calls))
    model = make_model(openai_server).bind_tools([get_weather, add])
    chunks: list[Any] = [chunk async for chunk in model.astream("x")]
    pieces = [c for chunk in chunks for c in chunk.tool_call_chunks]
    assert len(pieces) > 6  # the arguments really came in fragments
    assert {p["index"] for p in pieces} == {0, 1}
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert isinstance(total, AIMessageChunk)
    message = total.to_message()
    assert message.content == "Let me check."
    assert message.tool_calls == [
        tool_call(name="get_weather", args={"city": "Reykjavik"}, id="call_a"),
        tool_call(name="add", args={"a": 10, "b": 20}, id="call_b"),
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"
    # invoke and stream agree
    openai_server.queue(Reply("Let me check.", tool_calls=calls))
    assert (await model.ainvoke("x")).tool_calls == message.tool_calls


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_invalid_json_arguments_land_in_invalid_tool_calls(
    openai_server: OpenAIServer, stream: bool
) -> None:
    calls = [
        ToolCallSpec("get_weather", '{"city": "Oslo"', id="bad"),  # cut short
        ToolCallSpec("add", {"a": 1, "b": 2}, id="good"),
    ]
    openai_server.queue(Reply(tool_calls=calls))
    model = make_model(openai_server).bind_tools([get_weather, add])
    if stream:
        total: Any = None
        async for chunk in model.astream("x"):
            total = chunk if total is None else total + chunk
        message = total.to_message()
    else:
        message = await model.ainvoke("x")
    assert message.tool_calls == [tool_call(name="add", args={"a": 1, "b": 2}, id="good")]
    [bad] = message.invalid_tool_calls
    assert (bad["name"], bad["args"], bad["id"]) == ("get_weather", '{"city": "Oslo"', "bad")
    assert bad["error"] is not None
    assert bad["error"].startswith("arguments are not valid JSON")


async def test_round_trip_model_tool_model(openai_server: OpenAIServer) -> None:
    openai_server.queue(
        Reply(
            tool_calls=[
                ToolCallSpec("get_weather", {"city": "Oslo"}, id="call_1"),
                ToolCallSpec("add", {"a": 2, "b": 3}, id="call_2"),
            ]
        ),
        Reply("Sunny in Oslo, and 5."),
    )
    model = make_model(openai_server).bind_tools([get_weather, add])
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Use tools."),
            ("human", "{question}"),
            MessagesPlaceholder("steps", optional=True),
        ]
    )
    question = "Weather in Oslo, and 2+3?"
    first = await (prompt | model).ainvoke({"question": question})
    results = await ToolExecutor([get_weather, add]).ainvoke(first)
    final = await (prompt | model).ainvoke({"question": question, "steps": [first, *results]})
    assert final.content == "Sunny in Oslo, and 5."

    second = openai_server.requests[1]
    assert second["messages"] == [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                },
            ],
        },
        {"role": "tool", "content": "Sunny in Oslo", "tool_call_id": "call_1"},
        {"role": "tool", "content": "5", "tool_call_id": "call_2"},
    ]


async def test_invalid_calls_are_sent_back_as_the_model_wrote_them(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(Reply(tool_calls=[ToolCallSpec("add", '{"a": 1,', id="bad")]), Reply("ok"))
    model = make_model(openai_server).bind_tools([add])
    first = await model.ainvoke("x")
    errors = await ToolExecutor([add], handle_errors=True).ainvoke(first)
    await model.ainvoke(["x", first, *errors])
    sent = openai_server.requests[1]["messages"]
    assert sent[1]["tool_calls"][0]["function"] == {"name": "add", "arguments": '{"a": 1,'}
    assert sent[2]["role"] == "tool"
    assert sent[2]["tool_call_id"] == "bad"
    assert sent[2]["content"].startswith("Error: ToolCallError: Invalid arguments for tool 'add'")


# -- structured output ------------------------------------------------------------------------


async def test_structured_output_by_function_calling(openai_server: OpenAIServer) -> None:
    openai_server.queue(Reply(tool_calls=[ToolCallSpec("Person", {"name": "Ada", "age": 36})]))
    structured = make_model(openai_server).with_structured_output(Person, method="function_calling")
    assert await structured.ainvoke("who?") == Person(name="Ada", age=36)
    body = openai_server.requests[0]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "Person"}}
    assert body["tools"][0]["function"]["name"] == "Person"
    assert body["tools"][0]["function"]["description"] == "A person."
    assert "response_format" not in body


async def test_structured_output_json_mode_and_typed_dict(openai_server: OpenAIServer) -> None:
    class Movie(TypedDict):
        title: str
        year: int

    openai_server.reply('```json\n{"title": "Alien", "year": "1979"}\n```')
    structured = make_model(openai_server).with_structured_output(Movie, method="json_mode")
    assert await structured.ainvoke("a film") == {"title": "Alien", "year": 1979}
    assert openai_server.requests[0]["response_format"] == {"type": "json_object"}


async def test_structured_output_from_a_json_schema_dict(openai_server: OpenAIServer) -> None:
    schema = {
        "title": "verdict",
        "type": "object",
        "properties": {"ok": {"type": "boolean"}},
        "required": ["ok"],
    }
    openai_server.reply('{"ok": true, "extra": 1}')
    assert await make_model(openai_server).with_structured_output(schema).ainvoke("x") == {
        "ok": True,
        "extra": 1,
    }
    sent = openai_server.requests[0]["response_format"]["json_schema"]
    assert sent["name"] == "verdict"
    assert sent["schema"]["properties"] == {"ok": {"type": "boolean"}}


async def test_include_raw_returns_the_message_and_the_error(openai_server: OpenAIServer) -> None:
    openai_server.reply('{"name": "Ada", "age": 36}')
    openai_server.reply('{"name": "Ada"}')
    structured = make_model(openai_server).with_structured_output(Person, include_raw=True)
    good = await structured.ainvoke("x")
    assert good["parsed"] == Person(name="Ada", age=36)
    assert good["parsing_error"] is None
    assert isinstance(good["raw"], AIMessage)
    assert good["raw"].content == '{"name": "Ada", "age": 36}'
    bad = await structured.ainvoke("x")
    assert bad["parsed"] is None
    assert isinstance(bad["parsing_error"], OutputParserError)
    assert bad["parsing_error"].text == '{"name": "Ada"}'


async def test_function_calling_without_the_call_is_a_parser_error(
    openai_server: OpenAIServer,
) -> None:
    openai_server.reply("I'd rather not.")
    structured = make_model(openai_server).with_structured_output(Person, method="function_calling")
    with pytest.raises(OutputParserError, match="did not call Person") as info:
        await structured.ainvoke("x")
    assert info.value.text == "I'd rather not."


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
async def test_structured_output_streams_partial_objects(
    openai_server: OpenAIServer, method: Literal["json_schema", "function_calling"]
) -> None:
    value = {"name": "Ada Lovelace", "age": 36}
    text = json.dumps(value)
    if method == "json_schema":
        openai_server.queue(Reply(chunks=[text[i : i + 5] for i in range(0, len(text), 5)]))
    else:
        openai_server.queue(Reply(tool_calls=[ToolCallSpec("Person", value, fragment=5)]))
    structured = make_model(openai_server).with_structured_output(
        Person.model_json_schema() | {"title": "Person"},
        method=method,
    )
    seen = [partial async for partial in structured.astream("x")]
    assert seen[-1] == value
    assert {"name": "Ada Lovelace"} in seen  # a partial object, before "age" arrived
    assert all(isinstance(s, dict) and set(s) <= {"name", "age"} for s in seen)
    assert len(seen) == len({json.dumps(s) for s in seen})  # each one new


async def test_structured_output_streams_model_instances_once_they_validate(
    openai_server: OpenAIServer,
) -> None:
    text = '{"name": "Ada", "age": 36}'
    openai_server.queue(Reply(chunks=[text[i : i + 4] for i in range(0, len(text), 4)]))
    structured = make_model(openai_server).with_structured_output(Person)
    seen = [partial async for partial in structured.astream("x")]
    assert seen == [Person(name="Ada", age=36)]


def test_bad_structured_output_arguments_fail_at_build_time() -> None:
    model = ChatOpenAI()
    with pytest.raises(TypeError, match='"schema" argument: 5'):
        model.with_structured_output(5)  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"\"schema\" argument: .*a JSON schema with a 'title'"):
        model.with_structured_output({"type": "object", "properties": {}})
    with pytest.raises(ValueError, match="\"method\" argument: 'xml'"):
        model.with_structured_output(Person, method="xml")  # type: ignore[call-overload]
    with pytest.raises(TypeError, match='"include_raw" argument'):
        model.with_structured_output(Person, include_raw="yes")  # type: ignore[call-overload]


def test_bad_bind_tools_arguments_fail_at_build_time() -> None:
    model = ChatOpenAI()
    with pytest.raises(TypeError, match='"tools" argument'):
        model.bind_tools(get_weather)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='"tools" argument: \\[\\]'):
        model.bind_tools([])
    with pytest.raises(TypeError, match=r'"tools\[1\]" argument: Invalid tool 3'):
        model.bind_tools([get_weather, 3])
    with pytest.raises(ValueError, match=r"\"tool_choice\" argument: 'search'.*'get_weather'"):
        model.bind_tools([get_weather], tool_choice="search")
    with pytest.raises(ValueError, match="True needs exactly one tool"):
        model.bind_tools([get_weather, add], tool_choice=True)
    with pytest.raises(TypeError, match='"parallel_tool_calls" argument'):
        model.bind_tools([get_weather], parallel_tool_calls="no")  # type: ignore[arg-type]
    assert model.bind_tools([get_weather], tool_choice="any").kwargs["tool_choice"] == "required"
    assert model.bind_tools([get_weather], tool_choice=True).kwargs["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="pydantic reads typing.TypedDict on 3.12+")
def test_a_typing_typed_dict_before_312_is_a_clear_build_time_error() -> None:
    import typing

    class Movie(typing.TypedDict):
        title: str

    with pytest.raises(TypeError, match=r'"schema" argument.*typing_extensions\.TypedDict'):
        ChatOpenAI().with_structured_output(Movie)
