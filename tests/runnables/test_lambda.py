"""RunnableLambda and RunnableGenerator: signatures, sync/async, returned runnables, recursion."""

import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from runnables import RunnableConfig, RunnableGenerator, RunnableLambda, chain

pytestmark = pytest.mark.anyio


async def test_function_taking_config_receives_a_dict() -> None:
    seen: list[Any] = []

    def f(x: int, config: RunnableConfig) -> int:
        seen.append(config)
        return x

    await RunnableLambda(f).ainvoke(1, {"tags": ["t"], "metadata": {"k": "v"}})
    assert isinstance(seen[0], dict)
    assert seen[0]["tags"] == ["t"]
    assert seen[0]["metadata"] == {"k": "v"}


async def test_sync_lambda_runs_in_worker_thread_under_ainvoke() -> None:
    main = threading.get_ident()
    thread = await RunnableLambda(lambda x: threading.get_ident()).ainvoke(None)
    assert thread != main


def test_async_lambda_under_sync_invoke() -> None:
    async def f(x: int) -> int:
        return x * 3

    assert RunnableLambda(f).invoke(2) == 6


async def test_returned_runnable_is_invoked_with_same_input() -> None:
    inner = RunnableLambda(lambda x: f"inner({x})")
    outer = RunnableLambda(lambda x: inner)
    assert await outer.ainvoke("a") == "inner(a)"


async def test_endless_recursion_hits_the_limit() -> None:
    def again(x: int) -> Any:
        return looping

    looping = RunnableLambda(again)
    with pytest.raises(RecursionError, match=r"Recursion limit reached: RunnableLambda\(again\)"):
        await looping.ainvoke(0, {"recursion_limit": 5})


async def test_recursion_within_limit_works() -> None:
    def countdown(x: int) -> Any:
        return x if x == 0 else (RunnableLambda(lambda _: x - 1) | step)

    step = RunnableLambda(countdown)
    assert await step.ainvoke(3) == 0


async def test_kwargs_reach_the_function() -> None:
    def f(x: str, *, suffix: str = "") -> str:
        return x + suffix

    assert await RunnableLambda(f).ainvoke("a", suffix="!") == "a!"
    assert await RunnableLambda(f).bind(suffix="?").ainvoke("a") == "a?"


async def test_chain_decorator() -> None:
    @chain
    async def shout(x: str) -> str:
        return x.upper()

    assert isinstance(shout, RunnableLambda)
    assert shout.name == "shout"
    assert await shout.ainvoke("hi") == "HI"


async def test_generator_lambda_sums_on_invoke_and_streams_chunks() -> None:
    async def words(x: str) -> AsyncIterator[str]:
        for word in x.split():
            yield word + " "

    def sync_words(x: str) -> Iterator[str]:
        yield from (w + " " for w in x.split())

    for fn in (words, sync_words):
        step = RunnableLambda(fn)
        assert await step.ainvoke("a b c") == "a b c "
        assert [c async for c in step.astream("a b c")] == ["a ", "b ", "c "]


async def test_runnable_generator_transforms_a_stream() -> None:
    def upper(chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            yield chunk.upper()

    async def aupper(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    for gen in (
        RunnableGenerator(upper),
        RunnableGenerator(aupper),
        RunnableGenerator(upper, aupper),
    ):
        assert await gen.ainvoke("abc") == "ABC"
        pipeline = RunnableLambda(lambda x: x) | gen
        assert await pipeline.ainvoke("xy") == "XY"


def test_runnable_generator_rejects_plain_function() -> None:
    with pytest.raises(TypeError, match='"transform"'):
        RunnableGenerator(lambda x: x)


def test_runnable_generator_sync_invoke_and_stream() -> None:
    def split(chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            yield from chunk

    gen = RunnableGenerator(split)
    assert gen.invoke("abc") == "abc"
    assert list(gen.stream("abc")) == ["a", "b", "c"]
