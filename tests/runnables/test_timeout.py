"""with_timeout and the config `timeout`: cancellation, error naming, parallel interplay.

Every test runs on a virtual clock that jumps to the next deadline only when every task waits
(tests/clock.py): a limit fires exactly when the step under it can do nothing more, however
loaded the machine. The steps under a limit are async, since waiting on a thread would let the
clock jump too.
"""

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from runnables import BranchError, RunnableGenerator, RunnableLambda, RunnableParallel
from tests.clock import virtual_time_backends

pytestmark = pytest.mark.anyio


@pytest.fixture(params=virtual_time_backends(autojump=True))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


def hanging(state: dict[str, Any]) -> RunnableLambda[Any, Any]:
    async def hang(x: Any) -> Any:
        state["started"] = True
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            state["cancelled"] = True
            raise

    return RunnableLambda(hang)


async def test_step_over_its_limit_is_cancelled_with_a_named_timeout_error() -> None:
    state: dict[str, Any] = {}
    start = anyio.current_time()
    with pytest.raises(TimeoutError, match=r"hang timed out after 0\.01 s"):
        await hanging(state).with_timeout(0.01).ainvoke("x")
    assert state == {"started": True, "cancelled": True}
    assert anyio.current_time() - start == pytest.approx(0.01)


async def test_fast_step_is_unaffected() -> None:
    async def double(x: int) -> int:
        await anyio.sleep(4)  # waits, but less than the limit
        return x * 2

    assert await RunnableLambda(double).with_timeout(5).ainvoke(2) == 4


async def test_in_parallel_only_the_slow_branch_is_cancelled_under_settle() -> None:
    state: dict[str, Any] = {}
    chain = RunnableParallel(
        slow=hanging(state).with_timeout(0.01), fast=RunnableLambda(echo)
    ).with_failure_policy("settle")
    out = await chain.ainvoke("v")
    assert out["fast"] == "v"
    assert isinstance(out["slow"], BranchError)
    assert isinstance(out["slow"].error, TimeoutError)
    assert state["cancelled"] is True


async def test_config_timeout_bounds_the_whole_run() -> None:
    state: dict[str, Any] = {}
    chain = RunnableLambda(echo) | hanging(state)
    with pytest.raises(TimeoutError, match="RunnableSequence timed out"):
        await chain.ainvoke("x", {"timeout": 0.01})
    assert state["cancelled"] is True


async def test_stream_limit_covers_the_whole_stream() -> None:
    async def stalls(x: str) -> AsyncIterator[int]:
        yield 0
        await anyio.sleep(0.03)
        yield 1
        await anyio.sleep_forever()  # stalls after two chunks, 0.03 s in
        yield 2  # pragma: no cover

    seen: list[int] = []
    start = anyio.current_time()
    with pytest.raises(TimeoutError, match="while streaming"):
        async for chunk in RunnableLambda(stalls).with_timeout(0.05).astream("x"):
            seen.append(chunk)
    assert seen == [0, 1]
    assert anyio.current_time() - start == pytest.approx(0.05)  # virtual time: exact


@pytest.mark.parametrize("bad", [0, -1, "1", None, True])
def test_bad_seconds_fail_at_build_time(bad: Any) -> None:
    with pytest.raises(ValueError, match=r'"seconds"'):
        RunnableLambda(lambda x: x).with_timeout(bad)


async def test_bad_config_timeout() -> None:
    with pytest.raises(ValueError, match="timeout"):
        await RunnableLambda(lambda x: x).ainvoke(1, {"timeout": -2})


async def _words(x: str) -> AsyncIterator[str]:
    for word in x.split():
        yield word + " "


async def _upper(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    async for chunk in chunks:
        yield chunk.upper()


async def echo(x: Any) -> Any:
    return x


async def never(x: Any) -> Any:
    await anyio.sleep_forever()


async def test_config_timeout_bounds_batch_stream_and_with_config() -> None:
    step = RunnableLambda(never)
    with pytest.raises(TimeoutError, match="batch of never timed out"):
        await step.abatch([1, 2], {"timeout": 0.01})
    with pytest.raises(TimeoutError, match="while streaming"):
        async for _ in step.astream(1, {"timeout": 0.01}):
            pass
    with pytest.raises(TimeoutError, match="never timed out"):
        await step.with_config(timeout=0.01).ainvoke(1)


async def test_with_timeout_around_a_streaming_parallel() -> None:
    chain = RunnableParallel(x=RunnableLambda(_words), y=RunnableLambda(_words)).with_timeout(5)
    chunks = [c async for c in chain.astream("p q")]
    assert len(chunks) == 4


async def test_with_timeout_in_the_middle_of_a_stream_keeps_streaming() -> None:
    chain = RunnableLambda(_words) | RunnableGenerator(_upper).with_timeout(5)
    assert [c async for c in chain.astream("a b c")] == ["A ", "B ", "C "]
