"""`RunnableWithCache` (what `with_cache` returns): memoize a step by its input.

The key of a call is `namespace:cache_key(material)`, where the material is the input (or what
`key(input)` returns) with the call options, and the namespace defaults to the step's
fingerprint (`runnables._fingerprint`): editing a prompt's text, a model's parameters or a
function's code starts a new namespace, so stale results are never served.

- **A hit** does not run the step. It is still the step's run in the events: the step's name,
  kind and input, its output, and `metadata["cache_hit"] = True` on its start and end events
  (a stream's too); a miss is the step's own run, unmarked.
- **Errors are never stored**; neither is a stream that stops before its end (an error, or a
  consumer that leaves early). A stream that ends stores the sum of its chunks; a hit streams
  the stored value as one chunk.
- **Single-flight.** Calls with the same key in flight at once in one event loop run the step
  once: the first one runs it, the others wait and take its result (as hits). If it fails or is
  cancelled, the next waiter runs the step itself, so every caller gets its own error.
- **Batches** are item-level journals: `step.with_cache(SQLiteCache("run.db")).batch(docs)` run
  again skips every item already done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import anyio
from anyio.lowlevel import RunVar

from runnables._base import Runnable
from runnables._cache import CACHE_MISS, BaseCache, cache_key, check_ttl
from runnables._chunks import ChunkSum
from runnables._concurrency import closing
from runnables._config import RunnableConfig, merge_configs
from runnables._events import call_child, events_on, stream_child
from runnables._fingerprint import fingerprint
from runnables._run import current_run
from runnables._wrapper import RunnableWrapper

__all__ = ["RunnableWithCache", "join_flight", "land_flight", "with_cache"]

In = TypeVar("In")
Out = TypeVar("Out")

_HIT_METADATA = {"cache_hit": True}


class _Flight:
    """One key being computed: its waiters wake on `done` and read the outcome.

    The event is made by the first waiter: most calls have none, and an event costs more than
    the rest of a hit.
    """

    __slots__ = ("done", "landed", "ok", "value")

    def __init__(self) -> None:
        self.done: anyio.Event | None = None
        self.landed = False
        self.ok = False
        self.value: Any = None

    async def wait(self) -> None:
        if self.landed or self.ok:
            return
        if self.done is None:
            self.done = anyio.Event()
        await self.done.wait()

    def _wake(self) -> None:
        if self.done is not None:
            self.done.set()

    def resolve(self, value: Any) -> None:
        self.ok, self.value = True, value
        self._wake()

    def land(self) -> None:
        self.landed = True
        self._wake()


_Flights = dict[tuple[int, str], _Flight]
_flights: RunVar[_Flights] = RunVar("runnables_cache_flights")


def _flights_here() -> _Flights:
    """The running loop's keys in flight (events belong to one loop)."""
    try:
        return _flights.get()
    except LookupError:
        flights: _Flights = {}
        _flights.set(flights)
        return flights


async def join_flight(cache: BaseCache, key: str) -> tuple[_Flight | None, Any, _Flights]:
    """Single-flight in this event loop: wait for a call computing `key` in `cache` to end.

    Returns `(None, value, flights)` when one did and had a value; otherwise
    `(flight, CACHE_MISS, flights)`: this call now leads. A leader looks the key up, computes
    on a miss, calls `flight.resolve(value)` once it has a value (waiters take it), stores it,
    and always ends with `land_flight(cache, key, flight, flights)` (in a `finally`): if it
    never resolved (an error, a cancellation), the next waiter leads in its place.
    """
    flights = _flights_here()
    slot = (id(cache), key)  # the cache outlives its calls
    while (flight := flights.get(slot)) is not None:
        await flight.wait()
        if flight.ok:
            return None, flight.value, flights
        # It failed or was cancelled: try again, perhaps leading this time.
    flight = flights[slot] = _Flight()
    return flight, CACHE_MISS, flights


def land_flight(cache: BaseCache, key: str, flight: _Flight, flights: _Flights) -> None:
    """End a flight `join_flight` made this call lead (see there)."""
    slot = (id(cache), key)
    if flights.get(slot) is flight:
        del flights[slot]
    flight.land()


class _Hit(Runnable[Any, Any]):
    """A cached result standing in the events for the step that made it."""

    def __init__(self, step: Runnable[Any, Any], value: Any) -> None:
        self.step = step
        self.value = value
        self._kind = step._kind

    @property
    def name(self) -> str:
        return self.step.name

    def _event_config(self, config: RunnableConfig) -> RunnableConfig:
        return merge_configs(self.step._event_config(config), {"metadata": _HIT_METADATA})

    def _event_input(self, input: Any) -> Any:
        return self.step._event_input(input)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        return self.value


def _is_root(config: RunnableConfig) -> bool:
    # The entry step takes config["run_id"]; with events reported from inside, the bound step
    # (or the hit) is the entry step when no step's body is running around it.
    if "run_id" not in config:
        return False
    state = current_run()
    return state is not None and not state.parent_ids


class RunnableWithCache(RunnableWrapper[In, Out]):
    """Run a step through a cache: a stored result for the same input is returned, not made.

    Args:
        bound: The step.
        cache: Where results are stored (`InMemoryCache`, `SQLiteCache`, `RedisCache`, ...).
        key: A function from the input to what identifies it (data `cache_key` accepts); by
            default the whole input. Call options (`invoke(x, stop=[...])`) are always part of
            the key.
        ttl: Seconds a stored result lives; None: until the cache is cleared.
        namespace: What keeps this step's keys apart from other steps'; by default the step's
            fingerprint, which changes when the step's prompts, parameters or code change.

    Raises:
        TypeError: `cache` is not a `BaseCache`, `key` is not callable, or `namespace` is not
            a str.
        ValueError: `ttl` is not a positive number or None, or `namespace` is empty.
    """

    # The key needs the whole input: a stream of input chunks is gathered first.
    _atransform = Runnable._atransform

    def __init__(
        self,
        bound: Runnable[In, Out],
        cache: BaseCache,
        *,
        key: Callable[[Any], Any] | None = None,
        ttl: float | None = None,
        namespace: str | None = None,
    ) -> None:
        if not isinstance(cache, BaseCache):
            raise TypeError(f'Invalid "cache" argument: expected a BaseCache, got {cache!r}')
        if key is not None and not callable(key):
            raise TypeError(f'Invalid "key" argument: expected a function or None, got {key!r}')
        if namespace is not None and not isinstance(namespace, str):
            raise TypeError(f'Invalid "namespace" argument: expected a str, got {namespace!r}')
        if namespace == "":
            raise ValueError("Invalid \"namespace\" argument: expected a non-empty str, got ''")
        super().__init__(bound)
        self.cache = cache
        self.key = key
        self.ttl = check_ttl(ttl)
        self.namespace = fingerprint(self.bound) if namespace is None else namespace
        # Transparent in events: the bound step's run (or a hit standing for it) is the run.
        self._events_inside = True
        self._kind = self.bound._kind

    def _repr_args(self) -> list[str]:
        return [repr(self.cache)]

    def _graph_label(self) -> str:
        return "cached"

    def cache_key(self, input: Any, **kwargs: Any) -> str:
        """The key a call with this input and these call options reads and writes."""
        material = self.key(input) if self.key is not None else input
        if kwargs:
            material = ["with options", material, kwargs]
        return f"{self.namespace}:{cache_key(material)}"

    async def _store(self, key: str, value: Any) -> None:
        try:
            await self.cache.aset(key, value, self.ttl)
        except Exception as exc:
            exc.add_note(f"storing the result of {self.bound.name} in {self.cache!r}")
            raise

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        key = self.cache_key(input, **kwargs)
        flight, value, flights = await join_flight(self.cache, key)
        if flight is None:
            return await self._hit(value, input, config, kwargs)  # type: ignore[no-any-return]
        try:
            value = await self.cache.aget(key)
            if value is not CACHE_MISS:
                flight.resolve(value)
                return await self._hit(value, input, config, kwargs)  # type: ignore[no-any-return]
            value = await call_child(self.bound, input, config, root=_is_root(config), **kwargs)
            # Waiters take the value now; the flight stays listed until the write is done, so
            # a call arriving meanwhile waits for it too instead of missing.
            flight.resolve(value)
            await self._store(key, value)
            return value  # type: ignore[no-any-return]
        finally:
            land_flight(self.cache, key, flight, flights)

    async def _hit(
        self, value: Any, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> Any:
        if not events_on():
            return value
        return await call_child(
            _Hit(self.bound, value), input, config, root=_is_root(config), **kwargs
        )

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        key = self.cache_key(input, **kwargs)
        flight, value, flights = await join_flight(self.cache, key)
        if flight is None:
            async for chunk in self._replay(value, input, config, kwargs):
                yield chunk
            return
        try:
            value = await self.cache.aget(key)
            if value is not CACHE_MISS:
                flight.resolve(value)
                async for chunk in self._replay(value, input, config, kwargs):
                    yield chunk
                return
            total = ChunkSum()
            stream = stream_child(self.bound, input, config, root=_is_root(config), **kwargs)
            async with closing(stream) as chunks:
                async for chunk in chunks:
                    total.add(chunk)
                    yield chunk
            if total.started:  # an empty stream has no value to store
                flight.resolve(total.value)
                await self._store(key, total.value)
        finally:
            land_flight(self.cache, key, flight, flights)

    async def _replay(
        self, value: Any, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        if not events_on():
            yield value
            return
        stream = stream_child(
            _Hit(self.bound, value), input, config, root=_is_root(config), **kwargs
        )
        async with closing(stream) as chunks:
            async for chunk in chunks:
                yield chunk


def with_cache(
    step: Runnable[In, Out],
    cache: BaseCache,
    *,
    key: Callable[[Any], Any] | None = None,
    ttl: float | None = None,
    namespace: str | None = None,
) -> RunnableWithCache[In, Out]:
    """`step` memoized by its input in `cache` (see `RunnableWithCache`)."""
    return RunnableWithCache(step, cache, key=key, ttl=ttl, namespace=namespace)
