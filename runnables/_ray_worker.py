"""The Ray actor that runs chunks of batches on its own event loop.

An executor keeps a few `BatchWorker`s (its pool) and reuses them across batches: a Python
process takes seconds to start, a batch should not. Each batch a worker joins gets its own
state here, opened by the batch's first `exchange`, which brings the runnable (shipped once per
worker: the driver puts it in the object store, the worker fetches it with that call), the
worker's share of the batch's `max_concurrency`, and the events the driver's handlers want.
Later calls send chunks of `(index, input, config)` and collect what finished, with the events
emitted meanwhile (`runnables._ray_events`), one call in flight per batch and worker.

Each chunk runs through the chain's own batch machinery (`abatch_as_completed`, the form of
`abatch` that reports each item as it finishes), inside one run opened once per batch: every
chunk of the batch here shares one `max_concurrency` limiter, so the worker never runs more than
its share, however many chunks it holds. Items come back as `(index, ok, value)`; a failure is a
value (with its notes), so one item's error never loses the others. `close` cancels whatever
of the batch still runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any

from runnables._base import Runnable
from runnables._config import RunnableConfig
from runnables._handlers import Sink
from runnables._ray_events import Forwarder, Wanted, chunk_indices
from runnables._ray_ship import land, portable
from runnables._run import call_in_run

Item = tuple[int, Any, RunnableConfig]
"""One input of the batch: its index in the whole batch, the input, its config."""

Outcome = tuple[int, bool, Any]
"""One finished item: its index, whether it succeeded, its output or its exception."""

Exchanged = tuple[list[Outcome], bytes | None]
"""What an exchange brings back: the items finished, and the events since (see `Forwarder`)."""

_NOTHING: Exchanged = ([], None)


class BatchWorker:
    """Hosts the batches it is sent (see the module docstring)."""

    def __init__(self) -> None:
        self._batches: dict[str, _BatchHere] = {}
        # Batches closed before their first call arrived: Ray does not keep an actor's calls in
        # order, so a driver that stops early may have its `close` overtake that `exchange`.
        self._closed_early: set[str] = set()

    async def exchange(
        self,
        batch_id: str,
        items: list[Item],
        wait: bool,
        shipment: bytes | None = None,
        max_concurrency: int | None = None,
        wanted: Wanted = (frozenset(), False),
    ) -> Exchanged:
        """Start `items` (one chunk) of the batch, then return its items finished since the
        last call, and the events emitted since.

        Args:
            batch_id: The batch.
            items: A chunk to start (may be empty).
            wait: Wait until at least one item has finished (or the batch is closed).
            shipment: The chain (`runnables._ray_ship.ship`), on the batch's first call here.
            max_concurrency: This worker's share of the batch's limit, on the first call.
            wanted: The events the driver's handlers take, and whether only the items' own
                (`runnables._ray_events.wanted_by`), on the first call (no events: no handler
                runs here).
        """
        batch = self._batches.get(batch_id)
        if batch is None:
            if shipment is None:
                return _NOTHING  # closed already: the driver has stopped listening
            if batch_id in self._closed_early:
                self._closed_early.discard(batch_id)  # its first call, late: start nothing
                return _NOTHING
            batch = self._batches[batch_id] = _BatchHere(shipment, max_concurrency, wanted)
        return await batch.exchange(items, wait)

    async def close(self, batch_id: str) -> bytes | None:
        """Cancel what still runs of the batch and forget it; returns once it stopped, with
        the events not sent yet (those of the items cancelled, whose runs end in errors)."""
        batch = self._batches.pop(batch_id, None)
        if batch is None:
            self._closed_early.add(batch_id)
            return None
        await batch.close()
        return batch.forwarder.take() if batch.forwarder is not None else None

    async def running(self) -> int:
        """Chunks running here, in all batches."""
        return sum(len(batch.tasks) for batch in self._batches.values())


class _BatchHere:
    """One batch's part on this worker: its run, its chunks, what finished."""

    def __init__(self, shipment: bytes, max_concurrency: int | None, wanted: Wanted) -> None:
        self.runnable: Runnable[Any, Any]
        self.runnable, steps = land(shipment)
        self.max_concurrency = max_concurrency
        self.forwarder = Forwarder(wanted, steps) if wanted[0] else None
        self.tasks: set[asyncio.Task[None]] = set()
        self._context: contextvars.Context | None = None
        self._finished: list[Outcome] = []
        self._wakeup = asyncio.Event()
        self._closed = False

    async def exchange(self, items: list[Item], wait: bool) -> Exchanged:
        if self._context is None:
            self._context = await self._open_run()
        if items and not self._closed:
            task = asyncio.create_task(self._run_chunk(items), context=self._context.copy())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        while wait and not self._finished and not self._closed:
            self._wakeup.clear()
            await self._wakeup.wait()
        finished, self._finished = self._finished, []
        # Taken after the items: every event of an item reported here comes with it.
        return finished, self.forwarder.take() if self.forwarder is not None else None

    async def close(self) -> None:
        self._closed = True
        self._wakeup.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _open_run(self) -> contextvars.Context:
        """A context holding this batch's run here: one limiter for all of its chunks."""

        async def capture(_: RunnableConfig) -> contextvars.Context:
            return contextvars.copy_context()

        config: RunnableConfig = {"max_concurrency": self.max_concurrency}
        handlers = (Sink(self.forwarder),) if self.forwarder is not None else ()
        return await call_in_run(config, "ray worker", capture, handlers=handlers)

    async def _run_chunk(self, items: list[Item]) -> None:
        indices = [index for index, _, _ in items]
        chunk_indices.set(indices)  # this chunk's task only: its items' events name their index
        left = set(indices)
        try:
            pairs = self.runnable.abatch_as_completed(
                [x for _, x, _ in items], [c for _, _, c in items], return_exceptions=True
            )
            async with contextlib.aclosing(pairs):
                async for local, out in pairs:
                    left.discard(indices[local])
                    self._report(indices[local], out)
        except Exception as exc:  # the chunk as a whole failed: every item left gets the error
            for index in sorted(left):
                self._report(index, exc)

    def _report(self, index: int, out: Any) -> None:
        if isinstance(out, Exception):
            self._finished.append((index, False, portable(out)))
        else:
            self._finished.append((index, True, out))
        self._wakeup.set()
