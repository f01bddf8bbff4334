"""`RunnableTimeout` (what `with_timeout` returns): cancel a step that runs over its time limit.

The step's work is cancelled (its tasks, threads it awaits, HTTP requests) and the caller gets a
`TimeoutError` naming the step and the limit. Inside a `RunnableParallel` only that branch is
cancelled; the parallel's failure policy then decides what happens to the others. A stream's
limit covers the whole stream, from the call to the last chunk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import anyio

from runnables._base import Runnable
from runnables._concurrency import run_with_timeout
from runnables._config import RunnableConfig

In = TypeVar("In")
Out = TypeVar("Out")

_END = object()


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
        self.bound = bound
        self.seconds = check_timeout(seconds)

    @property
    def name(self) -> str:
        return self._name or self.bound.name

    def __repr__(self) -> str:
        return f"RunnableTimeout({self.bound!r}, seconds={self.seconds})"

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        return await run_with_timeout(
            self.seconds, self.bound.name, lambda: self.bound._acall(input, config, **kwargs)
        )

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        deadline = anyio.current_time() + self.seconds
        chunks = self.bound._astream(input, config, **kwargs)
        try:
            while True:
                # One cancel scope per chunk: a scope must not stay open across a `yield`.
                with anyio.move_on_after(deadline - anyio.current_time()) as scope:
                    chunk = await anext(chunks, _END)
                if scope.cancelled_caught:
                    raise TimeoutError(
                        f"{self.bound.name} timed out after {self.seconds:g} s (while streaming)"
                    )
                if chunk is _END:
                    return
                yield chunk  # type: ignore[misc]
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
