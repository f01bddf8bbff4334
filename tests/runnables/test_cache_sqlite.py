"""SQLiteCache beyond the contract: several processes on one file, damaged and foreign files,
WAL mode and durability settings, the event loop never blocked."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from runnables import CACHE_MISS, SQLiteCache

pytestmark = pytest.mark.anyio

_WRITER = """
import sys
from runnables import SQLiteCache

path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
cache = SQLiteCache(path)
cache.get("warm up")  # open the file before the gate
print("ready", flush=True)
sys.stdin.readline()  # the gate: every writer starts at once
for i in range(count):
    cache.set(f"{name}:{i}", {"writer": name, "i": i})
    got = cache.get(f"{name}:{i}")
    assert got == {"writer": name, "i": i}, got
print("done", flush=True)
"""


def test_two_processes_write_one_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), name, "150"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline() == "ready\n", writer.communicate()
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert (out, writer.returncode) == ("done\n", 0), err
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
            writer.communicate()
    cache = SQLiteCache(path)
    for name in ("a", "b"):
        for i in range(150):
            assert cache.get(f"{name}:{i}") == {"writer": name, "i": i}


def test_a_file_in_wal_mode_with_the_chosen_durability(tmp_path: Path) -> None:
    for durable, level in ((True, 2), (False, 1)):  # FULL, NORMAL
        cache = SQLiteCache(tmp_path / f"{durable}.db", durable=durable)
        cache.set("k", "v")
        with cache._lock:
            conn = cache._connection()
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert conn.execute("PRAGMA synchronous").fetchone() == (level,)
            assert conn.execute("PRAGMA busy_timeout").fetchone() == (30000,)


def test_a_write_is_in_the_file_when_set_returns(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    SQLiteCache(path).set("k", [1, 2])
    # Another connection (as another process would) sees it at once: it is committed.
    with contextlib.closing(sqlite3.connect(path)) as conn:
        (count,) = conn.execute("SELECT count(*) FROM runnables_cache_v1").fetchone()
    assert count == 1
    assert SQLiteCache(path).get("k") == [1, 2]


def test_a_file_that_is_not_a_database_fails_naming_its_path(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(bytes(range(256)) * 40)
    cache = SQLiteCache(path)
    with pytest.raises(sqlite3.DatabaseError, match=r"SQLiteCache cannot open '.*garbage\.db'"):
        cache.get("k")


def test_a_damaged_file_gives_misses_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "damaged.db"
    cache = SQLiteCache(path)
    for i in range(40):
        cache.set(f"k{i}", "x" * 500)
    anyio.run(cache.aclose)
    data = bytearray(path.read_bytes())
    for i in range(4096, len(data)):  # the header page survives, the table's pages do not
        data[i] = (i * 7) % 256
    path.write_bytes(bytes(data))

    damaged = SQLiteCache(path)
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        assert [damaged.get(f"k{i}") for i in range(5)] == [CACHE_MISS] * 5
        damaged.set("new", 1)  # a write is skipped too: the run goes on uncached
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "malformed" in warnings[0].getMessage()
    assert "damaged.db" in warnings[0].getMessage()


def test_a_bad_path_or_option_is_rejected() -> None:
    with pytest.raises(TypeError, match=r'"path".*got 5'):
        SQLiteCache(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r'"durable".*got 1'):
        SQLiteCache("x.db", durable=1)  # type: ignore[arg-type]


def test_a_pickle_holds_no_connection(tmp_path: Path) -> None:
    import pickle

    cache = SQLiteCache(tmp_path / "c.db")
    cache.set("k", "v")
    state = cache.__getstate__()
    assert state == {"path": str(tmp_path / "c.db"), "durable": True}
    assert pickle.loads(pickle.dumps(cache)).get("k") == "v"


async def test_statements_run_off_the_event_loop(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.db")
    await cache.aset("k", "v")
    loop_thread = threading.get_ident()
    seen: list[int] = []
    original = cache._run

    def spy(sql: str, params: tuple[Any, ...]) -> Any:
        seen.append(threading.get_ident())
        return original(sql, params)

    original_get = cache._get

    def spy_get(key: str) -> Any:
        seen.append(threading.get_ident())
        return original_get(key)

    cache._run = spy  # type: ignore[method-assign]
    cache._get = spy_get  # type: ignore[method-assign]
    assert await cache.aget("k") == "v"  # through a read connection of its thread's own
    await cache.aset("k2", "v2")
    await cache.aclear()
    assert len(seen) == 3
    assert loop_thread not in seen


async def test_reads_use_one_connection_per_thread_and_close_with_the_cache(
    tmp_path: Path,
) -> None:
    cache = SQLiteCache(tmp_path / "c.db")
    await cache.aset("k", "v")
    assert await cache.aget("k") == "v"
    reader = cache._reader_conns[0]  # the reading thread's own, beside the writer
    assert reader is not cache._conn
    with anyio.fail_after(10):  # reads go on while a write holds the cache's lock
        with cache._lock:
            assert await cache.aget("k") == "v"
    await cache.aclose()
    assert cache._reader_conns == []
    with pytest.raises(sqlite3.ProgrammingError):
        reader.execute("SELECT 1")
    assert await cache.aget("k") == "v"  # opened again on use


async def test_many_concurrent_writes_and_reads_in_one_process(tmp_path: Path) -> None:
    cache = SQLiteCache(tmp_path / "c.db", durable=False)

    async def one(i: int) -> None:
        await cache.aset(f"k{i}", i)
        assert await cache.aget(f"k{i}") == i

    async with anyio.create_task_group() as tg:
        for i in range(100):
            tg.start_soon(one, i)
    assert [await cache.aget(f"k{i}") for i in range(100)] == list(range(100))


def test_a_connection_from_another_process_is_never_reused(tmp_path: Path) -> None:
    # A forked child inherits the parent's connection object: it must open its own.
    cache = SQLiteCache(tmp_path / "c.db")
    cache.set("k", 1)
    inherited = cache._conn
    cache._pid = -1  # as seen from a child process
    assert cache.get("k") == 1
    assert cache._conn is not inherited
    assert cache._pid == os.getpid()
    assert inherited is not None
    inherited.close()


def test_a_row_written_by_something_else_is_a_miss_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = SQLiteCache(tmp_path / "c.db")
    cache.set("k", "v")
    with contextlib.closing(sqlite3.connect(cache.path)) as conn, conn:
        conn.execute("UPDATE runnables_cache_v1 SET value = 'text, not bytes' WHERE key = 'k'")
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        assert cache.get("k") is CACHE_MISS
    assert "'k'" in caplog.text
    cache.close()


def test_a_path_in_a_folder_that_does_not_exist_is_named_when_the_cache_is_made(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match=r'Invalid "path" argument: .*does not exist'):
        SQLiteCache(tmp_path / "missing" / "run.db")
