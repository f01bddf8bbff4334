"""`RunnableWithFallbacks` (what `with_fallbacks` returns): try alternatives in turn on failure.

If every alternative fails, the primary's error is raised, with each fallback's error attached
as a note and the last fallback's error as its `__context__`, so nothing is lost. A stream falls
back only until its first chunk has been yielded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

from runnables._base import Runnable, coerce_to_runnable
from runnables._concurrency import closing
from runnables._config import RunnableConfig
from runnables._events import call_child, stream_child
from runnables._wrapper import RunnableWrapper, restart_until_first_chunk

In = TypeVar("In")
Out = TypeVar("Out")


class RunnableWithFallbacks(RunnableWrapper[In, Out]):
    """Run `runnable`; on a handled failure, run each fallback in turn until one succeeds.

    Args:
        runnable: The primary step.
        fallbacks: Steps (or runnable-likes) to try, in order.
        exceptions_to_handle: Exception types that move on to the next fallback; anything else
            is raised at once.
        exception_key: If given, inputs must be dicts, and each fallback receives the input
            with the previous error under this key.
    """

    # A stream is retried (or falls back) as a whole: gather the input first, as LCEL does.
    _atransform = Runnable._atransform

    def __init__(
        self,
        runnable: Runnable[In, Out],
        fallbacks: Sequence[Any],
        *,
        exceptions_to_handle: tuple[type[BaseException], ...] = (Exception,),
        exception_key: str | None = None,
    ) -> None:
        if isinstance(fallbacks, str | bytes) or not isinstance(fallbacks, Sequence):
            raise TypeError(f'Invalid "fallbacks" argument: expected a list, got {fallbacks!r}')
        if not fallbacks:
            raise ValueError('Invalid "fallbacks" argument: give at least one fallback, got []')
        if not isinstance(exceptions_to_handle, tuple) or not all(
            isinstance(t, type) and issubclass(t, BaseException) for t in exceptions_to_handle
        ):
            raise TypeError(
                'Invalid "exceptions_to_handle" argument: expected a tuple of exception types, '
                f"got {exceptions_to_handle!r}"
            )
        if exception_key is not None and not isinstance(exception_key, str):
            raise TypeError(
                f'Invalid "exception_key" argument: expected a str, got {exception_key!r}'
            )
        super().__init__(coerce_to_runnable(runnable, param="runnable"))
        self.fallbacks = [coerce_to_runnable(f, param="fallbacks") for f in fallbacks]
        self.exceptions_to_handle = exceptions_to_handle
        self.exception_key = exception_key

    @property
    def runnable(self) -> Runnable[In, Out]:
        """The primary step (LCEL's name for `bound`)."""
        return self.bound

    def _repr_args(self) -> list[str]:
        return [f"fallbacks={self.fallbacks!r}"]

    def _wrapped(self) -> tuple[Runnable[Any, Any], ...]:
        return (self.bound, *self.fallbacks)

    def _wrapped_step(self) -> Runnable[Any, Any]:
        return self.runnable

    def _graph_label(self) -> str:
        return "fallbacks: " + ", ".join(f.name for f in self.fallbacks)

    def _check_input(self, input: Any) -> None:
        if self.exception_key is not None and not isinstance(input, dict):
            raise TypeError(
                f"with_fallbacks(exception_key={self.exception_key!r}) needs a dict input, "
                f"got {type(input).__name__}: {input!r}"
            )

    def _input_for(self, input: Any, error: BaseException | None) -> Any:
        if self.exception_key is None or error is None:
            return input
        return {**input, self.exception_key: error}

    def _fail(self, errors: list[Exception]) -> BaseException:
        first = errors[0]
        for i, err in enumerate(errors[1:], start=1):
            first.add_note(f"fallback {i} of {self.name} also failed: {type(err).__name__}: {err}")
        if len(errors) > 1:
            first.__context__ = errors[-1]
        return first

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        self._check_input(input)
        errors: list[Exception] = []
        for step in self._wrapped():
            try:
                return await call_child(  # type: ignore[no-any-return]
                    step, self._input_for(input, errors[-1] if errors else None), config, **kwargs
                )
            except self.exceptions_to_handle as exc:
                errors.append(exc)  # type: ignore[arg-type]
        raise self._fail(errors)

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        self._check_input(input)
        steps = self._wrapped()

        async def next_attempt(errors: list[Exception]) -> AsyncIterator[Out] | None:
            if len(errors) == len(steps):
                return None
            last = errors[-1] if errors else None
            return stream_child(steps[len(errors)], self._input_for(input, last), config, **kwargs)

        def handled(exc: Exception, attempt: int) -> bool:
            return isinstance(exc, self.exceptions_to_handle)

        stream = restart_until_first_chunk(next_attempt, handled, self._fail)
        async with closing(stream) as chunks:
            async for chunk in chunks:
                yield chunk
