"""The sync bridge, and everything tied to an event loop: only this module chooses loops.

**Which loop a sync call runs on.** One rule for every sync entry point (`invoke`, `batch`,
`stream`, ...): the call runs on a bridge loop, a daemon thread running an asyncio loop for the
life of the process. A call from any ordinary thread (the main thread, a web server's worker, a
thread whose own loop is running, such as a notebook's) goes to loop 0. A call made on bridge
loop k's own thread (sync code inside a running chain) goes to loop k + 1, so a call never waits
on the loop it blocks. Loops are made once, on first need, and closed together at exit; a nested
call makes no loop of its own.

**No loop at all** (`run_inline`): a sync `invoke` of a chain that only runs sync functions one
after another (`runnables._run.inline_context` says when) runs its coroutine to the end in the
calling thread: it never waits, so it needs neither a loop nor worker threads, and nothing in it
could overlap. Measured on a 50-step sequence of trivial functions: 0.08 ms against about 14 ms
through a bridge loop with a worker thread per function.

**Context.** The call runs in the context it is given: `runnables._run.detached_context()`, a copy
of the caller's context variables (request ids, tracing spans), so changes made inside stay
inside, as with asyncio tasks.

**Interrupts.** The caller waits on a `threading.Event`; Ctrl-C (or any exception) while waiting
cancels the call's task, waits for it to clean up, and is re-raised. On the main thread the wait
wakes every few hundredths of a second, so Ctrl-C is handled even when the OS hands SIGINT to
another thread.

**Streams** cross one chunk at a time: the async generator runs as one task on the bridge loop and
hands each chunk over as soon as it is produced, staying at most one chunk ahead.

**Loop-scoped resources** (`loop_resource`): an object (an HTTP connection pool) made on first use
in a running loop, and closed when that loop closes, on asyncio and trio alike.

**Detached tasks** (`start_detached`): a task of the running loop in no task group, for an iterator
that may be closed from another task or only garbage collected (`astream_events`); and
`threadsafe_caller`, the running loop's entry for callbacks from other threads.

**Blocking iterators** (`iterate_in_thread`, `blocking_iter`): a sync generator (a step's
`stream`, a sync transform) driven from worker threads one item at a time, and closed when its
consumer stops early; an async stream read from such a worker thread. **Back from a thread**
(`run_from_thread`): a coroutine run from sync code on the loop whose worker thread this is, or
else on a bridge loop.

**Futures from other threads** (`wait_future`): a `concurrent.futures.Future` (a Ray object ref's)
awaited from asyncio or trio, woken through the running loop's thread-safe entry.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import os
import queue
import sys
import threading
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Hashable,
    Iterator,
)
from functools import partial
from typing import Any, Generic, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
from anyio._core._eventloop import threadlocals as _anyio_threads
from anyio.lowlevel import RunVar

from runnables._concurrency import finish_now, run_in_thread

__all__ = [
    "blocking_iter",
    "iter_sync",
    "iterate_in_thread",
    "loop_resource",
    "run_from_thread",
    "run_inline",
    "run_sync",
]

T = TypeVar("T")


def no_loop_here() -> bool:
    """True when no event loop (asyncio or trio) runs in this thread."""
    if asyncio._get_running_loop() is not None:
        return False
    sniffio = sys.modules.get("sniffio")
    return sniffio is None or (
        sniffio.thread_local.name is None and sniffio.current_async_library_cvar.get() is None
    )


class _Job(Generic[T]):
    """A coroutine running on a bridge loop, waited for from a sync thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task: asyncio.Task[None] | None = None
        self.done = threading.Event()
        self.outcome: tuple[bool, Any] = (False, None)

    async def run(self, coro: Coroutine[Any, Any, T]) -> None:
        try:
            self.outcome = (True, await coro)
        except BaseException as exc:
            self.outcome = (False, exc)
        finally:
            self.done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the coroutine has ended (True), or `timeout` seconds (False)."""
        return self.done.wait(timeout)

    def cancel(self) -> None:
        """Cancel the task (it is started before this callback runs: callbacks are FIFO)."""

        def cancel_task() -> None:
            if self.task is not None:
                self.task.cancel()

        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            self.loop.call_soon_threadsafe(cancel_task)

    def result(self) -> T:
        """Wait for the outcome; if the wait is interrupted, cancel the task, let it clean up,
        and re-raise the interruption."""
        try:
            _wait_interruptibly(self.done.wait)
        except BaseException:
            self.cancel()
            self.done.wait()
            raise
        ok, value = self.outcome
        if ok:
            return value  # type: ignore[no-any-return]
        raise value


_SIGNAL_POLL = 0.05
"""Seconds between wake-ups of a sync caller waiting on the main thread (see below)."""


def _wait_interruptibly(wait: Callable[[float | None], T | None]) -> T:
    """Call `wait(timeout)` until it returns a result (not None or False).

    On the main thread it wakes every `_SIGNAL_POLL` seconds: the OS may deliver Ctrl-C's SIGINT
    to any thread, and a lock wait is interrupted only in the thread that gets it, so a main
    thread blocked for good would never run Python's handler.
    """
    timeout = _SIGNAL_POLL if threading.current_thread() is threading.main_thread() else None
    while True:
        result = wait(timeout)
        if result is not None and result is not False:
            return result


_thread_level = threading.local()


class _BridgeLoop:
    """One daemon thread running an asyncio loop for sync callers."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self._main, name=f"runnables-loop-{level}", daemon=True
        )
        self.thread.start()

    def _main(self) -> None:
        _thread_level.level = self.level
        self.loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T], context: contextvars.Context) -> _Job[T]:
        """Start `coro` as a task on this loop, running in `context`."""
        job: _Job[T] = _Job(self.loop)

        def start() -> None:
            job.task = self.loop.create_task(job.run(coro))

        self.loop.call_soon_threadsafe(start, context=context)
        return job

    def close(self) -> None:
        if self.loop.is_closed() or not self.thread.is_alive():
            return

        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        self.submit(cancel_all(), contextvars.Context()).wait(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


_loops: list[_BridgeLoop] = []
_loops_lock = threading.Lock()


def _loop_for_caller() -> _BridgeLoop:
    """The bridge loop a sync call from this thread runs on (the rule in the module docstring)."""
    level = getattr(_thread_level, "level", -1) + 1
    if level < len(_loops):
        return _loops[level]
    with _loops_lock:
        while len(_loops) <= level:
            _loops.append(_BridgeLoop(len(_loops)))
    return _loops[level]


@atexit.register
def _close_loops() -> None:
    # The deepest first: a loop's tasks may be waiting on a deeper one.
    for bridge in reversed(_loops):
        bridge.close()


def _forget_loops_after_fork() -> None:
    # A forked child has the parent's loop objects but none of their threads.
    _loops.clear()


os.register_at_fork(after_in_child=_forget_loops_after_fork)


def run_inline(coro: Coroutine[Any, Any, T], context: contextvars.Context) -> T:
    """Run a coroutine that never waits to its end, right here in `context`: no loop, no thread.

    For sync calls of chains that only run functions one after another (see
    `runnables._run.inline_context`): their coroutine completes at its first step.

    Raises:
        RuntimeError: The coroutine waited for something after all (it is closed).
    """
    return context.run(finish_now, coro)


def run_sync(make_coro: Callable[[], Coroutine[Any, Any, T]], context: contextvars.Context) -> T:
    """Run the coroutine made by `make_coro` to completion from synchronous code, in `context`."""
    return _loop_for_caller().submit(make_coro(), context).result()


def iter_sync(
    make_agen: Callable[[], AsyncIterator[T]], context: contextvars.Context
) -> Generator[T, None, None]:
    """Iterate an async generator from synchronous code, one chunk at a time, in `context`.

    Each chunk is handed over as soon as it is produced, and the producer runs at most one chunk
    ahead. Closing the iterator early (a `break`) cancels the producer and waits for it to
    clean up.
    """
    bridge = _loop_for_caller()
    handoff: queue.Queue[tuple[int, Any]] = queue.Queue()
    credit: list[asyncio.Semaphore] = []

    async def produce() -> None:
        credit.append(asyncio.Semaphore(1))
        try:
            async with contextlib.aclosing(make_agen()) as agen:  # type: ignore[type-var]
                async for chunk in agen:
                    await credit[0].acquire()
                    handoff.put((0, chunk))
        except BaseException as exc:
            handoff.put((1, exc))
            if not isinstance(exc, Exception):
                raise
        else:
            handoff.put((2, None))

    job = bridge.submit(produce(), context)
    finished = False
    try:
        while True:
            kind, value = _wait_interruptibly(partial(_get, handoff))
            if kind == 0:
                yield value
                # Asked for the next chunk: let the producer make one more.
                bridge.loop.call_soon_threadsafe(_release, credit)
            elif kind == 1:
                finished = True
                raise value
            else:
                finished = True
                return
    finally:
        if not finished:
            job.cancel()
        job.wait()


def _get(handoff: queue.Queue[T], timeout: float | None) -> T | None:
    try:
        return handoff.get(timeout=timeout)
    except queue.Empty:
        return None


def _release(credit: list[asyncio.Semaphore]) -> None:
    credit[0].release()


# -- loop-scoped resources ------------------------------------------------------------------------


class _LoopResources:
    """The resources of one running loop, and the task that closes them when the loop ends."""

    def __init__(self) -> None:
        self.items: dict[Hashable, tuple[Any, Callable[[Any], Awaitable[object]]]] = {}
        self.closer: object = None  # strong reference: asyncio keeps only weak ones to tasks
        self.closed = False

    async def wait_and_close(self) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            self.closed = True
            items = list(self.items.values())
            # Drop the references now: the task refers to the loop, which holds this entry.
            self.items.clear()
            self.closer = None
            with anyio.CancelScope(shield=True):
                for resource, aclose in reversed(items):
                    # Best effort at shutdown: a failing close must not hide the run's outcome.
                    with contextlib.suppress(Exception):
                        await aclose(resource)


_resources: RunVar[_LoopResources] = RunVar("runnables_loop_resources")


def _current_resources() -> _LoopResources:
    try:
        return _resources.get()
    except LookupError:
        pass
    entry = _LoopResources()
    _resources.set(entry)
    # A fresh context: the closer lives as long as the loop and must hold nothing of a run.
    context = contextvars.Context()
    loop = asyncio._get_running_loop()
    if loop is None:  # not asyncio: anyio's only other backend is trio
        import trio

        entry.closer = trio.lowlevel.spawn_system_task(
            entry.wait_and_close, name="runnables: close loop resources", context=context
        )
    else:
        entry.closer = loop.create_task(
            entry.wait_and_close(), name="runnables: close loop resources", context=context
        )
    return entry


@contextlib.asynccontextmanager
async def loop_resource(
    key: Hashable,
    create: Callable[[], T],
    aclose: Callable[[T], Awaitable[object]],
    *,
    create_in_thread: bool = False,
) -> AsyncIterator[T]:
    """The running loop's resource for `key`: made by `create()` on first use in this loop, and
    closed with `aclose(resource)` when the loop closes (asyncio or trio).

    Use the resource only inside the `async with` block (for a stream: until it ends). A call
    made while the loop is already shutting down gets a resource of its own, closed after it.

    Args:
        key: What identifies the resource (e.g. the settings it was made with).
        create: Makes the resource (called with no running-loop work: plain construction).
        aclose: Closes it.
        create_in_thread: Call `create` in a worker thread, so a slow construction (an HTTP
            client loading its certificates) does not stall the loop.
    """
    entry = _current_resources()
    if entry.closed:
        resource = await anyio.to_thread.run_sync(create) if create_in_thread else create()
        try:
            yield resource
        finally:
            with anyio.CancelScope(shield=True):
                await aclose(resource)
        return
    item = entry.items.get(key)
    if item is None and create_in_thread:
        made = await anyio.to_thread.run_sync(create)
        item = entry.items.get(key)  # another task may have made one meanwhile
        if item is not None:
            with anyio.CancelScope(shield=True):
                await aclose(made)
        else:
            item = entry.items[key] = (made, aclose)
    elif item is None:
        item = entry.items[key] = (create(), aclose)
    yield item[0]


async def wait_future(future: concurrent.futures.Future[T]) -> T:
    """The result of `future`, set from another thread (a Ray `ObjectRef.future()`, an executor's
    job), awaited without a thread of ours: the setter's callback wakes the waiting task through
    the loop's thread-safe entry (asyncio's `call_soon_threadsafe`, trio's `run_sync_soon`).

    Cancelling the wait leaves the future as it is, for other waiters.
    """
    loop = asyncio._get_running_loop()
    if loop is not None:
        waiter: asyncio.Future[None] = loop.create_future()

        def wake_asyncio(_: object) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, waiter)

        future.add_done_callback(wake_asyncio)
        await waiter
        return future.result()
    import trio  # anyio's only other backend; it is running, so it is installed

    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake_trio(_: object) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # nobody waits any more
            token.run_sync_soon(done.set)

    future.add_done_callback(wake_trio)
    await done.wait()
    return future.result()


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


# -- work outside the caller's task tree ---------------------------------------------------------


def threadsafe_caller() -> Callable[[Callable[[], object]], None]:
    """A function that runs a callback on the running loop, from any thread (asyncio's
    `call_soon_threadsafe`, trio's `run_sync_soon`), in order, dropping it once the loop is gone.
    """
    loop = asyncio._get_running_loop()
    if loop is not None:
        running = loop

        def call_asyncio(callback: Callable[[], object]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody listens
                running.call_soon_threadsafe(callback)

        return call_asyncio
    import trio

    token = trio.lowlevel.current_trio_token()

    def call_trio(callback: Callable[[], object]) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(callback)

    return call_trio


class Detached:
    """A task of the running loop that belongs to no task group: it outlives the code that
    started it until it ends or is cancelled (`cancel`, safe from a finalizer too).

    For work whose owner cannot hold a task group across its own suspensions: an iterator that
    may be closed from another task, or only garbage collected (`astream_events`).
    """

    def __init__(self) -> None:
        self.done = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._cancelled = False

    def cancel(self) -> None:
        """Cancel the task (before it starts, it starts cancelled)."""
        self._cancelled = True
        if self._scope is not None:
            self._scope.cancel()

    async def wait(self) -> None:
        """Wait for the task to end (shielded: a closing caller must see it gone)."""
        with anyio.CancelScope(shield=True):
            await self.done.wait()

    async def _main(self, work: Callable[[], Awaitable[object]]) -> None:
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                if self._cancelled:
                    scope.cancel()
                await work()
        finally:
            self.done.set()


def start_detached(work: Callable[[], Awaitable[object]]) -> Detached:
    """Start `work()` as a `Detached` task of the running loop, in a copy of this context.

    `work` must handle its own exceptions: nobody awaits its outcome.
    """
    task = Detached()
    context = contextvars.copy_context()
    loop = asyncio._get_running_loop()
    if loop is not None:
        # Strong reference: asyncio keeps only weak ones to tasks.
        task.handle = loop.create_task(task._main(work), context=context)  # type: ignore[attr-defined]
    else:
        import trio

        trio.lowlevel.spawn_system_task(task._main, work, context=context)
    return task


# -- blocking iterators and calls back from worker threads -------------------------------------

_END: Any = object()


async def iterate_in_thread(make: Callable[[], Iterator[T]]) -> AsyncGenerator[T, None]:
    """Make a blocking iterator (a sync generator) and drive it from worker threads, one item
    at a time.

    If the consumer stops before the end (closes this generator, fails, or is cancelled), the
    iterator is closed too, in a worker thread (its `finally` blocks may block), so a sync
    generator's cleanup runs then rather than whenever it is garbage collected.
    """
    iterator = await run_in_thread(lambda: iter(make()))
    try:
        while (item := await run_in_thread(next, iterator, _END)) is not _END:
            yield item
    except BaseException:
        close = getattr(iterator, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True), contextlib.suppress(ValueError):
                # ValueError: a cancelled `next` still runs in its abandoned thread; that
                # generator cannot be closed now (it is when collected).
                await run_in_thread(close)
        raise


def blocking_iter(chunks: AsyncIterator[T]) -> Iterator[T]:
    """Iterate an async stream from a worker thread of its loop (`anyio.to_thread`), each item
    pulled on the loop."""
    while (item := anyio.from_thread.run(_anext_or_end, chunks)) is not _END:
        yield item


async def _anext_or_end(chunks: AsyncIterator[Any]) -> Any:
    return await anext(chunks, _END)


def in_worker_thread() -> bool:
    """True in a worker thread of a running loop (started by `anyio.to_thread.run_sync`)."""
    return hasattr(_anyio_threads, "current_token")


def run_from_thread(
    make_coro: Callable[[], Coroutine[Any, Any, T]], context: Callable[[], contextvars.Context]
) -> T:
    """Run a coroutine from sync code: on the loop whose worker thread this is (so it shares the
    run's loop and its state), else on a bridge loop in the context `context()` gives (by the
    rule of every sync entry point).

    Decided before the coroutine runs: an error it raises is never taken for a missing loop.
    """
    if in_worker_thread():
        return anyio.from_thread.run(make_coro)
    return run_sync(make_coro, context())
