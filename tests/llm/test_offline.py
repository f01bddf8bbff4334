"""OfflineChatModel: scripted and default replies, stop, usage, streaming, latency."""

from __future__ import annotations

import contextlib
import pickle
from typing import Any, Literal

import anyio
import pytest

from llm import OfflineChatModel, StrOutputParser
from prompts._messages import AIMessage, AIMessageChunk, BaseMessage, Usage

pytestmark = pytest.mark.anyio


async def test_scripted_replies_come_in_order_then_start_over() -> None:
    model = OfflineChatModel(responses=["one", "two"])
    replies = [(await model.ainvoke("x")).content for _ in range(5)]
    assert replies == ["one", "two", "one", "two", "one"]


async def test_a_batch_consumes_each_scripted_reply_once() -> None:
    model = OfflineChatModel(responses=["a", "b", "c"])
    out = await model.abatch(["x", "y", "z"])
    assert sorted(m.content for m in out if isinstance(m, AIMessage)) == ["a", "b", "c"]


async def test_default_reply_is_marked_and_echoes_the_last_human_message() -> None:
    model = OfflineChatModel()
    reply = await model.ainvoke([("human", "first"), ("ai", "ok"), ("human", "what is   AI?")])
    assert reply.content == "[offline model] reply to: what is AI?"
    assert reply.response_metadata == {"model": "offline", "finish_reason": "stop"}
    assert (await model.ainvoke("what is AI?")).content == reply.content  # deterministic


async def test_default_reply_shows_the_instruction_and_the_input() -> None:
    model = OfflineChatModel()
    messages: list[Any] = [
        ("system", "You are terse."),
        ("human", "first"),
        ("ai", "ok"),
        ("human", "what is   AI?"),
    ]
    reply = await model.ainvoke(messages)
    assert reply.content == "[offline model] You are terse. | what is AI?"
    assert (await model.ainvoke(messages)).content == reply.content  # deterministic
    other = await model.ainvoke([("system", "Summarize this:"), ("human", "what is AI?")])
    assert other.content == "[offline model] Summarize this: | what is AI?"


async def test_default_reply_shortens_each_instruction_line() -> None:
    system = (
        "Based on the following information:\n"
        "Summary: [offline model] one two three four five six seven eight nine ten eleven\n"
        "Key Terms: a, b\n"
        "Synthesize a comprehensive answer."
    )
    reply = await OfflineChatModel().ainvoke([("system", system), ("human", "Original topic: X")])
    assert reply.content == (
        "[offline model] Based on the following information: / "
        "Summary: one two three four five six seven eight nine ten eleven / Key Terms: a, b / "
        "Synthesize a comprehensive answer. | Original topic: X"
    )


async def test_default_reply_shortens_long_input() -> None:
    words = [f"w{i}" for i in range(100)]
    reply = await OfflineChatModel().ainvoke(" ".join(words))
    assert reply.content == "[offline model] reply to: " + " ".join(words[:24]) + " ..."


async def test_default_reply_without_human_text() -> None:
    reply = await OfflineChatModel().ainvoke([("system", "rules")])
    assert reply.content == "[offline model] rules | (no input)"
    assert (await OfflineChatModel().ainvoke([])).text.endswith("(empty input)")


async def test_usage_counts_words() -> None:
    reply = await OfflineChatModel(responses=["three word reply"]).ainvoke(
        [("system", "be nice"), ("human", "hello there friend")]
    )
    assert reply.usage == Usage(input_tokens=5, output_tokens=3, total_tokens=8)


async def test_stop_cuts_before_the_first_stop_sequence() -> None:
    model = OfflineChatModel(responses=["alpha beta END gamma STOP delta"])
    assert (await model.ainvoke("x", stop=["STOP", "END"])).content == "alpha beta "
    assert (await model.bind(stop="STOP").ainvoke("x")).content == "alpha beta END gamma "
    assert (await model.ainvoke("x", stop=["nothing"])).content == model.responses[0]  # type: ignore[index]


async def test_max_tokens_keeps_that_many_words() -> None:
    model = OfflineChatModel(responses=["one two three four"])
    reply = await model.ainvoke("x", max_tokens=2)
    assert reply.content == "one two"
    assert reply.response_metadata["finish_reason"] == "length"
    assert reply.usage is not None
    assert reply.usage.output_tokens == 2
    assert (await model.ainvoke("x", max_tokens=9)).response_metadata["finish_reason"] == "stop"
    with pytest.raises(ValueError, match="max_tokens"):
        await model.ainvoke("x", max_tokens=0)


async def test_other_options_are_accepted_and_ignored() -> None:
    reply = await OfflineChatModel(responses=["same"]).bind(temperature=0.1).ainvoke("x", seed=1)
    assert reply.content == "same"


async def test_streams_word_by_word_and_adds_up_to_invoke() -> None:
    model = OfflineChatModel(responses=["Hello there,  world"])
    chunks = [c async for c in model.astream([("human", "one two")])]
    assert [c.content for c in chunks] == ["Hello", " there,", "  world"]
    assert all(c.usage is None for c in chunks[:-1])
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.to_message() == await model.ainvoke([("human", "one two")])


async def test_streams_by_chunk_size() -> None:
    model = OfflineChatModel(responses=["abcdefg"], chunk_size=3)
    assert [c.content async for c in model.astream("x")] == ["abc", "def", "g"]


async def test_stream_of_an_empty_reply_is_one_chunk_with_usage() -> None:
    chunks = [c async for c in OfflineChatModel(responses=[""]).astream("a b")]
    assert chunks == [
        AIMessageChunk(
            content="",
            usage=Usage(input_tokens=2, output_tokens=0, total_tokens=2),
            response_metadata={"model": "offline", "finish_reason": "stop"},
        )
    ]


async def test_stream_honors_stop() -> None:
    model = OfflineChatModel(responses=["a b c d"])
    assert "".join([c.text async for c in model.astream("x", stop=[" c"])]) == "a b"


async def test_chain_with_str_parser_streams_text() -> None:
    chain = OfflineChatModel(responses=["x y z"]) | StrOutputParser()
    assert [c async for c in chain.astream("q")] == ["x", " y", " z"]
    assert await chain.ainvoke("q") == "x y z"


async def test_latency_is_an_async_sleep_that_lets_others_run_and_can_be_cancelled() -> None:
    model = OfflineChatModel(latency=3600)
    other_ran = anyio.Event()
    finished: list[AIMessage] = []

    async def call() -> None:
        finished.append(await model.ainvoke("x"))

    async def other() -> None:
        other_ran.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        tg.start_soon(other)
        await other_ran.wait()  # the model is waiting, not blocking the loop
        tg.cancel_scope.cancel()  # an hour-long latency ends at once when cancelled
    assert finished == []


async def test_calls_with_latency_overlap() -> None:
    # Each call records its start; all three start before any finishes an hour-long latency.
    started: list[str] = []
    all_started = anyio.Event()

    class Recording(OfflineChatModel):
        async def _agenerate(
            self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
        ) -> AIMessage:
            started.append(messages[-1].text)
            if len(started) == 3:
                all_started.set()
            return await super()._agenerate(messages, stop=stop, **options)

    async with anyio.create_task_group() as tg:
        tg.start_soon(Recording(latency=3600).abatch, ["a", "b", "c"])
        await all_started.wait()
        tg.cancel_scope.cancel()
    assert sorted(started) == ["a", "b", "c"]


async def test_chunk_delay_comes_between_chunks_and_an_early_exit_ends_the_stream() -> None:
    model = OfflineChatModel(responses=["a b c"], chunk_delay=3600)
    got: list[str] = []
    async with contextlib.aclosing(model.astream("x")) as stream:
        async for chunk in stream:
            got.append(chunk.text)  # the first chunk comes without delay
            break
    assert got == ["a"]


def test_sync_use_and_pickling() -> None:
    model = OfflineChatModel(responses=["r1", "r2"], latency=0.0, chunk_size=1)
    assert model.invoke("x").content == "r1"
    copy = pickle.loads(pickle.dumps(model))
    assert copy.invoke("x").content == "r2"  # the copy continues where the original was
    assert [c.content for c in model.stream("x")] == ["r", "2"]


def test_repr() -> None:
    assert repr(OfflineChatModel()) == "OfflineChatModel()"
    assert repr(OfflineChatModel(responses=["a"], latency=0.5)) == (
        "OfflineChatModel(responses=['a'], latency=0.5)"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"responses": "abc"}, TypeError, "responses"),
        ({"responses": ["ok", 3]}, TypeError, "responses"),
        ({"responses": []}, ValueError, "responses"),
        ({"latency": -1}, ValueError, "latency"),
        ({"latency": "1s"}, TypeError, "latency"),
        ({"chunk_delay": float("inf")}, ValueError, "chunk_delay"),
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": 2.0}, TypeError, "chunk_size"),
    ],
)
def test_bad_arguments_are_rejected(
    kwargs: dict[str, Any], error: type[Exception], name: str
) -> None:
    with pytest.raises(error, match=name):
        OfflineChatModel(**kwargs)


# -- tools and structured output ------------------------------------------------------------------


async def test_scripted_tool_calls_come_back_as_tool_calls() -> None:
    from llm import ToolExecutor, tool
    from prompts import ToolMessage, tool_call

    @tool
    def double(x: int) -> int:
        """Double x."""
        return 2 * x

    call = tool_call(name="double", args={"x": 21}, id="c1")
    model = OfflineChatModel(responses=[AIMessage(content="", tool_calls=[call]), "It is 42."])
    bound = model.bind_tools([double])
    first = await bound.ainvoke("double 21")
    assert first.tool_calls == [call]
    assert first.response_metadata["finish_reason"] == "tool_calls"
    results = await ToolExecutor([double]).ainvoke(first)
    assert results == [ToolMessage(content="42", tool_call_id="c1", name="double")]
    assert (await bound.ainvoke(["double 21", first, *results])).content == "It is 42."


async def test_streamed_scripted_tool_calls_add_up() -> None:
    from prompts import tool_call

    call = tool_call(name="f", args={"a": [1, 2]}, id="c1")
    model = OfflineChatModel(responses=[AIMessage(content="calling f", tool_calls=[call])])
    total: Any = None
    async for chunk in model.astream("x"):
        total = chunk if total is None else total + chunk
    assert total.to_message().tool_calls == [call]
    assert total.to_message().content == "calling f"


async def test_a_responder_function_sees_the_messages() -> None:
    from prompts import ToolMessage

    def respond(messages: list[BaseMessage]) -> str:
        results = [m.content for m in messages if isinstance(m, ToolMessage)]
        return f"results: {results}"

    model = OfflineChatModel(responses=respond)
    reply = await model.ainvoke(["q", ToolMessage(content="7", tool_call_id="c")])
    assert reply.content == "results: ['7']"
    with pytest.raises(TypeError, match="responses function returned 5"):
        await OfflineChatModel(responses=lambda m: 5).ainvoke("x")  # type: ignore[arg-type, return-value]


async def test_structured_output_offline_gives_a_value_of_the_schema() -> None:
    from pydantic import BaseModel

    class Point(BaseModel):
        label: str
        x: int
        tags: list[str]
        kind: Literal["a", "b"] = "b"

    for method in ("json_schema", "function_calling"):
        value = await OfflineChatModel().with_structured_output(Point, method=method).ainvoke("x")
        assert value == Point(label="[offline model] label", x=0, tags=[], kind="b")
    scripted = OfflineChatModel(responses=['{"label": "p", "x": 3, "tags": ["t"]}'])
    assert await scripted.with_structured_output(Point).ainvoke("x") == Point(
        label="p", x=3, tags=["t"]
    )
    schema = {"title": "Any", "type": "object", "properties": {}}
    json_mode = OfflineChatModel().with_structured_output(schema, method="json_mode")
    assert await json_mode.ainvoke("x") == {"reply": "[offline model]"}
    raw = await OfflineChatModel().with_structured_output(Point, include_raw=True).ainvoke("x")
    assert raw["parsing_error"] is None
    assert isinstance(raw["raw"], AIMessage)
