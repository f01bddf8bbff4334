"""With `runnables.tracing` on, a request's spans join the caller's trace (W3C `traceparent`),
whether the caller sends the header itself or calls through `RemoteRunnable`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from runnables.serve import RemoteRunnable
from runnables.tracing import instrument, uninstrument
from tests.serve_server import ServeServer

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrument(provider)
    try:
        yield provider, exporter
    finally:
        uninstrument()


def served_roots(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    """The root spans of the served /text chain (a sequence; the client's step is a remote)."""
    return [
        s for s in exporter.get_finished_spans() if s.name == "invoke_workflow RunnableSequence"
    ]


@pytest.mark.anyio
@pytest.mark.parametrize("endpoint", ["invoke", "stream", "stream_events", "batch"])
async def test_a_traceparent_header_parents_the_servers_spans(
    serve_server: ServeServer, traced: Any, endpoint: str
) -> None:
    _, exporter = traced
    body: dict[str, Any] = {"input": {"topic": "comets"}}
    if endpoint == "batch":
        body = {"inputs": [{"topic": "comets"}]}
    async with httpx.AsyncClient(base_url=serve_server.url) as client:
        response = await client.post(
            f"/text/{endpoint}",
            json=body,
            headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
        )
    assert response.status_code == 200
    (root,) = served_roots(exporter)
    assert root.parent is not None
    assert format(root.parent.trace_id, "032x") == TRACE_ID
    assert format(root.parent.span_id, "016x") == PARENT_ID
    children = [s for s in exporter.get_finished_spans() if s is not root]
    assert children
    assert all(format(s.context.trace_id, "032x") == TRACE_ID for s in children)


@pytest.mark.anyio
async def test_without_traceparent_the_servers_run_is_a_trace_of_its_own(
    serve_server: ServeServer, traced: Any
) -> None:
    _, exporter = traced
    async with httpx.AsyncClient(base_url=serve_server.url) as client:
        await client.post("/text/invoke", json={"input": {"topic": "comets"}})
    (root,) = served_roots(exporter)
    assert root.parent is None


@pytest.mark.anyio
async def test_remote_runnable_carries_the_callers_trace(
    serve_server: ServeServer, traced: Any
) -> None:
    provider, exporter = traced
    tracer = provider.get_tracer("test")
    remote = RemoteRunnable(f"{serve_server.url}/text")
    with tracer.start_as_current_span("caller") as caller:
        assert await remote.ainvoke({"topic": "comets"}) == "[offline model] Be brief. | comets"
        chunks = [chunk async for chunk in remote.astream({"topic": "comets"})]
    assert chunks
    roots = served_roots(exporter)
    assert len(roots) == 2
    for root in roots:
        assert root.parent is not None
        assert root.parent.trace_id == caller.get_span_context().trace_id
        assert root.parent.span_id == caller.get_span_context().span_id
