"""Per-chunk streaming overhead, against a plain async generator pipeline in the same run.

Run: `python tests/benchmarks/streaming.py`. Not collected by pytest.

Streams 10,000 chunks (i) through `model | StrOutputParser()` with the offline model at zero
delay, and (ii) through a 3-branch `RunnableParallel` of that chain. The baselines are plain
async generators doing the same work: the model's word-by-word chunks turned into strings, and
for (ii) three such generators merged through an `asyncio.Queue` into `{key: chunk}` dicts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from llm import OfflineChatModel, StrOutputParser
from prompts import AIMessageChunk
from runnables import RunnableParallel

N = 10_000
TEXT = " ".join(f"w{i}" for i in range(N))


async def plain_model(text: str) -> AsyncIterator[AIMessageChunk]:
    words = text.split(" ")
    for i, word in enumerate(words):
        yield AIMessageChunk(content=word if i == 0 else " " + word)


async def plain_parser(chunks: AsyncIterator[AIMessageChunk]) -> AsyncIterator[str]:
    async for chunk in chunks:
        yield chunk.content


async def plain_chain() -> int:
    count = 0
    async for _ in plain_parser(plain_model(TEXT)):
        count += 1
    return count


async def plain_parallel() -> int:
    queue: asyncio.Queue[dict[str, str] | None] = asyncio.Queue()

    async def pump(key: str) -> None:
        async for chunk in plain_parser(plain_model(TEXT)):
            queue.put_nowait({key: chunk})
        queue.put_nowait(None)

    tasks = [asyncio.ensure_future(pump(key)) for key in ("a", "b", "c")]
    count, remaining = 0, len(tasks)
    while remaining:
        item = await queue.get()
        if item is None:
            remaining -= 1
        else:
            count += 1
    await asyncio.gather(*tasks)
    return count


def ours() -> tuple[Callable[[], Awaitable[int]], Callable[[], Awaitable[int]]]:
    chain = OfflineChatModel(responses=[TEXT]) | StrOutputParser()
    parallel = RunnableParallel(a=chain, b=chain, c=chain)

    async def run_chain() -> int:
        count = 0
        async for _ in chain.astream("go"):
            count += 1
        return count

    async def run_parallel() -> int:
        count = 0
        async for _ in parallel.astream("go"):
            count += 1
        return count

    return run_chain, run_parallel


async def best_of(fn: Callable[[], Awaitable[Any]], repeat: int = 5) -> float:
    await fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        best = min(best, time.perf_counter() - start)
    return best


async def main() -> None:
    run_chain, run_parallel = ours()
    assert await run_chain() == await plain_chain() == N
    assert await run_parallel() == await plain_parallel() == 3 * N
    rows = [
        ("model | StrOutputParser()", await best_of(plain_chain), await best_of(run_chain), N),
        ("3-branch parallel", await best_of(plain_parallel), await best_of(run_parallel), 3 * N),
    ]
    for label, base, mine, chunks in rows:
        print(
            f"{label:28s} plain {base / chunks * 1e6:6.2f} us/chunk   "
            f"ours {mine / chunks * 1e6:6.2f} us/chunk   {mine / base:5.2f}x (target <= 3x)"
        )


if __name__ == "__main__":
    asyncio.run(main())
