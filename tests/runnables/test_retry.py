"""with_retry: attempts, conditions, batch retrying only failed items, notes, streaming."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runnables import RunnableLambda

pytestmark = pytest.mark.anyio

NO_WAIT = {"initial": 0.0, "jitter": 0.0}


class Flaky:
    """Fails the first `failures` calls per input, then echoes the input."""

    def __init__(self, failures: int, exc: type[Exception] = ConnectionError) -> None:
        self.failures = failures
        self.exc = exc
        self.calls: dict[Any, int] = {}

    async def __call__(self, x: Any) -> Any:
        self.calls[x] = self.calls.get(x, 0) + 1
        if self.calls[x] <= self.failures:
            raise self.exc(f"attempt {self.calls[x]} for {x}")
        return x


async def test_retries_until_success() -> None:
    flaky = Flaky(2)
    step = RunnableLambda(flaky).with_retry(exponential_jitter_params=NO_WAIT)
    assert await step.ainvoke("a") == "a"
    assert flaky.calls == {"a": 3}


async def test_last_error_is_raised_with_its_type_and_attempt_count() -> None:
    flaky = Flaky(5)
    step = RunnableLambda(flaky).with_retry(stop_after_attempt=3, wait_exponential_jitter=False)
    with pytest.raises(ConnectionError, match="attempt 3 for a") as info:
        await step.ainvoke("a")
    assert "Flaky failed after 3 attempt(s)" in info.value.__notes__


async def test_only_matching_exceptions_are_retried() -> None:
    flaky = Flaky(1, exc=KeyError)
    step = RunnableLambda(flaky).with_retry(
        retry_if_exception_type=(ConnectionError,), wait_exponential_jitter=False
    )
    with pytest.raises(KeyError):
        await step.ainvoke("a")
    assert flaky.calls == {"a": 1}


async def test_predicate_condition() -> None:
    flaky = Flaky(1)
    step = RunnableLambda(flaky).with_retry(
        retry_if_exception_type=lambda e: "attempt 1" in str(e), wait_exponential_jitter=False
    )
    assert await step.ainvoke("b") == "b"


async def test_batch_retries_only_failed_items_and_keeps_order() -> None:
    calls: dict[int, int] = {}

    async def odd_fails_once(x: int) -> int:
        calls[x] = calls.get(x, 0) + 1
        if x % 2 and calls[x] == 1:
            raise ConnectionError(x)
        return x * 10

    step = RunnableLambda(odd_fails_once).with_retry(wait_exponential_jitter=False)
    assert await step.abatch([1, 2, 3, 4]) == [10, 20, 30, 40]
    assert calls == {1: 2, 2: 1, 3: 2, 4: 1}


async def test_stream_is_retried_only_before_the_first_chunk() -> None:
    attempts = {"before": 0, "after": 0}

    async def fails_before(x: str) -> AsyncIterator[str]:
        attempts["before"] += 1
        if attempts["before"] == 1:
            raise ConnectionError("before first chunk")
        yield "ok"

    async def fails_after(x: str) -> AsyncIterator[str]:
        attempts["after"] += 1
        yield "partial"
        raise ConnectionError("after first chunk")

    assert [
        c
        async for c in RunnableLambda(fails_before)
        .with_retry(wait_exponential_jitter=False)
        .astream("x")
    ] == ["ok"]
    seen: list[str] = []
    with pytest.raises(ConnectionError, match="after first chunk"):
        async for chunk in (
            RunnableLambda(fails_after).with_retry(wait_exponential_jitter=False).astream("x")
        ):
            seen.append(chunk)
    assert seen == ["partial"]
    assert attempts == {"before": 2, "after": 1}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stop_after_attempt": 0}, ValueError, "stop_after_attempt"),
        ({"stop_after_attempt": "3"}, TypeError, "stop_after_attempt"),
        ({"retry_if_exception_type": (int,)}, TypeError, "retry_if_exception_type"),
        ({"retry_if_exception_type": 5}, TypeError, "retry_if_exception_type"),
        ({"exponential_jitter_params": {"speed": 1}}, ValueError, "speed"),
    ],
)
def test_bad_arguments_fail_at_build_time(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        RunnableLambda(lambda x: x).with_retry(**kwargs)


async def test_retry_accepts_a_bare_exception_class() -> None:
    calls: list[int] = []

    def fail(x: int) -> int:
        calls.append(x)
        raise KeyError(x)

    step = RunnableLambda(fail).with_retry(
        retry_if_exception_type=ValueError, wait_exponential_jitter=False
    )
    with pytest.raises(KeyError):
        await step.ainvoke(1)
    assert calls == [1]  # KeyError is not a ValueError: not retried
