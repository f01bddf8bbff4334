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
    """uvicorn's server, saying when it listens (so nobody polls for it)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    def install_signal_handlers(self) -> None:
        """Leave signals alone: this server runs in a thread, not the main one."""


@contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve `app` while the block runs; yield its base URL (``http://127.0.0.1:PORT``)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none", loop="asyncio")
    server = _Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not server.listening.wait(WAIT_LIMIT):
            raise RuntimeError("uvicorn did not start listening")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_LIMIT)
        sock.close()
