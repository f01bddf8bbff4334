"""RedisCache beyond the contract, on a real `redis-server`: Redis going away and coming back,
one client per event loop closed with it, keys kept under the prefix."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import anyio
import pytest
import redis

from runnables import CACHE_MISS, RedisCache, RunnableLambda
from tests.clock import jump, virtual_time_backends
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture(params=virtual_time_backends(autojump=False))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


async def test_redis_stopping_mid_use_means_uncached_calls_and_one_warning(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(own_redis_server.url, retry_interval=0)
    await cache.aset("k", "v")
    own_redis_server.stop()
    with caplog.at_level(logging.INFO, logger="runnables.cache"):
        for i in range(20):
            assert await cache.aget("k") is CACHE_MISS
            await cache.aset(f"k{i}", i)  # skipped, without an error
        assert len(_warnings(caplog)) == 1
        assert "calls go on uncached" in _warnings(caplog)[0]

        own_redis_server.start()  # back, empty (no persistence)
        await cache.aset("k", "again")
        assert await cache.aget("k") == "again"
    assert len(_warnings(caplog)) == 1
    assert "caching resumes" in caplog.text


async def test_after_a_failure_redis_is_left_alone_for_the_retry_interval(
    own_redis_server: RedisServer,
) -> None:
    cache = RedisCache(own_redis_server.url, retry_interval=30)
    own_redis_server.stop()
    assert await cache.aget("k") is CACHE_MISS  # fails, and starts the interval
    own_redis_server.start()
    await cache.aset("k", "during")  # not even tried
    jump(29)
    await cache.aset("k", "still during")
    jump(2)
    assert await cache.aget("k") is CACHE_MISS  # tried again: the server never got a value
    await cache.aset("k", "after")
    assert await cache.aget("k") == "after"


def test_redis_going_away_mid_batch_lets_the_batch_finish_uncached(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def work(x: int) -> int:
        calls.append(x)
        if x == 3:
            own_redis_server.stop()
        return x * 10

    cached = RunnableLambda(work).with_cache(RedisCache(own_redis_server.url, retry_interval=0))
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        out = cached.batch(list(range(8)), {"max_concurrency": 1})
    assert out == [x * 10 for x in range(8)]
    assert calls == list(range(8))
    assert len(_warnings(caplog)) == 1


async def test_clear_removes_only_this_prefix(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    other = f"other:{uuid.uuid4().hex}"
    client.set(other, b"kept")
    mine = RedisCache(redis_server.url, prefix=f"mine:{uuid.uuid4().hex}:")
    for i in range(1200):  # more than one SCAN page
        await mine.aset(f"k{i}", i)
    await mine.aclear()
    assert await mine.aget("k0") is CACHE_MISS
    assert await mine.aget("k1199") is CACHE_MISS
    assert client.get(other) == b"kept"
    client.delete(other)
    client.close()


async def test_clear_with_redis_away_does_nothing_and_warns(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(own_redis_server.url)
    own_redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        await cache.aclear()
    assert len(_warnings(caplog)) == 1


def test_each_event_loop_gets_a_client_closed_with_the_loop(
    own_redis_server: RedisServer,
) -> None:
    # A server of its own: the session's may have clients of other tests' loops coming and going.
    probe = redis.Redis.from_url(own_redis_server.url)
    before = probe.info("clients")["connected_clients"]
    cache = RedisCache(own_redis_server.url)

    async def use() -> Any:
        await cache.aset("k", [1])
        inside: int = probe.info("clients")["connected_clients"]
        return await cache.aget("k"), inside

    for backend in ("asyncio", "trio", "asyncio"):
        value, inside = anyio.run(use, backend=backend)
        assert value == [1]
        assert inside == before + 1
        assert probe.info("clients")["connected_clients"] == before
    probe.close()


def test_a_redis_cache_pickles_as_its_settings(redis_server: RedisServer) -> None:
    import pickle

    cache = RedisCache(redis_server.url, prefix="p:", retry_interval=2)
    assert cache.__getstate__() == {"url": redis_server.url, "prefix": "p:", "retry_interval": 2.0}
    copy = pickle.loads(pickle.dumps(cache))
    assert (copy.url, copy.prefix, copy.retry_interval) == (redis_server.url, "p:", 2.0)
    copy.set("k", "v")
    assert cache.get("k") == "v"
    cache.clear()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"url": 5}, TypeError, r'"url".*got 5'),
        ({"prefix": None}, TypeError, r'"prefix".*got None'),
        ({"retry_interval": -1}, ValueError, r'"retry_interval".*got -1'),
        ({"retry_interval": "1"}, ValueError, r"\"retry_interval\".*got '1'"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        RedisCache(**kwargs)


def test_importing_runnables_does_not_import_redis() -> None:
    import subprocess
    import sys

    code = "import sys, runnables; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_identical_calls_in_flight_run_the_step_once_on_redis(
    redis_server: RedisServer,
) -> None:
    gate = anyio.Event()
    started = anyio.Event()
    calls = []

    async def slow(x: int) -> list[int]:
        calls.append(x)
        started.set()
        await gate.wait()
        return [x]

    cache = RedisCache(redis_server.url, prefix=f"t:{uuid.uuid4().hex}:")
    cached = RunnableLambda(slow).with_cache(cache)
    results: list[Any] = []

    async def one() -> None:
        results.append(await cached.ainvoke(7))

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)
        # The first call runs the step once its lookup came back from Redis: by then every
        # other call has started, and found it in flight.
        await started.wait()
        gate.set()
    assert calls == [7]
    assert results == [[7]] * 100
    assert await cache.aget(cached.cache_key(7)) == [7]
    await cache.aclear()


async def test_a_restart_between_calls_is_not_taken_for_an_outage(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisCache(own_redis_server.url)  # the default retry interval: 5 s uncached
    await cache.aset("k", 1)
    own_redis_server.stop()
    own_redis_server.start()  # the pooled connection is now dead
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        assert await cache.aget("k") is CACHE_MISS  # a fresh server: empty, not "away"
        await cache.aset("k", 2)
        assert await cache.aget("k") == 2
    assert _warnings(caplog) == []


async def test_calls_queued_when_redis_goes_away_skip_it_at_once(
    own_redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runnables._cache_redis as module

    tried = []
    run = module._Link.run

    async def counted(self: Any, name: str, *args: Any) -> Any:
        tried.append(name)
        return await run(self, name, *args)

    monkeypatch.setattr(module._Link, "run", counted)
    cache = RedisCache(own_redis_server.url, retry_interval=30)
    await cache.aset("warm", 1)
    own_redis_server.stop()
    tried.clear()
    got: list[Any] = []

    async def one(i: int) -> None:
        got.append(await cache.aget(f"k{i}"))

    async with anyio.create_task_group() as tg:
        for i in range(300):
            tg.start_soon(one, i)
    assert got == [CACHE_MISS] * 300
    assert 1 <= len(tried) <= module._MAX_COMMANDS  # the rest never reached Redis


def test_a_url_redis_cannot_read_is_named_when_the_cache_is_made() -> None:
    with pytest.raises(ValueError, match=r"Invalid \"url\" argument: 'http://x'"):
        RedisCache("http://x")
