"""RunnableSequence: order, error notes, streaming through steps."""

import contextlib
from collections.abc import AsyncIterator

import pytest

from runnables import RunnableLambda, RunnablePassthrough, RunnableSequence

pytestmark = pytest.mark.anyio


async def test_steps_run_in_order() -> None:
    chain = RunnableLambda(lambda x: x + "a") | (lambda x: x + "b") | (lambda x: x + "c")
    assert await chain.ainvoke("") == "abc"


async def test_failing_step_keeps_type_and_gets_a_note() -> None:
    def boom(x: str) -> str:
        raise ZeroDivisionError("inner")

    chain = RunnableLambda(lambda x: x) | boom | (lambda x: x)
    with pytest.raises(ZeroDivisionError, match="inner") as info:
        await chain.ainvoke("x")
    assert "in step 2 of 3 (boom) of RunnableSequence" in info.value.__notes__


async def test_notes_show_the_path_through_nesting() -> None:
    def boom(x: str) -> str:
        raise OSError("deep")

    chain = RunnableLambda(lambda x: x) | {"summary": RunnableLambda(lambda x: x) | boom}
    with pytest.raises(OSError, match="deep") as info:
        await chain.ainvoke("x")
    assert info.value.__notes__ == [
        "in step 2 of 2 (boom) of RunnableSequence",
        "in branch 'summary' of RunnableParallel",
        "in step 2 of 2 (RunnableParallel) of RunnableSequence",
    ]


async def test_stream_flows_through_passthrough_and_generators() -> None:
    async def words(x: str) -> AsyncIterator[str]:
        for word in x.split():
            yield word

    async def shout(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    chain = RunnableLambda(words) | RunnablePassthrough() | shout
    assert [c async for c in chain.astream("a b c")] == ["A", "B", "C"]
    assert await chain.ainvoke("a b c") == "ABC"


async def test_non_streaming_step_buffers_then_streaming_resumes() -> None:
    async def words(x: str) -> AsyncIterator[str]:
        for word in x.split():
            yield word + " "

    chain = RunnableLambda(words) | (lambda s: s.strip().replace(" ", "-"))
    assert [c async for c in chain.astream("a b")] == ["a-b"]


async def test_a_sequence_as_a_stage_streams_chunk_by_chunk() -> None:
    handed_over: list[str] = []

    async def words(x: str) -> AsyncIterator[str]:
        for word in x.split():
            handed_over.append(word)
            yield word

    async def shout(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    inner = RunnableSequence(shout, RunnablePassthrough(), name="inner")
    chain = RunnableLambda(words) | inner
    assert len(chain.steps) == 2  # a named sequence stays one stage
    assert chain.steps[1] is inner
    seen: list[str] = []
    async with contextlib.aclosing(chain.astream("a b c")) as stream:
        async for chunk in stream:
            seen.append(chunk)
            if chunk == "B":
                break
    assert seen == ["A", "B"]
    assert handed_over == ["a", "b"]  # nothing was read ahead, and the stages were closed
    assert await chain.ainvoke("a b c") == "ABC"
