"""The Ray actor that runs chunks of one batch on its own event loop.

One `BatchWorker` per worker and batch. It is built with the runnable (shipped once: the driver
puts it in the object store and every worker fetches it when it starts) and its share of the
batch's `max_concurrency`. The driver sends it chunks of `(index, input, config)` and collects
what finished with the same call (`exchange`), so one call is in flight per worker at a time.

Each chunk runs through the chain's own batch machinery (`abatch_as_completed`, the form of
`abatch` that reports each item as it finishes), inside one run opened once per worker: every
chunk of this worker shares one `max_concurrency` limiter, so the worker never runs more than its
share, however many chunks it holds. Items come back as `(index, ok, value)`; a failure is a
value (with its notes), so one item's error never loses the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from typing import Any

from ray import cloudpickle

from runnables._base import Runnable
from runnables._config import RunnableConfig
from runnables._run import call_in_run

Item = tuple[int, Any, RunnableConfig]
"""One input of the batch: its index in the whole batch, the input, its config."""

Outcome = tuple[int, bool, Any]
"""One finished item: its index, whether it succeeded, its output or its exception."""


class BatchWorker:
    """Runs the chunks it is sent; hands back what finished (see the module docstring).

    Args:
        runnable: The chain.
        max_concurrency: This worker's share of the batch's limit (None: no limit).
    """

    def __init__(self, runnable: Runnable[Any, Any], max_concurrency: int | None) -> None:
        self._runnable = runnable
        self._max_concurrency = max_concurrency
        self._context: contextvars.Context | None = None
        self._finished: list[Outcome] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._wakeup: asyncio.Event | None = None

    async def exchange(self, items: list[Item], wait: bool) -> list[Outcome]:
        """Start `items` (one chunk), then return the items finished since the last call.

        Args:
            items: A chunk to start (may be empty).
            wait: Wait until at least one item has finished (else return at once).
        """
        if self._context is None or self._wakeup is None:
            self._context = await self._open_run()
            self._wakeup = asyncio.Event()
        if items:
            task = asyncio.create_task(self._run_chunk(items), context=self._context.copy())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        while wait and not self._finished:
            self._wakeup.clear()
            await self._wakeup.wait()
        finished, self._finished = self._finished, []
        return finished

    async def _open_run(self) -> contextvars.Context:
        """A context holding this worker's run: one limiter for all of its chunks."""

        async def capture(_: RunnableConfig) -> contextvars.Context:
            return contextvars.copy_context()

        config: RunnableConfig = {"max_concurrency": self._max_concurrency}
        return await call_in_run(config, "ray worker", capture)

    async def _run_chunk(self, items: list[Item]) -> None:
        indices = [index for index, _, _ in items]
        left = set(indices)
        try:
            pairs = self._runnable.abatch_as_completed(
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
            self._finished.append((index, False, _portable(out)))
        else:
            self._finished.append((index, True, out))
        if self._wakeup is not None:
            self._wakeup.set()


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives pickling (type and notes kept), else a RuntimeError describing it."""
    try:
        cloudpickle.loads(cloudpickle.dumps(exc))  # type: ignore[no-untyped-call]
    except Exception:
        stand_in = RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
        for note in getattr(exc, "__notes__", ()):
            stand_in.add_note(note)
        stand_in.add_note("(raised on a Ray worker; the original exception could not be pickled)")
        return stand_in
    return exc
