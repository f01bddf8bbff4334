"""A real Redis server for tests: `redis-server` (Debian's package) on 127.0.0.1, no persistence.

`RedisServer` starts one on a free port and stops it; `stop()` and `start()` again (same port)
let a test take Redis away mid-run and bring it back.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from types import TracebackType

INSTALL_HINT = (
    "redis-server is not installed; the Redis tests need a real server: "
    "`apt-get install -y redis-server` (Debian/Ubuntu), or `brew install redis` (macOS)"
)


# No persistence (no RDB snapshots, no append-only file), in the foreground, quiet.
_OPTIONS = ("--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A `redis-server` process on 127.0.0.1; `url` reaches it.

    Raises:
        RuntimeError: `redis-server` is not installed (the message says how to install it), or
            it did not start.
    """

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self.binary = binary
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server (on the same port as before, after a `stop`)."""
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", *_OPTIONS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                stderr = self.process.stderr.read() if self.process.stderr else b""
                self.stop()
                raise RuntimeError(f"redis-server did not start: {stderr.decode(errors='replace')}")
            time.sleep(0.01)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server and wait until it is gone."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
