"""`SQLiteCache`: a cache in an SQLite file, the embedded default for resumable runs.

**Never on the event loop.** Every statement runs in a worker thread (stdlib `sqlite3`); a
process holds one connection per cache, opened on first use, with a lock around it (SQLite
serializes writes anyway, and a read takes microseconds).

**Several processes** (Ray workers on one host, two scripts) share one file: WAL mode lets
readers go on while one writer writes, and a busy timeout makes a writer wait for the lock
instead of failing.

**Durability.** Each `aset` is one autocommitted statement, so it is in the file once the call
returns. With `synchronous=FULL` (the default, `durable=True`) the commit is also flushed to disk
(fsync), so it survives a power loss or an OS crash; `durable=False` uses `NORMAL`, which in WAL
mode still survives the process being killed (`kill -9`: the write is in the OS's page cache)
and never corrupts the file, but an OS crash may lose the last commits. SQLite's journal makes
every write all-or-nothing either way: a crash mid-write leaves the previous state.

**Expiry** is by wall-clock timestamps (`time.time()`): entries outlive the process and the
event loop that wrote them, so a loop's clock means nothing to them.

**Pickling** keeps only the path and options: a copy in another process (a chain shipped to a
Ray worker) opens the file there, on first use.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from typing import Any

from runnables._bridge import run_sync
from runnables._cache import (
    CACHE_MISS,
    BaseCache,
    Trouble,
    _check_key,
    check_ttl,
    dump_value,
    load_value,
)
from runnables._concurrency import run_in_thread
from runnables._run import detached_context

__all__ = ["SQLiteCache"]

_TABLE = "runnables_cache_v1"

_BUSY_TIMEOUT = 30.0
"""Seconds a statement waits for another process's write lock before failing."""


def _wall_time() -> float:
    """Now, for expiry timestamps (a function, so tests can move it)."""
    return time.time()


class SQLiteCache(BaseCache):
    """A cache in an SQLite file: persistent, shared by every process on this machine.

    Args:
        path: The database file (made if missing, with its parent directory left to you).
            `":memory:"` gives a private, non-persistent database (tests).
        durable: Flush each write to disk before `aset` returns (`synchronous=FULL`); False
            keeps it safe against a killed process but not an OS crash, and writes faster.

    Raises:
        TypeError: `path` is not a str or path.
        sqlite3.DatabaseError: On first use, if the file exists but is not an SQLite database
            (the message names the path).
    """

    def __init__(self, path: str | os.PathLike[str], *, durable: bool = True) -> None:
        if not isinstance(path, str | os.PathLike):
            raise TypeError(f'Invalid "path" argument: expected a str or path, got {path!r}')
        if not isinstance(durable, bool):
            raise TypeError(f'Invalid "durable" argument: expected a bool, got {durable!r}')
        self.path = os.fspath(path)
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise ValueError(
                f'Invalid "path" argument: {path!r}; the folder {folder!r} does not exist'
            )
        self.durable = durable
        self._setup()

    def _setup(self) -> None:
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._trouble = Trouble(repr(self), "the database")

    def __repr__(self) -> str:
        return f"SQLiteCache({self.path!r})"

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "durable": self.durable}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self.durable = state["durable"]
        self._setup()

    def _connection(self) -> sqlite3.Connection:
        """This process's connection (called with the lock held, in a worker thread)."""
        if self._pid != os.getpid():  # forked: the parent's connection is not ours to use
            self._setup_after_fork()
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _setup_after_fork(self) -> None:
        self._conn = None
        self._pid = os.getpid()

    def _open(self) -> sqlite3.Connection:
        # Autocommit (isolation_level=None): every statement is its own transaction, committed
        # before execute() returns. check_same_thread=False: worker threads take turns (lock).
        conn = sqlite3.connect(
            self.path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {'FULL' if self.durable else 'NORMAL'}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_TABLE} "
                "(key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at REAL)"
            )
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise type(exc)(f"SQLiteCache cannot open {self.path!r}: {exc}") from exc
        return conn

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[Any] | None:
        """Run one statement; None (logged) if the database fails it (a damaged file, a full
        disk, a lock held past the busy timeout): the caller goes on uncached."""
        with self._lock:
            conn = self._connection()  # a file that cannot be opened at all raises
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                self._trouble.failed(exc)
                return None
        self._trouble.ok()
        return rows

    def _get(self, key: str) -> tuple[bytes, float | None] | None:
        rows = self._run(f"SELECT value, expires_at FROM {_TABLE} WHERE key = ?", (key,))
        return rows[0] if rows else None

    async def aget(self, key: str) -> Any:
        _check_key(key)
        row = await run_in_thread(self._get, key)
        if row is None:
            return CACHE_MISS
        data, expires_at = row
        if expires_at is not None and expires_at <= _wall_time():
            return CACHE_MISS
        if not isinstance(data, bytes):
            return load_value(b"", key, repr(self))  # a foreign row: logged, a miss
        return load_value(data, key, repr(self))

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        _check_key(key)
        seconds = check_ttl(ttl)
        data = dump_value(value)
        expires_at = None if seconds is None else _wall_time() + seconds
        await run_in_thread(
            self._run,
            f"INSERT OR REPLACE INTO {_TABLE} (key, value, expires_at) VALUES (?, ?, ?)",
            (key, data, expires_at),
        )

    async def aclear(self) -> None:
        await run_in_thread(self._run, f"DELETE FROM {_TABLE}", ())

    async def aclose(self) -> None:
        """Close this process's connection (the next use opens it again)."""
        await run_in_thread(self._close)

    def close(self) -> None:
        """Sync form of `aclose`."""
        run_sync(self.aclose, detached_context())

    def _close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None
