"""The batch engine against raw asyncio, in one process: seed batch, big batch, memory per item.

Run: `python tests/benchmarks/batch.py [rounds]`. Not collected by pytest (no `test_` prefix).

1. Seed batch: 2,000 topics through the seed chain (three prompt | model | parser branches,
   then a synthesis), the offline model at 50 ms a call, `max_concurrency` 500. 8,000 model
   calls, 500 at a time, 50 ms each: the floor is 0.8 s. Raw asyncio: the same prompts as
   message dicts, an `asyncio.Semaphore(500)` around each 50 ms model call.
2. Big batch: 100,000 items through two 50 ms async steps, `max_concurrency` 10,000 (ideal
   1.0 s). Raw asyncio: one task per item, an `asyncio.Semaphore(10_000)` around each step.
3. Memory: 50,000 items in flight at once (each waiting inside its first step), measured with
   `tracemalloc` as Python memory allocated per item, with `max_concurrency` 50,000 (and
   without). Raw asyncio: one task per item, a semaphore around the step.

Timed cases alternate rounds (raw, ours, raw, ours, ...); each figure is the best round, and
ratios compare figures of the same run.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from overhead import SYNTHESIS, TASKS, build_seed_chain, plain_model  # type: ignore[import-not-found]

from llm import OfflineChatModel
from runnables import RunnableLambda

LATENCY = 0.05


# -- 1. seed batch --------------------------------------------------------------------------------


def raw_seed_batch(topics: list[str], limit: int) -> Callable[[], Awaitable[list[str]]]:
    async def run() -> list[str]:
        sem = asyncio.Semaphore(limit)

        async def model(messages: list[dict[str, str]]) -> str:
            async with sem:
                await asyncio.sleep(LATENCY)
                reply: str = await plain_model(messages)
                return reply

        async def item(topic: str) -> str:
            async with asyncio.TaskGroup() as tg:
                tasks = {
                    key: tg.create_task(
                        model(
                            [
                                {"role": "system", "content": task},
                                {"role": "user", "content": topic},
                            ]
                        )
                    )
                    for key, task in TASKS.items()
                }
            values = {key: t.result() for key, t in tasks.items()}
            return await model(
                [
                    {"role": "system", "content": SYNTHESIS.format(**values, topic=topic)},
                    {"role": "user", "content": f"Original topic: {topic}"},
                ]
            )

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(item(t)) for t in topics]
        return [t.result() for t in tasks]

    return run


def ours_seed_batch(topics: list[str], limit: int) -> Callable[[], Awaitable[list[str]]]:
    chain = build_seed_chain(OfflineChatModel(latency=LATENCY))

    async def run() -> list[str]:
        replies: list[str] = await chain.abatch(topics, {"max_concurrency": limit})
        return replies

    return run


# -- 2. big batch ---------------------------------------------------------------------------------


async def step(x: int) -> int:
    await asyncio.sleep(LATENCY)
    return x


def raw_big_batch(n: int, limit: int) -> Callable[[], Awaitable[list[int]]]:
    async def run() -> list[int]:
        sem = asyncio.Semaphore(limit)

        async def item(x: int) -> int:
            async with sem:
                x = await step(x)
            async with sem:
                return await step(x)

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(item(i)) for i in range(n)]
        return [t.result() for t in tasks]

    return run


def ours_big_batch(n: int, limit: int) -> Callable[[], Awaitable[list[int]]]:
    chain = RunnableLambda(step) | step

    async def run() -> list[int]:
        return await chain.abatch(list(range(n)), {"max_concurrency": limit})

    return run


async def alternate(
    cases: dict[str, Callable[[], Awaitable[Any]]], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall time and best CPU time of each case; rounds alternate between the cases."""
    wall = dict.fromkeys(cases, float("inf"))
    cpu = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, fn in cases.items():
            gc.collect()
            start, start_cpu = time.perf_counter(), time.process_time()
            await fn()
            wall[name] = min(wall[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu


# -- 3. memory per in-flight item -----------------------------------------------------------------


async def add_one(x: int) -> int:
    return x + 1


Make = Callable[[asyncio.Event, list[int], asyncio.Event], Any]


async def memory_per_item(n: int, make: Make) -> float:
    """Python memory per item while `n` items wait inside their first step (bytes)."""
    gate, all_in = asyncio.Event(), asyncio.Event()
    arrived = [n]  # counts down; the last item in sets `all_in`
    run = make(gate, arrived, all_in)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    task = asyncio.ensure_future(run())
    await all_in.wait()
    during = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    gate.set()
    await task
    return (during - before) / n


def waiting_step(
    gate: asyncio.Event, arrived: list[int], all_in: asyncio.Event
) -> Callable[[int], Awaitable[int]]:
    async def wait(x: int) -> int:
        arrived[0] -= 1
        if not arrived[0]:
            all_in.set()
        await gate.wait()
        return x

    return wait


def raw_memory(n: int) -> Make:
    def make(gate: asyncio.Event, arrived: list[int], all_in: asyncio.Event) -> Any:
        wait = waiting_step(gate, arrived, all_in)

        async def run() -> None:
            sem = asyncio.Semaphore(n)

            async def item(x: int) -> int:
                async with sem:
                    x = await wait(x)
                async with sem:
                    return x + 1

            async with asyncio.TaskGroup() as tg:
                for i in range(n):
                    tg.create_task(item(i))

        return run

    return make


def ours_memory(n: int, limit: int | None) -> Make:
    def make(gate: asyncio.Event, arrived: list[int], all_in: asyncio.Event) -> Any:
        chain = RunnableLambda(waiting_step(gate, arrived, all_in)) | add_one
        inputs = list(range(n))

        async def run() -> None:
            await chain.abatch(inputs, {"max_concurrency": limit})

        return run

    return make


async def main(rounds: int) -> None:
    topics = [f"topic {i}" for i in range(2000)]
    raw, ours = raw_seed_batch(topics, 500), ours_seed_batch(topics, 500)
    assert await raw() == await ours()
    wall, cpu = await alternate({"raw": raw, "ours": ours}, rounds)
    print("1. seed batch: 2,000 items, 50 ms model, max_concurrency 500 (floor 0.8 s)")
    for name in wall:
        print(
            f"   {name:5} {wall[name]:6.2f} s  {wall[name] / 0.8:5.2f}x the floor   "
            f"cpu {cpu[name]:5.2f} s   (target: ours <= 1.2x the floor)"
        )

    n, limit = 100_000, 10_000
    raw_big, ours_big = raw_big_batch(n, limit), ours_big_batch(n, limit)
    wall, cpu = await alternate({"raw": raw_big, "ours": ours_big}, rounds)
    print("\n2. big batch: 100,000 items x 2 steps x 50 ms, max_concurrency 10,000 (ideal 1.0 s)")
    for name in wall:
        print(
            f"   {name:5} {wall[name]:6.2f} s  {wall[name] / wall['raw']:5.2f}x raw   "
            f"cpu {cpu[name]:5.2f} s = {cpu[name] / (2 * n) * 1e6:5.1f} us per item-step"
        )
    print("   (target: ours <= 1.5x raw)")

    n = 50_000
    print(f"\n3. memory per in-flight item, {n:,} items at once (tracemalloc)")
    raw_kb = await memory_per_item(n, raw_memory(n)) / 1024
    print(f"   raw asyncio + semaphore       {raw_kb:5.2f} KB")
    for label, limit_ in (("max_concurrency 50,000", n), ("no max_concurrency", None)):
        kb = await memory_per_item(n, ours_memory(n, limit_)) / 1024
        print(f"   ours, {label:23} {kb:5.2f} KB   {kb / raw_kb:5.2f}x raw")
    print("   (target: ours with max_concurrency <= 2 KB)")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2))
