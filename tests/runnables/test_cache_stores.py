"""The cache contract, stated once for every store: in-memory, SQLite and a real Redis server.

Each test runs on asyncio and trio with a virtual clock that stands still until `jump`: the
in-memory store's expiry follows it; SQLite's follows a moved wall clock; Redis's is the
server's own (the store reads no clock), so its expiry test checks the key's PTTL right after
the write and then moves the key's expiry into the past: nothing waits on the real clock.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
import redis

import runnables._cache_sqlite
from prompts import AIMessage, HumanMessage
from runnables import CACHE_MISS, BaseCache, InMemoryCache, RedisCache, SQLiteCache
from runnables._cache import dump_value
from tests.clock import jump, virtual_time_backends
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture(params=virtual_time_backends(autojump=False))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@dataclass
class Store:
    """A cache under test and how to act on its backend directly."""

    cache: BaseCache
    expire: Callable[[str, float], Awaitable[None]]
    """Wait (or move time) until an entry stored with this ttl has expired."""
    write_raw: Callable[[str, bytes], None] | None = None
    """Put raw bytes under a key, behind the cache's back (persistent stores only)."""


async def _jump(key: str, ttl: float) -> None:
    jump(ttl)


@pytest.fixture
def wall_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """SQLite's expiry clock, moved by the tests: `wall_clock[0]` seconds ahead of real time."""
    offset = [0.0]
    monkeypatch.setattr(runnables._cache_sqlite, "_wall_time", lambda: time.time() + offset[0])
    return offset


def _memory_store() -> Store:
    return Store(InMemoryCache(), _jump)


def _sqlite_store(tmp_path: Path, wall_clock: list[float]) -> Store:
    cache = SQLiteCache(tmp_path / "cache.db")

    async def expire(key: str, ttl: float) -> None:
        wall_clock[0] += ttl

    def write_raw(key: str, data: bytes) -> None:
        cache.set(key, "made by the cache")  # the cache makes its table on first use
        with contextlib.closing(sqlite3.connect(cache.path)) as conn, conn:
            conn.execute(
                "INSERT OR REPLACE INTO runnables_cache_v1 (key, value, expires_at) "
                "VALUES (?, ?, NULL)",
                (key, data),
            )

    return Store(cache, expire, write_raw)


def _redis_store(server: RedisServer) -> Store:
    prefix = f"test:{uuid.uuid4().hex}:"
    cache = RedisCache(server.url, prefix=prefix)
    client = redis.Redis.from_url(server.url)

    async def expire(key: str, ttl: float) -> None:
        # Expiry is the server's own (SET ... PX): the store reads no clock. So check that the
        # write set the key's time to live, within the ttl, then move the key's expiry into the
        # past (PEXPIREAT 1), which Redis honours at once: no waiting on the real clock.
        left = client.pttl(prefix + key)
        assert isinstance(left, int)
        assert 0 < left <= ttl * 1000, f"PTTL {left} ms for a ttl of {ttl} s"
        assert client.pexpireat(prefix + key, 1)

    def write_raw(key: str, data: bytes) -> None:
        client.set(prefix + key, data)

    return Store(cache, expire, write_raw)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, wall_clock: list[float]
) -> Iterator[Store]:
    if request.param == "memory":
        yield _memory_store()
    elif request.param == "sqlite":
        made = _sqlite_store(tmp_path, wall_clock)
        yield made
        assert isinstance(made.cache, SQLiteCache)
        made.cache.close()
    else:
        yield _redis_store(request.getfixturevalue("redis_server"))


@pytest.fixture(params=["sqlite", "redis"])
def persistent(
    request: pytest.FixtureRequest, tmp_path: Path, wall_clock: list[float]
) -> Iterator[Store]:
    if request.param == "sqlite":
        made = _sqlite_store(tmp_path, wall_clock)
        yield made
        assert isinstance(made.cache, SQLiteCache)
        made.cache.close()
    else:
        yield _redis_store(request.getfixturevalue("redis_server"))


async def test_a_missing_key_is_a_miss(store: Store) -> None:
    assert await store.cache.aget("nothing here") is CACHE_MISS


async def test_a_stored_value_comes_back(store: Store) -> None:
    await store.cache.aset("k", {"answer": [1, 2.5, "three"]})
    assert await store.cache.aget("k") == {"answer": [1, 2.5, "three"]}


async def test_a_stored_none_is_a_hit_not_a_miss(store: Store) -> None:
    await store.cache.aset("none", None)
    assert await store.cache.aget("none") is None


async def test_a_new_value_replaces_the_old(store: Store) -> None:
    await store.cache.aset("k", "old")
    await store.cache.aset("k", "new")
    assert await store.cache.aget("k") == "new"


async def test_a_message_keeps_its_type_tool_calls_and_usage(store: Store) -> None:
    message = AIMessage(
        content="",
        tool_calls=[{"name": "weather", "args": {"city": "Oslo"}, "id": "call_1"}],
        usage_metadata={"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
        response_metadata={"model_name": "m"},
    )
    await store.cache.aset("msg", [HumanMessage("hi"), message])
    human, back = await store.cache.aget("msg")
    assert type(human) is HumanMessage
    assert type(back) is AIMessage
    assert back == message
    assert back.tool_calls[0]["args"] == {"city": "Oslo"}
    assert back.usage_metadata == {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}


async def test_an_entry_expires_after_its_ttl(store: Store) -> None:
    # A ttl long enough that no stall of a loaded machine expires it before it is read.
    await store.cache.aset("short", "v", ttl=100)
    await store.cache.aset("forever", "w")
    assert await store.cache.aget("short") == "v"
    await store.expire("short", 100.0)
    assert await store.cache.aget("short") is CACHE_MISS
    assert await store.cache.aget("forever") == "w"


async def test_in_memory_an_entry_lives_until_its_ttl_on_the_backends_clock() -> None:
    cache = InMemoryCache()
    await cache.aset("k", "v", ttl=10)
    jump(9.5)
    assert await cache.aget("k") == "v"
    jump(0.5)  # exactly its ttl
    assert await cache.aget("k") is CACHE_MISS


async def test_in_sqlite_an_entry_lives_until_its_ttl_on_the_wall_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1_000_000.0]  # the store's wall clock, and only the test moves it
    monkeypatch.setattr(runnables._cache_sqlite, "_wall_time", lambda: now[0])
    cache = SQLiteCache(tmp_path / "c.db")
    try:
        await cache.aset("k", "v", ttl=10)
        now[0] += 9.5
        assert await cache.aget("k") == "v"
        now[0] += 0.5  # exactly its ttl
        assert await cache.aget("k") is CACHE_MISS
    finally:
        cache.close()


async def test_clear_removes_every_entry(store: Store) -> None:
    await store.cache.aset("a", 1)
    await store.cache.aset("b", 2)
    await store.cache.aclear()
    assert await store.cache.aget("a") is CACHE_MISS
    assert await store.cache.aget("b") is CACHE_MISS
    await store.cache.aset("a", 3)  # usable after clearing
    assert await store.cache.aget("a") == 3


def test_sync_forms_run_the_same_logic(store: Store) -> None:
    store.cache.set("k", ("a", 1))
    assert store.cache.get("k") == ("a", 1)
    assert store.cache.get("other") is CACHE_MISS
    store.cache.clear()
    assert store.cache.get("k") is CACHE_MISS


async def test_a_bad_key_or_ttl_is_rejected(store: Store) -> None:
    with pytest.raises(TypeError, match=r'"key".*got 5'):
        await store.cache.aget(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r'"ttl".*got 0'):
        await store.cache.aset("k", 1, ttl=0)
    with pytest.raises(ValueError, match=r'"ttl".*got -1'):
        await store.cache.aset("k", 1, ttl=-1)


def test_a_store_survives_pickling_and_works_in_the_copy(store: Store) -> None:
    store.cache.set("k", "v")
    copy = pickle.loads(pickle.dumps(store.cache))
    assert type(copy) is type(store.cache)
    copy.set("k2", "v2")
    if isinstance(store.cache, InMemoryCache):
        assert copy.get("k") is CACHE_MISS  # a copy of an in-memory cache starts empty
    else:
        assert copy.get("k") == "v"  # the same file or server
        assert store.cache.get("k2") == "v2"


@pytest.mark.parametrize(
    "data",
    [b"\x00garbage\xff\xfe", dump_value({"a": 1})[:-3]],
    ids=["garbage bytes", "a cut pickle"],
)
async def test_an_unreadable_entry_is_a_miss_with_a_warning(
    persistent: Store, data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    assert persistent.write_raw is not None
    persistent.write_raw("bad", data)
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        assert await persistent.cache.aget("bad") is CACHE_MISS
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "'bad'" in caplog.text
    await persistent.cache.aset("bad", "fixed")  # computing it again overwrites it
    assert await persistent.cache.aget("bad") == "fixed"


async def test_an_entry_of_a_class_that_is_gone_is_a_miss_with_a_warning(
    persistent: Store, caplog: pytest.LogCaptureFixture
) -> None:
    assert persistent.write_raw is not None
    data = dump_value(_Gone()).replace(b"_Gone", b"_Lost")
    persistent.write_raw("gone", data)
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        assert await persistent.cache.aget("gone") is CACHE_MISS
    assert "cannot be read back" in caplog.text
    assert "AttributeError" in caplog.text


class _Gone:
    """A class whose pickles name a class that no longer exists (`_Lost`)."""


def test_in_memory_evicts_the_least_recently_used() -> None:
    cache = InMemoryCache(max_size=2)
    cache.set("a", 1)
    cache.set("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.set("c", 3)
    assert cache.get("b") is CACHE_MISS
    assert (cache.get("a"), cache.get("c")) == (1, 3)
    assert len(cache) == 2


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "3"])
def test_in_memory_rejects_a_bad_max_size(size: Any) -> None:
    with pytest.raises(ValueError, match=rf'"max_size".*got {size!r}'.replace("(", r"\(")):
        InMemoryCache(max_size=size)


async def test_in_memory_ttl_from_another_trio_run_reads_as_expired() -> None:
    cache = InMemoryCache()

    async def store() -> None:
        await cache.aset("k", "v", ttl=100)
        await cache.aset("kept", "w")

    async def read() -> tuple[Any, Any]:
        return await cache.aget("k"), await cache.aget("kept")

    # Each trio.run has its own clock, so a deadline on one says nothing on another.
    await anyio.to_thread.run_sync(lambda: anyio.run(store, backend="trio"))
    got = await anyio.to_thread.run_sync(lambda: anyio.run(read, backend="trio"))
    assert got == (CACHE_MISS, "w")


def test_cache_miss_is_one_object_through_pickle() -> None:
    assert pickle.loads(pickle.dumps(CACHE_MISS)) is CACHE_MISS
    assert repr(CACHE_MISS) == "CACHE_MISS"
