"""Run events for UIs and logs (`astream_events`), and the calls composites use to run children.

Composite steps run their children through `call_child` / `stream_child` / `transform_child`.
With no event stream active these cost one context-variable read; under `astream_events` they
emit, for every step:

    {"event": "start" | "stream" | "end" | "error",
     "name": str, "run_id": str, "parent_id": str | None,
     "tags": list[str], "metadata": dict, "data": {...}}

`data` holds `input` (start), `chunk` (stream), `output` (end) or `error` (error, the exception
object). Events of one step come in order start, stream*, end|error; a child's events come
between its parent's start and end. This is the base for tracing hooks later.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from typing import Any

from runnables._config import RunnableConfig, merge_configs

Event = dict[str, Any]

_sink: ContextVar[Callable[[Event], None] | None] = ContextVar("runnables_events", default=None)
_parent: ContextVar[str | None] = ContextVar("runnables_parent_run", default=None)


def _event(kind: str, step: Any, run_id: str, parent: str | None, config: RunnableConfig,
           data: dict[str, Any]) -> Event:  # fmt: skip
    return {
        "event": kind,
        "name": config.get("run_name") or step.name,
        "run_id": run_id,
        "parent_id": parent,
        "tags": list(config.get("tags", ())),
        "metadata": dict(config.get("metadata", {})),
        "data": data,
    }


def events_on() -> bool:
    """True while an event stream is collecting events in this context."""
    return _sink.get() is not None


async def call_child(step: Any, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
    """Run a child step's `_acall`, emitting start/end/error events when events are on."""
    emit = _sink.get()
    if emit is None:
        return await step._acall(input, config, **kwargs)
    run_id, parent = uuid.uuid4().hex, _parent.get()
    emit(_event("start", step, run_id, parent, config, {"input": input}))
    token = _parent.set(run_id)
    try:
        output = await step._acall(input, config, **kwargs)
    except BaseException as exc:
        emit(_event("error", step, run_id, parent, config, {"error": exc}))
        raise
    finally:
        _parent.reset(token)
    emit(_event("end", step, run_id, parent, config, {"output": output}))
    return output


async def _traced(
    step: Any, chunks: AsyncIterator[Any], input: Any, config: RunnableConfig, parent: str | None
) -> AsyncIterator[Any]:
    from runnables._base import add_chunks

    emit = _sink.get()
    assert emit is not None
    run_id = uuid.uuid4().hex
    emit(_event("start", step, run_id, parent, config, {"input": input}))
    output: Any = None
    started = False
    try:
        while True:
            token = _parent.set(run_id)
            try:
                chunk = await anext(chunks, _END)
            finally:
                _parent.reset(token)
            if chunk is _END:
                break
            output = add_chunks(output, chunk) if started else chunk
            started = True
            emit(_event("stream", step, run_id, parent, config, {"chunk": chunk}))
            yield chunk
    except BaseException as exc:
        emit(_event("error", step, run_id, parent, config, {"error": exc}))
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    emit(_event("end", step, run_id, parent, config, {"output": output}))


_END = object()


def stream_child(step: Any, input: Any, config: RunnableConfig) -> AsyncIterator[Any]:
    """A child step's `_astream`, traced when events are on."""
    chunks: AsyncIterator[Any] = step._astream(input, config)
    if _sink.get() is None:
        return chunks
    # The parent is taken now: the generator's body runs later, inside whichever stage pulls.
    return _traced(step, chunks, input, config, _parent.get())


def transform_child(
    step: Any, chunks: AsyncIterator[Any], config: RunnableConfig
) -> AsyncIterator[Any]:
    """A child step's `_atransform`, traced when events are on (its input is a stream)."""
    out: AsyncIterator[Any] = step._atransform(chunks, config)
    if _sink.get() is None:
        return out
    return _traced(step, out, "<stream>", config, _parent.get())


async def stream_events(root: Any, input: Any, config: RunnableConfig) -> AsyncIterator[Event]:
    """Stream the root step, yielding the events of every step in the run, in order."""
    import anyio

    from runnables._binding import RunnableBinding

    if isinstance(root, RunnableBinding):
        # The root's own events carry the config it was bound with, as its children's do.
        config = merge_configs(root.config, config)
    send, receive = anyio.create_memory_object_stream[Event](float("inf"))
    failure: list[BaseException] = []

    async def run() -> None:
        token = _sink.set(send.send_nowait)
        try:
            async for _ in _traced(root, root._astream(input, config), input, config, None):
                pass
        except Exception as exc:
            failure.append(exc)
        finally:
            _sink.reset(token)
            send.close()

    async with anyio.create_task_group() as tg, receive:
        tg.start_soon(run)
        async for event in receive:
            yield event
    if failure:
        raise failure[0]
