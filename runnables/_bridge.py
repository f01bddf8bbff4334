"""The sync bridge: run the async core from synchronous code.

All event-loop handling for sync callers lives here and nowhere else.

- The main thread, with no loop running: run the coroutine on a loop the main thread keeps for
  the life of the process (creating a loop per call costs more than a small chain), with
  asyncio's own Ctrl-C handling: the run is cancelled and `KeyboardInterrupt` raised.
- Any other thread, or a thread whose loop is already running (a notebook, an async handler
  calling sync code): hand the coroutine to one shared background loop thread and wait. One
  long-lived loop means per-loop resources (HTTP connection pools) are reused across calls.
- The background loop's own thread (sync code called from inside a chain it runs): a fresh
  helper thread with its own loop, so a call never waits on the loop it blocks.

Streams cross one chunk at a time: the async generator runs as one task on the background loop
and hands each chunk over as soon as it is produced, staying at most one chunk ahead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_main_runner: asyncio.Runner | None = None
_main_lock = threading.Lock()


def _close_main_runner() -> None:
    global _main_runner
    if _main_runner is not None:
        _main_runner.close()
        _main_runner = None


def _main_thread_runner() -> asyncio.Runner:
    global _main_runner
    if _main_runner is None:
        with _main_lock:
            if _main_runner is None:
                # loop_factory keeps the runner from installing its loop as the thread's
                # current loop, so a later asyncio.run() or get_event_loop() is unaffected.
                _main_runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
                atexit.register(_close_main_runner)
    return _main_runner


def _in_running_loop() -> bool:
    if asyncio._get_running_loop() is not None:
        return True
    try:
        import sniffio

        sniffio.current_async_library()
    except Exception:
        return False
    return True


class _Job(Generic[T]):
    """A coroutine running on another thread's loop, waited for from a sync thread."""

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
            self.done.wait()
        except BaseException:
            self.cancel()
            self.done.wait()
            raise
        ok, value = self.outcome
        if ok:
            return value  # type: ignore[no-any-return]
        raise value


class _BackgroundLoop:
    """One daemon thread running an asyncio loop for sync callers off the main thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="runnables-loop", daemon=True
        )
        self.thread.start()
        atexit.register(self.close)

    def submit(self, coro: Coroutine[Any, Any, T]) -> _Job[T]:
        """Start `coro` as a task on this loop, in a fresh context (nothing of the caller's
        context, such as the running async library or a run's limiter, leaks into it)."""
        job: _Job[T] = _Job(self.loop)

        def start() -> None:
            job.task = self.loop.create_task(job.run(coro))

        self.loop.call_soon_threadsafe(start, context=contextvars.Context())
        return job

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_asyncgens()

        self.submit(cancel_all()).done.wait(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        if not self.thread.is_alive():
            self.loop.close()


_background: _BackgroundLoop | None = None
_background_lock = threading.Lock()


def _background_loop() -> _BackgroundLoop:
    global _background
    if _background is None:
        with _background_lock:
            if _background is None:
                _background = _BackgroundLoop()
    return _background


def _on_background_thread() -> bool:
    return _background is not None and threading.current_thread() is _background.thread


def run_sync(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine made by `make_coro` to completion from synchronous code."""
    if threading.current_thread() is threading.main_thread() and not _in_running_loop():
        return _main_thread_runner().run(make_coro())
    if _on_background_thread():
        return _run_in_helper_thread(make_coro)
    return _background_loop().submit(make_coro()).result()


def _run_in_helper_thread(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, asyncio.run(make_coro())))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name="runnables-bridge", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if ok:
        return value  # type: ignore[no-any-return]
    raise value


def iter_sync(make_agen: Callable[[], AsyncIterator[T]]) -> Generator[T, None, None]:
    """Iterate an async generator from synchronous code, one chunk at a time.

    The generator runs as one task on the background loop (on a helper thread's own loop when
    called from that loop's thread). Each chunk is handed over as soon as it is produced, and
    the producer runs at most one chunk ahead. Closing the iterator early (a `break`) cancels
    the producer and waits for it to clean up.
    """
    loop_owner: _BackgroundLoop | None = None
    if _on_background_thread():
        loop_owner = background = _BackgroundLoop()
    else:
        background = _background_loop()
    loop = background.loop
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

    job = background.submit(produce())
    finished = False
    try:
        while True:
            kind, value = handoff.get()
            if kind == 0:
                yield value
                # Asked for the next chunk: let the producer make one more.
                loop.call_soon_threadsafe(_release_when_ready, credit)
            elif kind == 1:
                finished = True
                raise value
            else:
                finished = True
                return
    finally:
        if not finished:
            job.cancel()
        job.done.wait()
        if loop_owner is not None:
            loop_owner.close()


def _release_when_ready(credit: list[asyncio.Semaphore]) -> None:
    credit[0].release()
