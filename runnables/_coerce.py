"""Coercion: what may stand for a step in a chain (a runnable, a function, a dict), made a step."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnables._base import Runnable
    from runnables._parallel import RunnableParallel

__all__ = ["coerce_to_runnable"]


def parallel_of(steps: Mapping[str, Any]) -> RunnableParallel[Any]:
    from runnables._parallel import RunnableParallel

    return RunnableParallel(steps)


def coerce_to_runnable(thing: Any, *, param: str = "step") -> Runnable[Any, Any]:
    """Turn a runnable-like object into a runnable.

    A runnable is returned as is; a function or `async def` becomes a `RunnableLambda`; a
    generator function becomes a `RunnableGenerator`; a dict becomes a `RunnableParallel`.

    Raises:
        TypeError: `thing` is none of those, or is a `Runnable` class rather than an instance;
            the message names what it got.
    """
    from runnables._base import Runnable

    if isinstance(thing, Runnable):
        return thing
    if isinstance(thing, type) and issubclass(thing, Runnable):
        # A class is callable, so it would pass as a function and fail only at run time.
        raise TypeError(
            f'Invalid "{param}" argument: expected a Runnable instance, got the class {thing!r}; '
            f"put an instance in the chain, e.g. {thing.__name__}()"
        )
    if isinstance(thing, Mapping):
        return parallel_of(thing)
    if callable(thing):
        from runnables._lambda import RunnableGenerator, RunnableLambda, is_generator_callable

        if is_generator_callable(thing):
            return RunnableGenerator(thing)
        return RunnableLambda(thing)
    raise TypeError(
        f'Invalid "{param}" argument: expected a Runnable, callable or dict, '
        f"got {type(thing).__name__} {thing!r}"
    )
