"""One `openai.AsyncOpenAI` client per event loop and connection settings, closed with the loop.

An `AsyncOpenAI` client owns an HTTP connection pool, and pooled connections belong to the event
loop that opened them: reusing a client on another loop fails ("Event loop is closed"). Creating
a client per call is not an option either: it costs about 25 ms (loading the CA bundle), and every
call would pay a new TCP/TLS handshake.

So clients are loop-scoped resources (`runnables.loop_resource`), keyed by the settings that
shape a client (base URL, key, organization, retries, timeout): `ChatOpenAI` instances with the
same settings share a connection pool in each loop, and the pool is closed when its loop closes.
Nothing here is stored on a model instance, so models stay picklable.

The SDK itself takes about 0.4 s to import. `ChatOpenAI` imports it when it is built; a model
that reaches a loop without it (unpickled in a worker) imports it in a worker thread, so the
loop is never stalled by the import.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio.to_thread

from runnables import loop_resource

if TYPE_CHECKING:
    import openai

__all__ = ["ClientSettings", "import_openai", "openai_client"]


# The SDK loads its chat resource and reply types lazily, on the first request: import them too.
_SDK_MODULES = ("openai", "openai.resources.chat.completions", "openai.types.chat")


def import_openai() -> None:
    """Import the `openai` SDK now (from sync code: construction), if it is not yet."""
    if _SDK_MODULES[-1] not in sys.modules:
        for name in _SDK_MODULES:
            importlib.import_module(name)


class ClientSettings(NamedTuple):
    """What distinguishes one `AsyncOpenAI` client from another."""

    base_url: str | None
    api_key: str
    organization: str | None
    max_retries: int
    timeout: float | None

    def create(self) -> openai.AsyncOpenAI:
        """A new client with these settings (the SDK must be imported already)."""
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


async def _close(client: openai.AsyncOpenAI) -> None:
    await client.close()


@contextlib.asynccontextmanager
async def openai_client(settings: ClientSettings) -> AsyncIterator[openai.AsyncOpenAI]:
    """The running loop's client for `settings`, created on first use.

    Use it only inside the `async with` block (a stream: until it ends).
    """
    if _SDK_MODULES[-1] not in sys.modules:
        await anyio.to_thread.run_sync(import_openai)
    # Made in a worker thread: a new client loads its certificates (100 ms or more).
    async with loop_resource(
        ("openai", settings), settings.create, _close, create_in_thread=True
    ) as client:
        yield client
