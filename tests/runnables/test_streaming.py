"""Streaming through parallel, assign, pick, branch; chunks add up to invoke; run events."""

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from runnables import (
    Runnable,
    RunnableBranch,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
)
from runnables._chunks import add_chunks

pytestmark = pytest.mark.anyio


async def split_words(x: str) -> AsyncIterator[str]:
    for word in x.split():
        yield word + " "


# A generator function in `|` or a dict becomes a RunnableGenerator (it transforms a stream of
# input chunks); wrapped in RunnableLambda it takes the whole input and streams its output.
words = RunnableLambda(split_words, name="words")


async def total(chunks: list[Any]) -> Any:
    out: Any = None
    for i, chunk in enumerate(chunks):
        out = chunk if i == 0 else add_chunks(out, chunk)
    return out


async def test_parallel_streams_keyed_chunks_interleaved_in_arrival_order() -> None:
    turn = {"a": anyio.Event(), "b": anyio.Event()}

    async def a(x: str) -> AsyncIterator[str]:
        yield "a1"
        turn["b"].set()
        await turn["a"].wait()
        yield "a2"

    async def b(x: str) -> AsyncIterator[str]:
        await turn["b"].wait()
        yield "b1"
        turn["a"].set()

    chain = RunnableParallel(a=a, b=b)
    chunks = [c async for c in chain.astream("x")]
    assert chunks == [{"a": "a1"}, {"b": "b1"}, {"a": "a2"}]
    assert await total(chunks) == await chain.ainvoke("x") == {"a": "a1a2", "b": "b1"}


async def test_assign_streams_input_keys_first_then_new_keys() -> None:
    chain = RunnableLambda(lambda x: {"q": x}) | RunnablePassthrough.assign(
        a=RunnablePick("q") | words
    )
    chunks = [c async for c in chain.astream("one two")]
    assert chunks[0] == {"q": "one two"}
    assert chunks[1:] == [{"a": "one "}, {"a": "two "}]
    assert await total(chunks) == await chain.ainvoke("one two")


async def test_pick_streams_and_branch_streams_chosen_branch() -> None:
    parallel = RunnableParallel(a=words, b=lambda x: "B")
    picked = parallel | RunnablePick("a")
    assert [c async for c in picked.astream("x y")] == ["x ", "y "]
    branch = RunnableBranch((lambda x: x.startswith("s"), words), lambda x: "default")
    assert [c async for c in branch.astream("s t")] == ["s ", "t "]
    assert [c async for c in branch.astream("q")] == ["default"]


@pytest.mark.parametrize(
    "chain",
    [
        words,
        words | RunnablePassthrough(),
        RunnableParallel(a=words, b=words | (lambda s: s.upper())),
        RunnableLambda(lambda x: {"t": x}).assign(w=RunnablePick("t") | words),
    ],
)
async def test_chunks_add_up_to_invoke(chain: Any) -> None:
    chunks = [c async for c in chain.astream("alpha beta gamma")]
    assert await total(chunks) == await chain.ainvoke("alpha beta gamma")


async def test_error_mid_stream_reaches_consumer_with_its_type() -> None:
    async def broken(x: str) -> AsyncIterator[str]:
        yield "first"
        raise ConnectionResetError("dropped")

    seen: list[Any] = []
    with pytest.raises(ConnectionResetError, match="dropped"):
        async for chunk in RunnableParallel(a=broken, b=words).astream("x"):
            seen.append(chunk)
    assert {"a": "first"} in seen


async def test_breaking_out_of_a_stream_cancels_upstream() -> None:
    cancelled = anyio.Event()

    async def endless(x: str) -> AsyncIterator[int]:
        i = 0
        try:
            while True:
                yield i
                i += 1
                await anyio.lowlevel.checkpoint()
        finally:
            cancelled.set()

    stream = (RunnableLambda(endless) | RunnablePassthrough()).astream("x")
    async for chunk in stream:
        if chunk == 3:
            break
    await stream.aclose()
    assert cancelled.is_set()


async def test_events_cover_every_step_in_order() -> None:
    chain = (RunnableLambda(lambda x: x + "!", name="shout") | words).with_config(
        tags=["demo"], metadata={"user": "u"}
    )
    events = [e async for e in chain.astream_events("hi there", {"run_name": "root"})]
    summary = [(e["event"], e["name"]) for e in events]
    assert summary[0] == ("on_chain_start", "root")
    assert summary[-1] == ("on_chain_end", "root")
    assert ("on_chain_start", "shout") in summary
    assert summary.index(("on_chain_start", "shout")) < summary.index(("on_chain_end", "shout"))
    streamed = [
        e["data"]["chunk"]
        for e in events
        if e["event"] == "on_chain_stream" and e["name"] == "words"
    ]
    assert streamed == ["hi ", "there! "]
    root_id = events[0]["run_id"]
    assert events[0]["parent_ids"] == []
    children = {e["name"] for e in events if e["parent_ids"] == [root_id]}
    assert children == {"shout", "words"}
    assert all("demo" in e["tags"] and e["metadata"] == {"user": "u"} for e in events)
    step_tags = {e["name"]: e["tags"] for e in events}
    assert step_tags == {
        "root": ["demo"],
        "shout": ["seq:step:1", "demo"],
        "words": ["seq:step:2", "demo"],
    }
    assert events[-1]["data"]["output"] == "hi there! "


async def test_event_stream_raises_the_error_after_the_events_so_far() -> None:
    def boom(x: str) -> str:
        raise ValueError("bad")

    chain = RunnableLambda(lambda x: x, name="first") | boom
    events: list[dict[str, Any]] = []
    with pytest.raises(ValueError, match="bad"):
        async for event in chain.astream_events("x"):
            events.append(event)
    assert ("on_chain_end", "first") in [(e["event"], e["name"]) for e in events]
    assert ("on_chain_start", "boom") in [(e["event"], e["name"]) for e in events]
    assert not [e for e in events if "error" in e["event"]]  # v2 has no error events


def test_sync_stream_through_parallel() -> None:
    chunks = list(RunnableParallel(a=words).stream("p q"))
    assert chunks == [{"a": "p "}, {"a": "q "}]


async def test_closing_a_parallel_stream_early_cancels_every_branch() -> None:
    cancelled: list[str] = []

    def endless(key: str) -> RunnableLambda[Any, Any]:
        async def run(x: str) -> AsyncIterator[str]:
            try:
                while True:
                    yield key
                    await anyio.lowlevel.checkpoint()
            finally:
                cancelled.append(key)

        return RunnableLambda(run)

    stream = RunnableParallel(a=endless("a"), b=endless("b")).astream("x")
    async for _ in stream:
        break
    await stream.aclose()
    assert sorted(cancelled) == ["a", "b"]


def test_sync_transform_pulls_input_chunks_as_it_streams() -> None:
    pulled: list[str] = []

    def source() -> Iterator[str]:
        for word in ["a ", "b ", "c "]:
            pulled.append(word)
            yield word

    async def shout(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    out = RunnableGenerator(shout).transform(source())
    assert next(out) == "A "
    assert "c " not in pulled  # read chunk by chunk (the bridge runs at most one ahead)
    assert list(out) == ["B ", "C "]
    assert pulled == ["a ", "b ", "c "]


def test_a_runnable_without_a_core_says_so() -> None:
    class Unfinished(Runnable[int, int]):
        pass

    step = Unfinished()
    assert repr(step) == "Unfinished()"
    with pytest.raises(
        NotImplementedError,
        match="Unfinished does not implement _acall: a step overrides invoke, ainvoke, stream",
    ):
        step.invoke(1)
