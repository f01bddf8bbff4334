"""max_concurrency: one limit across the whole run, counted at leaf steps, without deadlock."""

import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from runnables import RunnableGenerator, RunnableLambda, RunnableParallel
from runnables._bridge import wait_future

pytestmark = pytest.mark.anyio


class Gauge:
    """Counts leaves running at once and remembers the peak."""

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1

    def async_leaf(self) -> RunnableLambda[Any, Any]:
        async def leaf(x: Any) -> Any:
            self.enter()
            try:
                # Yield to the loop several times so every leaf that can start does start.
                for _ in range(10):
                    await anyio.lowlevel.checkpoint()
            finally:  # a cancelled leaf (a lost race) leaves too
                self.leave()
            return x

        return RunnableLambda(leaf)

    def sync_leaf(self, together: int) -> RunnableLambda[Any, Any]:
        barrier = threading.Barrier(together, timeout=10)

        def leaf(x: Any) -> Any:
            self.enter()
            barrier.wait()  # proves `together` leaves run at once; the gauge proves no more
            self.leave()
            return x

        return RunnableLambda(leaf)


async def test_parallel_abatch_is_bounded_across_the_whole_run() -> None:
    gauge = Gauge()
    leaf = gauge.async_leaf()
    chain = RunnableParallel(a=leaf, b=leaf, c=leaf)
    out = await chain.abatch(list(range(10)), {"max_concurrency": 4})
    assert out == [{"a": i, "b": i, "c": i} for i in range(10)]
    assert gauge.peak == 4


async def test_without_a_limit_the_same_run_goes_wider() -> None:
    gauge = Gauge()
    leaf = gauge.async_leaf()
    await RunnableParallel(a=leaf, b=leaf, c=leaf).abatch(list(range(10)))
    assert gauge.peak == 30


async def test_deep_nesting_is_bounded_and_does_not_deadlock() -> None:
    gauge = Gauge()
    leaf = gauge.async_leaf()
    inner = RunnableParallel(x=leaf, y=leaf | leaf)
    chain = RunnableParallel(p=inner, q=inner, r=leaf)
    nested_batch = RunnableLambda(lambda xs: xs) | chain.map()
    out = await nested_batch.abatch([[1, 2], [3, 4, 5]], {"max_concurrency": 1})
    assert out[1][2]["p"] == {"x": 5, "y": 5}
    assert gauge.peak == 1


def test_sync_batch_with_thread_leaves_is_bounded() -> None:
    gauge = Gauge()
    leaf = gauge.sync_leaf(together=3)
    out = RunnableParallel(a=leaf, b=leaf).batch(list(range(6)), {"max_concurrency": 3})
    assert len(out) == 6
    assert gauge.peak == 3


async def test_limit_via_with_config_on_the_root() -> None:
    gauge = Gauge()
    leaf = gauge.async_leaf()
    chain = RunnableParallel(a=leaf, b=leaf, c=leaf, d=leaf).with_config(max_concurrency=2)
    await chain.ainvoke(1)
    assert gauge.peak == 2


async def test_leaf_calling_a_chain_inside_does_not_deadlock() -> None:
    gauge = Gauge()
    inner = RunnableParallel(a=gauge.async_leaf(), b=gauge.async_leaf())

    async def outer(x: int, config: Any) -> Any:
        return await inner.ainvoke(x, config)

    out = await RunnableLambda(outer).abatch([1, 2, 3], {"max_concurrency": 1})
    assert out == [{"a": i, "b": i} for i in (1, 2, 3)]


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
    chunks = [c async for c in chain.astream("y", {"max_concurrency": 1})]
    assert sorted(chunks, key=lambda c: list(c)) == [{"a": "y"}, {"b": "y"}, {"c": "y"}]
    assert peak == 1


async def test_a_future_set_from_another_thread_wakes_its_waiter() -> None:
    answered: Future[int] = Future()
    got: list[int] = []

    async def wait() -> None:
        got.append(await wait_future(answered))

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait)
        await anyio.wait_all_tasks_blocked()  # the waiter waits before the result is set
        await anyio.to_thread.run_sync(answered.set_result, 42)
    assert got == [42]

    failed: Future[int] = Future()
    threading.Thread(target=failed.set_exception, args=(KeyError("k"),)).start()
    with pytest.raises(KeyError, match="k"):
        await wait_future(failed)

    pending: Future[int] = Future()
    with anyio.move_on_after(0.01) as scope:  # cancelling the wait leaves the future alone
        await wait_future(pending)
    assert scope.cancelled_caught
    assert not pending.done()
    pending.set_result(1)  # its callback finds no waiter: nothing breaks
    assert await wait_future(pending) == 1
