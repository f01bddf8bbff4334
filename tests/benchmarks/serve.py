"""What serving costs: `/invoke` over HTTP against calling the chain in-process, and streaming
throughput, measured in one run with rounds alternating.

Run: `python tests/benchmarks/serve.py`. Not collected by pytest (no `test_` prefix).

The chain is a prompt, the offline model (zero latency, chunks of 4 characters) and a string
parser, served by uvicorn (h11) on 127.0.0.1 in a thread of this process (server and client
share one GIL, as a sidecar would not: the figures are an upper bound); the client is one
`httpx.AsyncClient` with keep-alive, requests one after another (the overhead of one request,
not a throughput under load). Each round measures, in turn:

1. `chain.ainvoke(...)` in-process;
2. `POST /chain/invoke` with httpx (JSON in, JSON out);
3. `RemoteRunnable.ainvoke(...)` (the same request through our client);
4. `POST /chain/stream` read whole with httpx: chunks per second, and per stream.

Best of 7 rounds each; prints microseconds per call and the HTTP overhead per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables.serve import RemoteRunnable, add_routes

ROUNDS = 7
CALLS = 200
STREAMS = 100
TOPIC = "the history of space exploration, " * 8  # a longer answer: more chunks per stream


def build_chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{topic}")])
    return prompt | OfflineChatModel(chunk_size=4) | StrOutputParser()


@contextlib.contextmanager
def serving(app: Starlette) -> Iterator[str]:
    """uvicorn (h11) serving `app` on a free port of 127.0.0.1 in a thread; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, http="h11", lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


async def timed(n: int, call: Callable[[], Awaitable[Any]]) -> float:
    """Seconds per call over `n` calls."""
    start = time.perf_counter()
    for _ in range(n):
        await call()
    return (time.perf_counter() - start) / n


async def main() -> None:
    chain = build_chain()
    app = Starlette()
    add_routes(app, chain)
    with serving(app) as url:
        remote = RemoteRunnable(f"{url}/chain")
        body = {"input": {"topic": TOPIC}}
        async with httpx.AsyncClient(base_url=url) as client:

            async def in_process() -> Any:
                return await chain.ainvoke({"topic": TOPIC})

            async def over_http() -> Any:
                response = await client.post("/chain/invoke", json=body)
                return response.json()["output"]

            async def through_remote() -> Any:
                return await remote.ainvoke({"topic": TOPIC})

            async def stream() -> int:
                response = await client.post("/chain/stream", json=body)
                return response.text.count("event: data")

            expected = await in_process()
            assert await over_http() == expected
            assert await through_remote() == expected
            chunks_per_stream = await stream()
            best: dict[str, float] = {}
            for _ in range(ROUNDS):
                for name, call, n in (
                    ("in-process ainvoke", in_process, CALLS),
                    ("POST /invoke (httpx)", over_http, CALLS),
                    ("RemoteRunnable.ainvoke", through_remote, CALLS),
                    ("POST /stream (whole)", stream, STREAMS),
                ):
                    seconds = await timed(n, call)
                    best[name] = min(best.get(name, float("inf")), seconds)
    base = best["in-process ainvoke"]
    print(f"chain: prompt | offline model (chunks of 4) | parser; best of {ROUNDS} rounds")
    for name, seconds in best.items():
        print(f"  {name:26s} {seconds * 1e6:9.0f} us per call")
    print(f"  HTTP overhead of /invoke: {(best['POST /invoke (httpx)'] - base) * 1e6:.0f} us")
    remote_cost = (best["RemoteRunnable.ainvoke"] - base) * 1e6
    print(f"  overhead through RemoteRunnable: {remote_cost:.0f} us")
    per_stream = best["POST /stream (whole)"]
    print(
        f"  streaming: {chunks_per_stream} chunks per stream, "
        f"{chunks_per_stream / per_stream:.0f} chunks/s on one connection"
    )
    print(json.dumps({k: round(v * 1e6) for k, v in best.items()}))


if __name__ == "__main__":
    asyncio.run(main())
