"""A real uvicorn server on 127.0.0.1, in a thread, serving an ASGI app (chains via add_routes).

with ServeServer(app) as server:
    httpx.get(server.url + "/chain/input_schema")
    server.task_count()  # tasks on the server's event loop, for leak checks
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
import time
from types import TracebackType
from typing import Any, Self

import anyio
import uvicorn

_POLL = 0.002
WAIT_LIMIT = 60.0


class ServeServer:
    """uvicorn (h11) serving `app` on a free port of 127.0.0.1, in a daemon thread.

    Attributes:
        url: `http://127.0.0.1:PORT` (after `start`).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.url = ""
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sock: socket.socket | None = None
        self._uvicorn: uvicorn.Server | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Bind a free port and serve; returns once accepting."""
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(
            self.app,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
            backlog=512,
        )
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="serve-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("serve test server failed to start")
            time.sleep(_POLL)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        assert self._uvicorn is not None
        assert self._sock is not None
        self._loop = asyncio.get_running_loop()
        await self._uvicorn.serve(sockets=[self._sock])

    def stop(self, timeout: float = 10.0) -> None:
        """Shut uvicorn down and join its thread."""
        if self._thread is None or self._uvicorn is None:
            return
        self._uvicorn.should_exit = True
        self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        alive = self._thread.is_alive()
        self._thread = self._uvicorn = self._sock = self._loop = None
        if alive:
            raise RuntimeError("serve test server thread did not exit")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- leak checks -------------------------------------------------------------------------

    def task_count(self) -> int:
        """The number of tasks on the server's event loop (uvicorn's own ones included)."""
        loop = self._loop
        assert loop is not None

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1  # not this one

        future: concurrent.futures.Future[int] = asyncio.run_coroutine_threadsafe(count(), loop)
        return future.result(WAIT_LIMIT)

    async def settle_tasks(self, baseline: int) -> int:
        """Wait (asyncio or trio) until the server's task count is at most `baseline`; return
        it. Fails after `WAIT_LIMIT` seconds with the count it saw."""
        deadline = time.monotonic() + WAIT_LIMIT
        while True:
            count = await anyio.to_thread.run_sync(self.task_count)
            if count <= baseline:
                return count
            if time.monotonic() > deadline:
                raise AssertionError(f"server tasks: {count}, baseline {baseline}")
            await anyio.sleep(0.01)

    def connections(self) -> int:
        """Open connections uvicorn holds."""
        assert self._uvicorn is not None
        return len(self._uvicorn.server_state.connections)
