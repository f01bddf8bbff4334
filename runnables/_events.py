"""The one event path: steps' start / stream / end / error, sent to the run's handlers.

Composite steps run their children through `call_child` / `stream_child` / `transform_child`.
With no handler in the run these cost one context-variable read; with handlers (an
`astream_events` collector, and the observers still to come) every step emits:

    {"event": "start" | "stream" | "end" | "error",
     "name": str, "run_id": str, "parent_id": str | None,
     "tags": list[str], "metadata": dict, "data": {...}}

`data` holds `input` (start), `chunk` (stream), `output` (end) or `error` (error, the exception
object). Events of one step come in order start, stream*, end|error; a child's events come
between its parent's start and end. The parent is the step whose body is running (taken from the
run state); a stream takes it when it is created, since its body runs later, inside whichever
stage pulls it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from runnables._chunks import ChunkSum
from runnables._config import RunnableConfig
from runnables._run import RunState, _run, stream_in_run

Event = dict[str, Any]


def _event(kind: str, step: Any, run_id: str, parent: str | None, config: RunnableConfig,
           data: dict[str, Any]) -> Event:  # fmt: skip
    config = step._event_config(config)
    return {
        "event": kind,
        "name": config.get("run_name") or step.name,
        "run_id": run_id,
        "parent_id": parent,
        "tags": list(config.get("tags", ())),
        "metadata": dict(config.get("metadata", {})),
        "data": data,
    }


def _emit(state: RunState, event: Event) -> None:
    for handler in state.handlers:
        handler(event)


def events_on() -> bool:
    """True while the run in this context has event handlers."""
    state = _run.get()
    return state is not None and bool(state.handlers)


def _new_run_id(config: RunnableConfig, root: bool) -> str:
    run_id = config.get("run_id") if root else None
    return str(run_id) if run_id is not None else uuid.uuid4().hex


async def call_child(
    step: Any, input: Any, config: RunnableConfig, *, root: bool = False, **kwargs: Any
) -> Any:
    """Run a step's `_acall`, emitting its start/end/error events when the run has handlers.

    `root` marks a run's entry step, whose run id may come from `config["run_id"]`.
    """
    state = _run.get()
    if state is None or not state.handlers:
        return await step._acall(input, config, **kwargs)
    run_id, parent = _new_run_id(config, root), state.parent_id
    _emit(state, _event("start", step, run_id, parent, config, {"input": input}))
    token = _run.set(state.with_parent(run_id))
    try:
        output = await step._acall(input, config, **kwargs)
    except BaseException as exc:
        _emit(state, _event("error", step, run_id, parent, config, {"error": exc}))
        raise
    finally:
        _run.reset(token)
    _emit(state, _event("end", step, run_id, parent, config, {"output": output}))
    return output


_END = object()


async def _traced(
    step: Any,
    chunks: AsyncIterator[Any],
    input: Any,
    config: RunnableConfig,
    state: RunState,
    run_id: str,
) -> AsyncIterator[Any]:
    parent = state.parent_id
    inner = state.with_parent(run_id)
    _emit(state, _event("start", step, run_id, parent, config, {"input": input}))
    output = ChunkSum()
    try:
        while True:
            token = _run.set(inner)
            try:
                chunk = await anext(chunks, _END)
            finally:
                _run.reset(token)
            if chunk is _END:
                break
            output.add(chunk)
            _emit(state, _event("stream", step, run_id, parent, config, {"chunk": chunk}))
            yield chunk
    except BaseException as exc:
        _emit(state, _event("error", step, run_id, parent, config, {"error": exc}))
        raise
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            token = _run.set(inner)
            try:
                await aclose()
            finally:
                _run.reset(token)
    _emit(state, _event("end", step, run_id, parent, config, {"output": output.value}))


def stream_child(
    step: Any, input: Any, config: RunnableConfig, *, root: bool = False, **kwargs: Any
) -> AsyncIterator[Any]:
    """A step's `_astream`, traced when the run has handlers."""
    state = _run.get()
    if state is None or not state.handlers:
        return step._astream(input, config, **kwargs)  # type: ignore[no-any-return]
    # The run state is taken now: the generator's body runs later, inside whichever stage
    # pulls it, and `_traced` puts the state back (with this step as parent) for each chunk.
    chunks = step._astream(input, config, **kwargs)
    return _traced(step, chunks, input, config, state, _new_run_id(config, root))


def transform_child(
    step: Any, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
) -> AsyncIterator[Any]:
    """A step's `_atransform`, traced when the run has handlers (its input is a stream)."""
    state = _run.get()
    if state is None or not state.handlers:
        return step._atransform(chunks, config, **kwargs)  # type: ignore[no-any-return]
    out = step._atransform(chunks, config, **kwargs)
    return _traced(step, out, "<stream>", config, state, uuid.uuid4().hex)


async def stream_events(
    root: Any, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
) -> AsyncIterator[Event]:
    """Stream the root step in a run of its own, yielding the events of every step, in order."""
    import anyio

    send, receive = anyio.create_memory_object_stream[Event](float("inf"))
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            stream = stream_in_run(
                config,
                root.name,
                lambda cfg: stream_child(root, input, cfg, root=True, **kwargs),
                handlers=(send.send_nowait,),
            )
            async for _ in stream:
                pass
        except Exception as exc:
            failure.append(exc)
        finally:
            send.close()

    async with anyio.create_task_group() as tg, receive:
        tg.start_soon(run)
        async for event in receive:
            yield event
    if failure:
        raise failure[0]
