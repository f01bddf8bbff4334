"""The run: what one call of a chain carries to every step below it, opened in one place.

A run starts at a public entry point (`invoke`, `ainvoke`, `batch`, `stream`, `astream_events`,
...) or where a bound config applies (`with_config(max_concurrency=..., timeout=...)`). Opening
it (`call_in_run`, `stream_in_run`):

- takes the config, already validated by the entry point;
- installs the run-wide `max_concurrency` limit, unless one is already in force;
- applies the deadline (`timeout`), cancelling the run with `TimeoutError` when it passes;
- carries the run's event handlers and the parent run id, for the steps' events;
- carries the run's `Budget` (`config["budget"]`), so a model called in a step's body without
  its config (`model.invoke(x)` in a function, a stream pulled later) still spends from it.

The state is one `RunState` object reached through one context variable. Steps read it (a leaf
takes a slot of its limiter, `call_child` emits to its handlers); nobody rebuilds it. With nothing
to carry the variable holds None, and a step pays one context-variable read.

The run-wide limit is a `Limiter`: on asyncio our own (a counter and a queue of futures, no
per-slot objects; a free slot is taken without yielding to the loop: about 1 us per take and
give back, against about 35 us for anyio's `CapacityLimiter`, which yields on every take), on trio
anyio's. A slot is not tied to a task, since a stream holding one may be resumed from others.

Context crosses borders as asyncio and trio make it: task groups copy it per child, and the sync
bridge runs a call in a copy of the caller's context (`detached_context`), minus the run state,
which belongs to the caller's event loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from runnables._bridge import no_loop_here
from runnables._concurrency import Limiter, run_with_timeout, stream_with_timeout
from runnables._config import RunnableConfig, without_timeout
from runnables._handlers import Sink, global_sinks

if TYPE_CHECKING:
    from runnables._budget import Budget

__all__ = [
    "Limiter",
    "RunState",
    "call_in_run",
    "current_budget",
    "current_run",
    "detached_context",
    "item_configs",
    "leaf_slot",
    "stream_in_run",
]

T = TypeVar("T")


class RunState:
    """What a run carries to its steps. Immutable: a change below makes a new one.

    Attributes:
        limiter: The run-wide `max_concurrency` limiter; None where none is in force, and inside
            a leaf holding a slot (work a leaf starts itself takes no further slot).
        handlers: The run's event handlers (as `Sink`s); empty when nobody listens.
        parent_ids: Run ids of the steps whose bodies are running here, root first (the parents
            of new steps).
        deadline: When the run's `timeout` ends, on the backend's clock (`anyio.current_time`).
        step: The step whose body is running here and its config, for the custom events it
            dispatches (None where no handler listens, or outside any step).
        budget: The run's `Budget` (`config["budget"]`), which every model call below spends
            from; None without one. It crosses into sync calls, streams and batches.
    """

    __slots__ = ("_inner", "budget", "deadline", "handlers", "limiter", "parent_ids", "step")

    def __init__(
        self,
        limiter: Limiter | None = None,
        handlers: tuple[Sink, ...] = (),
        parent_ids: tuple[str, ...] = (),
        deadline: float | None = None,
        step: StepInfo | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.limiter = limiter
        self.handlers = handlers
        self.parent_ids = parent_ids
        self.deadline = deadline
        self.step = step
        self.budget = budget
        self._inner: Any = _UNSET

    @property
    def parent_id(self) -> str | None:
        """The run id of the step whose body is running here (None at the root)."""
        return self.parent_ids[-1] if self.parent_ids else None

    def with_parent(self, run_id: str, step: StepInfo | None = None) -> RunState:
        """The same run, seen from inside the step `run_id` (described by `step`)."""
        parents = (*self.parent_ids, run_id)
        return RunState(self.limiter, self.handlers, parents, self.deadline, step, self.budget)

    def without_limiter(self) -> RunState | None:
        """The same run, seen from inside a leaf holding a slot (None if nothing else is left)."""
        inner = self._inner
        if inner is _UNSET:
            if (
                not self.handlers
                and not self.parent_ids
                and self.deadline is None
                and self.budget is None
            ):
                inner = None
            else:
                inner = RunState(
                    None, self.handlers, self.parent_ids, self.deadline, self.step, self.budget
                )
            self._inner = inner  # made once per state: leaves ask on every call
        return inner  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return (
            f"RunState(limiter={self.limiter!r}, handlers={len(self.handlers)}, "
            f"parent_ids={self.parent_ids!r}, deadline={self.deadline!r}, budget={self.budget!r})"
        )


_UNSET: Any = object()

StepInfo = tuple[Any, RunnableConfig]
"""The step whose body runs, and its config: what its custom events report (kind, tags,
metadata) is read from them only when one is dispatched."""

_run: ContextVar[RunState | None] = ContextVar("runnables_run", default=None)
_inline: ContextVar[bool] = ContextVar("runnables_inline", default=False)


def runs_inline() -> bool:
    """True where a sync function runs in the calling thread rather than a worker thread: in a
    sync call whose chain does nothing concurrently (see `inline_context`)."""
    return _inline.get() and no_loop_here()


def inline_context(config: RunnableConfig | None) -> contextvars.Context | None:
    """The context for a sync call that may run inline, in the calling thread without any event
    loop, or None when it may not.

    The caller (a sync entry point) has checked that its step only runs sync functions, in
    order, and steps whose work never waits (prompts, parsers, passthrough): nothing in it runs
    concurrently, so a worker thread per function would buy no overlap. The call also must not
    open a run that waits (`max_concurrency`, `timeout`, event handlers), and no event loop may
    run in this thread (inline work would block it, and a function might start a loop itself).
    """
    if config is not None and (
        config.get("max_concurrency") is not None
        or config.get("timeout") is not None
        or config.get("callbacks")
    ):
        return None
    if global_sinks() or not no_loop_here():
        return None
    context = detached_context()
    if context.get(_run) is not None:  # handlers carried over from the caller's run
        return None
    context.run(_inline.set, True)
    return context


def current_run() -> RunState | None:
    """The state of the run this code is part of, or None outside any run (or with nothing to
    carry)."""
    return _run.get()


def current_budget() -> Budget | None:
    """The budget of the run this code is part of (`config["budget"]` where the run opened, or
    an enclosing run's), or None."""
    state = _run.get()
    return state.budget if state is not None else None


def needs_run(config: RunnableConfig | None) -> bool:
    """Whether an entry point called with `config` must open a run (or join the current one),
    rather than call the step directly: the cheap test every entry point makes first. Inside a
    run without handlers or budget there is nothing to join: its limit and deadline are already
    in force. (A budget must reach the step's config: models read it there.)"""
    if config is not None:
        return True
    state = _run.get()
    if state is None:
        return bool(global_sinks())
    return bool(state.handlers) or state.budget is not None


def _new_sinks(
    config: RunnableConfig, extra: Sequence[Sink], current: RunState | None
) -> tuple[Sink, ...]:
    """Handlers a run with `config` adds to the current ones (none twice)."""
    callbacks = config.get("callbacks")
    if not callbacks and not extra and (current is not None or not global_sinks()):
        return ()
    seen = {id(sink.handler) for sink in current.handlers} if current is not None else set()
    added: list[Sink] = []

    def add(handler: Any, sink: Sink | None = None) -> None:
        # A handler is wrapped only when new: a nested run that inherited it adds nothing.
        if id(handler) not in seen:
            seen.add(id(handler))
            added.append(sink if sink is not None else Sink(handler))

    if current is None:
        for sink in global_sinks():  # a root run reports to the process-wide handlers
            add(sink.handler, sink)
    for handler in callbacks or ():
        add(handler)
    for sink in extra:
        add(sink.handler, sink)
    return tuple(added)


def _opening(
    config: RunnableConfig, extra: Sequence[Sink]
) -> tuple[RunState | None, RunnableConfig, float | None]:
    """The state a run with `config` installs (None: keep the current one), the config its
    steps see, and its timeout.

    The steps' config carries the run's budget (models read it there): a nested run without a
    budget of its own gets the enclosing run's.
    """
    current = _run.get()
    mc = config.get("max_concurrency")
    timeout = config.get("timeout")
    new_limiter = mc is not None and (current is None or current.limiter is None)
    sinks = _new_sinks(config, extra, current)
    inherited = current.budget if current is not None else None
    budget = config.get("budget")
    if budget is None:
        budget = inherited
        if budget is not None:
            config = {**config, "budget": budget}
    if not new_limiter and timeout is None and not sinks and budget is inherited:
        return None, config, None
    base = current or RunState()
    deadline = base.deadline
    if timeout is not None:
        ends = anyio.current_time() + timeout
        deadline = ends if deadline is None else min(deadline, ends)
    state = RunState(
        Limiter.create(mc) if new_limiter else base.limiter,  # type: ignore[arg-type]
        (*base.handlers, *sinks) if sinks else base.handlers,
        base.parent_ids,
        deadline,
        base.step,
        budget,
    )
    return state, config, timeout


async def call_in_run(
    config: RunnableConfig,
    name: str,
    call: Callable[[RunnableConfig], Awaitable[T]],
    *,
    handlers: Sequence[Sink] = (),
) -> T:
    """Open a run for one call: install its state, apply its deadline, await `call(config)`.

    Args:
        config: The run's config, validated.
        name: What a `TimeoutError` names (the step, or "batch of <step>").
        call: The work; it receives the config its steps should see (without `timeout`).
        handlers: Event handlers added for this run (`astream_events` adds its collector).
    """
    state, config, timeout = _opening(config, handlers)  # (no state: no timeout either)
    token = _run.set(state) if state is not None else None
    try:
        if timeout is None:
            return await call(config)
        cfg = without_timeout(config)
        return await run_with_timeout(timeout, name, lambda: call(cfg))
    finally:
        if token is not None:
            _run.reset(token)


def item_configs(
    configs: list[RunnableConfig],
) -> tuple[list[RunnableConfig], list[Budget | None] | None]:
    """A batch's item configs as its items run them; call it before the batch's run opens.

    An item without a budget of its own gets the enclosing run's (models read it in their
    config). Returns the configs, and each item's budget when they are not all the first
    item's (the batch's run takes the first config's: the others then run in states of their
    own, `with_budget`), else None.
    """
    state = _run.get()
    inherited = state.budget if state is not None else None
    if inherited is None and not any("budget" in c for c in configs):
        return configs, None  # the common case: no budget anywhere
    made: dict[int, RunnableConfig] = {}
    out: list[RunnableConfig] = []
    budgets: list[Budget | None] = []
    for c in configs:
        budget = c.get("budget")
        if budget is None and inherited is not None:
            given = made.get(id(c))
            if given is None:
                given = made[id(c)] = {**c, "budget": inherited}
            c, budget = given, inherited
        out.append(c)
        budgets.append(budget)
    same = all(b is budgets[0] for b in budgets)
    return out, None if same else budgets


async def with_budget(budget: Budget | None, work: Awaitable[T]) -> T:
    """Await `work` with `budget` as the run's budget (a batch item with a budget of its own)."""
    state = _run.get() or RunState()
    inner = RunState(
        state.limiter, state.handlers, state.parent_ids, state.deadline, state.step, budget
    )
    token = _run.set(inner)
    try:
        return await work
    finally:
        _run.reset(token)


def stream_in_run(
    config: RunnableConfig,
    name: str,
    make_stream: Callable[[RunnableConfig], AsyncIterator[T]],
    *,
    handlers: Sequence[Sink] = (),
) -> AsyncIterator[T]:
    """Open a run for a stream: like `call_in_run`, for the stream `make_stream(config)`.

    Call it from async code (the limiter and the deadline belong to the running loop). The run's
    state is in force while the stream works (each time a chunk is pulled), not in the
    consumer's code between chunks, since a generator runs in its consumer's context.
    """
    state, config, timeout = _opening(config, handlers)
    if state is None:
        return make_stream(config)
    cfg = without_timeout(config) if timeout is not None else config
    token = _run.set(state)
    try:
        # Made inside the run: a stream takes its run state when it is created.
        stream = (
            make_stream(cfg)
            if timeout is None
            else stream_with_timeout(timeout, name, lambda: make_stream(cfg))
        )
    finally:
        _run.reset(token)
    return within(state, stream)


END = object()
"""What `pull` returns when the stream is exhausted."""


async def pull(state: RunState | None, chunks: AsyncIterator[T]) -> T | object:
    """The next chunk of `chunks`, pulled with `state` in force (`END` when exhausted)."""
    token = _run.set(state)
    try:
        return await anext(chunks, END)
    finally:
        _run.reset(token)


async def close_within(state: RunState | None, chunks: AsyncIterator[Any]) -> None:
    """Close `chunks` (if it can be closed) with `state` in force."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        token = _run.set(state)
        try:
            await aclose()
        finally:
            _run.reset(token)


async def within(state: RunState | None, chunks: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """Pull `chunks` with `state` in force, chunk by chunk; the consumer's context stays as it is.

    The stream is closed (also with `state` in force) when this generator is closed.
    """
    try:
        while (chunk := await pull(state, chunks)) is not END:
            yield chunk  # type: ignore[misc]
    finally:
        await close_within(state, chunks)


def leaf_slot() -> contextlib.AbstractAsyncContextManager[None]:
    """Hold one slot of the run's `max_concurrency` limit for the body (a no-op without one).

    Steps that do work themselves (models, tools) wrap that work in this, so the run-wide limit
    counts them; work started inside the body does not take further slots.
    """
    return _LeafSlot()


class _LeafSlot(contextlib.AbstractAsyncContextManager[None]):
    # A class rather than an @asynccontextmanager generator: cheaper on every model call.
    __slots__ = ("_held", "_state")

    async def __aenter__(self) -> None:
        state = self._state = _run.get()
        if state is None or state.limiter is None:
            self._held: Held | None = None
        else:
            self._held = enter_leaf_nowait(state) or await enter_leaf(state)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._held is not None:
            exit_leaf(self._state, self._held)  # type: ignore[arg-type]


Held = tuple[object, "contextvars.Token[RunState | None]"]
"""A leaf's slot and the context change that entered it (see `enter_leaf`)."""


def enter_leaf_nowait(state: RunState) -> Held | None:
    """Enter a leaf if a slot of `state`'s limiter (which must be set) is free at once: work
    started from here takes no further slot. Returns what `exit_leaf` gives back, or None (then
    wait with `enter_leaf`)."""
    slot = state.limiter.acquire_nowait()  # type: ignore[union-attr]
    if slot is None:
        return None
    return slot, _run.set(state.without_limiter())


async def enter_leaf(state: RunState) -> Held:
    """Enter a leaf, waiting for a slot of `state`'s limiter (which must be set)."""
    slot = await state.limiter.acquire()  # type: ignore[union-attr]
    return slot, _run.set(state.without_limiter())


def exit_leaf(state: RunState, held: Held) -> None:
    """Leave a leaf entered with `enter_leaf(_nowait)`: give its slot back."""
    slot, token = held
    with contextlib.suppress(ValueError):  # reset from another context: nothing to undo
        _run.reset(token)
    state.limiter.release(slot)  # type: ignore[union-attr]


def detached_context() -> contextvars.Context:
    """A copy of the caller's context for a sync call that runs on another thread's loop.

    The caller's context variables (request ids, OpenTelemetry's current span, per-request
    settings) cross over, and so do the run's handlers and its place in the tree of steps; the
    limiter, the deadline and the running async library do not: they belong to the caller's
    event loop, not the one the call runs on.
    """
    context = contextvars.copy_context()
    if context.get(_inline):
        context.run(_inline.set, False)  # a nested sync call decides for itself
    state = context.get(_run)
    if state is not None:
        portable = tuple(sink for sink in state.handlers if sink.portable)
        budget = state.budget  # a Budget is thread-safe: it crosses with the call
        if portable or budget is not None:
            portable_state = RunState(None, portable, state.parent_ids, None, state.step, budget)
            context.run(_run.set, portable_state)
        else:
            context.run(_run.set, None)
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None and context.get(sniffio.current_async_library_cvar) is not None:
        context.run(sniffio.current_async_library_cvar.set, None)
    return context
