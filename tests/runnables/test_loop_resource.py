"""loop_resource: one resource per running loop and key, made on first use, closed with its loop."""

import asyncio
import threading
from typing import Any

import anyio
import pytest
import trio

from runnables import RunnableLambda, loop_resource


class Pool:
    """Stands in for an HTTP connection pool."""

    made: list["Pool"] = []

    def __init__(self) -> None:
        self.closed = False
        Pool.made.append(self)

    async def aclose(self) -> None:
        self.closed = True


async def close(pool: Pool) -> None:
    await pool.aclose()


async def use(key: str = "a") -> Pool:
    async with loop_resource(("test", key), Pool, close) as pool:
        return pool


async def twice_and_another() -> tuple[Pool, Pool, Pool]:
    return await use(), await use(), await use("b")


def test_asyncio_one_per_loop_and_key_closed_with_the_loop() -> None:
    first, again, other = asyncio.run(twice_and_another())
    assert first is again
    assert first is not other
    assert first.closed
    assert other.closed
    second, _, _ = asyncio.run(twice_and_another())
    assert second is not first  # a new loop, a new resource


def test_trio_one_per_run_and_key_closed_with_the_run() -> None:
    first, again, other = trio.run(twice_and_another)
    assert first is again
    assert first is not other
    assert first.closed
    assert other.closed
    assert trio.run(twice_and_another)[0] is not first


def test_sync_calls_share_the_bridge_loops_resource() -> None:
    step = RunnableLambda(use)
    a, b = step.invoke("sync"), step.invoke("sync")
    assert a is b
    assert not a.closed  # the bridge loop lives on


def test_a_call_while_the_loop_shuts_down_still_gets_a_resource_and_it_is_closed() -> None:
    seen: list[Any] = []

    async def late() -> None:
        try:
            await asyncio.Event().wait()  # never set: ends when the loop cancels it
        finally:
            # The loop is shutting down (asyncio.run cancelled us): the shared one may be gone.
            pool = await use("late")
            seen.append(pool)

    async def main() -> None:
        await use("late")  # starts the loop's closer before our task
        asyncio.get_running_loop().create_task(late())
        await asyncio.sleep(0)

    asyncio.run(main())
    assert len(seen) == 1
    assert seen[0].closed


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_resource_may_be_made_in_a_worker_thread_once_per_loop(backend: str) -> None:
    made_in: list[str] = []

    def create() -> Pool:
        made_in.append(threading.current_thread().name)
        return Pool()

    async def use_threaded() -> Pool:
        async with loop_resource(("test", "threaded"), create, close, create_in_thread=True) as p:
            return p

    async def main() -> tuple[list[Pool], str]:
        async with anyio.create_task_group() as tg:
            pools: list[Pool] = []

            async def one() -> None:
                pools.append(await use_threaded())

            for _ in range(3):
                tg.start_soon(one)
        return pools, threading.current_thread().name

    pools, loop_thread = anyio.run(main, backend=backend)
    assert len({id(p) for p in pools}) == 1  # concurrent first uses share one resource
    assert loop_thread not in made_in
    # Any extra made by a racing first use was closed at once; the shared one with the loop.
    assert pools[0].closed
