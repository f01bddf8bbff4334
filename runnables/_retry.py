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

from runnables._base import Runnable
from runnables._concurrency import closing
from runnables._config import RunnableConfig, merge_configs
from runnables._wrapper import RunnableWrapper, restart_until_first_chunk

In = TypeVar("In")
Out = TypeVar("Out")

RetryCondition = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]
)

_JITTER_KEYS = frozenset({"initial", "max", "exp_base", "jitter"})


class RunnableRetry(RunnableWrapper[In, Out]):
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

    # A stream is retried (or falls back) as a whole: gather the input first, as LCEL does.
    _atransform = Runnable._atransform

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
        super().__init__(bound)
        self.retry_if_exception_type: (
            tuple[type[BaseException], ...] | Callable[[BaseException], bool]
        ) = retry_if_exception_type  # type: ignore[assignment]  # a bare class became a tuple above
        self.wait_exponential_jitter = wait_exponential_jitter
        self.stop_after_attempt = stop_after_attempt
        self._initial = float(params.get("initial", 1.0))
        self._max = float(params.get("max", 60.0))
        self._base = float(params.get("exp_base", 2.0))
        self._jitter = float(params.get("jitter", 1.0))

    def _repr_args(self) -> list[str]:
        return [f"stop_after_attempt={self.stop_after_attempt}"]

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

    def _attempt_config(self, config: RunnableConfig, attempt: int) -> RunnableConfig:
        # Later attempts are tagged, as LCEL does, so they can be told apart in a run's events.
        if attempt == 1:
            return config
        return merge_configs(config, {"tags": [f"retry:attempt:{attempt}"]})

    def _gave_up(self, exc: BaseException, attempt: int) -> BaseException:
        exc.add_note(f"{self.bound.name} failed after {attempt} attempt(s)")
        return exc

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Out:
        attempt = 1
        while True:
            try:
                return await self._call_bound(input, self._attempt_config(config, attempt), kwargs)
            except Exception as exc:
                if attempt >= self.stop_after_attempt or not self._should_retry(exc):
                    self._gave_up(exc, attempt)
                    raise
            await anyio.sleep(self._wait_time(attempt))
            attempt += 1

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Out]:
        attempt = 0

        async def next_attempt(errors: list[Exception]) -> AsyncIterator[Out] | None:
            nonlocal attempt
            if attempt >= self.stop_after_attempt:
                return None
            if attempt:
                await anyio.sleep(self._wait_time(attempt))
            attempt += 1
            return self._stream_bound(input, self._attempt_config(config, attempt), kwargs)

        stream = restart_until_first_chunk(
            next_attempt, lambda exc, _: self._should_retry(exc), lambda errors: errors[-1]
        )
        try:
            async with closing(stream) as chunks:
                async for chunk in chunks:
                    yield chunk
        except Exception as exc:
            self._gave_up(exc, attempt)
            raise
