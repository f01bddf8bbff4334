"""`RedisCache`: a cache on a Redis server, shared by every process and machine that reaches it.

**Clients.** On asyncio, redis-py's asyncio client (`redis.asyncio`); it belongs to the loop
that made it, so it is a loop-scoped resource (`loop_resource`): one per loop and URL, made on
first use and closed when the loop closes. redis-py has no trio client, so under trio the sync
client runs in worker threads, made and closed the same way. Nothing is kept on the instance:
a `RedisCache` pickles as its URL and options (a chain shipped to Ray workers connects from
each worker).

**Redis going away** (stopped, unreachable, refusing writes) never fails a run: a call that
cannot reach it is a miss (a read) or is skipped (a write), with one logged warning for the
outage, and for `retry_interval` seconds the store does not try again, so a batch does not wait
on a dead server per item. The first call that reaches it again logs that caching resumes. A
server restarted between calls is no outage: a dead pooled connection reconnects once.

**At most 64 commands** are in flight per loop (so as many connections): a batch looks up
every item at once, and the rest queue for a slot.

**Keys** are stored under `prefix`, and `aclear` deletes only those (never `FLUSHDB`). Expiry
is Redis's own (`SET ... PX`), on the server's clock.

Values are pickles (see `runnables._cache`): only point caches at a Redis server you trust, as
unpickling runs code of the pickled classes.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from runnables._bridge import loop_resource
from runnables._cache import (
    CACHE_MISS,
    BaseCache,
    Trouble,
    _check_key,
    check_ttl,
    dump_value,
    load_value,
)
from runnables._concurrency import _backend, clock, run_in_thread

__all__ = ["RedisCache"]

_DEFAULT_URL = "redis://localhost:6379/0"
_TIMEOUT = 5.0
"""Seconds a command (or a connection attempt) may take before it counts as Redis being away."""


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.retry
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ImportError("RedisCache needs redis-py: pip install 'runnables[redis]'") from exc
    return redis


_MAX_COMMANDS = 64
"""Commands in flight per loop and URL, so connections too. A batch looks up every item at once:
past this many, calls queue here, where one that reaches the head after Redis went away is
skipped at once rather than waiting for its own connection attempt to time out."""


class _Link:
    """One loop's way to a Redis server: a client (and its connection pool) and the slots."""

    def __init__(self, url: str, asynchronous: bool) -> None:
        redis = _import_redis()
        options: dict[str, Any] = {
            "socket_timeout": _TIMEOUT,
            "socket_connect_timeout": _TIMEOUT,
            # A pooled connection to a server that restarted fails once: reconnect and retry,
            # rather than take a restart for an outage.
            "retry_on_error": [redis.exceptions.ConnectionError],
        }
        self.asynchronous = asynchronous
        if asynchronous:
            retry = redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 1)
            self.client = redis.asyncio.Redis.from_url(url, retry=retry, **options)
        else:  # trio: redis-py has no trio client, so the sync one runs in worker threads
            retry = redis.retry.Retry(redis.backoff.NoBackoff(), 1)
            self.client = redis.Redis.from_url(url, retry=retry, **options)
        self.slots = anyio.Semaphore(_MAX_COMMANDS)

    async def run(self, name: str, *args: Any) -> Any:
        if self.asynchronous:
            return await getattr(self.client, name)(*args)
        return await run_in_thread(getattr(self.client, name), *args)

    async def aclose(self) -> None:
        if self.asynchronous:
            await self.client.aclose()
        else:
            await run_in_thread(self.client.close)


async def _close(link: _Link) -> None:
    await link.aclose()


class RedisCache(BaseCache):
    """A cache on a Redis server.

    Args:
        url: The server, as redis-py reads it (`redis://host:port/db`, `rediss://` for TLS,
            `unix:///path`).
        prefix: Put before every key, so several caches (and other data) share a database.
        retry_interval: Seconds to leave Redis alone after a failed call (0: try every call).

    Raises:
        TypeError: `url` or `prefix` is not a str.
        ValueError: `retry_interval` is negative.
        ImportError: redis-py is not installed (`pip install 'runnables[redis]'`).
    """

    def __init__(
        self,
        url: str = _DEFAULT_URL,
        *,
        prefix: str = "runnables:cache:",
        retry_interval: float = 5.0,
    ) -> None:
        if not isinstance(url, str):
            raise TypeError(f'Invalid "url" argument: expected a str, got {url!r}')
        if not isinstance(prefix, str):
            raise TypeError(f'Invalid "prefix" argument: expected a str, got {prefix!r}')
        if (
            isinstance(retry_interval, bool)
            or not isinstance(retry_interval, int | float)
            or not retry_interval >= 0
        ):
            raise ValueError(
                f'Invalid "retry_interval" argument: expected seconds >= 0, got {retry_interval!r}'
            )
        redis = _import_redis()  # fail here, when the chain is built, if redis-py is missing
        try:
            redis.connection.parse_url(url)
        except ValueError as exc:
            raise ValueError(f'Invalid "url" argument: {url!r}; {exc}') from None
        self.url = url
        self.prefix = prefix
        self.retry_interval = float(retry_interval)
        self._setup()

    def _setup(self) -> None:
        self._trouble = Trouble(repr(self), "Redis")
        self._retry_at: tuple[object, float] | None = None

    def __repr__(self) -> str:
        return f"RedisCache({self.url!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "prefix": self.prefix, "retry_interval": self.retry_interval}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def _resting(self) -> bool:
        """Whether Redis failed recently enough to be left alone for now."""
        if self._retry_at is None:
            return False
        which, now = clock()
        # Another loop's clock (a new trio.run) says nothing about the wait: try again.
        return which == self._retry_at[0] and now < self._retry_at[1]

    async def _call(self, name: str, *args: Any) -> tuple[bool, Any]:
        """Run one Redis command: (True, its reply), or (False, None) if Redis is away."""
        if self._resting():
            return False, None
        redis = _import_redis()
        asynchronous = _backend().asyncio
        try:
            async with (
                loop_resource(
                    ("runnables.RedisCache", self.url, asynchronous),
                    lambda: _Link(self.url, asynchronous),
                    _close,
                ) as link,
                link.slots,
            ):
                if self._resting():  # it went away while this call waited for a slot
                    return False, None
                reply = await link.run(name, *args)
        except (redis.exceptions.RedisError, OSError) as exc:
            # Away, or refusing (out of memory, read-only replica, bad auth): go on uncached.
            self._trouble.failed(exc)
            if self.retry_interval:
                which, now = clock()
                self._retry_at = (which, now + self.retry_interval)
            return False, None
        self._retry_at = None
        self._trouble.ok()
        return True, reply

    async def aget(self, key: str) -> Any:
        _check_key(key)
        ok, data = await self._call("get", self.prefix + key)
        if not ok or data is None:
            return CACHE_MISS
        return load_value(data, key, repr(self))

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        _check_key(key)
        seconds = check_ttl(ttl)
        data = dump_value(value)
        if seconds is None:
            await self._call("set", self.prefix + key, data)
        else:
            await self._call("psetex", self.prefix + key, max(1, math.ceil(seconds * 1000)), data)

    async def aclear(self) -> None:
        await self._each_key_batch(lambda keys: self._call("unlink", *keys))

    async def _each_key_batch(self, action: Callable[[list[bytes]], Awaitable[object]]) -> None:
        cursor: Any = 0
        pattern = _escape_glob(self.prefix) + "*"
        while True:
            ok, reply = await self._call("scan", cursor, pattern, 500)
            if not ok:
                return
            cursor, keys = reply
            if keys:
                await action(keys)
            if int(cursor) == 0:
                return


def _escape_glob(text: str) -> str:
    """`text` as a literal in a Redis glob pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
