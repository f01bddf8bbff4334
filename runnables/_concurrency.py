"""Concurrency primitives: fan-out, the run-wide leaf limit, and worker threads.

This is the one module allowed a backend-specific fast path. On asyncio it uses `asyncio.TaskGroup`
directly (about 4x cheaper per fan-out than anyio's task group); on any other backend (trio) it uses
anyio. Both give the same semantics: the first failure cancels the siblings, and the caller gets
that failure's own exception (not an ExceptionGroup).

The `max_concurrency` limit is one `anyio.CapacityLimiter` per run, kept in a context variable so
that every task spawned below the root sees it. Only leaf steps acquire a slot; while a leaf holds
one, the variable is cleared for its body, so work the leaf starts itself cannot deadlock on it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

_limiter: ContextVar[anyio.CapacityLimiter | None] = ContextVar("runnables_limiter", default=None)


def current_limiter() -> anyio.CapacityLimiter | None:
    """The run-wide leaf limiter in force here, if any."""
    return _limiter.get()


async def with_limit(max_concurrency: int | None, fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn` with a run-wide limiter of `max_concurrency` unless one is already in force."""
    if max_concurrency is None or _limiter.get() is not None:
        return await fn()
    token = _limiter.set(anyio.CapacityLimiter(max_concurrency))
    try:
        return await fn()
    finally:
        _limiter.reset(token)


async def run_leaf(fn: Callable[[], Awaitable[T]]) -> T:
    """Run a leaf step's work, holding one slot of the run's limiter while it runs."""
    if _limiter.get() is None:
        return await fn()
    async with leaf_slot():
        return await fn()


async def run_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a blocking function in a worker thread (abandoned, not killed, on cancellation)."""
    return await anyio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)


def _on_asyncio() -> bool:
    # A running asyncio loop in this thread means the asyncio backend (trio has none).
    return asyncio._get_running_loop() is not None


async def gather(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run the coroutines concurrently; return their results in order.

    The first to fail cancels the rest, and its exception is raised as itself. A single one is
    awaited inline, without a task.
    """
    n = len(coros)
    if n == 0:
        return []
    if n == 1:
        return [await coros[0]]
    results: list[Any] = [None] * n
    failure: list[BaseException] = []

    async def run(i: int, coro: Coroutine[Any, Any, T]) -> None:
        try:
            results[i] = await coro
        except Exception as exc:
            if not failure:
                failure.append(exc)
            raise

    try:
        if _on_asyncio():
            async with asyncio.TaskGroup() as tg:
                for i, coro in enumerate(coros):
                    tg.create_task(run(i, coro))
        else:
            async with anyio.create_task_group() as atg:
                for i, coro in enumerate(coros):
                    atg.start_soon(run, i, coro)
    except BaseExceptionGroup as group:
        if not failure:
            raise
        if not _only_failure_and_cancellations(group, failure[0]):
            raise
    if failure:
        # Raised outside the except block so the group does not become its __context__.
        raise failure[0]
    return results


def _only_failure_and_cancellations(group: BaseExceptionGroup[Any], first: BaseException) -> bool:
    """True when the group holds only branch failures (ours to unwrap), not foreign errors."""
    rest = group.subgroup(lambda e: not isinstance(e, BaseExceptionGroup) and e is not first)
    if rest is None:
        return True
    # Other branches failing after the first (before cancellation reached them) are dropped in
    # favour of the first failure, as fail-fast semantics promise; KeyboardInterrupt and such
    # (BaseException but not Exception) are never swallowed.
    return all(isinstance(e, Exception) for e in _leaves(rest))


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            out.extend(_leaves(exc))
        else:
            out.append(exc)
    return out


async def as_completed(
    coros: Sequence[Coroutine[Any, Any, T]],
) -> AsyncGenerator[tuple[int, T], None]:
    """Yield `(index, result)` pairs in completion order; pending work is cancelled on close.

    On asyncio the work runs in plain tasks, so closing the generator from any task (including
    the loop's finalizer after a `break`) cancels it. On other backends it runs in a task group
    held across yields: close the generator explicitly (`contextlib.aclosing`) when breaking out.
    """
    if _on_asyncio():
        tasks: dict[asyncio.Future[T], int] = {
            asyncio.ensure_future(c): i for i, c in enumerate(coros)
        }
        pending: set[asyncio.Future[T]] = set(tasks)
        try:
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for fut in sorted(done, key=tasks.__getitem__):
                    yield tasks[fut], fut.result()
        finally:
            for fut in pending:
                fut.cancel()
            if pending:
                await asyncio.wait(pending)
            # Retrieve every outcome, so failures after the first are not logged as "never
            # retrieved" (the consumer already has the first one).
            for fut in tasks:
                if fut.done() and not fut.cancelled():
                    fut.exception()
        return
    # Failures travel as values, so the consumer sees the step's own exception, not a group.
    send, receive = anyio.create_memory_object_stream[tuple[int, bool, Any]](len(coros))

    async def run(i: int, coro: Coroutine[Any, Any, T]) -> None:
        try:
            result = await coro
        except Exception as exc:
            send.send_nowait((i, False, exc))
        else:
            send.send_nowait((i, True, result))

    failure: BaseException | None = None
    async with anyio.create_task_group() as tg:
        try:
            for i, coro in enumerate(coros):
                tg.start_soon(run, i, coro)
            for _ in range(len(coros)):
                i, ok, value = await receive.receive()
                if not ok:
                    failure = value
                    break
                yield i, value
        except GeneratorExit:
            # The consumer closed us: leave the task group quietly (trio would otherwise wrap
            # GeneratorExit in an ExceptionGroup) and let the generator finish.
            pass
        finally:
            tg.cancel_scope.cancel()
            send.close()
            receive.close()
    if failure is not None:
        raise failure


@contextlib.asynccontextmanager
async def leaf_slot() -> AsyncIterator[None]:
    """Hold one slot of the run's `max_concurrency` limit for the body (a no-op without one).

    Steps that do work themselves (models, tools) wrap that work in this, so the run-wide limit
    counts them; work started inside the body does not take further slots.
    """
    limiter = _limiter.get()
    if limiter is None:
        yield
        return
    # A borrower of our own, not the current task: a stream holding the slot may be resumed
    # from other tasks (e.g. a sync generator pulling chunks through a thread portal).
    borrower = object()
    await limiter.acquire_on_behalf_of(borrower)
    token = _limiter.set(None)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # reset from another context: nothing to undo
            _limiter.reset(token)
        limiter.release_on_behalf_of(borrower)


async def run_with_timeout(seconds: float, name: str, fn: Callable[[], Awaitable[T]]) -> T:
    """Run `fn`, cancelling it after `seconds`; then raise `TimeoutError` naming `name`."""
    with anyio.move_on_after(seconds):
        return await fn()
    raise TimeoutError(f"{name} timed out after {seconds:g} s")


def closing(it: AsyncIterator[T]) -> contextlib.AbstractAsyncContextManager[AsyncIterator[T]]:
    """`contextlib.aclosing` for any async iterator: close it on exit if it can be closed.

    A consumer that stops early must close the generator it iterates, or that generator (and
    everything upstream of it) stays suspended until garbage collection.
    """
    if hasattr(it, "aclose"):
        return contextlib.aclosing(it)  # type: ignore[type-var]
    return contextlib.nullcontext(it)


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


async def _take(get: Callable[[], Awaitable[Any]], n_sources: int) -> AsyncGenerator[Any, None]:
    """Items from merged sources until all ended or one failed (the failure is raised later)."""
    remaining = n_sources
    while remaining:
        item = await get()
        if item is _STREAM_FAILED:
            return
        if item is _STREAM_END:
            remaining -= 1
            continue
        yield item


async def merge(sources: Sequence[Source]) -> AsyncGenerator[Any, None]:
    """Run producers concurrently and yield what they emit, in arrival order.

    Each source is called with an `emit(item)` function and runs until done. The first source to
    fail cancels the others and its exception is raised to the consumer as itself. Closing the
    generator early cancels every source.

    On asyncio the sources run in plain tasks, so the generator may be closed from any task
    (including the loop's finalizer after a `break`). On other backends they run in a task group
    held across yields: close the generator explicitly (as trio requires for async generators).
    """
    if _on_asyncio():
        queue: asyncio.Queue[Any] = asyncio.Queue()
        failure: list[BaseException] = []
        tasks = [asyncio.ensure_future(_drive(s, queue.put_nowait, failure)) for s in sources]
        try:
            async with contextlib.aclosing(_take(queue.get, len(tasks))) as items:
                async for item in items:
                    yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if failure:
            raise failure[0]
        return

    send, receive = anyio.create_memory_object_stream[Any](float("inf"))
    errors: list[BaseException] = []
    async with anyio.create_task_group() as tg:
        try:
            for source in sources:
                tg.start_soon(_drive, source, send.send_nowait, errors)
            async with contextlib.aclosing(_take(receive.receive, len(sources))) as items:
                async for item in items:
                    yield item
        except GeneratorExit:
            # Closed by the consumer: leave the task group quietly (trio would otherwise wrap
            # GeneratorExit in an ExceptionGroup).
            pass
        finally:
            tg.cancel_scope.cancel()
            send.close()
            receive.close()
    if errors:
        raise errors[0]


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
