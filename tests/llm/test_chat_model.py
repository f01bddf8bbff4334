"""BaseChatModel: input coercion, call options, the concurrency slot, default streaming."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from llm import BaseChatModel, OfflineChatModel
from llm._chat_model import coerce_messages
from prompts import ChatPromptTemplate
from prompts._messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from runnables import RunnableParallel

pytestmark = pytest.mark.anyio


class Recorder(BaseChatModel):
    """Implements only `_agenerate`, and records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[BaseMessage], list[str] | None, dict[str, Any]]] = []

    async def _agenerate(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AIMessage:
        self.calls.append((messages, stop, options))
        return AIMessage(content=f"{len(messages)} messages", response_metadata={"n": 1})


class FakePromptValue:
    """Duck-typed prompt value: anything with `to_messages()` is accepted."""

    def to_messages(self) -> list[BaseMessage]:
        return [SystemMessage(content="sys"), HumanMessage(content="hi")]


def test_string_becomes_one_human_message() -> None:
    assert coerce_messages("hello") == [HumanMessage(content="hello")]


def test_messages_and_role_pairs_are_accepted() -> None:
    ai = AIMessage(content="earlier")
    out = coerce_messages([("system", "s"), ("user", "u"), ai, ("assistant", "a"), "h"])
    assert [type(m).__name__ for m in out] == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "AIMessage",
        "HumanMessage",
    ]
    assert [m.content for m in out] == ["s", "u", "earlier", "a", "h"]
    assert out[2] is ai


def test_prompt_value_is_turned_into_its_messages() -> None:
    assert coerce_messages(FakePromptValue()) == FakePromptValue().to_messages()


@pytest.mark.parametrize("bad", [42, None, {"role": "user"}, b"bytes"])
def test_other_inputs_are_a_type_error_naming_them(bad: object) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__):
        coerce_messages(bad)


@pytest.mark.parametrize("item", [42, ("user",), ("user", 1), ("user", "a", "b")])
def test_bad_list_items_are_a_type_error(item: object) -> None:
    with pytest.raises(TypeError, match="Invalid message"):
        coerce_messages([item])


def test_role_dicts_and_content_parts_are_read_as_convert_to_messages_reads_them() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    out = coerce_messages(
        [
            {"role": "system", "content": "Describe images."},
            ("user", parts),
            ["assistant", "A tiny PNG."],  # a list pair, as LangChain accepts it
            {"role": "user", "content": parts, "name": "ana"},
        ]
    )
    assert [type(m).__name__ for m in out] == [
        "SystemMessage",
        "HumanMessage",
        "AIMessage",
        "HumanMessage",
    ]
    assert out[1].content == parts
    assert out[1].text == "What is this?"
    assert out[3].name == "ana"
    assert out[3].content == parts


async def test_a_model_receives_role_dicts_with_content_parts() -> None:
    model = OfflineChatModel()
    parts = [
        {"type": "text", "text": "hi"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    reply = await model.ainvoke([{"role": "user", "content": parts}])
    assert reply.content == "[offline model] reply to: hi [image: image/png, 8 bytes]"


def test_unknown_role_is_a_value_error_listing_known_roles() -> None:
    with pytest.raises(ValueError, match=r"'robot'.*assistant"):
        coerce_messages([("robot", "beep")])


def test_prompt_value_returning_junk_is_a_type_error() -> None:
    class Junk:
        def to_messages(self) -> str:
            return "nope"

    with pytest.raises(TypeError, match="to_messages"):
        coerce_messages(Junk())


async def test_stop_and_options_reach_the_model() -> None:
    model = Recorder()
    await model.bind(stop="END", max_tokens=3).ainvoke("x", temperature=0)
    messages, stop, options = model.calls[0]
    assert messages == [HumanMessage(content="x")]
    assert stop == ["END"]
    assert options == {"max_tokens": 3, "temperature": 0}


async def test_bad_stop_is_a_type_error() -> None:
    with pytest.raises(TypeError, match='"stop"'):
        await Recorder().ainvoke("x", stop=["ok", 3])


async def test_default_stream_is_one_chunk_of_the_reply() -> None:
    chunks = [c async for c in Recorder().astream([("system", "s"), ("user", "u")])]
    assert chunks == [AIMessageChunk(content="2 messages", response_metadata={"n": 1})]


def test_sync_invoke_batch_and_stream_come_for_free() -> None:
    model = Recorder()
    assert model.invoke("x").content == "1 messages"
    assert [m.content for m in model.batch(["a", ["b", "c"]])] == ["1 messages", "2 messages"]
    assert [c.content for c in model.stream("x")] == ["1 messages"]


async def test_a_model_without_agenerate_says_so() -> None:
    class Nothing(BaseChatModel):
        pass

    with pytest.raises(NotImplementedError, match="Nothing"):
        await Nothing().ainvoke("x")


async def test_models_hold_a_slot_of_max_concurrency() -> None:
    release = anyio.Event()
    active = 0
    peak = 0

    class Blocking(BaseChatModel):
        async def _agenerate(
            self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
        ) -> AIMessage:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1
            return AIMessage(content="done")

    results: list[Any] = []

    async def run() -> None:
        results.extend(await Blocking().abatch(["a"] * 5, {"max_concurrency": 2}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        while active < 2:
            await anyio.lowlevel.checkpoint()
        for _ in range(20):  # give a third call every chance to start, if the limit leaked
            await anyio.lowlevel.checkpoint()
        assert active == 2
        release.set()
    assert peak == 2
    assert len(results) == 5


async def test_a_stream_holds_its_slot_until_it_ends() -> None:
    release = anyio.Event()
    active = 0
    peak = 0

    class Streaming(BaseChatModel):
        async def _astream_chunks(
            self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
        ) -> AsyncIterator[AIMessageChunk]:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            try:
                yield AIMessageChunk(content="first")
                await release.wait()
                yield AIMessageChunk(content=" last")
            finally:
                active -= 1

    both = RunnableParallel(a=Streaming(), b=Streaming())
    seen: list[dict[str, Any]] = []
    async with contextlib.aclosing(both.astream("x", {"max_concurrency": 1})) as stream:
        async for chunk in stream:
            seen.append(chunk)
            for _ in range(20):  # give the other branch every chance to start, if it could
                await anyio.lowlevel.checkpoint()
            release.set()
    assert peak == 1
    assert len(seen) == 4


def test_model_class_in_a_chain_is_rejected_when_the_chain_is_built() -> None:
    prompt = ChatPromptTemplate.from_template("Tell me about {topic}")

    with pytest.raises(TypeError, match=r"e\.g\. OfflineChatModel\(\)$") as info:
        prompt | OfflineChatModel

    assert repr(OfflineChatModel) in str(info.value)


async def test_a_stream_of_bad_input_fails_when_read_not_when_made() -> None:
    stream = OfflineChatModel().astream(42)  # type: ignore[arg-type]

    with pytest.raises(TypeError, match="Invalid chat model input"):
        async with contextlib.aclosing(stream) as chunks:
            async for _ in chunks:
                pass


def test_token_estimate_counts_the_text_of_list_content() -> None:
    from llm._chat_model import estimate_tokens

    parts: list[str | dict[str, Any]] = [
        {"type": "text", "text": "x" * 40},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
    ]
    assert estimate_tokens([HumanMessage(content=parts)], {}) == 11
    assert estimate_tokens([HumanMessage(content="x" * 40)], {"max_tokens": 5}) == 16
