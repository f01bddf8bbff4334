"""Streams through a model cache: a hit replays the stored reply as chunks (stream, astream,
astream_events), a miss streamed to its end is stored, an interrupted stream stores nothing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest

from llm import ChatOpenAI, OfflineChatModel, set_llm_cache
from prompts import AIMessage, AIMessageChunk, tool_call
from runnables import InMemoryCache, SQLiteCache
from tests.openai_server import OpenAIServer, Reply

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_global_cache() -> Iterator[None]:
    set_llm_cache(None)
    yield
    set_llm_cache(None)


async def chunks_of(model: Any, text: str) -> list[AIMessageChunk]:
    return [chunk async for chunk in model.astream(text)]


def total(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    return chunks[0] + chunks[1:] if len(chunks) > 1 else chunks[0]


async def test_a_stream_streamed_to_its_end_is_stored_and_replayed_as_a_marked_chunk(
    tmp_path: Path,
) -> None:
    call = tool_call(name="f", args={"x": 1}, id="c1")
    model = OfflineChatModel(
        responses=[AIMessage("one two three", tool_calls=[call]), "other"],
        cache=SQLiteCache(tmp_path / "c.db"),
    )
    miss = await chunks_of(model, "q")
    assert len(miss) == 3
    hit = await chunks_of(model, "q")
    assert len(hit) == 1
    [replayed] = hit
    assert isinstance(replayed, AIMessageChunk)
    assert replayed.response_metadata["cache_hit"] is True
    assert replayed.text == total(miss).text == "one two three"
    assert replayed.tool_calls == total(miss).tool_calls == [call]
    assert replayed.usage_metadata == total(miss).usage_metadata is not None
    # One key for invoke and stream: the streamed reply serves an invoke, and the other way.
    invoked = await model.ainvoke("q")
    assert invoked.response_metadata["cache_hit"] is True
    assert invoked.text == "one two three"
    assert (await model.ainvoke("p")).text == "other"
    [from_invoke] = await chunks_of(model, "p")
    assert from_invoke.text == "other"
    assert from_invoke.response_metadata["cache_hit"] is True


async def test_a_stream_left_early_stores_nothing() -> None:
    model = OfflineChatModel(responses=["one two three", "four five"], cache=InMemoryCache())
    async with contextlib.aclosing(model.astream("q")) as stream:
        async for _ in stream:
            break
    assert (await model.ainvoke("q")).text == "four five"  # a miss: the second reply
    assert (await model.ainvoke("q")).response_metadata["cache_hit"] is True


async def test_a_stream_that_fails_stores_nothing(openai_server: OpenAIServer) -> None:
    openai_server.queue(Reply("one two three", fault="drop", fault_after=1))
    model = ChatOpenAI(
        base_url=openai_server.base_url, api_key="k", max_retries=0, cache=InMemoryCache()
    )
    with pytest.raises(openai.APIConnectionError):
        await chunks_of(model, "q")
    chunks = await chunks_of(model, "q")
    assert total(chunks).text == "echo: q"
    assert len(openai_server.requests) == 2
    [hit] = await chunks_of(model, "q")
    assert hit.text == "echo: q"
    assert hit.response_metadata["cache_hit"] is True
    assert len(openai_server.requests) == 2


async def test_a_hit_fires_on_chat_model_stream_in_astream_events() -> None:
    model = OfflineChatModel(responses=["one two", "x"], cache=InMemoryCache())
    await model.ainvoke("q")
    events = [e async for e in model.astream_events("q", version="v2")]
    kinds = [e["event"] for e in events]
    assert kinds == ["on_chat_model_start", "on_chat_model_stream", "on_chat_model_end"]
    chunk = events[1]["data"]["chunk"]
    assert chunk.text == "one two"
    assert chunk.response_metadata["cache_hit"] is True
    assert events[2]["data"]["output"].response_metadata["cache_hit"] is True


async def test_sync_stream_replays_a_hit(tmp_path: Path) -> None:
    model = OfflineChatModel(responses=["one two", "x"], cache=SQLiteCache(tmp_path / "c.db"))

    def stream() -> list[AIMessageChunk]:
        return list(model.stream("q"))

    assert len(await anyio.to_thread.run_sync(stream)) == 2
    [hit] = await anyio.to_thread.run_sync(stream)
    assert hit.text == "one two"
    assert hit.response_metadata["cache_hit"] is True


async def test_identical_streams_in_flight_make_one_request(openai_server: OpenAIServer) -> None:
    model = ChatOpenAI(
        base_url=openai_server.base_url, api_key="k", max_retries=0, cache=InMemoryCache()
    )
    hold = openai_server.hold_requests(1)
    texts: list[str] = []

    async def stream() -> None:
        texts.append(total(await chunks_of(model, "same")).text)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(stream)
        await hold.wait_arrived_async()
        await anyio.wait_all_tasks_blocked()
        hold.release()
    assert texts == ["echo: same"] * 20
    assert len(openai_server.requests) == 1


async def test_a_stream_through_a_global_cache_with_a_rate_limited_model_is_stored() -> None:
    from runnables import RateLimiter

    set_llm_cache(InMemoryCache())
    model = OfflineChatModel(
        responses=["one two", "x"], rate_limiter=RateLimiter(requests_per_minute=60_000)
    )
    assert total(await chunks_of(model, "q")).text == "one two"
    [hit] = await chunks_of(model, "q")
    assert hit.response_metadata["cache_hit"] is True
