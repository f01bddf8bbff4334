"""A big batch on Ray against the same batch in one process.

Run: `python tests/benchmarks/ray_batch.py [--items 10000] [--latency 0.05]
[--max-concurrency 2000] [--workers 2]`. Not collected by pytest (no `test_` prefix).

The chain is the seed's summarize step, `prompt | OfflineChatModel(latency) | StrOutputParser()`:
each call waits `latency` seconds, like a model, and does the prompt and parser work for real.
With `max_concurrency` M, N items need at least ceil(N / M) waves of `latency`: that is the
ideal. Printed for each run: wall time, the ideal, and the overhead per item,
(wall - ideal) / N. Ray is started here (2 CPUs by default) and timed apart; its first batch
also starts the worker processes, so a second batch shows the warm pool.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

import ray

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import Runnable, RunnableConfig
from runnables.ray import RayExecutor


def build_chain(latency: float) -> Runnable[dict[str, str], str]:
    prompt = ChatPromptTemplate.from_template("Summarize {text}")
    return prompt | OfflineChatModel(latency=latency) | StrOutputParser()


def report(label: str, seconds: float, ideal: float, n: int) -> None:
    overhead_us = (seconds - ideal) / n * 1e6
    print(
        f"{label:<34} {seconds:7.2f} s   ideal {ideal:5.2f} s   "
        f"x{seconds / ideal:5.2f}   overhead {overhead_us:7.1f} us/item"
    )


def timed(run: Callable[[], Coroutine[Any, Any, list[Any]]]) -> tuple[float, list[Any]]:
    start = time.perf_counter()
    out = asyncio.run(run())
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--max-concurrency", type=int, default=2_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    args = parser.parse_args()

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
    print(f"{'(ray.init, not counted)':<34} {time.perf_counter() - start:7.2f} s")
    with RayExecutor(args.workers) as executor:
        name = f"RayExecutor({args.workers})"
        for label in (f"{name}, cold pool", f"{name}, warm pool"):
            seconds, remote = timed(lambda: executor.abatch(chain, inputs, config))
            report(label, seconds, ideal, n)
            assert remote == local, "Ray's results differ from the local batch"
    ray.shutdown()


if __name__ == "__main__":
    main()
