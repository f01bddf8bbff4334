"""`astream_events`: the run's events in LangChain's v2 schema, as an async iterator.

A consumer of the one event path (`runnables._events`): a collector handler turns each `RunEvent`
into a v2 dict (`on_chain_start`, `on_chat_model_stream`, `on_tool_error`, `on_custom_event`, ...),
filters it and puts it in a memory stream, which `EventStream` reads.

The run itself is a `Detached` task (`runnables._bridge`), not a child of a task group held by
the iterator: a consumer that stops early may close the iterator from another task, or drop it
for the garbage collector, and neither can exit a task group entered elsewhere. Closing (or
collecting) the iterator cancels the run and, on close, waits until it has ended.

The collector follows sync calls made inside steps onto the bridge's loops and worker threads
(a nested `.invoke()` or `.stream()` in a sync function reports as that function's child): from
another thread it hands each event to its own loop's thread-safe entry, which keeps their order.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import anyio

from runnables._bridge import Detached, start_detached, threadsafe_caller
from runnables._config import RunnableConfig
from runnables._events import stream_child
from runnables._handlers import RunEvent, Sink
from runnables._run import stream_in_run

__all__ = ["EventFilter", "EventStream"]

_V2_TYPES = {"lambda": "chain"}
_NO_STREAM_EVENTS = frozenset({"prompt", "tool", "retriever"})  # none in LangChain either


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
    """The `astream_events` handler: v2 dicts, filtered, into a memory stream."""

    def __init__(self, send: Any, event_filter: EventFilter) -> None:
        self.send = send
        self.filter = event_filter
        self.thread = threading.get_ident()
        self.call_soon = threadsafe_caller()

    def _put(self, event: RunEvent) -> None:
        type_ = _V2_TYPES.get(event.kind, event.kind)
        if event.event == "stream" and type_ in _NO_STREAM_EVENTS:
            return
        data = dict(event.data)
        data.pop("batch_index", None)  # ours, for handlers; not in LangChain's v2 data
        self._send(event, type_, f"on_{type_}_{event.event}", data)

    on_start = on_stream = on_end = _put

    def on_error(self, event: RunEvent) -> None:
        # v2 reports only a tool's failure as an event (a chain's error just propagates).
        if event.kind != "tool":
            return
        data = event.data
        input = data.get("input")
        call_id = None
        if isinstance(input, dict) and _is_tool_call(input):
            # Called with a tool call: LangChain's error names its id and shows its arguments.
            call_id, input = input["id"], input.get("args")
        self._send(
            event,
            "tool",
            "on_tool_error",
            {"error": data["error"], "input": input, "tool_call_id": call_id},
        )

    def on_custom_event(self, event: RunEvent) -> None:
        self._send(
            event, _V2_TYPES.get(event.kind, event.kind), "on_custom_event", event.data["data"]
        )

    def _send(self, event: RunEvent, type_: str, name: str, data: Any) -> None:
        if not self.filter.passes(event.name, type_, event.tags):
            return
        v2 = {
            "event": name,
            "name": event.name,
            "run_id": event.run_id,
            "parent_ids": list(event.parent_ids),
            "tags": list(event.tags),
            "metadata": dict(event.metadata),
            "data": data,
        }
        if threading.get_ident() == self.thread:
            self._deliver(v2)
        else:  # a sync call inside a step, on a bridge loop or in a worker thread
            self.call_soon(lambda: self._deliver(v2))

    def _deliver(self, v2: dict[str, Any]) -> None:
        # The consumer may have gone: late events from other threads are dropped.
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            self.send.send_nowait(v2)


def _is_tool_call(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") == "tool_call" and "id" in value


class EventStream(AsyncGenerator[dict[str, Any], None]):
    """The async iterator `astream_events` returns: the run's v2 events, in order.

    The run starts at the first `__anext__`. An error of the run is raised after the events
    before it. `aclose()` (as `contextlib.aclosing` calls it) cancels a run still going and
    waits for it to end; dropping the iterator unclosed cancels it too.
    """

    def __init__(
        self,
        root: Any,
        input: Any,
        config: RunnableConfig,
        kwargs: dict[str, Any],
        event_filter: EventFilter,
    ) -> None:
        self._root = root
        self._input = input
        self._config = config
        self._kwargs = kwargs
        self._filter = event_filter
        self._task: Detached | None = None
        self._receive: Any = None
        self._failure_box: list[BaseException] = []
        self._finished = False

    def _start(self) -> None:
        send, receive = anyio.create_memory_object_stream[dict[str, Any]](float("inf"))
        self._receive = receive
        self._collector = _Collector(send, self._filter)
        collector = Sink(self._collector)
        root, input, config, kwargs = self._root, self._input, self._config, self._kwargs
        failure = self._failure_box
        # The run must not refer to this iterator: dropping it is what cancels the run.

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

        self._task = start_detached(run)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        if self._finished:
            raise StopAsyncIteration
        if self._task is None:
            self._start()
        try:
            return await self._receive.receive()  # type: ignore[no-any-return]
        except anyio.EndOfStream:
            pass
        await self.aclose()
        if self._failure_box:
            raise self._failure_box.pop()
        raise StopAsyncIteration

    async def asend(self, value: None) -> dict[str, Any]:
        return await self.__anext__()

    async def athrow(self, typ: Any, val: Any = None, tb: Any = None) -> dict[str, Any]:
        await self.aclose()
        if isinstance(typ, BaseException):
            raise typ
        raise typ if val is None else val

    async def aclose(self) -> None:
        """Stop: cancel the run if it still goes, and wait for it to end."""
        self._finished = True
        task = self._task
        if task is not None:
            task.cancel()
            await task.wait()
            self._receive.close()

    def __del__(self) -> None:
        # Dropped unclosed (a `break` without aclosing): the run must not go on unread. The
        # collector knows the loop's thread and its thread-safe entry.
        task = self._task
        if task is not None and not self._finished:
            self._finished = True
            self._receive.close()  # sync, and safe here: no task of ours is receiving
            collector = self._collector
            if threading.get_ident() == collector.thread:
                with contextlib.suppress(Exception):  # the loop may be gone
                    task.cancel()
            else:
                collector.call_soon(task.cancel)
