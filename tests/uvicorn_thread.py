"""A real uvicorn server for an ASGI app, on 127.0.0.1 and a free port, in a thread of its own.

Used by the serving tests whose clients are not runnables (a browser, the openai SDK's sync
client) or that must not share the test's event loop with the server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

WAIT_LIMIT = 60.0
"""The one generous safety limit for the server to start or stop (never reached when healthy)."""


class _Server(uvicorn.Server):
    """uvicorn's server, saying when it listens and on which port (so nobody polls for it)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()
        self.port = 0

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.servers:  # empty when startup failed (the port is then never reported)
            self.port = self.servers[0].sockets[0].getsockname()[1]
        self.listening.set()

    def install_signal_handlers(self) -> None:
        """Leave signals alone: this server runs in a thread, not the main one."""


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` while the block runs; yield its base URL (``http://127.0.0.1:PORT``)."""
    # uvicorn binds port 0 itself. A socket bound here with proto 0 gave connections without
    # TCP_NODELAY (asyncio sets it only for proto IPPROTO_TCP): each answer came ~40 ms late,
    # Nagle's algorithm meeting delayed ACKs (measured: 44 ms against 0.35 ms per request).
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        if not server.listening.wait(WAIT_LIMIT) or not server.port:
            raise RuntimeError("uvicorn did not start listening")
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_LIMIT)
