"""Concurrency primitives: fan-out, merging streams, timeouts and worker threads.

The backend is chosen in one place, `_backend()`: on asyncio, `asyncio.TaskGroup`, plain tasks
and `asyncio.Queue` (about 4x cheaper per fan-out than anyio's task group); on any other backend
(trio), anyio's task group and memory streams. `gather` and `merge` (and `as_completed`, built on
`merge`) are written once against that choice, so both backends run the same code. They give the
same semantics on both: the first failure cancels the siblings, and the caller gets that failure's
own exception (not an ExceptionGroup).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread

T = TypeVar("T")


async def run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking function in a worker thread (abandoned, not killed, on cancellation)."""
    return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


# -- the run-wide limit: asyncio's own, anyio's on trio -------------------------------------


class Limiter:
    """The run-wide `max_concurrency` limit: `total_tokens` slots, taken and given back by leaves.

    A slot is not tied to the task that took it (a stream holding one may be resumed from other
    tasks), so taking one returns a token to give back with `release`. Waiters are served first
    come, first served. `Limiter.create(n)` picks the implementation for the running backend: on
    asyncio a counter and a queue of futures (no per-slot objects: in a 50k-item batch this and
    fewer coroutine layers took memory per item from 4.9 KB to 1.8 KB), elsewhere (trio) anyio's
    `CapacityLimiter`.
    """

    __slots__ = ("total_tokens",)

    def __init__(self, total_tokens: int) -> None:
        self.total_tokens = total_tokens

    @staticmethod
    def create(total_tokens: int) -> Limiter:
        """A limiter with `total_tokens` slots for the running backend."""
        if _backend().asyncio:
            return _AsyncioLimiter(total_tokens)
        return _AnyioLimiter(total_tokens)

    def acquire_nowait(self) -> object | None:
        """Take a slot if one is free at once: its token, or None."""
        raise NotImplementedError

    async def acquire(self) -> object:
        """Take a slot, waiting for one; returns its token."""
        raise NotImplementedError

    def release(self, token: object) -> None:
        """Give back the slot `token` stands for."""
        raise NotImplementedError

    @property
    def borrowed_tokens(self) -> int:
        """How many slots are taken."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.borrowed_tokens}/{self.total_tokens})"


_SLOT = object()


class _AsyncioLimiter(Limiter):
    # Invariant: free slots and live waiters never coexist (a released slot goes straight to
    # the first live waiter), so taking a free slot at once is first come, first served.
    __slots__ = ("_free", "_waiters")

    def __init__(self, total_tokens: int) -> None:
        super().__init__(total_tokens)
        self._free = total_tokens
        self._waiters: deque[asyncio.Future[None]] = deque()

    def acquire_nowait(self) -> object | None:
        if self._free:
            self._free -= 1
            return _SLOT
        return None

    async def acquire(self) -> object:
        if self._free:
            self._free -= 1
            return _SLOT
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            # Cancelled waiters stay in the queue (removing one is O(n)); `release` skips them.
            if waiter.done() and not waiter.cancelled():
                self.release(_SLOT)  # handed a slot as we were cancelled: pass it on
            raise
        return _SLOT

    def release(self, token: object) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1

    @property
    def borrowed_tokens(self) -> int:
        live = sum(1 for w in self._waiters if w.done() and not w.cancelled())
        return self.total_tokens - self._free - live


class _AnyioLimiter(Limiter):
    __slots__ = ("_limiter",)

    def __init__(self, total_tokens: int) -> None:
        super().__init__(total_tokens)
        self._limiter = anyio.CapacityLimiter(total_tokens)

    def acquire_nowait(self) -> object | None:
        # A borrower of our own, not the current task: a stream holding the slot may be
        # resumed from other tasks (e.g. a sync generator pulling chunks through a portal).
        borrower = object()
        try:
            self._limiter.acquire_on_behalf_of_nowait(borrower)
        except anyio.WouldBlock:
            return None
        return borrower

    async def acquire(self) -> object:
        borrower = object()
        await self._limiter.acquire_on_behalf_of(borrower)
        return borrower

    def release(self, token: object) -> None:
        self._limiter.release_on_behalf_of(token)

    @property
    def borrowed_tokens(self) -> int:
        return int(self._limiter.borrowed_tokens)


# -- the backend, chosen once per call site -------------------------------------------------------


class _Group(Protocol):
    """Tasks started with `start(coro)`; leaving the block waits for them (or cancels them)."""

    def start(self, coro: Coroutine[Any, Any, Any]) -> None: ...


class _Queue(Protocol):
    def put_nowait(self, item: Any) -> None: ...
    async def get(self) -> Any: ...
    def close(self) -> None: ...


class _AsyncioFailFast:
    """`asyncio.TaskGroup`: the first failure cancels the others; leaving waits for all."""

    __slots__ = ("_tg",)

    def __init__(self) -> None:
        self._tg = asyncio.TaskGroup()

    async def __aenter__(self) -> _Group:
        await self._tg.__aenter__()
        return self

    def start(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tg.create_task(coro)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._tg.__aexit__(et, e, tb)


class _AsyncioWorkers:
    """Plain tasks, cancelled on leaving: unlike a task group, they may be held across the
    `yield` of a generator that another task (the loop's finalizer) closes."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: list[asyncio.Future[Any]] = []

    async def __aenter__(self) -> _Group:
        return self

    def start(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tasks.append(asyncio.ensure_future(coro))

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class _AnyioGroup:
    """anyio's task group (trio): fail-fast, or with `cancel_on_exit`, cancelled on leaving."""

    __slots__ = ("_cancel_on_exit", "_tg")

    def __init__(self, cancel_on_exit: bool) -> None:
        self._tg = anyio.create_task_group()
        self._cancel_on_exit = cancel_on_exit

    async def __aenter__(self) -> _Group:
        await self._tg.__aenter__()
        return self

    def start(self, coro: Coroutine[Any, Any, Any]) -> None:
        self._tg.start_soon(_identity, coro)

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        if self._cancel_on_exit:
            self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(et, e, tb)


def _identity(coro: Coroutine[Any, Any, Any]) -> Coroutine[Any, Any, Any]:
    return coro


class _AsyncioQueue(asyncio.Queue[Any]):
    def close(self) -> None:
        """Nothing to release (anyio's streams must be closed)."""


class _AnyioQueue:
    __slots__ = ("_receive", "_send")

    def __init__(self) -> None:
        self._send, self._receive = anyio.create_memory_object_stream[Any](float("inf"))

    def put_nowait(self, item: Any) -> None:
        self._send.send_nowait(item)

    async def get(self) -> Any:
        return await self._receive.receive()

    def close(self) -> None:
        self._send.close()
        self._receive.close()


class _Backend:
    """What fan-out needs from the event loop; one instance per backend."""

    def __init__(self, asyncio_fast_path: bool) -> None:
        self.asyncio = asyncio_fast_path

    def fail_fast(self) -> contextlib.AbstractAsyncContextManager[_Group]:
        """A task group whose first failure cancels the rest (raised as an ExceptionGroup)."""
        return _AsyncioFailFast() if self.asyncio else _AnyioGroup(cancel_on_exit=False)

    def workers(self) -> contextlib.AbstractAsyncContextManager[_Group]:
        """Tasks that report their own outcome and are cancelled when the block is left."""
        return _AsyncioWorkers() if self.asyncio else _AnyioGroup(cancel_on_exit=True)

    def queue(self) -> _Queue:
        """An unbounded queue between tasks of this loop."""
        return _AsyncioQueue() if self.asyncio else _AnyioQueue()


_ASYNCIO = _Backend(asyncio_fast_path=True)
_ANYIO = _Backend(asyncio_fast_path=False)


def _backend() -> _Backend:
    # A running asyncio loop in this thread means the asyncio backend (trio has none).
    return _ASYNCIO if asyncio._get_running_loop() is not None else _ANYIO


def clock() -> tuple[object, float]:
    """The running backend's clock: which one it is, and its time (`anyio.current_time()`).

    Every asyncio loop reads `time.monotonic()`, so they share one clock; each `trio.run` has a
    clock of its own (a random offset, or a `MockClock`), so time read in one run says nothing
    about another.
    """
    if _backend().asyncio:
        return "asyncio", anyio.current_time()
    return anyio.lowlevel.current_token(), anyio.current_time()


def finish_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits to its end, here and now (no task, no loop needed).

    Raises:
        RuntimeError: It waited after all (it is closed).
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError(f"{coro!r} waited, where it was expected to finish at once")


# -- fan-out --------------------------------------------------------------------------------------


Note = Callable[[int], str]
"""What a failure of the i-th coroutine gets as a PEP 678 note (e.g. "in branch 'a' of ...")."""


async def gather(
    coros: Sequence[Coroutine[Any, Any, T]],
    *,
    note: Note | None = None,
    return_exceptions: bool = False,
) -> list[T]:
    """Run the coroutines concurrently; return their results in order.

    The first to fail cancels the rest, and its exception is raised as itself, with `note(i)`
    added (when several fail before the cancellation reaches them, the first to fail wins).
    With `return_exceptions`, each failure (an `Exception`) takes its place in the results
    instead, without a note, and nothing is cancelled. A single coroutine is awaited inline,
    without a task.
    """
    n = len(coros)
    if n == 0:
        return []
    if n == 1:
        try:
            return [await coros[0]]
        except Exception as exc:
            if return_exceptions:
                return [exc]  # type: ignore[list-item]
            if note is not None:
                exc.add_note(note(0))
            raise
    if _backend().asyncio:
        return await _AsyncioGather(coros, return_exceptions).wait(note)
    return await _anyio_gather(coros, note, return_exceptions)


class _AsyncioGather:
    """Fan-out on asyncio: one task per coroutine and one shared done-callback, no wrapper
    coroutine per task (each costs memory and garbage-collector work in big batches)."""

    __slots__ = ("failed", "remaining", "return_exceptions", "tasks", "waiter")

    def __init__(self, coros: Sequence[Coroutine[Any, Any, Any]], return_exceptions: bool) -> None:
        loop = asyncio.get_running_loop()
        self.return_exceptions = return_exceptions
        self.failed: asyncio.Task[Any] | None = None
        self.remaining = len(coros)
        self.waiter: asyncio.Future[None] = loop.create_future()
        self.tasks: list[asyncio.Task[Any]] = []
        create_task, done = loop.create_task, self._done
        # `_done` reads no context variable: one context for all its calls, not a copy each.
        context = contextvars.Context()
        for coro in coros:
            task = create_task(coro)
            task.add_done_callback(done, context=context)
            self.tasks.append(task)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.remaining -= 1
        if not task.cancelled():
            exc = task.exception()  # also marks it retrieved
            if (
                exc is not None
                and self.failed is None
                and not (self.return_exceptions and isinstance(exc, Exception))
            ):
                self.failed = task
                for other in self.tasks:
                    other.cancel()
        if not self.remaining and not self.waiter.done():
            self.waiter.set_result(None)

    async def wait(self, note: Note | None) -> list[Any]:
        try:
            await self.waiter
        except BaseException:
            # Cancelled from outside: cancel the children and wait for them to finish.
            for task in self.tasks:
                task.cancel()
            while self.remaining:
                self.waiter = asyncio.get_running_loop().create_future()
                with contextlib.suppress(asyncio.CancelledError):
                    await self.waiter
            raise
        failed = self.failed
        if failed is not None:
            exc = failed.exception()
            assert exc is not None
            if note is not None and isinstance(exc, Exception):
                exc.add_note(note(self.tasks.index(failed)))
            raise exc
        if self.return_exceptions:
            return [t.exception() or t.result() for t in self.tasks]
        return [t.result() for t in self.tasks]


async def _anyio_gather(
    coros: Sequence[Coroutine[Any, Any, T]], note: Note | None, return_exceptions: bool
) -> list[T]:
    n = len(coros)
    results: list[Any] = [None] * n
    failure: list[BaseException] = []

    async def run(i: int, coro: Coroutine[Any, Any, T]) -> None:
        try:
            results[i] = await coro
        except Exception as exc:
            if return_exceptions:
                results[i] = exc
                return
            if not failure:
                if note is not None:
                    exc.add_note(note(i))
                failure.append(exc)
            raise

    try:
        async with _backend().fail_fast() as group:
            for i, coro in enumerate(coros):
                group.start(run(i, coro))
    except BaseExceptionGroup as group_error:
        _close_all(coros)
        if not failure or not _only_failures(group_error):
            raise
    if failure:
        # Raised outside the except block so the group does not become its __context__.
        raise failure[0]
    return results


async def gather_calls(
    call: Callable[[int], Coroutine[Any, Any, T]],
    n: int,
    *,
    width: int,
    note: Note | None = None,
    return_exceptions: bool = False,
) -> list[T]:
    """`gather([call(i) for i in range(n)])`, with at most `width` calls running at once.

    `width` workers take the next index as they finish one, so a batch far bigger than its
    run's `max_concurrency` keeps only about that many calls (and their coroutines) alive,
    rather than one waiting task per item. Same failure semantics as `gather`.
    """
    if width >= n:
        return await gather([call(i) for i in range(n)], note=note,
                            return_exceptions=return_exceptions)  # fmt: skip
    results: list[Any] = [None] * n
    indexes = iter(range(n))

    async def worker() -> None:
        for i in indexes:  # shared: each worker takes the next index
            try:
                results[i] = await call(i)
            except Exception as exc:
                if not return_exceptions:
                    if note is not None:
                        exc.add_note(note(i))
                    raise
                results[i] = exc

    await gather([worker() for _ in range(width)])
    return results


def _close_all(coros: Sequence[Coroutine[Any, Any, Any]]) -> None:
    # A task cancelled before its first step never awaited its coroutine: close it quietly.
    for coro in coros:
        coro.close()


def _only_failures(group: BaseExceptionGroup[Any]) -> bool:
    """True when the group holds only branch failures (ours to unwrap), not KeyboardInterrupt
    and such: other branches failing after the first (before cancellation reached them) are
    dropped in favour of the first failure, as fail-fast semantics promise."""
    return all(isinstance(e, Exception) for e in _leaves(group))


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out


_STREAM_END = object()
_STREAM_FAILED = object()

Source = Callable[[Callable[[Any], None]], Awaitable[None]]


async def _drive(source: Source, put: Callable[[Any], None], failures: list[BaseException]) -> None:
    """Run one merge source; end its output with a marker saying how it finished."""
    try:
        await source(put)
    except Exception as exc:
        failures.append(exc)
        put(_STREAM_FAILED)
    else:
        put(_STREAM_END)


async def merge(sources: Sequence[Source]) -> AsyncGenerator[Any, None]:
    """Run producers concurrently and yield what they emit, in arrival order.

    Each source is called with an `emit(item)` function and runs until done. The first source to
    fail cancels the others and its exception is raised to the consumer as itself. Closing the
    generator early cancels every source.

    On asyncio the sources run in plain tasks, so the generator may be closed from any task
    (including the loop's finalizer after a `break`). On trio they run in a task group held
    across yields: close the generator explicitly (as trio requires for async generators).
    """
    backend = _backend()
    queue = backend.queue()
    failures: list[BaseException] = []
    remaining = len(sources)
    closed = False
    try:
        async with backend.workers() as workers:
            try:
                for source in sources:
                    workers.start(_drive(source, queue.put_nowait, failures))
                while remaining:
                    item = await queue.get()
                    if item is _STREAM_FAILED:
                        break
                    if item is _STREAM_END:
                        remaining -= 1
                        continue
                    yield item
            except GeneratorExit:
                # Closed by the consumer: leave quietly (trio's task group would otherwise wrap
                # GeneratorExit in an ExceptionGroup), cancelling every source.
                closed = True
    finally:
        queue.close()
    if failures and not closed:
        raise failures[0]


async def as_completed(
    coros: Sequence[Coroutine[Any, Any, T]],
) -> AsyncGenerator[tuple[int, T], None]:
    """Yield `(index, result)` pairs in completion order; pending work is cancelled on close.

    The first failure cancels the rest and is raised as itself.
    """

    def source(i: int, coro: Coroutine[Any, Any, T]) -> Source:
        async def run(emit: Callable[[Any], None]) -> None:
            emit((i, await coro))

        return run

    try:
        async with contextlib.aclosing(merge([source(i, c) for i, c in enumerate(coros)])) as pairs:
            async for pair in pairs:
                yield pair
    finally:
        _close_all(coros)


# -- timeouts -------------------------------------------------------------------------------------


async def run_with_timeout(seconds: float, name: str, fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn`, cancelling it after `seconds`; then raise `TimeoutError` naming `name`."""
    with anyio.move_on_after(seconds):
        return await fn()
    raise TimeoutError(f"{name} timed out after {seconds:g} s")


async def stream_with_timeout(
    seconds: float, name: str, make_stream: Callable[[], AsyncIterator[T]]
) -> AsyncGenerator[T, None]:
    """Yield the stream's chunks, cancelling it with `TimeoutError` after `seconds` in all.

    The stream runs in one producer task under one cancel scope (no scope stays open across a
    `yield` of ours, which trio forbids).
    """

    async def produce(emit: Callable[[Any], None]) -> None:
        async def pump() -> None:
            async with closing(make_stream()) as chunks:
                async for chunk in chunks:
                    emit(chunk)

        with anyio.move_on_after(seconds) as scope:
            await pump()
        if scope.cancelled_caught:
            raise TimeoutError(f"{name} timed out after {seconds:g} s (while streaming)")

    async with closing(merge([produce])) as items:
        async for item in items:
            yield item


def closing(it: AsyncIterator[T]) -> contextlib.AbstractAsyncContextManager[AsyncIterator[T]]:
    """`contextlib.aclosing` for any async iterator: close it on exit if it can be closed.

    A consumer that stops early must close the generator it iterates, or that generator (and
    everything upstream of it) stays suspended until garbage collection.
    """
    if hasattr(it, "aclose"):
        return contextlib.aclosing(it)  # type: ignore[type-var]
    return contextlib.nullcontext(it)
