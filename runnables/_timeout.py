"""`RunnableTimeout` (what `with_timeout` returns): cancel a step that runs over its time limit.

The step's work is cancelled (its tasks, threads it awaits, HTTP requests) and the caller gets a
`TimeoutError` naming the step and the limit. Inside a `RunnableParallel` only that branch is
cancelled; the parallel's failure policy then decides what happens to the others. A stream's
limit covers the whole stream, from the call to the last chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from runnables._base import Runnable
from runnables._concurrency import run_with_timeout, stream_with_timeout
from runnables._config import RunnableConfig
from runnables._wrapper import RunnableWrapper

In = TypeVar("In")
Out = TypeVar("Out")


def check_timeout(seconds: object, param: str = "seconds") -> float:
    """Validate a timeout value (a positive number of seconds) and return it as a float."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f'Invalid "{param}" argument: expected seconds > 0, got {seconds!r}')
    return float(seconds)


class RunnableTimeout(RunnableWrapper[In, Out]):
    """Run a step with a time limit.

    Args:
        bound: The step.
        seconds: The limit, in seconds (> 0).
    """

    def __init__(self, bound: Runnable[In, Out], seconds: float) -> None:
        super().__init__(bound)
        self.seconds = check_timeout(seconds)

    def _repr_args(self) -> list[str]:
        return [f"seconds={self.seconds}"]

    def _graph_label(self) -> str:
        return f"timeout {self.seconds:g} s"

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        return await run_with_timeout(
            self.seconds, self.bound.name, lambda: self._call_bound(input, config, kwargs)
        )

    def _stream_bound(
        self, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> AsyncIterator[Out]:
        return stream_with_timeout(
            self.seconds,
            self.bound.name,
            lambda: super(RunnableTimeout, self)._stream_bound(input, config, kwargs),
        )

    def _transform_bound(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, kwargs: dict[str, Any]
    ) -> AsyncIterator[Out]:
        return stream_with_timeout(
            self.seconds,
            self.bound.name,
            lambda: super(RunnableTimeout, self)._transform_bound(chunks, config, kwargs),
        )
