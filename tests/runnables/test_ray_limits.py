"""Rate limits under `RayExecutor`: a plain `RateLimiter` in a shipped chain becomes one budget for
the cluster (proved at the loopback server), and the block sizing policy of `RayRateLimiter`,
tested on given numbers (no clock)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from llm import ChatOpenAI, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RateLimiter, Runnable
from runnables._ray_blocks import BlockSizer
from runnables.ray import RayExecutor, RayRateLimiter
from tests.openai_server import OpenAIServer
from tests.runnables.test_ray import NO_REFILL, docs, eventually, nothing_left_running


def summarize(server: OpenAIServer, limiter: RateLimiter) -> Runnable[dict[str, str], str]:
    model = ChatOpenAI(
        model="test-model",
        base_url=server.base_url,
        api_key="test",
        max_retries=0,
        rate_limiter=limiter,
    )
    return ChatPromptTemplate.from_template("Summarize {text}") | model | StrOutputParser()


@pytest.fixture(scope="module")
def executor(ray_session: None) -> Iterator[RayExecutor]:
    with RayExecutor(num_workers=2) as executor:
        yield executor


def twin(executor: RayExecutor, limiter: RateLimiter) -> RayRateLimiter:
    """The cluster-wide limiter the executor ships in place of `limiter`."""
    return executor._limits.twin(limiter)


async def wait_until_reserved(limiter: RayRateLimiter, n: int) -> None:
    async def reserved() -> bool:
        return (await limiter.usage())[0] >= n

    await eventually(reserved)


@pytest.mark.anyio
async def test_a_plain_rate_limiter_is_one_budget_across_workers(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    limiter = RateLimiter(requests_per_minute=NO_REFILL, request_burst=5)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(executor.abatch, summarize(openai_server, limiter), docs(10))
            # Each worker (5 items) reserved its first block, 8 slots, from the one budget:
            # the first of them got the 5 free slots, everything else waits for minutes.
            await wait_until_reserved(twin(executor, limiter), 16)
            await openai_server.wait_for_requests_async(5)
            # Two copies of the limiter would each have let their worker's 5 through.
            assert len(openai_server.requests) == 5
            scope.cancel()
    assert nothing_left_running()


@pytest.mark.anyio
async def test_a_plain_limiter_keeps_its_budget_across_batches(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    limiter = RateLimiter(requests_per_minute=60_000)
    chain = summarize(openai_server, limiter)
    await executor.abatch(chain, docs(4))
    first, _ = await twin(executor, limiter).usage()
    await executor.abatch(chain, docs(4))
    second, _ = await twin(executor, limiter).usage()
    assert first >= 4
    assert second >= first + 4  # the second batch drew from the same budget actor


class OwnLimiter(RateLimiter):
    """A subclass the executor cannot translate into a cluster-wide budget."""


def test_a_rate_limiter_subclass_is_refused_naming_ray_rate_limiter(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    chain = summarize(openai_server, OwnLimiter(requests_per_minute=60))
    with pytest.raises(TypeError, match=r'(?s)"runnable".*RayRateLimiter'):
        executor.batch(chain, docs(2))
    assert openai_server.requests == []


def test_the_chain_shipped_keeps_its_own_limiter(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    limiter = RateLimiter(requests_per_minute=60_000)
    chain = summarize(openai_server, limiter)
    executor.batch(chain, docs(2))
    assert chain.steps[1].rate_limiter is limiter  # type: ignore[attr-defined]
    assert type(limiter) is RateLimiter


# -- the block sizing policy ----------------------------------------------------------------------


def free(n: int) -> list[float]:
    """A block's waits where the limit did not bind: every slot free at once."""
    return [0.0] * n


def spread(n: int, rate: float) -> list[float]:
    """A block's waits where the limit binds at `rate` requests per second."""
    return [i / rate for i in range(n)]


def test_a_fixed_block_size_never_changes() -> None:
    sizer = BlockSizer(4)
    sizes = [sizer.next(used=4, elapsed=0.001, waiting=100, waits=free(4)) for _ in range(3)]
    assert sizes == [4, 4, 4]


def test_blocks_double_while_the_limit_does_not_bind_up_to_the_ceiling() -> None:
    sizer = BlockSizer()
    sizes = [sizer.next(used=0, elapsed=0, waiting=1, waits=[])]
    for _ in range(11):
        sizes.append(sizer.next(used=sizes[-1], elapsed=0.01, waiting=0, waits=free(sizes[-1])))
    assert sizes == [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 4096, 4096]


def test_callers_waiting_grow_the_block_at_once() -> None:
    sizer = BlockSizer()
    sizer.next(used=0, elapsed=0, waiting=1, waits=[])
    assert sizer.next(used=8, elapsed=0.01, waiting=900, waits=free(8)) == 900
    assert sizer.next(used=900, elapsed=0.01, waiting=9000, waits=free(900)) == 4096


def test_a_slow_process_reserves_only_what_it_uses_in_half_a_second() -> None:
    sizer = BlockSizer(first=64)
    # 64 slots used over 16 s: 4 per second, 2 in the next half second.
    assert sizer.next(used=64, elapsed=16.0, waiting=0, waits=free(64)) == 2
    assert sizer.next(used=2, elapsed=10.0, waiting=0, waits=free(2)) == 1


def test_where_the_limit_binds_a_block_is_half_a_second_of_the_rate() -> None:
    sizer = BlockSizer(first=256)
    # 256 slots spread at 20 per second: the next block is 10, and stays there while it binds,
    # however many callers wait (a bigger block would only make the others wait behind it).
    assert sizer.next(used=256, elapsed=0.01, waiting=500, waits=spread(256, 20.0)) == 10
    assert sizer.next(used=10, elapsed=0.01, waiting=500, waits=spread(10, 20.0)) == 10
    # From a small first block, at 1000 per second: up to half a second of it at once.
    sizer = BlockSizer()
    assert sizer.next(used=0, elapsed=0, waiting=1, waits=[]) == 8
    assert sizer.next(used=6, elapsed=0.001, waiting=900, waits=spread(8, 1000.0)) == 500
    # No more than the process used in half a second, though: 40 per second here.
    assert sizer.next(used=20, elapsed=0.5, waiting=0, waits=spread(500, 1000.0)) == 20
    # It stops binding: growth resumes, doubling.
    assert sizer.next(used=20, elapsed=0.01, waiting=0, waits=free(20)) == 40


def test_a_binding_block_never_drops_below_one() -> None:
    sizer = BlockSizer()
    sizer.next(used=0, elapsed=0, waiting=1, waits=[])
    assert sizer.next(used=8, elapsed=0.01, waiting=1, waits=spread(8, 0.1)) == 1
    assert sizer.next(used=1, elapsed=0.01, waiting=1, waits=[60.0]) == 1


def test_ray_rate_limiter_adapts_by_default_or_takes_a_fixed_block() -> None:
    adaptive: Any = RayRateLimiter(requests_per_minute=60)
    assert "block_size=None" in repr(adaptive)
    assert adaptive._sizer.fixed is None
    fixed: Any = RayRateLimiter(requests_per_minute=60, block_size=16)
    assert fixed._sizer.next(used=16, elapsed=0.01, waiting=99, waits=free(16)) == 16
