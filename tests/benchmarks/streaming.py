"""Per-chunk streaming overhead, against a plain async generator pipeline in the same run.

Run: `python tests/benchmarks/streaming.py`. Not collected by pytest.

Streams 10,000 chunks (i) through `model | StrOutputParser()` with the offline model at zero
delay, and (ii) through a 3-branch `RunnableParallel` of that chain. The baselines are plain
async generators doing the same work: the model's word-by-word chunks turned into strings, and
for (ii) three such generators merged through an `asyncio.Queue` into `{key: chunk}` dicts.

Both sides carry the same message chunks, made the same way: `AIMessageChunk`s built with
`prompts._trusted.trusted` (what the offline model uses: no re-validation of our own values),
so the ratio measures the pipeline, not two ways of making messages.

Rounds alternate (plain, ours, plain, ours, ...); each figure is the best round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from llm import OfflineChatModel, StrOutputParser
from prompts import AIMessageChunk
from prompts._trusted import trusted
from runnables import RunnableParallel

N = 10_000
TEXT = " ".join(f"w{i}" for i in range(N))


async def plain_model(text: str) -> AsyncIterator[AIMessageChunk]:
    words = text.split(" ")
    for i, word in enumerate(words):
        yield trusted(AIMessageChunk, content=word if i == 0 else " " + word)


async def plain_parser(chunks: AsyncIterator[AIMessageChunk]) -> AsyncIterator[str]:
    async for chunk in chunks:
        yield chunk.text


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


async def main(rounds: int = 7) -> None:
    run_chain, run_parallel = ours()
    assert await run_chain() == await plain_chain() == N
    assert await run_parallel() == await plain_parallel() == 3 * N
    cases: dict[str, tuple[Callable[[], Awaitable[int]], Callable[[], Awaitable[int]], int]] = {
        "model | StrOutputParser()": (plain_chain, run_chain, N),
        "3-branch parallel": (plain_parallel, run_parallel, 3 * N),
    }
    best: dict[tuple[str, int], float] = {}
    for _ in range(rounds):
        for label, (plain_fn, our_fn, _) in cases.items():
            for side, fn in enumerate((plain_fn, our_fn)):
                start = time.perf_counter()
                await fn()
                elapsed = time.perf_counter() - start
                best[label, side] = min(best.get((label, side), float("inf")), elapsed)
    for label, (_, _, chunks) in cases.items():
        base, mine = best[label, 0], best[label, 1]
        print(
            f"{label:28s} plain {base / chunks * 1e6:6.2f} us/chunk   "
            f"ours {mine / chunks * 1e6:6.2f} us/chunk   {mine / base:5.2f}x (target <= 1.3x)"
        )


if __name__ == "__main__":
    asyncio.run(main())
