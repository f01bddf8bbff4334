"""What a cache costs: a hit per call for each store, and what a cache adds to a miss.

Run from the checkout: `python -m tests.benchmarks.cache [calls]` (it uses the tests' loopback
server). Not collected by pytest (no `test_` prefix).
Needs `redis-server` on the PATH (Debian's package); it starts one on a free port, without
persistence, and stops it at the end.

The chain is the seed chain's model step, `ChatPromptTemplate | model | StrOutputParser`, and
the cache is the model's (`cache=`). Two baselines, measured in the same run, rounds
alternating between every row:

- **offline**: `OfflineChatModel()` with zero latency, the cheapest miss there can be (no
  I/O at all), so every percentage against it is an upper bound;
- **loopback**: `ChatOpenAI` through the official SDK to the loopback OpenAI-compatible server
  on 127.0.0.1 (`tests/openai_server.py`), the cheapest real miss: one HTTP request, no model.
  Real model calls take 0.3-30 s, so what a cache adds to a real miss is the absolute figure.

For each store (in memory; SQLite with `durable=True`, one fsync per write, and with
`durable=False`; Redis on 127.0.0.1):

- hit: `chain.ainvoke(doc)` for a doc already stored, microseconds per call;
- miss: `chain.ainvoke(doc)` for docs never seen (look up, call the model, store);
- added: miss minus the uncached chain's call, in microseconds and as a share of it.

The step cache (`chain.with_cache(InMemoryCache())`) is measured against the offline chain too.
Each figure is the best round, with the worst round after it (the machine is shared: the
spread says how much to trust a figure). Targets (issue 21): an in-memory hit costs less than a
miss; SQLite and Redis hits under 200 us; a miss adds under 10%.
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

from llm import ChatOpenAI, OfflineChatModel, StrOutputParser
from llm._chat_model import BaseChatModel
from prompts import ChatPromptTemplate
from runnables import BaseCache, InMemoryCache, RedisCache, Runnable, SQLiteCache

ROUNDS = 5


def build_chain(model: BaseChatModel) -> Runnable[Any, str]:
    prompt = ChatPromptTemplate.from_messages(
        [("system", "You summarize documents in one line."), ("user", "Summarize: {doc}")]
    )
    return prompt | model | StrOutputParser()


_SERVER = (
    "import sys\n"
    "from tests.openai_server import OpenAIServer\n"
    "with OpenAIServer() as server:\n"
    "    print(server.base_url, flush=True)\n"
    "    sys.stdin.read()\n"
)


@contextmanager
def loopback_server() -> Iterator[str]:
    """The loopback OpenAI server in a process of its own, so its thread takes no GIL time
    from the process measured; its base URL. It stops when its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait()


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


class Rows:
    """Every round's figure of every row, to print the best and the worst."""

    def __init__(self) -> None:
        self.rounds: dict[str, list[float]] = {}

    def add(self, name: str, figure: float) -> None:
        self.rounds.setdefault(name, []).append(figure)

    def best(self, name: str) -> float:
        return min(self.rounds[name])

    def worst(self, name: str) -> float:
        return max(self.rounds[name])


async def run(calls: int, stores: dict[str, BaseCache], base_url: str) -> Rows:
    def loopback(cache: BaseCache | None) -> ChatOpenAI:
        options: dict[str, Any] = {"cache": cache} if cache is not None else {"cache": False}
        return ChatOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, **options)

    chains: dict[str, dict[str, Runnable[Any, str]]] = {
        "offline": {"uncached": build_chain(OfflineChatModel(cache=False))},
        "loopback": {"uncached": build_chain(loopback(None))},
    }
    for name, cache in stores.items():
        chains["offline"][name] = build_chain(OfflineChatModel(cache=cache))
        chains["loopback"][name] = build_chain(loopback(cache))
    step = build_chain(OfflineChatModel(cache=False)).with_cache(InMemoryCache())
    chains["offline"]["step cache, InMemoryCache"] = step
    hot = {"doc": "the document everyone asks about"}
    for group in chains.values():
        for chain in group.values():
            await chain.ainvoke(hot)  # warm: connections made, the hot doc stored
    rows = Rows()
    fresh = 0

    def docs() -> list[dict[str, str]]:
        nonlocal fresh
        fresh += 1
        return [{"doc": f"document {fresh}-{i}"} for i in range(calls)]

    for _ in range(ROUNDS):
        for base, group in chains.items():
            for name, chain in group.items():
                if name != "uncached":
                    rows.add(f"{base} {name} hit", await per_call(chain.ainvoke, [hot] * calls))
                rows.add(f"{base} {name} miss", await per_call(chain.ainvoke, docs()))
    return rows


def report(rows: Rows, base: str, names: list[str]) -> None:
    miss = rows.best(f"{base} uncached miss")
    worst = rows.worst(f"{base} uncached miss")
    print(f"\n{base}: uncached miss {miss:.1f} us/call (worst round {worst:.1f})")
    print(f"{'store':28} {'hit us (worst)':>16} {'miss us':>9} {'added us':>9} {'added':>7}")
    for name in names:
        hit = f"{rows.best(f'{base} {name} hit'):7.1f} ({rows.worst(f'{base} {name} hit'):6.1f})"
        cold = rows.best(f"{base} {name} miss")
        added = cold - miss
        print(f"{name:28} {hit:>16} {cold:9.1f} {added:9.1f} {added / miss:6.0%}")


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    with tempfile.TemporaryDirectory() as tmp, redis_server() as url, loopback_server() as base_url:
        stores: dict[str, BaseCache] = {
            "InMemoryCache": InMemoryCache(),
            "SQLiteCache durable": SQLiteCache(Path(tmp) / "durable.db"),
            "SQLiteCache durable=False": SQLiteCache(Path(tmp) / "fast.db", durable=False),
            "RedisCache": RedisCache(url, prefix="bench:"),
        }
        rows = anyio.run(run, calls, stores, base_url)
    print(f"{calls} calls per row and round, best of {ROUNDS} rounds (worst in brackets), asyncio")
    report(rows, "offline", [*stores, "step cache, InMemoryCache"])
    report(rows, "loopback", list(stores))


if __name__ == "__main__":
    main()
