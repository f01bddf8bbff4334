"""`RayExecutor` and the run's handlers: the workers' events reach the driver's callbacks,
process-wide handlers, progress bar and OpenTelemetry spans, in the same tree as a local batch."""

from __future__ import annotations

import io
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import (
    RunEvent,
    Runnable,
    RunnableLambda,
    add_global_handler,
    remove_global_handler,
)
from runnables._ray_events import Forwarder, RemoteStep
from runnables._ray_ship import loads, steps_of
from runnables.progress import ProgressBar
from runnables.ray import RayExecutor
from runnables.tracing import OpenTelemetryHandler

pytestmark = pytest.mark.usefixtures("ray_session")


class Recorder:
    """Records every event; holds a lock, so it cannot be pickled (it must stay on the driver)."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self._lock = threading.Lock()

    def _record(self, event: RunEvent) -> None:
        with self._lock:
            self.events.append(event)

    on_start = on_stream = on_end = on_error = on_batch_start = _record


class ItemError(Exception):
    """Pickles by reference (module level)."""


def check(text: str) -> str:
    if "bad" in text:
        raise ItemError(text)
    return text


def summarize() -> Runnable[dict[str, str], str]:
    prompt = ChatPromptTemplate.from_template("Summarize {text}")
    return prompt | OfflineChatModel() | StrOutputParser() | RunnableLambda(check)


def reply(text: str) -> str:
    return f"[offline model] reply to: Summarize {text}"


def docs(*names: str) -> list[dict[str, str]]:
    return [{"text": name} for name in names]


@pytest.fixture(scope="module")
def executor(ray_session: None) -> Iterator[RayExecutor]:
    with RayExecutor(num_workers=2) as executor:
        yield executor


def trees(events: list[RunEvent], depth: int = 0) -> list[list[Any]]:
    """Each item's events, run ids replaced by their order of appearance in the item (so a tree
    from another process compares equal), the items sorted by their input; the batch's own
    parents (the first `depth` parent ids) left out."""
    by_root: dict[str, list[RunEvent]] = defaultdict(list)
    for event in events:
        if event.event != "batch_start":
            assert len(event.parent_ids) >= depth
            parents = event.parent_ids[depth:]
            by_root[parents[0] if parents else event.run_id].append(event)
    out = []
    for item in by_root.values():
        ids: dict[str, int] = {}
        shape: list[Any] = [repr(item[0].data.get("input"))]
        for event in item:
            ids.setdefault(event.run_id, len(ids))
            # A parent appears before its child.
            labels = tuple(ids[p] for p in event.parent_ids[depth:])
            shape.append((event.event, event.kind, event.name, ids[event.run_id], labels))
        out.append(shape)
    return sorted(out, key=repr)


def batch_starts(events: list[RunEvent]) -> list[tuple[str, Any, tuple[str, ...]]]:
    return [(e.name, e.data["size"], e.parent_ids) for e in events if e.event == "batch_start"]


@pytest.mark.anyio
async def test_callbacks_see_the_events_of_a_local_batch(executor: RayExecutor) -> None:
    inputs = docs("a", "b", "bad c", "d", "e")
    local, remote = Recorder(), Recorder()
    await summarize().abatch(inputs, {"callbacks": [local]}, return_exceptions=True)
    await executor.abatch(summarize(), inputs, {"callbacks": [remote]}, return_exceptions=True)
    assert len(remote.events) == len(local.events) == 1 + 5 * 10
    assert trees(remote.events) == trees(local.events)
    assert batch_starts(remote.events) == batch_starts(local.events)
    assert batch_starts(remote.events) == [("RunnableSequence", 5, ())]
    [error] = [e for e in remote.events if e.event == "error" and not e.parent_ids]
    assert isinstance(error.data["error"], ItemError)
    # Handlers receive the driver's own steps, not the workers' copies.
    chain = summarize()
    recorder = Recorder()
    executor.batch(chain, docs("f"), {"callbacks": [recorder]})
    assert {id(e.step) for e in recorder.events} == {id(step) for step in steps_of(chain)}


def test_global_handlers_and_a_generators_batch(executor: RayExecutor) -> None:
    recorder = Recorder()
    add_global_handler(recorder)
    try:
        out = executor.batch(summarize(), (d for d in docs("a", "b", "c")))
    finally:
        remove_global_handler(recorder)
    assert out == [reply("a"), reply("b"), reply("c")]
    ends = [e.data["output"] for e in recorder.events if e.event == "end" and not e.parent_ids]
    assert sorted(ends) == out
    assert batch_starts(recorder.events) == [("RunnableSequence", None, ())]  # size unknown
    recorder.events.clear()
    add_global_handler(recorder)
    try:
        assert executor.batch(summarize(), iter([])) == []
    finally:
        remove_global_handler(recorder)
    assert recorder.events == []  # an empty batch reports nothing, as the chain's own does


def test_a_batch_inside_a_step_keeps_its_parents(executor: RayExecutor) -> None:
    recorder = Recorder()

    def fan_out(texts: list[str]) -> list[str]:
        return executor.batch(summarize(), docs(*texts))

    outer = RunnableLambda(fan_out)
    assert outer.invoke(["a", "b"], {"callbacks": [recorder]}) == [reply("a"), reply("b")]
    [root] = [e for e in recorder.events if e.event == "start" and not e.parent_ids]
    inner = [e for e in recorder.events if e.run_id != root.run_id]
    assert len(inner) == 1 + 2 * 10
    assert all(e.parent_ids[0] == root.run_id for e in inner)
    assert trees(inner, 1) == trees(run_locally(["a", "b"]), 1)


def run_locally(texts: list[str]) -> list[RunEvent]:
    recorder = Recorder()
    RunnableLambda(lambda ts: summarize().batch(docs(*ts))).invoke(texts, {"callbacks": [recorder]})
    [root] = [e for e in recorder.events if e.event == "start" and not e.parent_ids]
    return [e for e in recorder.events if e.run_id != root.run_id]


async def fail_or_hang(x: int) -> int:
    if x == 0:
        raise ItemError("first")
    await anyio.sleep_forever()
    return x


@pytest.mark.anyio
async def test_runs_cut_short_by_the_first_failure_end_for_the_handlers(
    executor: RayExecutor,
) -> None:
    recorder = Recorder()
    with pytest.raises(ItemError):
        await executor.abatch(RunnableLambda(fail_or_hang), range(6), {"callbacks": [recorder]})
    started = {e.run_id for e in recorder.events if e.event == "start"}
    ended = [e for e in recorder.events if e.event in ("end", "error")]
    # The failing item's chunk started with it; the other worker's chunk may have been
    # cancelled before it began, and then reports nothing.
    assert len(started) in (3, 6)
    assert sorted(e.run_id for e in ended) == sorted(started)  # every run started ends, once
    errors = sorted(type(e.data["error"]).__name__ for e in ended)
    assert errors == ["CancelledError"] * (len(started) - 1) + ["ItemError"]


def test_progress_bar_counts_items_done_and_failed(executor: RayExecutor) -> None:
    out = io.StringIO()
    progress = ProgressBar(file=out, mininterval=0)
    results = executor.batch(
        summarize(), docs("a", "bad b", "c", "d"), {"callbacks": [progress]}, return_exceptions=True
    )
    assert isinstance(results[1], ItemError)
    assert (progress.done, progress.failed, progress.total) == (3, 1, 4)
    assert progress.bar is None  # closed: every item was counted before the batch returned
    assert "4/4" in out.getvalue()
    assert "failed=1" in out.getvalue()


def test_progress_bar_counts_a_batch_of_unknown_size(executor: RayExecutor) -> None:
    out = io.StringIO()
    progress = ProgressBar(file=out, mininterval=0)
    executor.batch(summarize(), iter(docs("a", "b", "c")), {"callbacks": [progress]})
    assert (progress.done, progress.total) == (3, None)
    assert "3item" in out.getvalue().replace(" ", "")


def spans_by_parent(spans: tuple[ReadableSpan, ...]) -> dict[int | None, list[str]]:
    tree: dict[int | None, list[str]] = defaultdict(list)
    for span in spans:
        tree[span.parent.span_id if span.parent is not None else None].append(span.name)
    return tree


def test_spans_reach_the_drivers_tracer_with_their_parents(executor: RayExecutor) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    handler = OpenTelemetryHandler(provider)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("request") as request:
        executor.batch(summarize(), docs("a", "b"), {"callbacks": [handler]})
    spans = exporter.get_finished_spans()
    assert len(spans) == 1 + 2 * 5
    by_id = {span.context.span_id: span for span in spans if span.context is not None}
    roots = [s for s in spans if s.name == "invoke_workflow RunnableSequence"]
    assert len(roots) == 2
    for root in roots:
        assert root.parent is not None
        assert root.parent.span_id == request.get_span_context().span_id
        assert root.context is not None
        children = [s for s in spans if s.parent and s.parent.span_id == root.context.span_id]
        assert sorted(s.name for s in children) == sorted(
            ["ChatPromptTemplate", "chat offline", "StrOutputParser", "check"]
        )
    [chat, _] = [s for s in spans if s.name == "chat offline"]
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.request.model"] == "offline"
    assert chat.attributes["gen_ai.provider.name"] == "offline"
    assert chat.parent is not None
    assert by_id[chat.parent.span_id] in roots


# -- the worker side, without Ray ------------------------------------------------------------------


class Locked:
    """An output that cannot be pickled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def __repr__(self) -> str:
        return "Locked()"


def test_forwarder_keeps_only_the_wanted_events_and_describes_what_does_not_pickle() -> None:
    chosen = RunnableLambda(lambda x: x, name="chosen")
    chain = RunnableLambda(lambda x: Locked()) | RunnableLambda(lambda _: chosen)
    forwarder = Forwarder((frozenset({"end"}), False), steps_of(chain))
    chain.invoke(1, {"callbacks": [forwarder]})
    payload = forwarder.take()
    assert payload is not None
    events = loads(payload)
    assert [e[0] for e in events] == ["end"] * 4  # no start event was even kept
    assert [e[2] for e in events] == ["lambda", "chosen", "lambda", "RunnableSequence"]
    first, picked, second, sequence = events
    assert first[7] == {"output": "<unpicklable Locked: Locked()>"}
    assert [first[8], second[8], sequence[8]] == [1, 2, 0]  # positions in steps_of(chain)
    assert isinstance(picked[8], RemoteStep)  # chosen at run time: the driver does not hold it
    assert picked[8].name == "chosen"
    assert forwarder.take() is None
    roots = Forwarder((frozenset({"end"}), True), steps_of(chain))  # as for a ProgressBar
    chain.invoke(1, {"callbacks": [roots]})
    assert [e[2] for e in loads(roots.take() or b"")] == ["RunnableSequence"]
