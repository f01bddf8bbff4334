"""`RunnableRetry` (what `with_retry` returns): run a step again when it fails.

Each call retries on its own, so in a batch only the failed items are run again and the order of
results is kept. Backoff sleeps are `anyio.sleep`: cancellable and trio-safe. A stream is retried
only until its first chunk has been yielded; after that an error reaches the consumer.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import anyio

from runnables._base import Runnable, coerce_to_runnable
from runnables._concurrency import closing
from runnables._config import RunnableConfig

In = TypeVar("In")
Out = TypeVar("Out")

RetryCondition = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
)

_JITTER_KEYS = frozenset({"initial", "max", "exp_base", "jitter"})


class RunnableRetry(Runnable[In, Out]):
    """Retry a step on failure, with exponential backoff and jitter.

    Args:
        bound: The step to retry.
        retry_if_exception_type: Exception types to retry, or a predicate taking the exception.
        wait_exponential_jitter: Wait between attempts (exponential with jitter); if False,
            retry at once.
        stop_after_attempt: Total attempts, the first included.
        exponential_jitter_params: Overrides of `initial` (1.0 s), `max` (60 s), `exp_base` (2)
            and `jitter` (1.0 s, the most random time added).
    """

    def __init__(
        self,
        bound: Runnable[In, Out],
        *,
        retry_if_exception_type: RetryCondition = (Exception,),
        wait_exponential_jitter: bool = True,
        stop_after_attempt: int = 3,
        exponential_jitter_params: Mapping[str, float] | None = None,
    ) -> None:
        if isinstance(stop_after_attempt, bool) or not isinstance(stop_after_attempt, int):
            raise TypeError(
                'Invalid "stop_after_attempt" argument: expected an int, '
                f"got {stop_after_attempt!r}"
            )
        if stop_after_attempt < 1:
            raise ValueError(
                f'Invalid "stop_after_attempt" argument: must be >= 1, got {stop_after_attempt!r}'
            )
        if isinstance(retry_if_exception_type, type) and issubclass(
            retry_if_exception_type, BaseException
        ):
            # A bare class is callable too; it means "this type", not a predicate.
            retry_if_exception_type = (retry_if_exception_type,)
        if isinstance(retry_if_exception_type, tuple):
            if not all(
                isinstance(t, type) and issubclass(t, BaseException)
                for t in retry_if_exception_type
            ):
                raise TypeError(
                    'Invalid "retry_if_exception_type" argument: expected exception types or a '
                    f"predicate, got {retry_if_exception_type!r}"
                )
        elif not callable(retry_if_exception_type):
            raise TypeError(
                'Invalid "retry_if_exception_type" argument: expected exception types or a '
                f"predicate, got {retry_if_exception_type!r}"
            )
        params = dict(exponential_jitter_params or {})
        unknown = set(params) - _JITTER_KEYS
        if unknown:
            raise ValueError(
                f'Invalid "exponential_jitter_params" argument: unknown keys {sorted(unknown)!r}'
            )
        if any(not isinstance(v, int | float) or v < 0 for v in params.values()):
            raise ValueError(
                'Invalid "exponential_jitter_params" argument: values must be numbers >= 0, '
                f"got {params!r}"
            )
        self.bound: Runnable[In, Out] = coerce_to_runnable(bound, param="bound")
        self.retry_if_exception_type: (
            tuple[type[BaseException], ...] | Callable[[BaseException], bool]
        ) = retry_if_exception_type  # type: ignore[assignment]  # a bare class became a tuple above
        self.wait_exponential_jitter = wait_exponential_jitter
        self.stop_after_attempt = stop_after_attempt
        self._initial = float(params.get("initial", 1.0))
        self._max = float(params.get("max", 60.0))
        self._base = float(params.get("exp_base", 2.0))
        self._jitter = float(params.get("jitter", 1.0))

    @property
    def name(self) -> str:
        return self._name or self.bound.name

    def __repr__(self) -> str:
        return f"RunnableRetry({self.bound!r}, stop_after_attempt={self.stop_after_attempt})"

    def _graph_label(self) -> str:
        return f"retry ×{self.stop_after_attempt}"

    def _should_retry(self, exc: BaseException) -> bool:
        condition = self.retry_if_exception_type
        if isinstance(condition, tuple):
            return isinstance(exc, condition)
        return bool(condition(exc))

    def _wait_time(self, attempt: int) -> float:
        if not self.wait_exponential_jitter:
            return 0.0
        wait = self._initial * self._base ** (attempt - 1) + random.uniform(0, self._jitter)
        return min(wait, self._max)

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        attempt = 1
        while True:
            try:
                return await self.bound._acall(input, config, **kwargs)
            except Exception as exc:
                if attempt >= self.stop_after_attempt or not self._should_retry(exc):
                    exc.add_note(f"{self.bound.name} failed after {attempt} attempt(s)")
                    raise
            await anyio.sleep(self._wait_time(attempt))
            attempt += 1

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        attempt = 1
        while True:
            started = False
            try:
                async with closing(self.bound._astream(input, config, **kwargs)) as _chunks:
                    async for chunk in _chunks:
                        started = True
                        yield chunk
                return
            except Exception as exc:
                if started or attempt >= self.stop_after_attempt or not self._should_retry(exc):
                    exc.add_note(f"{self.bound.name} failed after {attempt} attempt(s)")
                    raise
            await anyio.sleep(self._wait_time(attempt))
            attempt += 1
