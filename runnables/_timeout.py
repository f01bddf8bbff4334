"""`RunnableTimeout` (what `with_timeout` returns): cancel a step that runs over its time limit.

The step's work is cancelled (its tasks, threads it awaits, HTTP requests) and the caller gets a
`TimeoutError` naming the step and the limit. Inside a `RunnableParallel` only that branch is
cancelled; the parallel's failure policy then decides what happens to the others. A stream's
limit covers the whole stream, from the call to the last chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from runnables._base import Runnable, coerce_to_runnable
from runnables._concurrency import closing, run_with_timeout, stream_with_timeout
from runnables._config import RunnableConfig

In = TypeVar("In")
Out = TypeVar("Out")


def check_timeout(seconds: object, param: str = "seconds") -> float:
    """Validate a timeout value (a positive number of seconds) and return it as a float."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f'Invalid "{param}" argument: expected seconds > 0, got {seconds!r}')
    return float(seconds)


class RunnableTimeout(Runnable[In, Out]):
    """Run a step with a time limit.

    Args:
        bound: The step.
        seconds: The limit, in seconds (> 0).
    """

    def __init__(self, bound: Runnable[In, Out], seconds: float) -> None:
        self.bound: Runnable[In, Out] = coerce_to_runnable(bound, param="bound")
        self.seconds = check_timeout(seconds)

    @property
    def name(self) -> str:
        return self._name or self.bound.name

    def __repr__(self) -> str:
        return f"RunnableTimeout({self.bound!r}, seconds={self.seconds})"

    def _graph_label(self) -> str:
        return f"timeout {self.seconds:g} s"

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        return await run_with_timeout(
            self.seconds, self.bound.name, lambda: self.bound._acall(input, config, **kwargs)
        )

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        stream = stream_with_timeout(
            self.seconds, self.bound.name, lambda: self.bound._astream(input, config, **kwargs)
        )
        async with closing(stream) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        stream = stream_with_timeout(
            self.seconds, self.bound.name, lambda: self.bound._atransform(chunks, config, **kwargs)
        )
        async with closing(stream) as out:
            async for chunk in out:
                yield chunk
