"""A big batch on Ray against the same batch in one process; then what handlers and rate
limiters cost there.

Run: `python tests/benchmarks/ray_batch.py [--items 10000] [--latency 0.05]
[--max-concurrency 2000] [--workers 2] [--only batch,handlers,limits]`. Not collected by pytest
(no `test_` prefix).

The chain is the seed's summarize step, `prompt | OfflineChatModel(latency) | StrOutputParser()`:
each call waits `latency` seconds, like a model, and does the prompt and parser work for real.
With `max_concurrency` M, N items need at least ceil(N / M) waves of `latency`: that is the
ideal. Printed for each run: wall time, the ideal, and the overhead per item,
(wall - ideal) / N. Ray is started here (2 CPUs by default) and timed apart; its first batch
also starts the worker processes, so a second batch shows the warm pool.

Sections:

- `batch`: the local batch, then Ray's with a cold and a warm pool;
- `handlers`: Ray's batch with no handler, with a handler of every event (its events cross
  from the workers in each exchange), and with a `ProgressBar` (only item ends cross);
- `limits`: no limiter, a `RayRateLimiter` that never binds (100M requests per minute) with
  adaptive blocks and with the fixed blocks of 8 it used to take, each with the calls it made
  to the budget actor; then one that binds (`--rate` per second), with the rate it let
  through, measured from the model's own call times.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import ray

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RateLimiter, RunEvent, Runnable, RunnableConfig, RunnableLambda
from runnables.progress import ProgressBar
from runnables.ray import RayExecutor, RayRateLimiter


def build_chain(
    latency: float, rate_limiter: RateLimiter | None = None
) -> Runnable[dict[str, str], str]:
    prompt = ChatPromptTemplate.from_template("Summarize {text}")
    model = OfflineChatModel(latency=latency, rate_limiter=rate_limiter)
    return prompt | model | StrOutputParser()


def report(label: str, seconds: float, ideal: float, n: int) -> float:
    overhead_us = (seconds - ideal) / n * 1e6
    print(
        f"{label:<44} {seconds:7.2f} s   ideal {ideal:5.2f} s   "
        f"x{seconds / ideal:5.2f}   overhead {overhead_us:7.1f} us/item"
    )
    return seconds


def timed(
    run: Callable[[], Coroutine[Any, Any, list[Any]]], repeat: int = 1
) -> tuple[float, list[Any]]:
    """The best of `repeat` runs (the machine may be shared), and the last run's output."""
    best, out = math.inf, []
    for _ in range(repeat):
        start = time.perf_counter()
        out = asyncio.run(run())
        best = min(best, time.perf_counter() - start)
    return best, out


class EveryEvent:
    """A handler of every event, counting them (on the driver)."""

    def __init__(self) -> None:
        self.count = 0

    def _count(self, event: RunEvent) -> None:
        self.count += 1

    on_start = on_stream = on_end = on_error = on_batch_start = _count


async def stamp(text: str) -> float:
    """The time an item gets here, after the model's limiter let it through (the wall clock:
    the items run in two processes)."""
    return time.time()


def busiest_second(stamps: list[float]) -> int:
    """The most items stamped within any one second."""
    stamps = sorted(stamps)
    most, first = 0, 0
    for last, t in enumerate(stamps):
        while t - stamps[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def sections(value: str) -> set[str]:
    chosen = set(value.split(","))
    unknown = chosen - {"batch", "handlers", "limits"}
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown sections {sorted(unknown)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--max-concurrency", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s that bind")
    parser.add_argument("--only", type=sections, default={"batch", "handlers", "limits"})
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument(
        "--no-fixed", action="store_true", help="skip the fixed blocks of 8 (slow on big batches)"
    )
    args = parser.parse_args(argv)

    n, mc = args.items, args.max_concurrency
    inputs = [{"text": f"document {i}"} for i in range(n)]
    config: RunnableConfig = {"max_concurrency": mc}
    chain = build_chain(args.latency)
    ideal = math.ceil(n / mc) * args.latency
    print(f"{n} items x {args.latency * 1000:g} ms model, max_concurrency {mc}")

    seconds, local = timed(lambda: chain.abatch(inputs, config))
    report("local abatch", seconds, ideal, n)

    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level=logging.ERROR)
    print(f"{'(ray.init, not counted)':<44} {time.perf_counter() - start:7.2f} s")
    with RayExecutor(args.workers) as executor:
        name = f"RayExecutor({args.workers})"

        def on_ray(
            label: str, runnable: Runnable[Any, Any], cfg: RunnableConfig, repeat: int = 1
        ) -> tuple[float, list[Any]]:
            seconds, remote = timed(lambda: executor.abatch(runnable, inputs, cfg), repeat)
            report(label, seconds, ideal, n)
            return seconds, remote

        _, remote = on_ray(f"{name}, cold pool", chain, config)
        assert remote == local, "Ray's results differ from the local batch"
        if "batch" in args.only:
            on_ray(f"{name}, warm pool", chain, config, args.repeat)

        if "handlers" in args.only:
            print("\n-- handlers (their events cross from the workers) --")
            local_every = EveryEvent()
            seconds, _ = timed(
                lambda: chain.abatch(inputs, {**config, "callbacks": [local_every]}), args.repeat
            )
            report("local abatch, a handler of every event", seconds, ideal, n)
            plain, _ = on_ray("no handler", chain, config, args.repeat)
            every = EveryEvent()
            with_every: RunnableConfig = {**config, "callbacks": [every]}
            seconds, _ = on_ray("a handler of every event", chain, with_every, args.repeat)
            events = every.count // args.repeat
            print(f"{'':<44} {events} events, x{seconds / plain:.2f} vs no handler")
            assert events == 1 + 8 * n, events  # batch start; 4 steps x start, end
            bar = ProgressBar(file=io.StringIO())
            with_bar: RunnableConfig = {**config, "callbacks": [bar]}
            seconds, _ = on_ray("ProgressBar", chain, with_bar, args.repeat)
            print(f"{'':<44} {bar.done} items counted, x{seconds / plain:.2f} vs no handler")

        if "limits" in args.only:
            print("\n-- rate limiters --")
            plain, _ = on_ray("no limiter", chain, config, args.repeat)
            variants: list[tuple[str, int | None]] = [("adaptive blocks", None)]
            if not args.no_fixed:
                variants.append(("fixed blocks of 8", 8))
            for label, block_size in variants:
                limiter = RayRateLimiter(requests_per_minute=100_000_000, block_size=block_size)
                asyncio.run(limiter.usage())  # its budget actor started, not timed
                seconds, _ = on_ray(
                    f"RayRateLimiter never binding, {label}", build_chain(args.latency, limiter),
                    config, args.repeat,
                )  # fmt: skip
                requests, calls = asyncio.run(limiter.usage())
                print(
                    f"{'':<44} x{seconds / plain:.3f} vs no limiter, {calls // args.repeat} "
                    f"budget calls per batch of {n} (requests reserved: {requests // args.repeat})"
                )
            rate = args.rate
            local_limiter = RateLimiter(requests_per_minute=rate * 60, request_burst=1)
            binding = build_chain(args.latency, local_limiter) | RunnableLambda(stamp)
            seconds, stamps = timed(lambda: binding.abatch(inputs, config))
            report(f"local abatch, RateLimiter binding at {rate:g}/s", seconds, ideal, n)
            achieved = (n - 1) / (max(stamps) - min(stamps))
            print(
                f"{'':<44} {achieved:.1f} requests/s let through (limit {rate:g}/s), busiest "
                f"second {busiest_second(stamps)}"
            )
            limiter = RayRateLimiter(requests_per_minute=rate * 60, request_burst=1)
            asyncio.run(limiter.usage())
            binding = build_chain(args.latency, limiter) | RunnableLambda(stamp)
            seconds, stamps = on_ray(f"RayRateLimiter binding at {rate:g}/s", binding, config)
            _, calls = asyncio.run(limiter.usage())
            achieved = (n - 1) / (max(stamps) - min(stamps))
            print(
                f"{'':<44} {achieved:.1f} requests/s let through (limit {rate:g}/s), busiest "
                f"second {busiest_second(stamps)}, {calls} budget calls"
            )
    ray.shutdown()


if __name__ == "__main__":
    main()
