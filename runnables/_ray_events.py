"""A run's events across the Ray border: emitted on the workers, received by the driver's handlers.

A batch's handlers (its config's `callbacks`, the process-wide ones, those of a run the batch is
part of) stay on the driver: a progress bar or a tracer does not pickle, and its copy on a
worker would count there, unseen. Instead:

- the driver tells each worker which events its handlers take (`wanted`: a bar needs no
  `stream` events, and only those of the items themselves, as its `_roots_only` says), and the
  worker's run carries a `Forwarder`, which keeps those events in a lean form (`Lean`: plain
  values, the step as its position in the shipped chain);
- each exchange brings them back with the finished items, pickled in one piece, so an event
  costs no Ray call of its own, and an item's events arrive before its result;
- `Replay` turns them back into `RunEvent`s on the driver, with the driver's own step objects
  and the parents the batch has there, and delivers them to the handlers in order.

With no handler on the driver, nothing of this runs: the worker's run has no handler at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from typing import Any

from runnables._handlers import RunEvent, Sink
from runnables._ray_ship import dumps, loads, portable

Lean = tuple[
    str,  # event
    str,  # kind
    str,  # name
    str,  # run_id
    tuple[str, ...],  # parent_ids, from the worker's root
    list[str],  # tags
    dict[str, Any],  # metadata
    dict[str, Any],  # data
    Any,  # the step: its index in the shipped steps, or a `RemoteStep`
    Mapping[str, Any],  # options
]

EVENTS = ("start", "stream", "end", "error", "batch_start")


Wanted = tuple[frozenset[str], bool]
"""The events some handler takes, and whether every handler takes only the roots' (the items')."""


def wanted_by(sinks: Sequence[Sink]) -> Wanted:
    """What `sinks` take (a handler whose `_roots_only` is true ignores the steps inside items)."""
    names = frozenset(name for sink in sinks for name in sink.methods)
    return names, all(getattr(sink.handler, "_roots_only", False) for sink in sinks)


class RemoteStep:
    """Stands for a step the driver does not hold (a step a function chose at run time): its
    name and kind, and for a chat model its OpenTelemetry request attributes."""

    def __init__(self, name: str, kind: str, genai: dict[str, Any] | None) -> None:
        self.name = name
        self._kind = kind
        self._genai = genai

    def __repr__(self) -> str:
        return f"RemoteStep({self.name!r}, kind={self._kind!r})"

    def _genai_request(self, options: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self._genai or {})


chunk_indices: ContextVar[Sequence[int] | None] = ContextVar(
    "runnables_chunk_indices", default=None
)
"""The batch indexes of the items of the chunk running here (a worker batches each chunk: its
items' `batch_index` is their place in the chunk, told to the driver as their place in the
batch)."""


class Forwarder:
    """The worker side: a handler keeping the `wanted` events until the next exchange takes them."""

    def __init__(self, wanted: Wanted, steps: Sequence[Any]) -> None:
        names, self._roots_only = wanted
        self._positions = {id(step): i for i, step in enumerate(steps)}
        self._events: list[Lean] = []
        # Only the wanted methods exist, so the run's event path skips the others entirely.
        for name in names & set(EVENTS):
            keep = self._keep_batch_start if name == "batch_start" else self._keep
            setattr(self, f"on_{name}", keep)

    def _keep(self, event: RunEvent) -> None:
        if self._roots_only and event.parent_ids:
            return
        data = event.data
        if "error" in data:
            data = {**data, "error": portable(data["error"])}
        if "batch_index" in data and not event.parent_ids:
            indices = chunk_indices.get()
            if indices is not None:
                data = {**data, "batch_index": indices[data["batch_index"]]}
        step: int | RemoteStep | None = self._positions.get(id(event.step))
        if step is None:
            step = _stand_in(event)
        self._events.append(
            (
                event.event,
                event.kind,
                event.name,
                event.run_id,
                event.parent_ids,
                event.tags,
                event.metadata,
                data,
                step,
                event.options,
            )
        )

    def _keep_batch_start(self, event: RunEvent) -> None:
        # The worker batches each chunk; the driver reports the one batch it stands for.
        if event.parent_ids:
            self._keep(event)

    def take(self) -> bytes | None:
        """The events kept since the last call, pickled (None if there are none)."""
        if not self._events:
            return None
        events, self._events = self._events, []
        try:
            return dumps(events)
        except Exception:
            # One unpicklable input or output must not lose the batch: describe those values.
            return dumps([_picklable(event) for event in events])


def _stand_in(event: RunEvent) -> RemoteStep:
    describe = getattr(event.step, "_genai_request", None)
    genai = describe(event.options) if describe is not None and event.event == "start" else None
    return RemoteStep(event.name, event.kind, genai)


def _picklable(event: Lean) -> Lean:
    try:
        dumps(event)
    except Exception:
        *head, data, step, options = event
        data = {key: _value(value) for key, value in data.items()}
        options = {key: _value(value) for key, value in options.items()}
        return (*head, data, step, options)
    return event


def _value(value: Any) -> Any:
    try:
        dumps(value)
    except Exception:
        return f"<unpicklable {type(value).__qualname__}: {value!r:.200}>"
    return value


class Replay:
    """The driver side: delivers forwarded events to the batch's handlers, as local events."""

    def __init__(
        self, sinks: Sequence[Sink], parent_ids: tuple[str, ...], steps: Sequence[Any]
    ) -> None:
        self.sinks = tuple(sinks)
        self.parent_ids = parent_ids
        self.steps = steps

    async def deliver(self, payload: bytes) -> None:
        events: list[Lean] = loads(payload)
        parents = self.parent_ids
        for event, kind, name, run_id, parent_ids, tags, metadata, data, step, options in events:
            run_event = RunEvent(
                event,
                kind,
                name,
                run_id,
                (*parents, *parent_ids) if parents else parent_ids,
                tags,
                metadata,
                data,
                self.steps[step] if isinstance(step, int) else step,
                options,
            )
            for sink in self.sinks:
                pending = sink.deliver(run_event)
                if pending is not None:
                    await pending
