"""The wire format (values as JSON and back, with the decoders `prompts` registers) and the
HTTP plumbing's edges, without a server."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import anyio
import pytest
from langchain_core.messages import AIMessageChunk as LangChainAIMessageChunk
from langchain_core.messages import HumanMessage as LangChainHumanMessage
from starlette.requests import Request

from prompts import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    ChatPromptValue,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    StringPromptValue,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
from runnables._serve_http import error_body, run_until_disconnect, sse_response
from runnables._serve_protocol import dump, error_event, load
from runnables.serve import HTTPError, register_wire_decoder, register_wire_encoder


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


def test_dump_makes_any_value_json_able() -> None:
    run_id = uuid.UUID(int=1)
    value = {
        "point": Point(1, 2),
        "id": run_id,
        "set": {3},
        "tuple": (1, "a"),
        "error": ValueError("bad"),
        "other": Opaque(),
        4: None,
    }
    assert dump(value) == {
        "point": {"x": 1, "y": 2},
        "id": str(run_id),
        "set": [3],
        "tuple": [1, "a"],
        "error": {"type": "ValueError", "message": "bad"},
        "other": "Opaque()",
        "4": None,
    }


def test_a_registered_encoder_and_decoder_round_trip_subclasses_too() -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    class Euros(Money):
        pass

    register_wire_encoder(Money, lambda m: {"type": "test.Money", "cents": m.cents})
    register_wire_decoder("test.Money", lambda d: Money(d["cents"]))
    dumped = dump([Euros(5)])
    assert dumped == [{"type": "test.Money", "cents": 5}]
    (back,) = load(dumped)
    assert isinstance(back, Money)
    assert back.cents == 5


def test_a_dict_its_decoder_refuses_stays_a_dict() -> None:
    assert load({"type": "ai", "content": 3}) == {"type": "ai", "content": 3}
    assert load({"type": "unknown", "a": [1]}) == {"type": "unknown", "a": [1]}
    bad_value = {"type": "ChatPromptValueConcrete", "messages": "no"}
    assert load(bad_value) == bad_value
    assert load({"type": "StringPromptValue", "text": 3}) == {
        "type": "StringPromptValue",
        "text": 3,
    }


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: register_wire_decoder(3, dict), '"tag"'),  # type: ignore[arg-type]
        (lambda: register_wire_decoder("x", 3), '"decode"'),  # type: ignore[arg-type]
        (lambda: register_wire_encoder(3, str), '"cls"'),  # type: ignore[arg-type]
        (lambda: register_wire_encoder(int, 3), '"encode"'),  # type: ignore[arg-type]
    ],
)
def test_bad_registrations_are_type_errors(call: Any, words: str) -> None:
    with pytest.raises(TypeError, match=words):
        call()


@pytest.mark.parametrize(
    "message",
    [
        AIMessage("a", id="1"),
        AIMessageChunk(content="a"),
        HumanMessage("h", name="n"),
        HumanMessageChunk(content="h"),
        SystemMessage("s"),
        SystemMessageChunk(content="s"),
        ChatMessage("c", role="critic"),
        ChatMessageChunk(content="c", role="critic"),
        FunctionMessage("f", name="fn"),
        FunctionMessageChunk(content="f", name="fn"),
        ToolMessage("t", tool_call_id="c1"),
        ToolMessageChunk(content="t", tool_call_id="c1"),
    ],
)
def test_every_message_class_round_trips(message: Any) -> None:
    back = load(dump(message))
    assert type(back) is type(message)
    assert back == message


def test_prompt_values_round_trip_in_langserves_shapes() -> None:
    chat = ChatPromptValue([SystemMessage("s"), HumanMessage("h")])
    assert dump(chat)["type"] == "ChatPromptValueConcrete"
    assert load(dump(chat)) == chat
    text = StringPromptValue("hi")
    assert dump(text) == {"text": "hi", "type": "StringPromptValue"}
    assert load(dump(text)) == text


def test_langchains_message_dumps_load_as_ours() -> None:
    chunk = load(LangChainAIMessageChunk(content="x", id="i").model_dump())
    assert type(chunk) is AIMessageChunk
    assert chunk.content == "x"
    assert load(LangChainHumanMessage("h").model_dump()) == HumanMessage("h")


def test_error_events_and_bodies() -> None:
    assert error_event(500, "m")["data"] == '{"status_code": 500, "message": "m"}'
    error = ValueError("bad")
    error.add_note("in step 2 of RunnableSequence")
    status, body = error_body(error)
    assert status == 500
    assert body["notes"] == ["in step 2 of RunnableSequence"]
    assert "traceback" not in body
    assert error_body(HTTPError(413, "big")) == (
        413,
        {"detail": "big", "type": "HTTPError", "status_code": 413},
    )


def test_sse_response_takes_a_ping_interval() -> None:
    async def events() -> Any:
        yield {"event": "end"}

    response = sse_response(events(), ping=5, headers={"x-a": "b"})
    assert response.ping_interval == 5
    assert response.headers["x-a"] == "b"


def quiet_request() -> Request:
    async def receive() -> Any:
        await anyio.sleep_forever()

    return Request({"type": "http", "method": "POST", "headers": []}, receive)


@pytest.mark.anyio
async def test_run_until_disconnect_returns_or_raises_the_works_outcome() -> None:
    async def work() -> int:
        return 3

    async def fail() -> int:
        raise KeyError("k")

    assert await run_until_disconnect(quiet_request(), work) == 3
    with pytest.raises(KeyError):
        await run_until_disconnect(quiet_request(), fail)


def test_a_config_that_is_not_an_object_is_refused() -> None:
    from runnables._serve_config import ConfigPolicy

    policy = ConfigPolicy(("tags",), None)
    assert policy.check(None, loc=["body", "config"]) == {}
    with pytest.raises(HTTPError) as info:
        policy.check([1], loc=["body", "config"])
    assert info.value.status_code == 422
    assert info.value.loc == ["body", "config"]
