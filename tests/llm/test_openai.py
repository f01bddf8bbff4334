"""ChatOpenAI through the real openai SDK against the loopback Chat Completions server."""

from __future__ import annotations

import asyncio
import contextlib
import pickle
from typing import Any

import anyio
import openai
import pytest
import trio
from pydantic import BaseModel

from llm import ChatOpenAI, MissingAPIKeyError, OutputParserError, StrOutputParser
from prompts._messages import AIMessage, AIMessageChunk, SystemMessage, Usage
from tests.openai_server import OpenAIServer

# The SDK breaks out of its SSE generators on "[DONE]" (or on close) without closing them; trio
# warns about each one that is garbage collected while the run is still going (whether that
# happens depends on the collector's timing). Only the SDK's generators are ignored: an unclosed
# generator of ours still fails the test.
sdk_stream_generators = pytest.mark.filterwarnings(
    r"ignore:Async generator '(openai|httpx2|httpcore2)\.:ResourceWarning"
)


def make_model(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    kwargs.setdefault("max_retries", 0)
    return ChatOpenAI(api_key="test-key", base_url=server.base_url, **kwargs)


class Person(BaseModel):
    name: str
    age: int


# -- requests and replies ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_invoke_sends_model_roles_and_temperature(openai_server: OpenAIServer) -> None:
    openai_server.reply("Hi Ada")
    model = make_model(openai_server, model="gpt-test", temperature=0.3)
    reply = await model.ainvoke(
        [SystemMessage(content="Be brief."), ("human", "hello"), ("ai", "hi"), ("user", "again")]
    )
    assert openai_server.requests == [
        {
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"},
                {"role": "user", "content": "again"},
            ],
            "temperature": 0.3,
        }
    ]
    assert isinstance(reply, AIMessage)
    assert reply.content == "Hi Ada"
    assert reply.usage == Usage(input_tokens=5, output_tokens=2, total_tokens=7)
    assert reply.response_metadata == {
        "model": "gpt-test",
        "finish_reason": "stop",
        "id": reply.id,
    }
    assert reply.id is not None
    assert reply.id.startswith("chatcmpl-")


@pytest.mark.anyio
async def test_bound_and_call_options_reach_the_request(openai_server: OpenAIServer) -> None:
    model = make_model(openai_server, temperature=0.3, max_tokens=50, seed=7)
    bound = model.bind(stop=["END"], max_tokens=5)
    await bound.ainvoke("one")
    await bound.ainvoke("two", temperature=1.5, stop="STOP")
    first, second = openai_server.requests
    assert (first["stop"], first["max_tokens"], first["temperature"], first["seed"]) == (
        ["END"],
        5,
        0.3,
        7,
    )
    assert (second["stop"], second["temperature"]) == (["STOP"], 1.5)


@pytest.mark.anyio
async def test_a_chain_gets_the_reply_text(openai_server: OpenAIServer) -> None:
    chain = make_model(openai_server) | StrOutputParser()
    assert await chain.ainvoke("ping") == "echo: ping"


@pytest.mark.anyio
async def test_bad_call_option_is_rejected_before_any_request(
    openai_server: OpenAIServer,
) -> None:
    model = make_model(openai_server)
    with pytest.raises(ValueError, match="temperature"):
        await model.ainvoke("x", temperature=5)
    with pytest.raises(TypeError, match="stop"):
        await model.ainvoke("x", stop=3)
    assert openai_server.requests == []


@pytest.mark.anyio
async def test_requests_of_a_batch_overlap(openai_server: OpenAIServer) -> None:
    hold = openai_server.hold_requests(3)
    model = make_model(openai_server)
    results: list[Any] = []

    async def run() -> None:
        results.extend(await model.abatch(["a", "b", "c"]))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await hold.wait_arrived_async()  # all three in flight at once, on one shared client
        hold.release()
    assert [r.content for r in results] == ["echo: a", "echo: b", "echo: c"]


# -- streaming --------------------------------------------------------------------------------


@pytest.mark.anyio
@sdk_stream_generators
async def test_stream_yields_chunks_then_usage(openai_server: OpenAIServer) -> None:
    openai_server.reply("one two three")
    model = make_model(openai_server, model="gpt-test")
    chunks = [c async for c in model.astream("count")]
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks] == ["one", " two", " three", "", ""]
    assert chunks[-2].response_metadata["finish_reason"] == "stop"
    assert chunks[-1].usage == Usage(input_tokens=1, output_tokens=3, total_tokens=4)
    request = openai_server.requests[0]
    assert request["stream"] is True
    assert request["stream_options"] == {"include_usage": True}


@pytest.mark.anyio
@sdk_stream_generators
async def test_streamed_chunks_add_up_to_the_invoke_reply(openai_server: OpenAIServer) -> None:
    model = make_model(openai_server)
    invoked = await model.ainvoke("same words here")
    total = None
    async for chunk in model.astream("same words here"):
        total = chunk if total is None else total + chunk
    assert total is not None
    streamed = total.to_message()
    assert (streamed.content, streamed.usage) == (invoked.content, invoked.usage)
    assert streamed.response_metadata["finish_reason"] == "stop"


@pytest.mark.anyio
@sdk_stream_generators
async def test_chain_streams_text_per_chunk(openai_server: OpenAIServer) -> None:
    openai_server.reply("a b c")
    chain = make_model(openai_server) | StrOutputParser()
    assert [c async for c in chain.astream("x")] == ["a", " b", " c", "", ""]


@pytest.mark.anyio
@sdk_stream_generators
async def test_early_break_closes_the_http_response(openai_server: OpenAIServer) -> None:
    gate = openai_server.gate()
    openai_server.reply("a b c d", gate=gate, pause_after=2)  # server waits after "a b"
    model = make_model(openai_server)
    async with contextlib.aclosing(model.astream("x")) as stream:
        async for chunk in stream:
            assert chunk.content == "a"
            break
    await openai_server.wait_for_disconnects_async(1)
    assert not gate.released  # the server did not finish: the client went away
    assert openai_server.disconnects == 1


# -- cancellation, errors, retries -----------------------------------------------------------


@pytest.mark.anyio
async def test_cancelling_a_call_closes_its_connection(openai_server: OpenAIServer) -> None:
    gate = openai_server.gate()
    openai_server.reply("late", gate=gate)
    model = make_model(openai_server)
    replies: list[AIMessage] = []

    async def call() -> None:
        replies.append(await model.ainvoke("x"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await gate.wait_arrived_async()
        tg.cancel_scope.cancel()
    await openai_server.wait_for_disconnects_async(1)
    assert replies == []  # the call ended by cancellation, not with the late reply
    assert not gate.released  # the server was still holding the reply when the client left
    assert openai_server.disconnects == 1
    assert len(openai_server.requests) == 1


@pytest.mark.anyio
async def test_missing_api_key_is_a_clear_error_at_call_time(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = ChatOpenAI(base_url=openai_server.base_url)  # building it is fine
    with pytest.raises(MissingAPIKeyError) as info:
        await model.ainvoke("x")
    assert isinstance(info.value, ValueError)
    assert "api_key=" in str(info.value)
    assert "OPENAI_API_KEY" in str(info.value)
    assert openai_server.requests == []


@pytest.mark.anyio
async def test_key_and_base_url_come_from_the_environment(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    reply = await ChatOpenAI(max_retries=0).ainvoke("hi")
    assert reply.content == "echo: hi"
    assert openai_server.records[0].headers["authorization"] == "Bearer env-key"


# -- structured output ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_structured_output_returns_a_validated_instance(
    openai_server: OpenAIServer,
) -> None:
    openai_server.reply('{"name": "Ada", "age": 36}')
    structured = make_model(openai_server).with_structured_output(Person)
    assert await structured.ainvoke("who?") == Person(name="Ada", age=36)
    assert openai_server.requests[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": Person.model_json_schema(), "strict": False},
    }


@pytest.mark.anyio
async def test_structured_output_strict_forbids_extra_properties(
    openai_server: OpenAIServer,
) -> None:
    openai_server.reply('{"name": "Ada", "age": 36}')
    await make_model(openai_server).with_structured_output(Person, strict=True).ainvoke("x")
    sent = openai_server.requests[0]["response_format"]["json_schema"]
    assert sent["strict"] is True
    assert sent["schema"]["additionalProperties"] is False


@pytest.mark.anyio
async def test_structured_output_that_does_not_validate_carries_the_raw_text(
    openai_server: OpenAIServer,
) -> None:
    openai_server.reply('{"name": "Ada"}')
    structured = make_model(openai_server).with_structured_output(Person)
    with pytest.raises(OutputParserError, match="Person") as info:
        await structured.ainvoke("who?")
    assert info.value.text == '{"name": "Ada"}'


def test_structured_output_rejects_a_non_model() -> None:
    with pytest.raises(TypeError, match="schema"):
        ChatOpenAI().with_structured_output(dict)


# -- one instance, many event loops ------------------------------------------------------------


@sdk_stream_generators
def test_one_instance_across_asyncio_runs_sync_invoke_and_trio(
    openai_server: OpenAIServer,
) -> None:
    model = make_model(openai_server)

    async def both() -> str:
        reply = await model.ainvoke("a")
        chunks = [c.text async for c in model.astream("b")]
        return reply.text + "|" + "".join(chunks)

    async def sync_inside_a_running_loop() -> str:
        return model.invoke("e").text  # the bridge runs it on a helper thread's loop

    assert asyncio.run(both()) == "echo: a|echo: b"
    assert asyncio.run(both()) == "echo: a|echo: b"
    assert model.invoke("c").content == "echo: c"
    assert "".join(c.text for c in model.stream("d")) == "echo: d"
    assert trio.run(both) == "echo: a|echo: b"
    assert asyncio.run(sync_inside_a_running_loop()) == "echo: e"
    assert model.invoke("f").content == "echo: f"


def test_clients_are_closed_when_their_loop_ends(openai_server: OpenAIServer) -> None:
    from llm._openai_clients import openai_client

    model = make_model(openai_server)
    seen: list[openai.AsyncOpenAI] = []

    async def use() -> None:
        await model.ainvoke("x")
        async with openai_client(model._settings()) as client:
            seen.append(client)

    asyncio.run(use())
    trio.run(use)
    asyncio.run(use())
    assert len({id(c) for c in seen}) == 3  # a client per loop, never reused across loops
    assert all(client.is_closed() for client in seen)


@pytest.mark.anyio
async def test_models_with_the_same_settings_share_a_client(openai_server: OpenAIServer) -> None:
    from llm._openai_clients import openai_client

    cold = make_model(openai_server, temperature=0.0)
    warm = make_model(openai_server, temperature=1.0)
    async with openai_client(cold._settings()) as a, openai_client(warm._settings()) as b:
        assert a is b
    other = make_model(openai_server, max_retries=1)
    async with openai_client(cold._settings()) as a, openai_client(other._settings()) as c:
        assert a is not c


@pytest.mark.anyio
async def test_model_pickles_before_and_after_use(openai_server: OpenAIServer) -> None:
    model = make_model(openai_server, temperature=0.2, seed=3)
    copy = pickle.loads(pickle.dumps(model))
    await model.ainvoke("warm up")  # a cached client exists now; it is not part of the model
    again = pickle.loads(pickle.dumps(model))
    for m in (copy, again):
        assert (await m.ainvoke("hi")).content == "echo: hi"
    assert openai_server.requests[-1]["seed"] == 3


@pytest.mark.anyio
async def test_model_kwargs_dict_in_langchains_form_reaches_the_server(
    openai_server: OpenAIServer,
) -> None:
    model = make_model(openai_server, model_kwargs={"top_p": 0.25, "seed": 1}, seed=9)
    assert (await model.ainvoke("hi")).content == "echo: hi"
    body = openai_server.requests[-1]
    assert (body["top_p"], body["seed"]) == (0.25, 9)  # a keyword given directly wins


def test_model_kwargs_that_is_not_a_dict_is_named() -> None:
    with pytest.raises(TypeError, match=r'Invalid "model_kwargs" argument: \[1\]'):
        ChatOpenAI(model="m", api_key="k", model_kwargs=[1])


# -- construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"temperature": "hot"}, TypeError, "temperature"),
        ({"temperature": 2.5}, ValueError, "temperature"),
        ({"temperature": -0.1}, ValueError, "temperature"),
        ({"temperature": True}, TypeError, "temperature"),
        ({"max_tokens": 0}, ValueError, "max_tokens"),
        ({"max_tokens": 1.5}, TypeError, "max_tokens"),
        ({"max_retries": -1}, ValueError, "max_retries"),
        ({"timeout": 0}, ValueError, "timeout"),
        ({"timeout": float("nan")}, ValueError, "timeout"),
        ({"model": ""}, ValueError, "model"),
        ({"model": 4}, TypeError, "model"),
        ({"base_url": 1}, TypeError, "base_url"),
        ({"api_key": ""}, ValueError, "api_key"),
        ({"messages": []}, ValueError, "messages"),
        ({"stream": True}, ValueError, "stream"),
        ({"top_q": 1}, TypeError, "top_q"),
    ],
)
def test_bad_arguments_are_rejected_at_construction(
    kwargs: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name) as info:
        ChatOpenAI(**kwargs)
    if name not in {"messages", "stream", "top_q"}:  # model_kwargs errors name the key only
        assert repr(kwargs[name]) in str(info.value)


def test_repr_shows_settings_but_never_the_key() -> None:
    model = ChatOpenAI(model="m", temperature=0.5, api_key="sk-secret", top_p=0.9)
    assert repr(model) == "ChatOpenAI(model='m', temperature=0.5, top_p=0.9)"
    assert "sk-secret" not in repr(model)
