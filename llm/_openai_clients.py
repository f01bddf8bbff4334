"""One `openai.AsyncOpenAI` client per event loop and connection settings, closed with the loop.

An `AsyncOpenAI` client owns an HTTP connection pool, and pooled connections belong to the event
loop that opened them: reusing a client on another loop fails ("Event loop is closed"). Creating
a client per call is not an option either: it costs about 25 ms (loading the CA bundle), and every
call would pay a new TCP/TLS handshake.

So clients are cached per running event loop (an asyncio loop, or one `trio.run`), in an anyio
`RunVar`, keyed by the settings that shape a client (base URL, key, organization, retries,
timeout): `ChatOpenAI` instances with the same settings share a connection pool. The first use on
a loop also starts a small task that waits until the loop shuts down and then closes that loop's
clients, so no connection outlives its loop:

- asyncio: a plain task; `asyncio.run` and `asyncio.Runner.close` cancel it at shutdown;
- trio: a system task, cancelled when the run's main task returns.

A call made while the loop is already shutting down gets a client of its own, closed after it.
Nothing here is stored on a model instance, so models stay picklable.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
from anyio.lowlevel import RunVar

if TYPE_CHECKING:
    import openai

__all__ = ["ClientSettings", "openai_client"]


class ClientSettings(NamedTuple):
    """What distinguishes one `AsyncOpenAI` client from another."""

    base_url: str | None
    api_key: str
    organization: str | None
    max_retries: int
    timeout: float | None

    def create(self) -> openai.AsyncOpenAI:
        """A new client with these settings (the `openai` SDK is imported on first use)."""
        import openai

        kwargs: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "organization": self.organization,
            "max_retries": self.max_retries,
        }
        if self.timeout is not None:
            kwargs["timeout"] = self.timeout
        return openai.AsyncOpenAI(**kwargs)


class _LoopClients:
    """The clients of one event loop, and the task that closes them when the loop ends."""

    def __init__(self) -> None:
        self.clients: dict[ClientSettings, openai.AsyncOpenAI] = {}
        self.closer: object = None  # strong reference: asyncio keeps only weak ones to tasks
        self.closed = False

    def get(self, settings: ClientSettings) -> openai.AsyncOpenAI:
        client = self.clients.get(settings)
        if client is None:
            client = self.clients[settings] = settings.create()
        return client

    async def wait_and_close(self) -> None:
        try:
            await anyio.sleep_forever()
        finally:
            self.closed = True
            clients = list(self.clients.values())
            # Drop the references now: the task refers to the loop, which is this entry's key.
            self.clients.clear()
            self.closer = None
            with anyio.CancelScope(shield=True):
                for client in clients:
                    # Best effort at shutdown: a failing close must not hide the run's outcome.
                    with contextlib.suppress(Exception):
                        await client.close()


_loop_clients: RunVar[_LoopClients] = RunVar("llm_openai_clients")


def _current() -> _LoopClients:
    try:
        return _loop_clients.get()
    except LookupError:
        pass
    entry = _LoopClients()
    _loop_clients.set(entry)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not asyncio: anyio's only other backend is trio
        import trio

        entry.closer = trio.lowlevel.spawn_system_task(
            entry.wait_and_close, name="llm: close OpenAI clients"
        )
    else:
        entry.closer = loop.create_task(entry.wait_and_close(), name="llm: close OpenAI clients")
    return entry


@contextlib.asynccontextmanager
async def openai_client(settings: ClientSettings) -> AsyncIterator[openai.AsyncOpenAI]:
    """The running loop's client for `settings`, created on first use.

    Use it only inside the `async with` block (a stream: until it ends).
    """
    entry = _current()
    if not entry.closed:
        yield entry.get(settings)
        return
    async with settings.create() as client:
        yield client
