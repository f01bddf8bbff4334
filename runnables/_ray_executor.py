"""`RayExecutor`: a runnable's batch on a Ray cluster, with the results and limits of `abatch`.

The executor keeps a pool of `BatchWorker` actors, started with its first batch and reused by
the next (a worker process takes seconds to start). For a batch, the driver (this process) keeps
one task per worker it uses, merged with `runnables._concurrency.merge`, so the first failure or
the consumer leaving cancels them all. Each task:

1. opens the batch on its worker with the first call, which brings the runnable (put in the
   object store once per batch, fetched once per worker) and the worker's share of
   `max_concurrency`;
2. sends chunks of inputs, taken lazily from the caller's iterable, while the worker holds fewer
   unfinished items than its window, and with the same call collects what finished;
3. on losing the worker (`RayActorError`: the process died, the node went away), gives the
   worker's unfinished items back to the feed (they run first, on whichever worker takes them
   next), replaces the worker in the pool, and goes on, up to `max_restarts` in the batch;
4. closes the batch on its worker when it ends, however it ends, and waits until the worker has
   cancelled what still ran: nothing of a batch outlives it.

An item's result is kept only from the first report of it, so none is lost or duplicated.

The batch's handlers stay here: the workers send back the events they want with the results
(`runnables._ray_events`), and they are delivered on this process as in a local batch.

A `Budget` in the chain or the configs is one budget for the cluster (`runnables._ray_budget`):
before the first chunk goes out and after the batch ends, however it ends, the driver's
`Budget` and its keeper actor exchange what each side spent.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, overload

import anyio
import ray
import ray.exceptions

from runnables._base import Runnable
from runnables._bridge import iter_sync, run_sync, wait_future
from runnables._budget import Budget
from runnables._concurrency import closing, merge, stream_with_timeout
from runnables._config import RunnableConfig
from runnables._handlers import RunEvent
from runnables._ray_batch import Batch, Feed
from runnables._ray_events import Replay, wanted_by
from runnables._ray_ship import SharedLimits, ship
from runnables._ray_worker import BatchWorker, Exchanged, Item, Outcome
from runnables._run import call_in_run, current_run, detached_context

__all__ = ["RayExecutor"]

In = TypeVar("In")
Out = TypeVar("Out")

_UNLIMITED_WINDOW = 1024
"""Unfinished items a worker holds when the batch sets no `max_concurrency`."""

_CLOSE_LIMIT = 10.0
"""Seconds a batch waits for a worker to confirm it stopped the batch's work."""

_LOCAL_INIT: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
"""How `RayExecutor` calls `ray.init` when no Ray is connected (`init_options` add to it)."""


class RayExecutor:
    """Run a runnable's batches on Ray: the same results as its own `batch`, on many processes.

    Connects at construction: to the Ray this process already joined, else to the cluster at
    `address` (or `RAY_ADDRESS`), else to a local Ray it starts.

    Args:
        num_workers: Worker actors, started with the first batch and kept until `close`
            (default: the cluster's CPU count). A batch with a `max_concurrency` below it, or
            fewer inputs, uses fewer of them.
        address: A running cluster's address ("auto", "ray://host:10001", ...).
        chunk_size: Most inputs sent to a worker in one call.
        max_pending: Most unfinished items one worker holds (default: its share of
            `max_concurrency` plus `chunk_size`, so it never idles waiting for the next chunk;
            1024 without a limit). Inputs are read only as room frees up.
        max_restarts: Workers a batch may replace after losing one (the items in flight on a
            lost worker run again); one more loss raises Ray's `RayActorError`.
        worker_options: Ray actor options for the workers, e.g. `{"num_cpus": 1}` to reserve a
            CPU each (by default they reserve none: they mostly wait on I/O, and a pool kept
            between batches should not hold the cluster's CPUs), `resources` or `runtime_env`.
            Workers are spread over the cluster's nodes (`"scheduling_strategy": "SPREAD"`)
            unless these options set a `scheduling_strategy`.
        init_options: More `ray.init` arguments, used when this executor connects.

    Attributes:
        worker_options: The Ray actor options every worker starts with: the defaults
            (`num_cpus` 0, `scheduling_strategy` "SPREAD"), updated with yours.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: A number is out of range.
    """

    def __init__(
        self,
        num_workers: int | None = None,
        *,
        address: str | None = None,
        chunk_size: int = 64,
        max_pending: int | None = None,
        max_restarts: int = 3,
        worker_options: Mapping[str, Any] | None = None,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        _check_count("num_workers", num_workers, low=1, optional=True)
        _check_count("chunk_size", chunk_size, low=1)
        _check_count("max_pending", max_pending, low=1, optional=True)
        _check_count("max_restarts", max_restarts, low=0)
        if address is not None and not isinstance(address, str):
            raise TypeError(f'Invalid "address" argument: expected a str, got {address!r}')
        for name, value in (("worker_options", worker_options), ("init_options", init_options)):
            if value is not None and not isinstance(value, Mapping):
                raise TypeError(f'Invalid "{name}" argument: expected a dict, got {value!r}')
        self._connected_here = False
        if not ray.is_initialized():
            ray.init(address=address, **{**_LOCAL_INIT, **(init_options or {})})
            self._connected_here = True
        cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
        self.num_workers: int = num_workers or max(1, cpus)
        self.chunk_size = chunk_size
        self.max_pending = max_pending
        self.max_restarts = max_restarts
        # Spread over the nodes: Ray's default packs actors on one node (the head, often).
        self.worker_options: dict[str, Any] = {
            "num_cpus": 0,
            "scheduling_strategy": "SPREAD",
            **(worker_options or {}),
        }
        self._actor_class: Any = ray.remote(BatchWorker)
        self._name = f"runnables.ray/{uuid.uuid4().hex[:12]}"
        self._pool: list[Any] = []
        self._generations: list[int] = []
        self._pool_lock = threading.Lock()
        self._limits = SharedLimits()

    def __repr__(self) -> str:
        return f"RayExecutor(num_workers={self.num_workers}, chunk_size={self.chunk_size})"

    def close(self) -> None:
        """End the workers; disconnect from Ray if this executor connected (a local Ray it
        started stops)."""
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for actor in pool:
            _kill(actor)
        if self._connected_here and ray.is_initialized():
            ray.shutdown()
        self._connected_here = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the public forms, all over `_outcomes` -------------------------------------------------

    @overload
    async def abatch(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: Literal[False] = False,
    ) -> list[Out]: ...
    @overload
    async def abatch(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: bool,
    ) -> list[Out | Exception]: ...

    async def abatch(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[Out] | list[Out | Exception]:
        """Run `runnable` on every input on the workers; outputs in input order.

        Args:
            runnable: The chain (it must pickle).
            inputs: Any iterable, read lazily (a generator of a million inputs is fine).
            config: One config for all inputs, or one per input. The first config's
                `max_concurrency` bounds the whole batch across the cluster; its `timeout`
                bounds the whole batch.
            return_exceptions: Put each failure in its place instead of raising the first one
                (with a note naming its index) and cancelling the rest.

        Raises:
            TypeError: `runnable`, `inputs` or `config` is of the wrong kind.
            ValueError: `config` is a list of the wrong length.
        """
        batch = Batch.of(runnable, inputs, config, return_exceptions)
        results: dict[int, Any] = {}
        async with closing(self._as_completed(batch)) as pairs:
            async for index, value in pairs:
                results[index] = value
        return [results[i] for i in range(len(results))]

    @overload
    def batch(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: Literal[False] = False,
    ) -> list[Out]: ...
    @overload
    def batch(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: bool,
    ) -> list[Out | Exception]: ...

    def batch(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[Out] | list[Out | Exception]:
        """Sync form of `abatch`."""
        Batch.of(runnable, inputs, config, return_exceptions)  # bad arguments fail here
        return run_sync(
            lambda: self.abatch(runnable, inputs, config, return_exceptions=return_exceptions),
            detached_context(),
        )

    def abatch_as_completed(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> AsyncGenerator[tuple[int, Out | Exception], None]:
        """Yield `(index, output)` as items finish anywhere in the cluster.

        Leaving the loop early (close the generator; on trio, `contextlib.aclosing`) stops the
        remote work and ends the workers. Arguments as in `abatch`.
        """
        return self._as_completed(Batch.of(runnable, inputs, config, return_exceptions))

    def batch_as_completed(
        self,
        runnable: Runnable[In, Out],
        inputs: Iterable[In],
        config: RunnableConfig | Iterable[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> Generator[tuple[int, Out | Exception], None, None]:
        """Sync form of `abatch_as_completed`; breaking out stops the remote work."""
        batch = Batch.of(runnable, inputs, config, return_exceptions)
        return iter_sync(lambda: self._as_completed(batch), detached_context())

    # -- the driver -----------------------------------------------------------------------------

    async def _as_completed(self, batch: Batch) -> AsyncGenerator[tuple[int, Any], None]:
        batch_id = uuid.uuid4().hex
        sent = _Sent()
        try:
            outcomes_of = await self._outcomes(batch, batch_id, sent)
            async with closing(outcomes_of) as outcomes:
                async for index, ok, value in outcomes:
                    if not ok and not batch.return_exceptions:
                        value.add_note(f"in batch item {index} of {batch.runnable.name}")
                        raise value
                    yield index, value
        finally:
            # However the batch ends, its work stops on every worker before the call returns.
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_LIMIT) as stopping:
                await sent.close(batch_id)
            if sent.budgets:  # the workers have settled every call: the driver's budget learns
                with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_LIMIT):
                    await self._limits.budgets.close(
                        sent.budgets, stopped_everywhere=not stopping.cancelled_caught
                    )

    async def _outcomes(
        self, batch: Batch, batch_id: str, sent: _Sent
    ) -> AsyncGenerator[Outcome, None]:
        """Every item's outcome once, in completion order; closing it stops every worker."""
        sinks, parents = await _handlers_of(batch.first_config)
        feed = Feed(batch.items(self._limits.budgets.stand_in))
        workers = feed.prefetch(self.num_workers)
        if batch.max_concurrency is not None:
            workers = min(workers, batch.max_concurrency)
        shares: list[int | None] = [None] * workers
        if batch.max_concurrency is not None and workers:
            quotient, remainder = divmod(batch.max_concurrency, workers)
            shares = [quotient + (i < remainder) for i in range(workers)]
        chunk_size = self.chunk_size
        if isinstance(batch.inputs, Sized) and workers:
            # A small batch is spread over every worker, not sent whole to the first.
            chunk_size = min(chunk_size, -(-len(batch.inputs) // workers))
        runnable_ref = None
        if workers:
            runnable_ref, steps, budgets = self._ship(batch.runnable)
            sent.budgets = list(dict.fromkeys([*budgets, *batch.budgets]))
            if sent.budgets:  # what was spent on this process since counts on the cluster
                await self._limits.budgets.open(sent.budgets)
            if sinks:
                sent.replay = Replay(sinks, parents, steps)
                # An empty batch reports nothing, as the chain's own does.
                await _batch_started(batch, sinks, parents)
        lost = [0]
        sources = [
            self._worker(i, batch_id, runnable_ref, share, chunk_size, feed, lost, sent)
            for i, share in enumerate(shares)
        ]
        if batch.timeout is None:
            return merge(sources)
        return stream_with_timeout(
            batch.timeout, f"batch of {batch.runnable.name}", lambda: merge(sources)
        )

    def _worker(
        self,
        slot: int,
        batch_id: str,
        runnable_ref: Any,
        share: int | None,
        chunk_size: int,
        feed: Feed,
        lost: list[int],
        sent: _Sent,
    ) -> Callable[[Callable[[Any], None]], Any]:
        replay = sent.replay
        window = self.max_pending or (_UNLIMITED_WINDOW if share is None else share + chunk_size)
        wanted = wanted_by(replay.sinks) if replay else (frozenset(), False)
        first_call = (runnable_ref, share, wanted)

        async def run(emit: Callable[[Any], None]) -> None:
            actor = self._actor(slot)
            opening: tuple[Any, ...] = first_call
            unfinished: dict[int, Item] = {}
            while True:
                chunk = feed.take(min(chunk_size, window - len(unfinished)))
                unfinished.update((item[0], item) for item in chunk)
                if not unfinished:
                    return
                # Having just sent a chunk with room left, send the next before waiting.
                wait = not chunk or len(unfinished) >= window
                try:
                    call = actor.exchange.remote(batch_id, chunk, wait, *opening)
                except TypeError as exc:  # Ray pickles the chunk here
                    first, last = chunk[0][0], chunk[-1][0]
                    exc.add_note(
                        f"while sending batch items {first} to {last} to a Ray worker: "
                        "every input and config must pickle"
                    )
                    raise
                if opening:
                    sent.opened.append(actor)
                    opening = ()
                sent.exchanges[slot] = call
                try:
                    exchanged: Exchanged = await wait_future(call.future())
                except ray.exceptions.RayActorError as exc:
                    del sent.exchanges[slot]
                    feed.give_back(unfinished.values())
                    unfinished.clear()
                    if lost[0] >= self.max_restarts:
                        exc.add_note(f"lost {lost[0] + 1} Ray workers in one batch")
                        raise
                    lost[0] += 1
                    actor = self._replace(slot, actor)
                    opening = first_call
                    continue
                del sent.exchanges[slot]
                finished, events = exchanged
                if events is not None and replay is not None:
                    await replay.deliver(events)  # an item's events come before its result
                for outcome in finished:
                    if unfinished.pop(outcome[0], None) is not None:
                        emit(outcome)

        return run

    def _ship(
        self, runnable: Runnable[Any, Any]
    ) -> tuple[Any, list[Runnable[Any, Any]], list[Budget]]:
        """Put the chain in Ray's object store once for the batch (with the budgets found in
        it); a chain that does not pickle is named."""
        budgets: list[Budget] = []
        try:
            payload, steps = ship(runnable, self._limits, budgets)
        except TypeError as exc:
            raise TypeError(
                f'Invalid "runnable" argument: {runnable!r} must pickle to run on Ray workers '
                f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        return ray.put(payload), steps, budgets

    def _actor(self, slot: int) -> Any:
        """The pool's worker in `slot`, started if the pool has none there yet."""
        with self._pool_lock:
            while len(self._pool) <= slot:
                self._generations.append(0)
                self._pool.append(self._start(len(self._pool), 0))
            return self._pool[slot]

    def _replace(self, slot: int, lost: Any) -> Any:
        """A new worker in `slot` for the `lost` one (another batch may have replaced it)."""
        _kill(lost)
        with self._pool_lock:
            if slot < len(self._pool) and self._pool[slot] is lost:
                self._generations[slot] += 1
                self._pool[slot] = self._start(slot, self._generations[slot])
            if slot >= len(self._pool):
                raise RuntimeError("the RayExecutor was closed while a batch ran")
            return self._pool[slot]

    def _start(self, slot: int, generation: int) -> Any:
        name = f"{self._name}/{slot}.{generation}"
        options = {**self.worker_options, "name": name}
        return self._actor_class.options(**options).remote()


@dataclass
class _Sent:
    """What a batch has out on the workers, to close it."""

    opened: list[Any] = field(default_factory=list)
    """The workers it has opened on."""
    exchanges: dict[int, Any] = field(default_factory=dict)
    """Each worker slot's exchange in flight (its reply is abandoned if the batch stops)."""
    replay: Replay | None = None
    """Where its events go, if it has handlers."""
    budgets: list[Budget] = field(default_factory=list)
    """The budgets it spends from (synced with their keepers when it ends)."""

    async def close(self, batch_id: str) -> None:
        """Stop the batch on every worker it opened on; wait until each has."""
        closes = [actor.close.remote(batch_id) for actor in self.opened]
        # An abandoned exchange still brings events (the starts of items now cancelled), and
        # the close the rest (their ends, in errors): handlers see every run started end.
        for call in [*self.exchanges.values(), *closes]:
            with contextlib.suppress(ray.exceptions.RayError):  # a lost worker
                reply = await wait_future(call.future())
                events = reply[1] if isinstance(reply, tuple) else reply
                if events is not None and self.replay is not None:
                    await self.replay.deliver(events)


async def _handlers_of(config: RunnableConfig) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """The handlers a local batch with `config` would report to (its callbacks, the
    process-wide ones, the current run's), and the parents its items would have."""

    async def inside(_: RunnableConfig) -> Any:
        return current_run()

    callbacks = config.get("callbacks")
    state = await call_in_run({"callbacks": callbacks} if callbacks else {}, "batch", inside)
    if state is None:
        return (), ()
    return state.handlers, state.parent_ids


async def _batch_started(batch: Batch, sinks: tuple[Any, ...], parents: tuple[str, ...]) -> None:
    """Tell the handlers the batch begins (`size` None: the inputs are an iterator)."""
    runnable = batch.runnable
    config = runnable._event_config(batch.first_config)
    size = len(batch.inputs) if isinstance(batch.inputs, Sized) else None
    event = RunEvent(
        "batch_start",
        runnable._kind,
        config.get("run_name") or runnable.name,
        "",
        parents,
        config.get("tags") or [],
        config.get("metadata") or {},
        {"size": size},
        runnable,
    )
    for sink in sinks:
        pending = sink.deliver(event)
        if pending is not None:
            await pending


def _kill(actor: Any) -> None:
    try:
        ray.kill(actor, no_restart=True)
    except Exception:  # already gone, or Ray shut down: nothing left to stop
        return


def _check_count(name: str, value: object, *, low: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'Invalid "{name}" argument: expected an int, got {value!r}')
    if value < low:
        raise ValueError(f'Invalid "{name}" argument: expected an int >= {low}, got {value!r}')
