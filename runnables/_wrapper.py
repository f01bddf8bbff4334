"""`RunnableWrapper`: the base of every step that wraps another (bind, retry, timeout, fallbacks,
each, race).

The base owns what they share, so a wrapper states only what it changes:

- the bound step (`bound`), and the wrapper's name (the bound step's, unless one is given);
- `repr`, from `_repr_args`;
- call-option checks (`bind` on a wrapper checks the options against the bound step);
- running the bound step as a child, so the bound step's events appear under the wrapper's;
- stream and transform delegation.

`restart_until_first_chunk` is the shared loop of retry and fallbacks for streams: a stream may
be started again (or replaced by the next one) only until its first chunk is out.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from runnables._base import Runnable, coerce_to_runnable
from runnables._concurrency import closing
from runnables._config import RunnableConfig
from runnables._events import call_child, stream_child, transform_child

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T")


class RunnableWrapper(Runnable[In, Out]):
    """A step that runs one other step (`bound`), changing how it is called.

    Subclasses override `_acall` / `_astream` / `_atransform` where they change behaviour, and
    run the bound step through `_call_bound` / `_stream_bound` / `_transform_bound`.

    Args:
        bound: The wrapped step (or a runnable-like: function, dict).
    """

    bound: Runnable[In, Out]

    def __init__(self, bound: Runnable[In, Out]) -> None:
        self.bound = coerce_to_runnable(bound, param="bound")

    @property
    def name(self) -> str:
        return self._name or self.bound.name

    def _repr_args(self) -> list[str]:
        """What the wrapper adds to its repr, after the bound step."""
        return []

    def __repr__(self) -> str:
        args = ", ".join([repr(self.bound), *self._repr_args()])
        return f"{type(self).__name__}({args})"

    def _wrapped(self) -> tuple[Runnable[Any, Any], ...]:
        """Every step this wrapper may run (fallbacks and races have several)."""
        return (self.bound,)

    def check_call_options(self, options: Mapping[str, Any]) -> None:
        for step in self._wrapped():
            step.check_call_options(options)

    async def _call_bound(self, input: Any, config: RunnableConfig, kwargs: dict[str, Any]) -> Out:
        return await call_child(self.bound, input, config, **kwargs)  # type: ignore[no-any-return]

    def _stream_bound(
        self, input: Any, config: RunnableConfig, kwargs: dict[str, Any]
    ) -> AsyncIterator[Out]:
        return stream_child(self.bound, input, config, **kwargs)

    def _transform_bound(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, kwargs: dict[str, Any]
    ) -> AsyncIterator[Out]:
        return transform_child(self.bound, chunks, config, **kwargs)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        return await self._call_bound(input, config, kwargs)

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        async with closing(self._stream_bound(input, config, kwargs)) as chunks:
            async for chunk in chunks:
                yield chunk

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        async with closing(self._transform_bound(chunks, config, kwargs)) as out:
            async for chunk in out:
                yield chunk


async def restart_until_first_chunk(
    next_attempt: Callable[[list[Exception]], Awaitable[AsyncIterator[T] | None]],
    restartable: Callable[[Exception, int], bool],
    give_up: Callable[[list[Exception]], BaseException],
) -> AsyncGenerator[T, None]:
    """Stream one attempt after another until one completes, restarting only before a chunk.

    Args:
        next_attempt: Given the errors so far, the next attempt's stream, or None when there is
            none left. It may wait first (retry's backoff).
        restartable: Whether an error (before the first chunk) of attempt n (from 1) may move on
            to another attempt; if not, it is raised as is.
        give_up: The exception to raise once no attempt is left, given every error.

    An error after the first chunk is raised as is: the consumer already has part of an output.
    """
    errors: list[Exception] = []
    while True:
        stream = await next_attempt(errors)
        if stream is None:
            raise give_up(errors)
        started = False
        try:
            async with closing(stream) as chunks:
                async for chunk in chunks:
                    started = True
                    yield chunk
            return
        except Exception as exc:
            if started or not restartable(exc, len(errors) + 1):
                raise
            errors.append(exc)
