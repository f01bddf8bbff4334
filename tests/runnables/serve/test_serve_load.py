"""Load: 100 SSE streams at once through real uvicorn on 127.0.0.1, every answer complete, and
the server's tasks back to their baseline afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RunnableLambda
from runnables.serve import add_routes
from tests.serve_server import ServeServer

STREAMS = 100


class Rendezvous:
    """A step that lets its inputs through only once `n` of them are in it: proof that the
    streams were all open at the same time (it fails after 30 s otherwise)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.arrived = 0
        self.event: anyio.Event | None = None

    async def __call__(self, topic: str) -> dict[str, str]:
        if self.event is None:
            self.event = anyio.Event()  # made on the server's loop
        self.arrived += 1
        if self.arrived >= self.n:
            self.event.set()
        with anyio.fail_after(30):
            await self.event.wait()
        return {"topic": topic}


def answer(topic: str) -> str:
    return f"[offline model] Be brief. | {topic}"


@pytest.fixture
def served() -> Iterator[tuple[ServeServer, Rendezvous]]:
    rendezvous = Rendezvous(STREAMS)
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{topic}")])
    model = OfflineChatModel(chunk_size=3)
    app = Starlette()
    add_routes(app, RunnableLambda(rendezvous) | prompt | model | StrOutputParser(), "/load")
    add_routes(app, prompt | model | StrOutputParser(), "/warm")
    with ServeServer(app) as server:
        yield server, rendezvous


def stream_text(body: str) -> tuple[list[str], str]:
    """The event names of an SSE body, and its data chunks joined."""
    names: list[str] = []
    chunks: list[str] = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(line.partition(": ")[::2] for line in block.split("\n") if line)
        if "event" in fields:
            names.append(fields["event"])
            if fields["event"] == "data":
                chunks.append(json.loads(fields["data"]))
    return names, "".join(chunks)


@pytest.mark.anyio
async def test_a_hundred_concurrent_streams_all_complete(
    served: tuple[ServeServer, Rendezvous],
) -> None:
    server, rendezvous = served
    limits = httpx.Limits(max_connections=STREAMS, max_keepalive_connections=STREAMS)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client:
        warm = await client.post("/warm/stream", json={"input": {"topic": "warm"}})
        assert stream_text(warm.text)[1] == answer("warm")
    baseline = await server.settle_tasks(10**6)
    bodies: dict[int, str] = {}

    async def one(client: httpx.AsyncClient, i: int) -> None:
        async with client.stream("POST", "/load/stream", json={"input": f"topic {i}"}) as r:
            assert r.status_code == 200
            bodies[i] = (await r.aread()).decode()

    async with (
        httpx.AsyncClient(base_url=server.url, limits=limits, timeout=60) as client,
        anyio.create_task_group() as group,
    ):
        for i in range(STREAMS):
            group.start_soon(one, client, i)
    assert rendezvous.arrived == STREAMS  # all were in the chain at once
    assert sorted(bodies) == list(range(STREAMS))
    for i, body in bodies.items():
        names, text = stream_text(body)
        assert names[0] == "metadata"
        assert names[-1] == "end"
        assert names.count("data") > 1
        assert text == answer(f"topic {i}")
    assert await server.settle_tasks(baseline) <= baseline
