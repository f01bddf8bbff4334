"""OpenTelemetry: one span per step, parented under the caller's span, with the GenAI conventions
on chat spans; checked with the SDK's in-memory exporter against the loopback server."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from llm import ChatOpenAI, OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RunnableLambda
from runnables.tracing import CAPTURE_CONTENT, OpenTelemetryHandler, instrument, uninstrument
from tests.llm.test_seed_chain import seed_chain
from tests.openai_server import OpenAIServer, Reply


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture
def handler(provider: TracerProvider) -> OpenTelemetryHandler:
    return OpenTelemetryHandler(provider)


def model(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-test", base_url=server.base_url, api_key="test", max_retries=0, **kwargs
    )


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def check_seed_tree(spans: list[ReadableSpan], root_parent: Any = None) -> None:
    (root,) = [s for s in spans if s.name == "invoke_workflow RunnableSequence"]
    assert root.parent == root_parent
    assert root.attributes is not None
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    top = [s.name for s in children(spans, root)]
    assert top == [
        "RunnableParallel", "ChatPromptTemplate", "chat gpt-test", "StrOutputParser"
    ]  # fmt: skip
    (parallel,) = [s for s in children(spans, root) if s.name == "RunnableParallel"]
    branches = children(spans, parallel)
    assert sorted(s.name for s in branches) == sorted(
        ["RunnableSequence"] * 3 + ["RunnablePassthrough"]
    )
    for branch in branches:
        if branch.name == "RunnableSequence":
            names = sorted(s.name for s in children(spans, branch))
            assert names == ["ChatPromptTemplate", "StrOutputParser", "chat gpt-test"]
    assert len(spans) == 1 + 4 + 4 + 3 * 3


@pytest.mark.anyio
async def test_the_seed_chain_gives_the_expected_tree_with_genai_attributes(
    openai_server: OpenAIServer, handler: OpenTelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    usages = [(11, 1), (12, 2), (13, 3), (14, 4)]
    for usage in usages:
        openai_server.queue(Reply("ok", usage=usage))
    chain = seed_chain(model(openai_server, temperature=0.5))
    await chain.ainvoke("space", {"callbacks": [handler]})
    spans = list(exporter.get_finished_spans())
    check_seed_tree(spans)
    chats = [s for s in spans if s.name == "chat gpt-test"]
    assert len(chats) == 4
    port = int(openai_server.base_url.split(":")[-1].split("/")[0])
    for chat in chats:
        attributes = dict(chat.attributes or {})
        assert chat.kind == SpanKind.CLIENT
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.provider.name"] == "openai"
        assert attributes["gen_ai.request.model"] == "gpt-test"
        assert attributes["gen_ai.request.temperature"] == 0.5
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["server.port"] == port
        assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
        assert str(attributes["gen_ai.response.id"]).startswith("chatcmpl")
        assert "gen_ai.input.messages" not in attributes  # content only on opt-in
    # Usage comes from the server's replies, request by request.
    traced = sorted(
        (
            dict(c.attributes or {})["gen_ai.usage.input_tokens"],
            dict(c.attributes or {})["gen_ai.usage.output_tokens"],
        )
        for c in chats
    )
    assert traced == usages


@pytest.mark.anyio
async def test_spans_nest_under_the_callers_span_on_both_backends(
    openai_server: OpenAIServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as outer:
        await seed_chain(model(openai_server)).ainvoke(
            "space", {"callbacks": [OpenTelemetryHandler(provider)]}
        )
    spans = [s for s in exporter.get_finished_spans() if s.name != "request"]
    check_seed_tree(spans, root_parent=outer.get_span_context())


def test_a_sync_invoke_from_a_worker_thread_nests_under_that_threads_span(
    openai_server: OpenAIServer, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracer = provider.get_tracer("test")
    instrument(provider)
    try:

        def handler_thread() -> None:
            with tracer.start_as_current_span("web request"):
                seed_chain(model(openai_server)).invoke("space")

        thread = threading.Thread(target=handler_thread)
        thread.start()
        thread.join()
    finally:
        uninstrument()
    spans = list(exporter.get_finished_spans())
    (outer,) = [s for s in spans if s.name == "web request"]
    check_seed_tree([s for s in spans if s is not outer], root_parent=outer.get_span_context())
    exporter.clear()
    RunnableLambda(lambda x: x).invoke(1)  # uninstrumented: no spans
    assert exporter.get_finished_spans() == ()


@pytest.mark.anyio
async def test_a_failing_call_marks_its_span(
    openai_server: OpenAIServer, handler: OpenTelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    openai_server.error(500, message="boom")
    with pytest.raises(Exception, match="boom"):
        await model(openai_server).ainvoke("x", {"callbacks": [handler]})
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "InternalServerError"
    assert [e.name for e in span.events] == ["exception"]


@pytest.mark.anyio
async def test_message_content_is_recorded_only_on_opt_in(
    handler: OpenTelemetryHandler,
    exporter: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = ChatPromptTemplate.from_template("Tell me about {topic}") | OfflineChatModel(
        responses=["Comets are icy."]
    )
    monkeypatch.setenv(CAPTURE_CONTENT, "true")
    await chain.ainvoke("comets", {"callbacks": [handler]})
    (chat,) = [s for s in exporter.get_finished_spans() if s.name == "chat offline"]
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.provider.name"] == "offline"
    sent = json.loads(str(attributes["gen_ai.input.messages"]))
    assert sent == [
        {"role": "user", "parts": [{"type": "text", "content": "Tell me about comets"}]}
    ]
    reply = json.loads(str(attributes["gen_ai.output.messages"]))
    assert reply[0]["parts"][0]["content"] == "Comets are icy."
    assert reply[0]["finish_reason"] == "stop"


@pytest.mark.anyio
async def test_a_stream_closed_early_ends_its_spans(
    handler: OpenTelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    chain = OfflineChatModel(responses=["a b c d e"]) | StrOutputParser()
    stream = chain.astream("x", {"callbacks": [handler]})
    async for _ in stream:
        break
    await stream.aclose()
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ["StrOutputParser", "chat offline", "invoke_workflow RunnableSequence"]


@pytest.mark.anyio
async def test_a_tool_gets_an_execute_tool_span(
    handler: OpenTelemetryHandler, exporter: InMemorySpanExporter
) -> None:
    from llm import tool

    @tool
    def double(n: int) -> int:
        """Double a number."""
        return n * 2

    assert await double.ainvoke({"n": 2}, {"callbacks": [handler]}) == 4
    (span,) = exporter.get_finished_spans()
    assert span.name == "execute_tool double"
    assert dict(span.attributes or {})["gen_ai.tool.name"] == "double"
