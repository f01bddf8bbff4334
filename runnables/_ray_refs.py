"""Awaiting a Ray `ObjectRef` from asyncio or trio code.

Ray's own `await ref` works on asyncio only. Here the ref's `concurrent.futures.Future` is
awaited: on asyncio through `asyncio.wrap_future`; on trio (or any other anyio backend) by
waking the waiting task from Ray's callback thread with the loop's thread-safe `run_sync_soon`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from typing import Any

import ray


async def wait_ref(ref: ray.ObjectRef[Any]) -> Any:
    """The value of `ref` once it is ready; Ray's error for it if the task failed."""
    future: concurrent.futures.Future[Any] = ref.future()
    if asyncio._get_running_loop() is not None:
        return await asyncio.wrap_future(future)
    import trio  # the running loop is trio's: it is installed

    token = trio.lowlevel.current_trio_token()
    done = trio.Event()

    def wake(_: object) -> None:
        with contextlib.suppress(trio.RunFinishedError):  # nobody waits any more
            token.run_sync_soon(done.set)

    future.add_done_callback(wake)
    await done.wait()
    return future.result()
