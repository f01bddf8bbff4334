"""What observability costs on the seed chain (zero-latency offline model), in one process.

Run: `python tests/benchmarks/tracing.py`. Not collected by pytest (no `test_` prefix).

Rounds alternate between the four setups, best of 7 rounds each:

1. plain asyncio: the same prompts and model calls by hand (see `overhead.py`);
2. `seed.ainvoke(topic)`: no handler anywhere;
3. the same with a no-op handler in `config["callbacks"]` (every event built and delivered);
4. the same with `OpenTelemetryHandler` (SDK `TracerProvider`, a `SimpleSpanProcessor` into an
   in-memory exporter, cleared each round): one span per step.

Prints microseconds per call, ratios to plain asyncio, and the cost per span (setup 4 minus
setup 2, divided by the spans one call makes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from overhead import build_seed_chain, plain_seed  # type: ignore[import-not-found]  # this folder

from llm import OfflineChatModel
from runnables import BaseCallbackHandler, RunEvent
from runnables.tracing import OpenTelemetryHandler


class Noop(BaseCallbackHandler):
    def on_start(self, event: RunEvent) -> None:
        pass

    def on_end(self, event: RunEvent) -> None:
        pass


async def best_of(fn: Callable[[], Awaitable[Any]], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await fn()
    return (time.perf_counter() - start) / n


async def main(n: int = 500, rounds: int = 7) -> None:
    model = OfflineChatModel()
    seed = build_seed_chain(model)
    plain = plain_seed(model)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced: Any = {"callbacks": [OpenTelemetryHandler(provider)]}
    noop: Any = {"callbacks": [Noop()]}
    await seed.ainvoke("topic", traced)
    spans = len(exporter.get_finished_spans())
    setups: dict[str, Callable[[], Awaitable[Any]]] = {
        "plain asyncio": lambda: plain("topic"),
        "no handler": lambda: seed.ainvoke("topic"),
        "no-op handler": lambda: seed.ainvoke("topic", noop),
        "OpenTelemetry": lambda: seed.ainvoke("topic", traced),
    }
    for fn in setups.values():  # warm up
        for _ in range(50):
            await fn()
    best = dict.fromkeys(setups, float("inf"))
    for _ in range(rounds):
        for name, fn in setups.items():
            exporter.clear()
            best[name] = min(best[name], await best_of(fn, n))
    base = best["plain asyncio"]
    for name, seconds in best.items():
        print(f"{name:15} {seconds * 1e6:8.1f} us/call   {seconds / base:5.2f}x plain asyncio")
    per_span = (best["OpenTelemetry"] - best["no handler"]) / spans
    print(f"\n{spans} spans per call: {per_span * 1e6:.1f} us per span with OpenTelemetry on")


if __name__ == "__main__":
    asyncio.run(main())
