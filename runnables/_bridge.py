"""The sync bridge: run the async core from synchronous code.

All event-loop handling for sync callers lives here and nowhere else.

- No loop running in this thread: run the coroutine on an asyncio loop owned by this thread. The
  main thread keeps one loop for the life of the process (creating a loop per call costs more
  than the rest of a small chain); other threads get a fresh loop per call, so nothing is left
  open when they end.
- A loop already running in this thread (a notebook, an async handler calling sync code): run
  the coroutine on a new helper thread with its own loop and block until it is done, so sync
  calls never fail because a loop is running.

Streams cross the same way, one chunk at a time: the async generator runs on its own loop in a
helper thread and hands each chunk over a queue as it is produced.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from typing import Any, TypeVar

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


def run_sync(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine made by `make_coro` to completion from synchronous code."""
    if threading.current_thread() is threading.main_thread():
        if not _in_running_loop():
            return _main_thread_runner().run(make_coro())
    elif not _in_running_loop():
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            return runner.run(make_coro())
    return _run_in_helper_thread(make_coro)


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

    The generator runs on a helper thread's own loop; each chunk is handed over as soon as it is
    produced (the producer runs at most one chunk ahead). Closing the iterator early (a `break`)
    cancels the producer and waits for it to clean up.
    """
    handoff: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()
    started: list[tuple[asyncio.AbstractEventLoop, asyncio.Task[Any]]] = []

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        started.append((asyncio.get_running_loop(), task))
        agen = make_agen()
        try:
            async for chunk in agen:
                handoff.put((0, chunk))
                if stop.is_set():
                    break
        except BaseException as exc:
            if not stop.is_set():
                handoff.put((1, exc))
            return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()
        handoff.put((2, None))

    thread = threading.Thread(
        target=asyncio.run, args=(main(),), name="runnables-stream", daemon=True
    )
    thread.start()
    finished = False
    try:
        while True:
            kind, value = handoff.get()
            if kind == 0:
                yield value
            elif kind == 1:
                finished = True
                raise value
            else:
                finished = True
                return
    finally:
        if not finished:
            stop.set()
            if started:
                loop, task = started[0]
                with contextlib.suppress(RuntimeError):  # the loop may have closed already
                    loop.call_soon_threadsafe(task.cancel)
            # Take whatever the producer still hands over, so it is never stuck on a full queue.
            while thread.is_alive():
                with contextlib.suppress(queue.Empty):
                    handoff.get(timeout=0.01)
        thread.join()
