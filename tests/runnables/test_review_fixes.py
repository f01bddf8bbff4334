"""Regressions: limits across generator steps, config timeouts everywhere, wrapper arguments."""

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from runnables import (
    RunnableBranch,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnableRace,
    RunnableRetry,
    RunnableTimeout,
    RunnableWithFallbacks,
)

pytestmark = pytest.mark.anyio


async def words(x: str) -> AsyncIterator[str]:
    for word in x.split():
        yield word + " "


def upper(chunks: Iterator[str]) -> Iterator[str]:
    for chunk in chunks:
        yield chunk.upper()


async def test_stream_into_a_sync_generator_under_max_concurrency() -> None:
    chain = RunnableLambda(words) | RunnableGenerator(upper)
    chunks = [c async for c in chain.astream("a b", {"max_concurrency": 2})]
    assert chunks == ["A ", "B "]


async def test_generator_lambdas_count_against_max_concurrency() -> None:
    running = peak = 0
    lock = threading.Lock()

    async def gen(x: str) -> AsyncIterator[str]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        yield x
        with lock:
            running -= 1

    step = RunnableLambda(gen)
    chain = RunnableParallel(a=step, b=step, c=step)
    assert await chain.ainvoke("x", {"max_concurrency": 1}) == {"a": "x", "b": "x", "c": "x"}
    assert [c async for c in chain.astream("y", {"max_concurrency": 1})]
    assert peak == 1


async def never(x: Any) -> Any:
    await anyio.sleep_forever()


async def test_config_timeout_bounds_batch_stream_and_with_config() -> None:
    step = RunnableLambda(never)
    with pytest.raises(TimeoutError, match="batch of never timed out"):
        await step.abatch([1, 2], {"timeout": 0.01})
    with pytest.raises(TimeoutError, match="while streaming"):
        async for _ in step.astream(1, {"timeout": 0.01}):
            pass
    with pytest.raises(TimeoutError, match="never timed out"):
        await step.with_config(timeout=0.01).ainvoke(1)


async def test_with_timeout_around_a_streaming_parallel() -> None:
    chain = RunnableParallel(x=RunnableLambda(words), y=RunnableLambda(words)).with_timeout(5)
    chunks = [c async for c in chain.astream("p q")]
    assert len(chunks) == 4


async def test_with_timeout_in_the_middle_of_a_stream_keeps_streaming() -> None:
    chain = RunnableLambda(words) | RunnableGenerator(upper).with_timeout(5)
    assert [c async for c in chain.astream("a b c")] == ["A ", "B ", "C "]


def test_abatch_as_completed_leaves_no_unretrieved_failures() -> None:
    def boom(x: int) -> int:
        raise ValueError(x)

    async def main() -> list[Any]:
        unhandled: list[Any] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: unhandled.append(ctx))
        with pytest.raises(ValueError, match="1"):
            async for _ in RunnableLambda(boom).abatch_as_completed([1, 2, 3]):
                pass
        import gc

        gc.collect()
        await asyncio.sleep(0)
        return unhandled

    assert asyncio.run(main()) == []


async def test_retry_accepts_a_bare_exception_class() -> None:
    calls: list[int] = []

    def fail(x: int) -> int:
        calls.append(x)
        raise KeyError(x)

    step = RunnableLambda(fail).with_retry(
        retry_if_exception_type=ValueError, wait_exponential_jitter=False
    )
    with pytest.raises(KeyError):
        await step.ainvoke(1)
    assert calls == [1]  # KeyError is not a ValueError: not retried


@pytest.mark.parametrize(
    "build",
    [
        lambda: RunnableRetry(5),  # type: ignore[arg-type]
        lambda: RunnableTimeout(5, 1),  # type: ignore[arg-type]
        lambda: RunnableWithFallbacks(5, [lambda x: x]),  # type: ignore[arg-type]
    ],
    ids=["retry", "timeout", "fallbacks"],
)
def test_wrappers_reject_a_non_runnable_at_build_time(build: Any) -> None:
    with pytest.raises(TypeError, match="int 5"):
        build()


async def test_race_passes_call_options_on() -> None:
    def echo(x: str, *, suffix: str = "") -> str:
        return x + suffix

    assert await RunnableRace(echo, echo).bind(suffix="!").ainvoke("a") == "a!"


async def test_error_in_the_chosen_branch_names_it() -> None:
    def boom(x: int) -> int:
        raise ValueError("bad")

    branch = RunnableBranch((lambda x: x > 0, boom), lambda x: x)
    with pytest.raises(ValueError, match="bad") as info:
        await branch.ainvoke(1)
    assert "in branch 1 of RunnableBranch" in info.value.__notes__
