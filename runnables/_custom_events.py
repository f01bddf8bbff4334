"""Custom events: a step's body telling the run's handlers something of its own (progress, a
partial result), as LangChain's `dispatch_custom_event` / `adispatch_custom_event` do.

The event goes down the one event path: each handler's `on_custom_event` gets a `RunEvent` with
`event == "custom_event"`, the event's `name`, the dispatching step's `run_id`, parents, kind,
tags and metadata, and `data == {"data": data}`; `astream_events` yields it as LangChain's v2
`on_custom_event` (`data` is what was sent).

The step is the one whose body is running where the dispatch is made: an `async def` step, a
sync function in its worker thread, a generator between its chunks. With no handler in the run
a dispatch does nothing (this project's runs carry no state then, so it costs one
context-variable read).
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator, Mapping
from typing import Any

from runnables._bridge import run_from_thread
from runnables._config import RunnableConfig
from runnables._events import step_tags_and_metadata
from runnables._handlers import RunEvent
from runnables._run import RunState, _run, detached_context

__all__ = ["adispatch_custom_event", "dispatch_custom_event"]


def _deliveries(name: str, data: Any, config: RunnableConfig | None) -> Iterator[Awaitable[None]]:
    # One handler at a time: each async handler's delivery is awaited before the next is made.
    made = _custom_event(name, data, config)
    if made is not None:
        state, event = made
        for sink in state.handlers:
            pending = sink.deliver(event)
            if pending is not None:
                yield pending


def _custom_event(
    name: str, data: Any, config: RunnableConfig | None
) -> tuple[RunState, RunEvent] | None:
    if not isinstance(name, str):
        raise TypeError(f'Invalid "name" argument: expected a str, got {name!r}')
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f'Invalid "config" argument: expected a dict or None, got {config!r}')
    state = _run.get()
    if state is None or not state.handlers:
        return None  # nobody listens
    if not state.parent_ids:
        raise RuntimeError(
            f"dispatch_custom_event({name!r}) was called outside any step's body: a custom "
            "event belongs to the step that sends it; call it from a function or step of a chain"
        )
    kind, tags, metadata = (
        step_tags_and_metadata(state.step) if state.step is not None else ("chain", [], {})
    )
    if config is not None:
        tags = config.get("tags") or tags
        metadata = config.get("metadata") or metadata
    event = RunEvent(
        "custom_event",
        kind,
        name,
        state.parent_ids[-1],
        state.parent_ids[:-1],
        tags,
        metadata,
        {"data": data},
    )
    return state, event


async def adispatch_custom_event(
    name: str, data: Any, *, config: RunnableConfig | None = None
) -> None:
    """Send a custom event from the body of the running step to the run's handlers.

    Args:
        name: The event's name (`on_custom_event`'s `name`).
        data: Anything; handlers and `astream_events` receive it as it is.
        config: The step's config, if the function has it: its tags and metadata go with the
            event. Not needed to find the step (the run's context carries it).

    Raises:
        TypeError: `name` is not a str.
        RuntimeError: handlers listen, but the call is not inside any step's body.
    """
    for pending in _deliveries(name, data, config):
        await pending


def dispatch_custom_event(name: str, data: Any, *, config: RunnableConfig | None = None) -> None:
    """Sync form of `adispatch_custom_event`, for sync functions (which run in worker threads).

    An `async def` handler method is awaited on the run's loop (from a worker thread) or, where
    there is none to reach, on a bridge loop.
    """
    for pending in _deliveries(name, data, config):
        _wait(pending)


def _wait(pending: Awaitable[None]) -> None:
    async def wait() -> None:
        await pending

    run_from_thread(wait, detached_context)
