"""Caches: one interface (`BaseCache`), an in-memory store, and the helpers every store shares.

A cache maps string keys to any picklable Python value. `aget` returns `CACHE_MISS` when it
has nothing for a key, so a stored `None` is a hit like any other value. Stores:

- `InMemoryCache`: this process only, LRU, values kept by reference (no copy, no pickling).
- `SQLiteCache` (`runnables._cache_sqlite`): a file, shared by the processes of one machine.
- `RedisCache` (`runnables._cache_redis`): a Redis server, shared across machines.

Persistent stores keep values as `dump_value` bytes: a format tag, then a pickle, so a value
comes back with its type (an `AIMessage` with its tool calls and usage stays one). An entry that
cannot be read back (garbage bytes, a class that no longer unpickles) is a miss with one logged
warning for that read, never an error: the caller computes the value again and overwrites it.

Keys are strings. `cache_key(material)` turns a structure (an input, call options, a model's
request) into a stable hex key: a SHA-256 of a canonical JSON form, the same in every process
(`hash()` is salted per process, so it is never used).

The sync forms (`get`, `set`, `clear`) run the async ones through the sync bridge: each store
states its logic once.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json
import logging
import pathlib
import pickle
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from typing import Any

from runnables._bridge import run_sync
from runnables._concurrency import clock
from runnables._run import detached_context

__all__ = [
    "CACHE_MISS",
    "BaseCache",
    "CacheMiss",
    "InMemoryCache",
    "Trouble",
    "cache_key",
    "check_ttl",
    "dump_value",
    "load_value",
]

logger = logging.getLogger("runnables.cache")


class CacheMiss(enum.Enum):
    """The type of `CACHE_MISS` (an enum member: one object, even through pickle)."""

    MISS = "CACHE_MISS"

    def __repr__(self) -> str:
        return "CACHE_MISS"


CACHE_MISS = CacheMiss.MISS
"""What `BaseCache.aget` returns for a key it has no (live, readable) value for."""


def check_ttl(ttl: object, param: str = "ttl") -> float | None:
    """Validate a time to live (seconds > 0, or None for no expiry) and return it as a float."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
        raise ValueError(f'Invalid "{param}" argument: expected seconds > 0 or None, got {ttl!r}')
    return float(ttl)


def _check_key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f'Invalid "key" argument: expected a str, got {key!r}')
    return key


class BaseCache(ABC):
    """A key-value store for results: string keys, any picklable value, optional expiry.

    Subclasses implement `aget`, `aset` and `aclear`; the sync forms come from them.
    A store must be safe to use from several tasks (and bridge threads) at once, and must
    never raise for an unreadable entry: that is a miss (logged).
    """

    @abstractmethod
    async def aget(self, key: str) -> Any:
        """The value stored under `key`, or `CACHE_MISS` if there is none (or it expired).

        Raises:
            TypeError: `key` is not a str.
        """

    @abstractmethod
    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store `value` under `key`, replacing any value there.

        Args:
            key: The key.
            value: Any picklable value (the in-memory store keeps it as is).
            ttl: Seconds the entry lives; None keeps it until cleared (or evicted).

        Raises:
            TypeError: `key` is not a str.
            ValueError: `ttl` is not a positive number or None.
        """

    @abstractmethod
    async def aclear(self) -> None:
        """Remove every entry of this cache."""

    def get(self, key: str) -> Any:
        """Sync form of `aget`."""
        return run_sync(lambda: self.aget(key), detached_context())

    def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Sync form of `aset`."""
        run_sync(lambda: self.aset(key, value, ttl), detached_context())

    def clear(self) -> None:
        """Sync form of `aclear`."""
        run_sync(self.aclear, detached_context())


class InMemoryCache(BaseCache):
    """A cache in this process's memory, least recently used entries evicted first.

    Values are kept by reference, not copied: a hit returns the very object stored, so do not
    mutate what you get. Expiry (`ttl`) is on the running backend's clock
    (`anyio.current_time()`, virtual under trio's `MockClock`). Each `trio.run` has a clock
    of its own, so an entry with a ttl stored in one `trio.run` reads as expired in another
    (entries without a ttl are kept). A pickled copy (a chain shipped to another process)
    starts empty.

    Args:
        max_size: The most entries kept; None for no bound.

    Raises:
        ValueError: `max_size` is not a positive int or None.
    """

    def __init__(self, max_size: int | None = None) -> None:
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1
        ):
            raise ValueError(
                f'Invalid "max_size" argument: expected an int >= 1 or None, got {max_size!r}'
            )
        self.max_size = max_size
        # key -> (value, expiry): expiry is None or (which clock, deadline on it).
        self._entries: OrderedDict[str, tuple[Any, tuple[object, float] | None]] = OrderedDict()
        self._lock = threading.Lock()  # several bridge threads may share one cache

    def __repr__(self) -> str:
        return f"InMemoryCache(max_size={self.max_size!r})"

    def __len__(self) -> int:
        return len(self._entries)

    def __getstate__(self) -> dict[str, Any]:
        return {"max_size": self.max_size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["max_size"])  # type: ignore[misc]

    async def aget(self, key: str) -> Any:
        _check_key(key)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return CACHE_MISS
            value, expiry = entry
            if expiry is not None:
                which, now = clock()
                if which != expiry[0] or now >= expiry[1]:
                    del self._entries[key]
                    return CACHE_MISS
            self._entries.move_to_end(key)
            return value

    async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
        _check_key(key)
        seconds = check_ttl(ttl)
        expiry = None
        if seconds is not None:
            which, now = clock()
            expiry = (which, now + seconds)
        with self._lock:
            self._entries[key] = (value, expiry)
            self._entries.move_to_end(key)
            if self.max_size is not None and len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    async def aclear(self) -> None:
        with self._lock:
            self._entries.clear()


class Trouble:
    """One logged warning per outage of a store's backend, not one per call.

    A store calls `failed(exc)` when its backend fails a call (the call then goes on uncached)
    and `ok()` when one succeeds: the first failure after a success is logged as a warning, and
    the first success after failures as the store working again.
    """

    __slots__ = ("down", "what", "where")

    def __init__(self, where: str, what: str) -> None:
        self.where = where
        self.what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            logger.warning(
                "%s: %s failed (%s: %s); calls go on uncached until it works again",
                self.where,
                self.what,
                type(exc).__name__,
                exc,
            )

    def ok(self) -> None:
        if self.down:
            self.down = False
            logger.info("%s: %s works again; caching resumes", self.where, self.what)


# -- values as bytes, for the persistent stores -----------------------------------------------

_FORMAT = b"rnbl:pickle:1\n"
"""The tag before every stored pickle: a later format gets a new tag, and an old reader treats
its entries as misses instead of misreading them."""


def dump_value(value: Any) -> bytes:
    """`value` as bytes for a persistent store: the format tag, then a pickle.

    Raises:
        TypeError: The value cannot be pickled (with pickle's own message); errors keep
            pickle's type otherwise (`pickle.PicklingError`).
    """
    return _FORMAT + pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def load_value(data: bytes, key: str, where: str) -> Any:
    """The value `dump_value` made, or `CACHE_MISS` with a logged warning if it cannot be read.

    Args:
        data: The stored bytes.
        key: The entry's key (for the warning).
        where: The store (for the warning), e.g. `SQLiteCache('run.db')`.
    """
    if not data.startswith(_FORMAT):
        logger.warning("%s: entry %r is not in a format this version reads; a miss", where, key)
        return CACHE_MISS
    try:
        return pickle.loads(data[len(_FORMAT) :])
    except Exception as exc:  # any unpickling failure: corrupt bytes, a class gone or changed
        logger.warning(
            "%s: entry %r cannot be read back (%s: %s); a miss", where, key, type(exc).__name__, exc
        )
        return CACHE_MISS


# -- keys -------------------------------------------------------------------------------------


def cache_key(material: Any) -> str:
    """A stable key for `material`: the SHA-256 (hex) of its canonical JSON form.

    The same structure gives the same key in every process and on every run. Accepted: None,
    bool, int, float, str, bytes, lists, tuples, dicts (any hashable keys), sets, pydantic models
    (class and fields), dataclasses, enums, dates and times, `Decimal`, `UUID` and paths,
    nested freely. A list and a tuple with the same items give different keys, as do `1` and
    `1.0`; dict key order does not matter.

    Raises:
        TypeError: Part of `material` is of another type (the message names it).
    """
    text = _ENCODE(canonical(material))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# One encoder, made once: `json.dumps` with options builds a new one per call (~2 us).
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def canonical(value: Any) -> Any:
    """`value` as JSON data that only equal values share: containers are tagged by type, so
    `[1]`, `(1,)` and `{1}` differ. Raises TypeError for a value of an unsupported type."""
    # Plain JSON scalars stand for themselves; bool before int (True is an int).
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict and all(type(k) is str for k in value):
        # The common case (an input dict): sorted by key, without encoding each item to sort it.
        return ["dict", [[k, canonical(value[k])] for k in sorted(value)]]
    if isinstance(value, str | bool):
        return value
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return value if type(value) is int else ["int", _qualname(type(value)), int(value)]
    if isinstance(value, float):
        # NaN and infinities have no JSON form; repr is exact for every float.
        return ["float", repr(value)]
    if isinstance(value, list):
        return ["list", [canonical(v) for v in value]]
    if isinstance(value, tuple):
        return ["tuple", [canonical(v) for v in value]]
    if isinstance(value, dict):
        items = [[canonical(k), canonical(v)] for k, v in value.items()]
        items.sort(key=_sort_key)
        return ["dict", items]
    if isinstance(value, set | frozenset):
        return ["set", sorted((canonical(v) for v in value), key=_sort_key)]
    if isinstance(value, bytes | bytearray):
        return ["bytes", bytes(value).hex()]
    if isinstance(value, enum.Enum):
        return ["enum", _qualname(type(value)), canonical(value.value)]
    fields = getattr(type(value), "model_fields", None)
    if isinstance(fields, dict):  # a pydantic model
        data = [[name, canonical(getattr(value, name))] for name in fields]
        extra = getattr(value, "__pydantic_extra__", None) or {}
        data += [[name, canonical(v)] for name, v in sorted(extra.items())]
        return ["model", _qualname(type(value)), data]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = [[f.name, canonical(getattr(value, f.name))] for f in dataclasses.fields(value)]
        return ["dataclass", _qualname(type(value)), data]
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return ["time", _qualname(type(value)), value.isoformat()]
    if isinstance(value, datetime.timedelta):
        return ["timedelta", value.days, value.seconds, value.microseconds]
    import decimal  # here, not at import: only rare keys get this far
    import uuid

    if isinstance(value, decimal.Decimal | uuid.UUID | pathlib.PurePath):
        return ["str", _qualname(type(value)), str(value)]
    raise TypeError(
        f"cannot make a cache key from a {type(value).__name__} value ({value!r:.80}); "
        "pass key= (a function from the input to data made of str, numbers, lists, dicts, "
        "pydantic models, ...) to say what identifies it"
    )


def _sort_key(item: Any) -> str:
    return _ENCODE(item)
