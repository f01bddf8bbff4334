"""The one event path: every step's start / stream / end / error, sent to the run's handlers.

Composite steps run their children through `call_child` / `stream_child` / `transform_child`.
With no handler in the run these cost one context-variable read; with handlers (user callbacks,
OpenTelemetry, a progress bar, the `astream_events` collector) every step emits `RunEvent`s:
start, stream* (when streamed), then end or error. A step's parent is the step whose body is
running (from the run state); a stream takes the state when it is created, since its body runs
later, inside whichever stage pulls it.

Order: a parent's start comes before its children's. A step that takes a whole input (a chat
model, a prompt) starts once its input is complete, and its start carries it; a step that
transforms a stream (a parser) starts at its first input chunk, and its end carries the input.

`astream_events` (LangChain's v2 schema) is one consumer of this path: `events_v2` turns the
events into v2 dicts (`on_chain_start`, `on_chat_model_stream`, ...) and filters them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from random import getrandbits
from typing import Any

import anyio

from runnables._chunks import ChunkSum, collect_chunks
from runnables._config import RunnableConfig
from runnables._handlers import RunEvent, Sink
from runnables._run import END, RunState, _run, close_within, pull, stream_in_run


def _event(
    kind: str,
    step: Any,
    run_id: str,
    parent_ids: tuple[str, ...],
    config: RunnableConfig,
    data: dict[str, Any],
    options: Mapping[str, Any] | None = None,
) -> RunEvent:
    config = step._event_config(config)
    # Tags and metadata are the config's own (not copied per event): handlers read them.
    return RunEvent(
        kind,
        step._kind,
        config.get("run_name") or step.name,
        run_id,
        parent_ids,
        config.get("tags") or _NO_TAGS,
        config.get("metadata") or _NO_METADATA,
        data,
        step,
        options,
    )


_NO_TAGS: list[str] = []
_NO_METADATA: dict[str, Any] = {}


async def _emit(state: RunState, event: RunEvent) -> None:
    for sink in state.handlers:
        pending = sink.deliver(event)
        if pending is not None:
            await pending


async def _emit_failure(state: RunState, event: RunEvent, exc: BaseException) -> None:
    if isinstance(exc, Exception):
        await _emit(state, event)
        return
    # Cancelled (or interrupted): still report it, so spans and progress bars are closed.
    with anyio.CancelScope(shield=True):
        await _emit(state, event)


def events_on() -> bool:
    """True while the run in this context has event handlers."""
    state = _run.get()
    return state is not None and bool(state.handlers)


def _new_run_id(config: RunnableConfig, root: bool) -> str:
    run_id = config.get("run_id") if root else None
    # 128 random bits, as a uuid4 has (less its version bits), at a fifth of uuid4's cost.
    return str(run_id) if run_id is not None else f"{getrandbits(128):032x}"


async def call_child(
    step: Any, input: Any, config: RunnableConfig, *, root: bool = False, **kwargs: Any
) -> Any:
    """Run a step's `_acall`, emitting its start/end/error events when the run has handlers.

    `root` marks a run's entry step, whose run id may come from `config["run_id"]`.
    """
    state = _run.get()
    if state is None or not state.handlers or step._events_inside:
        return await step._acall(input, config, **kwargs)
    run_id, parents = _new_run_id(config, root), state.parent_ids
    start = {"input": step._event_input(input)}
    await _emit(state, _event("start", step, run_id, parents, config, start, kwargs))
    token = _run.set(state.with_parent(run_id))
    try:
        output = await step._acall(input, config, **kwargs)
    except BaseException as exc:
        _run.reset(token)
        error = _event("error", step, run_id, parents, config, {"error": exc}, kwargs)
        await _emit_failure(state, error, exc)
        raise
    _run.reset(token)
    await _emit(state, _event("end", step, run_id, parents, config, {"output": output}, kwargs))
    return output


async def _traced(
    step: Any,
    chunks: AsyncIterator[Any],
    config: RunnableConfig,
    state: RunState,
    run_id: str,
    options: Mapping[str, Any],
    input: Any = END,
    input_sum: ChunkSum | None = None,
) -> AsyncIterator[Any]:
    """Pass a step's output chunks on, emitting its events.

    With `input` (a whole input), the start event comes first and carries it. Without (a
    transform), `input_sum` collects the input chunks as they are read, and the start event
    comes at the first input chunk (`_Feed` emits it) or, failing that, at the first output.
    """
    parents = state.parent_ids
    inner = state.with_parent(run_id)
    started: list[bool] = [False]
    if input is not END:
        data = {"input": step._event_input(input)}
        await _emit(state, _event("start", step, run_id, parents, config, data, options))
        started[0] = True
    elif isinstance(chunks, _Feeding):
        chunks.on_first = lambda: _start_once(step, config, state, run_id, options, started)
    output = ChunkSum()
    try:
        while (chunk := await pull(inner, chunks)) is not END:
            if not started[0]:
                await _start_once(step, config, state, run_id, options, started)
            output.add(chunk)
            data = {"chunk": chunk}
            await _emit(state, _event("stream", step, run_id, parents, config, data, options))
            yield chunk
    except GeneratorExit:
        # Closed early by the consumer: the step ends here, with what it gave so far.
        await _emit_failure(state, _end(step, config, state, run_id, options, output, input_sum),
                            GeneratorExit())  # fmt: skip
        raise
    except BaseException as exc:
        await _start_once(step, config, state, run_id, options, started)
        error = _event("error", step, run_id, parents, config, {"error": exc}, options)
        await _emit_failure(state, error, exc)
        raise
    finally:
        await close_within(inner, chunks)
    await _start_once(step, config, state, run_id, options, started)
    await _emit(state, _end(step, config, state, run_id, options, output, input_sum))


def _end(
    step: Any,
    config: RunnableConfig,
    state: RunState,
    run_id: str,
    options: Mapping[str, Any],
    output: ChunkSum,
    input_sum: ChunkSum | None,
) -> RunEvent:
    data: dict[str, Any] = {"output": output.value}
    if input_sum is not None:
        data["input"] = input_sum.value
    return _event("end", step, run_id, state.parent_ids, config, data, options)


async def _start_once(
    step: Any,
    config: RunnableConfig,
    state: RunState,
    run_id: str,
    options: Mapping[str, Any],
    started: list[bool],
) -> None:
    if not started[0]:
        started[0] = True
        event = _event("start", step, run_id, state.parent_ids, config, {}, options)
        await _emit(state, event)


class _Feeding:
    """Marks a transform's output stream whose input feed reports its first chunk."""

    on_first: Any = None


class _Feed:
    """A transform's input: passes chunks through, adds them up, reports the first one."""

    def __init__(self, chunks: AsyncIterator[Any], total: ChunkSum, owner: _Feeding) -> None:
        self.chunks = chunks
        self.total = total
        self.owner = owner

    def __aiter__(self) -> _Feed:
        return self

    async def __anext__(self) -> Any:
        chunk = await anext(self.chunks)
        if not self.total.started and self.owner.on_first is not None:
            await self.owner.on_first()
        self.total.add(chunk)
        return chunk

    async def aclose(self) -> None:
        aclose = getattr(self.chunks, "aclose", None)
        if aclose is not None:
            await aclose()


class _FeedingStream(_Feeding):
    """A transform's output stream, over a `_Feed` of its input."""

    def __init__(self, out: AsyncIterator[Any]) -> None:
        self.out = out

    def __aiter__(self) -> _FeedingStream:
        return self

    async def __anext__(self) -> Any:
        return await anext(self.out)

    async def aclose(self) -> None:
        aclose = getattr(self.out, "aclose", None)
        if aclose is not None:
            await aclose()


def stream_child(
    step: Any, input: Any, config: RunnableConfig, *, root: bool = False, **kwargs: Any
) -> AsyncIterator[Any]:
    """A step's `_astream`, traced when the run has handlers."""
    state = _run.get()
    if state is None or not state.handlers or step._events_inside:
        return step._astream(input, config, **kwargs)  # type: ignore[no-any-return]
    # The run state is taken now: the generator's body runs later, inside whichever stage
    # pulls it, and `_traced` puts the state back (with this step as parent) for each chunk.
    chunks = step._astream(input, config, **kwargs)
    return _traced(step, chunks, config, state, _new_run_id(config, root), kwargs, input)


def transform_child(
    step: Any, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
) -> AsyncIterator[Any]:
    """A step's `_atransform`, traced when the run has handlers (its input is a stream)."""
    state = _run.get()
    if state is None or not state.handlers or step._events_inside:
        return step._atransform(chunks, config, **kwargs)  # type: ignore[no-any-return]
    run_id = _new_run_id(config, False)
    if not step._transforms:
        # The step needs its whole input anyway: gather it, then start with it, as invoke does.
        return _whole_input(step, chunks, config, state, run_id, kwargs)
    total = ChunkSum()
    out = _FeedingStream(None)  # type: ignore[arg-type]
    out.out = step._atransform(_Feed(chunks, total, out), config, **kwargs)
    return _traced(step, out, config, state, run_id, kwargs, input_sum=total)


async def _whole_input(
    step: Any,
    chunks: AsyncIterator[Any],
    config: RunnableConfig,
    state: RunState,
    run_id: str,
    options: dict[str, Any],
) -> AsyncIterator[Any]:
    whole = await collect_chunks(chunks)
    stream = _traced(step, step._astream(whole, config, **options), config, state, run_id,
                     options, whole)  # fmt: skip
    try:
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()  # type: ignore[attr-defined]


async def batch_started(step: Any, size: int, config: RunnableConfig) -> None:
    """Tell the run's handlers that a batch of `size` items of `step` begins."""
    state = _run.get()
    if state is None or not state.handlers:
        return
    event = _event("batch_start", step, "", state.parent_ids, config, {"size": size})
    await _emit(state, event)


# -- astream_events: LangChain's v2 schema ---------------------------------------------------------

_V2_TYPES = {"lambda": "chain"}
_NO_STREAM_EVENTS = frozenset({"prompt", "tool"})


class EventFilter:
    """LangChain's filters: an event passes if it matches any `include_*` (or none is given) and
    no `exclude_*`. Types are the v2 ones: chain, prompt, chat_model, parser, tool."""

    def __init__(
        self,
        include_names: Sequence[str] | None = None,
        include_types: Sequence[str] | None = None,
        include_tags: Sequence[str] | None = None,
        exclude_names: Sequence[str] | None = None,
        exclude_types: Sequence[str] | None = None,
        exclude_tags: Sequence[str] | None = None,
    ) -> None:
        for param, value in (
            ("include_names", include_names),
            ("include_types", include_types),
            ("include_tags", include_tags),
            ("exclude_names", exclude_names),
            ("exclude_types", exclude_types),
            ("exclude_tags", exclude_tags),
        ):
            if value is not None and (
                isinstance(value, str) or not all(isinstance(v, str) for v in value)
            ):
                raise TypeError(f'Invalid "{param}" argument: {value!r}; expected a list of str')
        self.include = (set(include_names or ()), set(include_types or ()), set(include_tags or ()))
        self.exclude = (set(exclude_names or ()), set(exclude_types or ()), set(exclude_tags or ()))
        self.any_include = any(self.include)

    def passes(self, name: str, type_: str, tags: list[str]) -> bool:
        names, types, tag_set = self.include
        if self.any_include and not (
            name in names or type_ in types or not tag_set.isdisjoint(tags)
        ):
            return False
        names, types, tag_set = self.exclude
        return not (name in names or type_ in types or not tag_set.isdisjoint(tags))


class _Collector:
    """The `astream_events` consumer: v2 dicts, filtered, into a memory stream."""

    def __init__(self, send: Any, event_filter: EventFilter) -> None:
        self.send = send
        self.filter = event_filter

    def _put(self, event: RunEvent) -> None:
        type_ = _V2_TYPES.get(event.kind, event.kind)
        if event.event == "stream" and type_ in _NO_STREAM_EVENTS:
            return
        if not self.filter.passes(event.name, type_, event.tags):
            return
        self.send.send_nowait(
            {
                "event": f"on_{type_}_{event.event}",
                "name": event.name,
                "run_id": event.run_id,
                "parent_ids": list(event.parent_ids),
                "tags": list(event.tags),
                "metadata": dict(event.metadata),
                "data": dict(event.data),
            }
        )

    on_start = on_stream = on_end = _put


async def stream_events(
    root: Any,
    input: Any,
    config: RunnableConfig,
    kwargs: dict[str, Any],
    event_filter: EventFilter,
) -> AsyncIterator[dict[str, Any]]:
    """Stream the root step in a run of its own, yielding v2 events of every step, in order.

    As in LangChain's v2, errors are not events: the exception propagates after the events
    yielded so far.
    """
    send, receive = anyio.create_memory_object_stream[dict[str, Any]](float("inf"))
    failure: list[BaseException] = []
    collector = Sink(_Collector(send, event_filter), portable=False)

    async def run() -> None:
        try:
            stream = stream_in_run(
                config,
                root.name,
                lambda cfg: stream_child(root, input, cfg, root=True, **kwargs),
                handlers=(collector,),
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
