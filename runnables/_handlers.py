"""Run handlers: the objects that receive a run's events (callbacks, tracing, progress bars).

Every step of a run emits start / stream / end / error events (`RunEvent`) on one path
(`runnables._events`). Handlers are its consumers: the ones in `config["callbacks"]`, the
process-wide ones (`add_global_handler`), and the collector behind `astream_events`. A run carries
them in its state, so every child step (parallel branches, batch items, retries, fallbacks, sync
calls made inside a step) reports to them.

A handler defines any of `on_start`, `on_stream`, `on_end`, `on_error`, `on_batch_start` and
`on_custom_event` (what a step sends with `dispatch_custom_event`), each taking one `RunEvent`, as
plain or `async def` methods. A handler that raises is logged (logger
`runnables`) and the run goes on, unless the handler sets `raise_error = True`.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from collections.abc import Awaitable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

__all__ = [
    "BaseCallbackHandler",
    "RunEvent",
    "add_global_handler",
    "remove_global_handler",
]

logger = logging.getLogger("runnables")

_METHODS = ("on_start", "on_stream", "on_end", "on_error", "on_batch_start", "on_custom_event")


class RunEvent:
    """One event of one step of a run.

    Attributes:
        event: `"start"`, `"stream"`, `"end"`, `"error"`, `"batch_start"` (a batch of `size`
            items begins; its items are the runs that follow), or `"custom_event"` (a step's
            body dispatched one: `name` is the event's, `run_id` the step's, `kind`, `tags`
            and `metadata` the step's, `data["data"]` what was sent).
        kind: What the step is: `"chain"`, `"prompt"`, `"chat_model"`, `"parser"`, `"tool"` or
            `"lambda"`.
        name: The step's name (`run_name` for the root, when given).
        run_id: This step's run id.
        parent_ids: Run ids of the enclosing steps, root first (`()` for a root).
        tags: The step's tags.
        metadata: The step's metadata.
        data: `input` (start; on end and error too for steps that take a stream), `chunk`
            (stream), `output` (end), `error` and `input` (error), `size` (batch_start), `data`
            (custom_event).
        step: The runnable itself (for handlers that read its settings, such as a model's name).
        options: Call options the step was called with (`stop`, `max_tokens`, ...).
    """

    __slots__ = (
        "data",
        "event",
        "kind",
        "metadata",
        "name",
        "options",
        "parent_ids",
        "run_id",
        "step",
        "tags",
    )

    def __init__(
        self,
        event: str,
        kind: str,
        name: str,
        run_id: str,
        parent_ids: tuple[str, ...],
        tags: list[str],
        metadata: dict[str, Any],
        data: dict[str, Any],
        step: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self.event = event
        self.kind = kind
        self.name = name
        self.run_id = run_id
        self.parent_ids = parent_ids
        self.tags = tags
        self.metadata = metadata
        self.data = data
        self.step = step
        self.options: Mapping[str, Any] = options or {}

    @property
    def parent_id(self) -> str | None:
        """The enclosing step's run id (None for a root)."""
        return self.parent_ids[-1] if self.parent_ids else None

    def __repr__(self) -> str:
        return (
            f"RunEvent({self.event!r}, kind={self.kind!r}, name={self.name!r}, "
            f"run_id={self.run_id!r}, parent_id={self.parent_id!r})"
        )


class BaseCallbackHandler:
    """A base for handlers: override the methods you need (plain or `async def`).

    Attributes:
        raise_error: If True, an exception raised by this handler fails the run instead of
            being logged.
    """

    raise_error: bool = False

    def on_start(self, event: RunEvent) -> Any:
        """A step starts (`event.data["input"]`)."""

    def on_stream(self, event: RunEvent) -> Any:
        """A step streams a chunk (`event.data["chunk"]`)."""

    def on_end(self, event: RunEvent) -> Any:
        """A step ends (`event.data["output"]`)."""

    def on_error(self, event: RunEvent) -> Any:
        """A step fails (`event.data["error"]`)."""

    def on_batch_start(self, event: RunEvent) -> Any:
        """A batch of `event.data["size"]` items begins; each item then runs as a root step."""

    def on_custom_event(self, event: RunEvent) -> Any:
        """A step's body sent `event.data["data"]` under the name `event.name` (see
        `dispatch_custom_event`); `event.run_id` is the step's."""


class Sink:
    """A handler as a run carries it: its methods looked up once, errors contained.

    `portable` sinks follow sync calls made inside a step onto another event loop; a sink tied
    to its loop (the `astream_events` collector) does not.
    """

    __slots__ = ("handler", "methods", "portable", "raise_error")

    def __init__(self, handler: Any, *, portable: bool = True) -> None:
        self.handler = handler
        self.portable = portable
        self.raise_error = bool(getattr(handler, "raise_error", False))
        methods: dict[str, Any] = {}
        for name in _METHODS:
            method = getattr(handler, name, None)
            # Methods left as BaseCallbackHandler's no-ops are skipped entirely.
            if method is not None and getattr(type(handler), name, None) is not getattr(
                BaseCallbackHandler, name
            ):
                methods[name[3:]] = method
        self.methods = methods

    def deliver(self, event: RunEvent) -> Awaitable[None] | None:
        """Call the handler's method for `event`; return what must be awaited, if anything."""
        method = self.methods.get(event.event)
        if method is None:
            return None
        try:
            result = method(event)
        except Exception as exc:
            self._failed(exc, event)
            return None
        if result is None:
            return None
        if inspect.isawaitable(result):
            return self._await(result, event)
        return None

    async def _await(self, result: Awaitable[Any], event: RunEvent) -> None:
        try:
            await result
        except Exception as exc:
            self._failed(exc, event)

    def _failed(self, exc: Exception, event: RunEvent) -> None:
        if self.raise_error:
            raise exc
        logger.warning(
            "handler %r failed on %s of %s", self.handler, event.event, event.name, exc_info=exc
        )


def check_handlers(value: object, param: str) -> None:
    """Validate `config["callbacks"]`: a list of handler objects."""
    # A list or tuple: a generator would be used up by this check and leave the run none.
    if not isinstance(value, list | tuple):
        raise TypeError(f'Invalid "callbacks" in {param}: {value!r}; expected a list of handlers')
    for handler in value:
        if not any(callable(getattr(handler, m, None)) for m in _METHODS):
            raise TypeError(
                f'Invalid handler in "callbacks" of {param}: {handler!r}; a handler defines '
                f"on_start, on_stream, on_end, on_error, on_batch_start or on_custom_event"
            )


_global: tuple[Sink, ...] = ()


def add_global_handler(handler: Any) -> None:
    """Send the events of every run in this process to `handler` (e.g. always-on tracing).

    Raises:
        TypeError: `handler` defines none of the handler methods.
    """
    global _global
    check_handlers([handler], "add_global_handler")
    if not any(sink.handler is handler for sink in _global):
        _global = (*_global, Sink(handler))


def remove_global_handler(handler: Any) -> None:
    """Stop sending every run's events to `handler` (a no-op if it was not added)."""
    global _global
    _global = tuple(sink for sink in _global if sink.handler is not handler)


_scoped: ContextVar[tuple[Sink, ...]] = ContextVar("runnables_scoped_handlers", default=())
_scopes_used = False
"""Whether `scoped_handler` was ever used in this process: until it is, `global_sinks` skips
reading `_scoped` (a process that never scopes a handler pays nothing for the feature). Never
reset: a task or thread started in a block may still carry its handler after the block ends."""


@contextlib.contextmanager
def scoped_handler(handler: Any) -> Iterator[None]:
    """Send the events of every run started in this context (this task, and the tasks and
    threads it starts) to `handler` while the block runs: a global handler for one context
    only (what `llm.get_usage_metadata_callback` uses)."""
    global _scopes_used
    check_handlers([handler], "scoped_handler")
    _scopes_used = True
    token = _scoped.set((*_scoped.get(), Sink(handler)))
    try:
        yield
    finally:
        _scoped.reset(token)


def global_sinks() -> tuple[Sink, ...]:
    """The process-wide handlers and this context's (`scoped_handler`), as sinks."""
    if not _scopes_used:
        return _global
    scoped = _scoped.get()
    return (*_global, *scoped) if scoped else _global
