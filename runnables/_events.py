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

A sequence's steps also carry `seq:step:N` in their events' tags (`step_tag`), which their
children do not inherit. `astream_events` (LangChain's v2 schema, `runnables._events_v2`) is one
consumer of this path; `dispatch_custom_event` (`runnables._custom_events`) sends a step's own
events down it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from random import getrandbits
from typing import Any

import anyio

from runnables._chunks import ChunkSum, collect_chunks
from runnables._config import RunnableConfig, merge_configs
from runnables._handlers import RunEvent
from runnables._run import END, RunState, StepInfo, _run, close_within, pull


def _event(
    kind: str,
    step: Any,
    run_id: str,
    parent_ids: tuple[str, ...],
    config: RunnableConfig,
    data: dict[str, Any],
    options: Mapping[str, Any] | None = None,
    tag: str | None = None,
) -> RunEvent:
    config = step._event_config(config)
    # Tags and metadata are the config's own (not copied per event): handlers read them.
    tags = config.get("tags") or _NO_TAGS
    return RunEvent(
        kind,
        step._kind,
        config.get("run_name") or step.name,
        run_id,
        parent_ids,
        tags if tag is None else [tag, *tags],
        config.get("metadata") or _NO_METADATA,
        data,
        step,
        options,
    )


def step_tags_and_metadata(info: StepInfo) -> tuple[str, list[str], dict[str, Any]]:
    """The kind, tags and metadata a step's custom events carry (its own, less `seq:step:N`)."""
    step, config = info
    config = step._event_config(config)
    return step._kind, config.get("tags") or _NO_TAGS, config.get("metadata") or _NO_METADATA


_NO_TAGS: list[str] = []
_NO_METADATA: dict[str, Any] = {}


def _inherited(info: StepInfo, config: RunnableConfig) -> RunnableConfig:
    """The config of a call made at an entry point inside a step's body (`inner.ainvoke(x)` in
    a function), with that step's tags and metadata added, as LangChain's nested calls inherit
    them: its events and its children's carry them, whether or not the call passed a config.

    Only traced runs get here (the enclosing step is known only to them), so a function sees
    the inherited tags and metadata in its config only while someone listens.
    """
    _, tags, metadata = step_tags_and_metadata(info)
    if not tags and not metadata:
        return config
    step: dict[str, Any] = {}
    # Copies: the config a nested call receives must not share the enclosing step's own.
    if tags:
        step["tags"] = list(tags)
    if metadata:
        step["metadata"] = dict(metadata)
    return merge_configs(step, config)  # type: ignore[arg-type]


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
    step: Any,
    input: Any,
    config: RunnableConfig,
    *,
    root: bool = False,
    step_tag: str | None = None,
    batch_index: int | None = None,
    **kwargs: Any,
) -> Any:
    """Run a step's `_acall`, emitting its start/end/error events when the run has handlers.

    `root` marks a run's entry step, whose run id may come from `config["run_id"]`.
    `step_tag` is a tag of this step's events only, not inherited by its children (a
    sequence's `seq:step:N`). `batch_index` is a batch item's index, told to handlers in its
    start event (`data["batch_index"]`), so they can report per item (`UsageTracker`).
    """
    state = _run.get()
    if state is None or not state.handlers or step._events_inside:
        return await step._acall(input, config, **kwargs)
    if root and state.step is not None:
        config = _inherited(state.step, config)
    run_id, parents = _new_run_id(config, root), state.parent_ids
    shown = step._event_input(input)
    start = {"input": shown}
    if batch_index is not None:
        start["batch_index"] = batch_index
    await _emit(state, _event("start", step, run_id, parents, config, start, kwargs, step_tag))
    token = _run.set(state.with_parent(run_id, (step, config)))
    try:
        output = await step._acall(input, config, **kwargs)
    except BaseException as exc:
        _run.reset(token)
        data = {"error": exc, "input": shown}
        error = _event("error", step, run_id, parents, config, data, kwargs, step_tag)
        await _emit_failure(state, error, exc)
        raise
    _run.reset(token)
    end = {"output": output}
    await _emit(state, _event("end", step, run_id, parents, config, end, kwargs, step_tag))
    return output


class _Trace:
    """One traced stream of one step: what each of its events names."""

    __slots__ = ("config", "options", "run_id", "started", "state", "step", "tag")

    def __init__(
        self,
        step: Any,
        config: RunnableConfig,
        state: RunState,
        run_id: str,
        options: Mapping[str, Any],
        tag: str | None,
    ) -> None:
        self.step = step
        self.config = config
        self.state = state
        self.run_id = run_id
        self.options = options
        self.tag = tag
        self.started = False

    def event(self, kind: str, data: dict[str, Any]) -> RunEvent:
        return _event(
            kind,
            self.step,
            self.run_id,
            self.state.parent_ids,
            self.config,
            data,
            self.options,
            self.tag,
        )

    async def start_once(self) -> None:
        if not self.started:
            self.started = True
            await _emit(self.state, self.event("start", {}))


async def _traced(
    trace: _Trace,
    chunks: AsyncIterator[Any],
    input: Any = END,
    input_sum: ChunkSum | None = None,
) -> AsyncIterator[Any]:
    """Pass a step's output chunks on, emitting its events.

    With `input` (a whole input), the start event comes first and carries it. Without (a
    transform), `input_sum` collects the input chunks as they are read, and the start event
    comes at the first input chunk (`_Feed` emits it) or, failing that, at the first output.
    """
    state, step = trace.state, trace.step
    inner = state.with_parent(trace.run_id, (step, trace.config))
    shown = END
    if input is not END:
        shown = step._event_input(input)
        await _emit(state, trace.event("start", {"input": shown}))
        trace.started = True
    elif isinstance(chunks, _Feeding):
        chunks.on_first = trace.start_once
    output = ChunkSum()
    try:
        while (chunk := await pull(inner, chunks)) is not END:
            if not trace.started:
                await trace.start_once()
            output.add(chunk)
            await _emit(state, trace.event("stream", {"chunk": chunk}))
            yield chunk
    except GeneratorExit:
        # Closed early by the consumer: the step ends here, with what it gave so far.
        await _emit_failure(state, _end(trace, output, input_sum), GeneratorExit())
        raise
    except BaseException as exc:
        await trace.start_once()
        data: dict[str, Any] = {"error": exc}
        if shown is not END:
            data["input"] = shown
        elif input_sum is not None:
            data["input"] = input_sum.value
        await _emit_failure(state, trace.event("error", data), exc)
        raise
    finally:
        await close_within(inner, chunks)
    await trace.start_once()
    await _emit(state, _end(trace, output, input_sum))


def _end(trace: _Trace, output: ChunkSum, input_sum: ChunkSum | None) -> RunEvent:
    data: dict[str, Any] = {"output": output.value}
    if input_sum is not None:
        data["input"] = input_sum.value
    return trace.event("end", data)


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
    step: Any,
    input: Any,
    config: RunnableConfig,
    *,
    root: bool = False,
    step_tag: str | None = None,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """A step's `_astream`, traced when the run has handlers (`step_tag`: see `call_child`)."""
    state = _run.get()
    if state is None or not state.handlers or step._events_inside:
        return step._astream(input, config, **kwargs)  # type: ignore[no-any-return]
    if root and state.step is not None:
        config = _inherited(state.step, config)
    # The run state is taken now: the generator's body runs later, inside whichever stage
    # pulls it, and `_traced` puts the state back (with this step as parent) for each chunk.
    chunks = step._astream(input, config, **kwargs)
    trace = _Trace(step, config, state, _new_run_id(config, root), kwargs, step_tag)
    return _traced(trace, chunks, input)


def transform_child(
    step: Any,
    chunks: AsyncIterator[Any],
    config: RunnableConfig,
    *,
    step_tag: str | None = None,
    **kwargs: Any,
) -> AsyncIterator[Any]:
    """A step's `_atransform`, traced when the run has handlers (its input is a stream)."""
    state = _run.get()
    if state is None or not state.handlers or step._events_inside:
        return step._atransform(chunks, config, **kwargs)  # type: ignore[no-any-return]
    trace = _Trace(step, config, state, _new_run_id(config, False), kwargs, step_tag)
    if not step._transforms:
        # The step needs its whole input anyway: gather it, then start with it, as invoke does.
        return _whole_input(trace, chunks)
    total = ChunkSum()
    out = _FeedingStream(None)  # type: ignore[arg-type]
    out.out = step._atransform(_Feed(chunks, total, out), config, **kwargs)
    return _traced(trace, out, input_sum=total)


async def _whole_input(trace: _Trace, chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    whole = await collect_chunks(chunks)
    step = trace.step
    stream = _traced(trace, step._astream(whole, trace.config, **trace.options), whole)
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
