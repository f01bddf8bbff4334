"""RateLimiter: first come first served, estimates settled after the call, cancellation, any
backend in any order.

Trio runs these under `MockClock(autojump_threshold=0)`: sleeping jumps the clock, so the tests
read exact times on the backend's clock and never wait. Asyncio runs them on its real clock with
waits of a few milliseconds, and checks only order and counts.
"""

import asyncio
from typing import Any

import anyio
import pytest
import trio
import trio.testing

from runnables import RateLimiter, RunnableLambda

pytestmark = pytest.mark.anyio


@pytest.fixture(
    params=[
        pytest.param("asyncio"),
        pytest.param(("trio", {"clock": trio.testing.MockClock(autojump_threshold=0)}), id="trio"),
    ]
)
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture
def mock_clock(anyio_backend: Any) -> bool:
    """True where the clock is trio's MockClock, so times can be asserted exactly."""
    return bool(anyio_backend != "asyncio")


async def waits(limiter: RateLimiter, tokens: int = 0) -> bool:
    """Whether `acquire` would wait now; if it would, the cancelled attempt takes nothing."""
    with anyio.move_on_after(0) as scope:
        await limiter.acquire(tokens)
    return scope.cancelled_caught


async def test_waiters_are_served_first_come_first_served(mock_clock: bool) -> None:
    # One request at a time, refilled every 10 ms: later callers must queue, in arrival order.
    limiter = RateLimiter(requests_per_minute=6000, request_burst=1)
    start = anyio.current_time()
    order: list[tuple[int, float]] = []
    arrived = [anyio.Event() for _ in range(5)]

    async def caller(i: int) -> None:
        if i:
            await arrived[i - 1].wait()
        arrived[i].set()
        await limiter.acquire()
        order.append((i, anyio.current_time() - start))

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(caller, i)
    assert [i for i, _ in order] == [0, 1, 2, 3, 4]
    if mock_clock:
        assert [t for _, t in order] == pytest.approx([0, 0.01, 0.02, 0.03, 0.04])


async def test_the_burst_goes_at_once_and_the_next_request_waits() -> None:
    limiter = RateLimiter(requests_per_minute=60, request_burst=3)
    for _ in range(3):
        assert not await waits(limiter)
    assert await waits(limiter)
    assert await waits(limiter)  # the probe above took nothing: still waiting


async def test_token_estimate_is_settled_with_the_real_count() -> None:
    # A minute's refill is one token, so nothing refills during the test.
    limiter = RateLimiter(tokens_per_minute=1, token_burst=1000)
    reservation = await limiter.acquire(tokens=400)
    assert await waits(limiter, tokens=601)
    reservation.settle(100)  # used 100, not 400: 300 come back
    assert await waits(limiter, tokens=901)
    reservation.settle(0)  # settling twice changes nothing
    assert await waits(limiter, tokens=901)
    assert not await waits(limiter, tokens=900)


async def test_overuse_is_paid_back_before_the_next_caller(mock_clock: bool) -> None:
    limiter = RateLimiter(tokens_per_minute=60_000, token_burst=100)  # 1,000 tokens a second
    reservation = await limiter.acquire(tokens=10)
    reservation.settle(150)  # used more than the whole bucket: 50 in debt
    assert await waits(limiter, tokens=10)
    start = anyio.current_time()
    await limiter.acquire(tokens=10)  # waits until the debt and its own 10 are refilled
    if mock_clock:
        assert anyio.current_time() - start == pytest.approx(0.06)


async def test_a_cancelled_waiter_takes_nothing(mock_clock: bool) -> None:
    limiter = RateLimiter(requests_per_minute=6000, request_burst=1)  # one per 10 ms
    await limiter.acquire()
    gave_up = anyio.Event()

    async def impatient() -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await limiter.acquire()
        gave_up.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(impatient)
    await gave_up.wait()
    start = anyio.current_time()
    await limiter.acquire()
    if mock_clock:
        # One interval after the first request, not two: the cancelled waiter left no debt.
        assert anyio.current_time() - start == pytest.approx(0.01)


async def test_one_limiter_serves_many_tasks_without_overspending(mock_clock: bool) -> None:
    limiter = RateLimiter(requests_per_minute=60_000, request_burst=5)  # one per ms after 5
    start = anyio.current_time()
    done: list[float] = []

    async def call() -> None:
        await limiter.acquire()
        done.append(anyio.current_time() - start)

    async with anyio.create_task_group() as tg:
        for _ in range(25):
            tg.start_soon(call)
    assert len(done) == 25
    if mock_clock:
        # 5 at once, then one a millisecond: the 25th at 20 ms.
        assert max(done) == pytest.approx(0.020)
        assert sum(1 for t in done if t < 1e-9) == 5


def test_one_limiter_works_across_backends_and_sync_calls_in_any_order() -> None:
    limiter = RateLimiter(requests_per_minute=600_000, tokens_per_minute=10_000_000)
    taken: list[str] = []

    async def use(label: str) -> None:
        for _ in range(3):
            (await limiter.acquire(tokens=5)).settle(3)
        taken.append(label)

    asyncio.run(use("asyncio"))
    trio.run(use, "trio")
    asyncio.run(use("asyncio again"))
    trio.run(use, "trio again", clock=trio.testing.MockClock(autojump_threshold=0))
    RunnableLambda(use).invoke("sync")
    assert taken == ["asyncio", "trio", "asyncio again", "trio again", "sync"]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"requests_per_minute": 0}, {"tokens_per_minute": -5}, {"requests_per_minute": "10"}],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"RateLimiter|Invalid"):
        RateLimiter(**kwargs)


@pytest.mark.parametrize("tokens", [-1, 1.5, True])
async def test_bad_token_counts(tokens: Any) -> None:
    with pytest.raises(ValueError, match='"tokens"'):
        await RateLimiter(requests_per_minute=1).acquire(tokens)
