"""A served chain as a model inside another chain (`ChatOpenAI(base_url=...)`), a client that
hangs up cancelling the served run, and the caller's trace joined; over a real uvicorn."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import openai
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette

from llm import ChatOpenAI, OfflineChatModel, StrOutputParser, add_openai_routes
from prompts import AIMessageChunk, BaseMessage, ChatPromptTemplate
from runnables import RunnableConfig, RunnableGenerator, RunnableLambda
from runnables.tracing import instrument, uninstrument
from tests.uvicorn_thread import WAIT_LIMIT, running


def echo_options(messages: list[BaseMessage], config: RunnableConfig) -> str:
    return json.dumps(config.get("configurable") or {}, sort_keys=True)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = Starlette()
    add_openai_routes(app, OfflineChatModel(), "offline")
    add_openai_routes(app, OfflineChatModel() | StrOutputParser(), "text")
    add_openai_routes(app, RunnableLambda(echo_options), "options")
    with running(app) as url:
        yield url


def served(base_url: str, model: str, **options: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model=model, base_url=f"{base_url}/v1", api_key="unused", max_retries=0, **options
    )


PROMPT = ChatPromptTemplate.from_template("Tell me about {topic}")
ANSWER = "[offline model] reply to: Tell me about comets"


@pytest.mark.parametrize("model", ["offline", "text"])
def test_a_served_chain_is_a_model_in_another_chain(base_url: str, model: str) -> None:
    chain = PROMPT | served(base_url, model) | StrOutputParser()
    assert chain.invoke({"topic": "comets"}) == ANSWER
    chunks = list(chain.stream({"topic": "comets"}))
    assert "".join(chunks) == ANSWER
    assert len(chunks) > 2  # it streamed through the server, piece by piece


@pytest.mark.anyio
async def test_a_served_chain_is_a_model_in_async_code(base_url: str) -> None:
    chain = PROMPT | served(base_url, "offline") | StrOutputParser()
    assert await chain.ainvoke({"topic": "comets"}) == ANSWER
    assert "".join([c async for c in chain.astream({"topic": "comets"})]) == ANSWER


@pytest.mark.anyio
async def test_usage_and_finish_reason_come_back(base_url: str) -> None:
    message = await (PROMPT | served(base_url, "offline")).ainvoke({"topic": "comets"})
    assert message.usage_metadata == {"input_tokens": 4, "output_tokens": 8, "total_tokens": 12}
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.response_metadata["model"] == "offline"
    total = AIMessageChunk("")
    async for chunk in (PROMPT | served(base_url, "offline")).astream({"topic": "comets"}):
        assert isinstance(chunk, AIMessageChunk)
        total += chunk
    assert total.usage_metadata == message.usage_metadata  # the stream's usage chunk


def test_a_models_options_reach_the_served_chain(base_url: str) -> None:
    model = served(base_url, "options", temperature=0.3, max_tokens=20).bind(stop=["END"])
    options = json.loads(model.invoke("hi").content)  # type: ignore[arg-type]
    assert options == {"max_tokens": 20, "stop": ["END"], "temperature": 0.3}


# -- a client that hangs up cancels the run ---------------------------------------------------


class Watch:
    """What the served chain saw, across the server's thread and the test's."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()

    async def wait(self, event: threading.Event) -> None:
        assert await anyio.to_thread.run_sync(event.wait, WAIT_LIMIT)


@pytest.fixture
def watched() -> Iterator[tuple[Watch, str]]:
    watch = Watch()

    async def hold(messages: list[BaseMessage]) -> str:
        watch.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            watch.cancelled.set()
        raise AssertionError("unreachable")  # pragma: no cover

    async def hold_stream(chunks: AsyncIterator[Any]) -> AsyncIterator[str]:
        async for _ in chunks:
            pass
        yield "first"
        watch.started.set()
        try:
            await anyio.sleep_forever()
        finally:
            watch.cancelled.set()
        yield "never"  # pragma: no cover

    app = Starlette()
    add_openai_routes(app, RunnableLambda(hold), "hold")
    add_openai_routes(app, RunnableGenerator(hold_stream), "hold-stream")
    with running(app) as url:
        yield watch, url


@pytest.mark.anyio
async def test_hanging_up_mid_answer_cancels_the_run(watched: tuple[Watch, str]) -> None:
    watch, url = watched
    body = {"model": "hold", "messages": [{"role": "user", "content": "x"}]}
    async with httpx.AsyncClient() as client, anyio.create_task_group() as group:
        group.start_soon(functools.partial(client.post, f"{url}/v1/chat/completions", json=body))
        await watch.wait(watch.started)
        group.cancel_scope.cancel()  # the client goes: its connection closes
    await watch.wait(watch.cancelled)


@pytest.mark.anyio
async def test_hanging_up_mid_stream_cancels_the_run(watched: tuple[Watch, str]) -> None:
    watch, url = watched
    async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk:
        stream = await sdk.chat.completions.create(
            model="hold-stream", messages=[{"role": "user", "content": "x"}], stream=True
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content == "first":
                break
        await watch.wait(watch.started)
        assert not watch.cancelled.is_set()
        await stream.close()
    await watch.wait(watch.cancelled)


# -- tracing ----------------------------------------------------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrument(provider)
    try:
        yield spans
    finally:
        uninstrument()


@pytest.mark.parametrize("stream", [False, True])
def test_a_traceparent_header_parents_the_served_runs_spans(
    base_url: str, exporter: InMemorySpanExporter, stream: bool
) -> None:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0) as sdk:
        answer = sdk.chat.completions.create(
            model="text",
            messages=[{"role": "user", "content": "hi"}],
            stream=stream,
            extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
        if stream:
            list(answer)
    spans = exporter.get_finished_spans()
    [root] = [s for s in spans if s.parent is not None and s.parent.span_id == int(PARENT_ID, 16)]
    assert root.name == "invoke_workflow RunnableSequence"
    assert {format(s.context.trace_id, "032x") for s in spans} == {TRACE_ID}
    assert len(spans) >= 3  # the sequence, the model, the parser
