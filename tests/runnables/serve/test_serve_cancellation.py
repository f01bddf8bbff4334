"""A client that hangs up cancels its run on the server: mid-invoke and mid-stream, the model
request the chain holds at the loopback model server is hung up, and the serve server's tasks go
back to their baseline."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from llm import ChatOpenAI, StrOutputParser
from prompts import ChatPromptTemplate
from runnables.serve import add_routes
from tests.openai_server import OpenAIServer
from tests.serve_server import ServeServer

# These tests hang up the way a client does: mid-read, leaving httpx's and httpcore's line and byte
# generators unexhausted, which trio reports when they are collected (`gc.collect()` below
# keeps that inside the test). Only those third-party generators are let through.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:Async generator '(httpx|httpcore)\..*' was garbage collected:ResourceWarning"
)


def model_chain(server: OpenAIServer) -> Any:
    model = ChatOpenAI(model="gpt-test", base_url=server.base_url, api_key="test", max_retries=0)
    return ChatPromptTemplate.from_template("{topic}") | model | StrOutputParser()


@pytest.fixture
def served(openai_server: OpenAIServer) -> Iterator[ServeServer]:
    app = Starlette()
    add_routes(app, model_chain(openai_server))
    with ServeServer(app) as server:
        yield server


async def baseline(served: ServeServer) -> int:
    """The server's task count once warm (a whole stream and an invoke went through)."""
    async with httpx.AsyncClient(base_url=served.url) as client:
        await client.post("/chain/stream", json={"input": {"topic": "warm"}})
        await client.post("/chain/invoke", json={"input": {"topic": "warm"}})
        await client.post("/chain/stream_events", json={"input": {"topic": "warm"}})
    return await served.settle_tasks(10**6)


@pytest.mark.anyio
async def test_a_client_gone_mid_invoke_cancels_the_model_request(
    served: ServeServer, openai_server: OpenAIServer
) -> None:
    tasks = await baseline(served)
    hold = openai_server.hold_requests(1)
    answers: list[httpx.Response] = []

    async def call(client: httpx.AsyncClient) -> None:
        answers.append(await client.post("/chain/invoke", json={"input": {"topic": "x"}}))

    async with (
        httpx.AsyncClient(base_url=served.url) as client,
        anyio.create_task_group() as group,
    ):
        group.start_soon(call, client)
        await hold.wait_arrived_async()  # the model request is in flight, held
        group.cancel_scope.cancel()  # the client hangs up
    await openai_server.wait_for_disconnects_async(1)
    assert answers == []
    assert not hold.released  # the model server was still holding it: it was hung up
    assert openai_server.disconnects == 1
    assert await served.settle_tasks(tasks) <= tasks


@pytest.mark.anyio
async def test_a_client_gone_mid_stream_cancels_the_model_stream(
    served: ServeServer, openai_server: OpenAIServer
) -> None:
    tasks = await baseline(served)
    gate = openai_server.gate()
    openai_server.reply("one two three four", gate=gate, pause_after=2)
    seen: list[str] = []
    async with (
        httpx.AsyncClient(base_url=served.url) as client,
        client.stream("POST", "/chain/stream", json={"input": {"topic": "x"}}) as response,
    ):
        async for line in response.aiter_lines():
            seen.append(line)
            if line.startswith("data: ") and "one" in line:
                break  # a chunk arrived; the model is paused after its second one
    gc.collect()
    await gate.wait_arrived_async()
    await openai_server.wait_for_disconnects_async(1)
    assert not gate.released  # the model stream was still paused when it was hung up
    assert "event: metadata" in seen
    assert await served.settle_tasks(tasks) <= tasks


@pytest.mark.anyio
async def test_a_client_gone_mid_stream_events_cancels_the_run(
    served: ServeServer, openai_server: OpenAIServer
) -> None:
    tasks = await baseline(served)
    hold = openai_server.hold_requests(1)
    async with (
        httpx.AsyncClient(base_url=served.url) as client,
        client.stream("POST", "/chain/stream_events", json={"input": {"topic": "x"}}) as response,
    ):
        async for line in response.aiter_lines():
            if "on_chat_model_start" in line:
                break
    gc.collect()
    await hold.wait_arrived_async()
    await openai_server.wait_for_disconnects_async(1)
    assert not hold.released
    assert await served.settle_tasks(tasks) <= tasks


@pytest.mark.anyio
async def test_a_client_gone_mid_batch_cancels_every_item(
    served: ServeServer, openai_server: OpenAIServer
) -> None:
    tasks = await baseline(served)
    hold = openai_server.hold_requests(3)
    inputs = [{"topic": str(i)} for i in range(3)]
    async with (
        httpx.AsyncClient(base_url=served.url) as client,
        anyio.create_task_group() as group,
    ):
        group.start_soon(lambda: client.post("/chain/batch", json={"inputs": inputs}))
        await hold.wait_arrived_async()
        group.cancel_scope.cancel()
    await openai_server.wait_for_disconnects_async(3)
    assert not hold.released
    assert await served.settle_tasks(tasks) <= tasks
