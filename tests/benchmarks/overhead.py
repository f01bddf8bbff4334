"""Framework overhead on the seed chain's shape, against the same work in plain asyncio.

Run: `python tests/benchmarks/overhead.py`. Not collected by pytest (no `test_` prefix).

The chain: three 3-step branches and a passthrough in parallel, then 3 more steps, all async
lambdas doing trivial work. The baseline is the same functions awaited by hand, with the
branches gathered in an `asyncio.TaskGroup`. Prints microseconds per call and ratios.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from runnables import RunnableLambda, RunnableParallel, RunnablePassthrough


async def step_a(x: Any) -> Any:
    return x


async def step_b(x: Any) -> Any:
    return x


async def step_c(x: Any) -> Any:
    return x


async def merge(d: dict[str, Any]) -> dict[str, Any]:
    return d


def build_chain() -> Any:
    def branch() -> Any:
        return RunnableLambda(step_a) | step_b | step_c

    return (
        RunnableParallel(s=branch(), q=branch(), k=branch(), topic=RunnablePassthrough())
        | merge
        | step_b
        | step_c
    )


async def plain(x: Any) -> Any:
    async def branch(v: Any) -> Any:
        return await step_c(await step_b(await step_a(v)))

    async with asyncio.TaskGroup() as tg:
        s = tg.create_task(branch(x))
        q = tg.create_task(branch(x))
        k = tg.create_task(branch(x))
    out = {"s": s.result(), "q": q.result(), "k": k.result(), "topic": x}
    return await step_c(await step_b(await merge(out)))


async def time_async(fn: Callable[[Any], Awaitable[Any]], n: int) -> float:
    for _ in range(min(n, 200)):
        await fn("topic")
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            await fn("topic")
        best = min(best, (time.perf_counter() - start) / n)
    return best


def time_sync(fn: Callable[[Any], Any], n: int) -> float:
    for _ in range(min(n, 100)):
        fn("topic")
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            fn("topic")
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main(n: int = 2000) -> None:
    chain = build_chain()

    async def measure() -> tuple[float, float]:
        assert await chain.ainvoke("topic") == await plain("topic")
        return await time_async(plain, n), await time_async(chain.ainvoke, n)

    base, ours = asyncio.run(measure())
    sync = time_sync(chain.invoke, n // 4)
    print(f"plain asyncio      {base * 1e6:8.1f} us/call")
    print(
        f"chain.ainvoke      {ours * 1e6:8.1f} us/call   {ours / base:5.2f}x plain (target <= 2.5x)"
    )
    print(
        f"chain.invoke       {sync * 1e6:8.1f} us/call   {sync / base:5.2f}x plain (target <= 8x)"
    )


if __name__ == "__main__":
    main()
