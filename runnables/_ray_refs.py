"""Awaiting a Ray `ObjectRef` (or any `concurrent.futures.Future`) from asyncio or trio code.

Ray's own `await ref` works on asyncio only. Here the ref's `concurrent.futures.Future` is
awaited: on asyncio through `asyncio.wrap_future`; on trio (or any other anyio backend) by
waking the waiting task from Ray's callback thread with the loop's thread-safe `run_sync_soon`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Any, TypeVar

import ray

T = TypeVar("T")


async def wait_ref(ref: ray.ObjectRef[Any]) -> Any:
    """The value of `ref` once it is ready; Ray's error for it if the task failed."""
    return await wait_future(ref.future())


async def wait_future(future: concurrent.futures.Future[T]) -> T:
    """The result of `future` (set from another thread), awaited without a thread of ours.

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
    import trio  # the running loop is trio's: it is installed

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
