"""What a cache costs: a hit per call for each store, and what a cache adds to a miss.

Run: `python tests/benchmarks/cache.py [calls]`. Not collected by pytest (no `test_` prefix).
Needs `redis-server` on the PATH (Debian's package); it starts one on a free port, without
persistence, and stops it at the end.

The step cached is the seed chain's model step, `ChatPromptTemplate | OfflineChatModel |
StrOutputParser`, with a zero-latency model: a miss is that chain's `ainvoke`, measured in the
same run (uncached), so every figure is against the cheapest miss there can be. Real model
calls take 0.3-30 s, so what a cache adds to a real miss is the absolute figure printed, not
the percentage.

For each store (in memory; SQLite with `durable=True`, one fsync per write, and with
`durable=False`; Redis on 127.0.0.1):

- hit: `cached.ainvoke(doc)` for a doc already stored, microseconds per call;
- miss: `cached.ainvoke(doc)` for docs never seen (look up, run the chain, store);
- added: miss minus the uncached chain, in microseconds and as a share of it.

Rounds alternate between the rows; each figure is the best round. Targets (issue 21): an
in-memory hit costs less than a miss; SQLite and Redis hits under 200 us; a miss adds under
10%.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import BaseCache, InMemoryCache, RedisCache, Runnable, SQLiteCache

ROUNDS = 5


def build_step() -> Runnable[Any, str]:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You summarize documents in one line."), ("user", "Summarize: {doc}")]
    )
    return prompt | OfflineChatModel() | StrOutputParser()


@contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed: apt-get install -y redis-server")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    process = subprocess.Popen([*args, "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(500):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


async def per_call(call: Callable[[Any], Awaitable[object]], inputs: list[Any]) -> float:
    """Microseconds per call of `call` over `inputs`, one after another."""
    start = time.perf_counter()
    for x in inputs:
        await call(x)
    return (time.perf_counter() - start) / len(inputs) * 1e6


async def run(calls: int, stores: dict[str, BaseCache]) -> dict[str, list[float]]:
    step = build_step()
    cached = {name: step.with_cache(cache) for name, cache in stores.items()}
    hot = {"doc": "the document everyone asks about"}
    for c in cached.values():
        await c.ainvoke(hot)
    best: dict[str, list[float]] = {"miss (uncached chain)": [float("inf")]}
    for name in cached:
        best[name] = [float("inf")] * 2
    fresh = 0

    def docs() -> list[dict[str, str]]:
        nonlocal fresh
        fresh += 1
        return [{"doc": f"document {fresh}-{i}"} for i in range(calls)]

    for _ in range(ROUNDS):
        miss = await per_call(step.ainvoke, docs())
        best["miss (uncached chain)"][0] = min(best["miss (uncached chain)"][0], miss)
        for name, c in cached.items():
            hit = await per_call(c.ainvoke, [hot] * calls)
            cold = await per_call(c.ainvoke, docs())
            best[name] = [min(best[name][0], hit), min(best[name][1], cold)]
    return best


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    with tempfile.TemporaryDirectory() as tmp, redis_server() as url:
        stores: dict[str, BaseCache] = {
            "InMemoryCache": InMemoryCache(),
            "SQLiteCache durable": SQLiteCache(Path(tmp) / "durable.db"),
            "SQLiteCache durable=False": SQLiteCache(Path(tmp) / "fast.db", durable=False),
            "RedisCache": RedisCache(url, prefix="bench:"),
        }
        best = anyio.run(run, calls, stores)
    miss = best.pop("miss (uncached chain)")[0]
    print(f"{calls} calls per round, best of {ROUNDS} rounds, asyncio")
    print(f"miss (uncached chain, zero-latency model): {miss:8.1f} us/call")
    print(f"{'store':28} {'hit us':>8} {'hit/miss':>9} {'miss us':>9} {'added us':>9} {'added':>7}")
    for name, (hit, cold) in best.items():
        added = cold - miss
        print(
            f"{name:28} {hit:8.1f} {hit / miss:8.2f}x {cold:9.1f} {added:9.1f} {added / miss:6.0%}"
        )


if __name__ == "__main__":
    main()
