"""RateLimiter: fairness, token estimates settled after the call, cancellation, bad input."""

from typing import Any

import anyio
import pytest

from runnables import RateLimiter

pytestmark = pytest.mark.anyio


async def test_waiters_are_served_first_come_first_served() -> None:
    # One request at a time, refilled 1000 times a minute: later callers must queue.
    limiter = RateLimiter(requests_per_minute=6000, request_burst=1)
    order: list[int] = []
    arrived = [anyio.Event() for _ in range(5)]

    async def caller(i: int) -> None:
        if i:
            await arrived[i - 1].wait()
        arrived[i].set()
        await limiter.acquire()
        order.append(i)

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(caller, i)
    assert order == [0, 1, 2, 3, 4]


async def test_token_estimate_is_settled_with_the_real_count() -> None:
    limiter = RateLimiter(tokens_per_minute=1000)
    reservation = await limiter.acquire(tokens=400)
    assert limiter._tokens == pytest.approx(600, abs=1)
    reservation.settle(100)
    assert limiter._tokens == pytest.approx(900, abs=1)
    reservation.settle(0)  # settling twice changes nothing
    assert limiter._tokens == pytest.approx(900, abs=1)


async def test_overuse_is_paid_back_before_the_next_caller() -> None:
    limiter = RateLimiter(tokens_per_minute=60_000, token_burst=100)
    reservation = await limiter.acquire(tokens=10)
    reservation.settle(150)  # used more than the whole bucket
    assert limiter._tokens < 0
    await limiter.acquire(tokens=10)  # waits until the debt is refilled
    assert limiter._tokens <= 1


async def test_waiting_is_cancellable_and_takes_nothing() -> None:
    limiter = RateLimiter(requests_per_minute=1, request_burst=1)
    await limiter.acquire()
    with anyio.move_on_after(0.01) as scope:
        await limiter.acquire()
    assert scope.cancelled_caught
    assert limiter._requests < 1


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"requests_per_minute": 0}, {"tokens_per_minute": -5}, {"requests_per_minute": "10"}],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"RateLimiter|Invalid"):
        RateLimiter(**kwargs)
