"""RunnableParallel failure policies: fail_fast, settle, quorum."""

from typing import Any

import anyio
import pytest

from runnables import BranchError, QuorumError, RunnableParallel

pytestmark = pytest.mark.anyio


def boom(x: Any) -> Any:
    raise ValueError(f"bad {x}")


async def test_settle_keeps_good_answers_and_hands_over_errors() -> None:
    chain = RunnableParallel(a=lambda x: x, b=boom, c=lambda x: x * 2).with_failure_policy("settle")
    out = await chain.ainvoke(3)
    assert out["a"] == 3
    assert out["c"] == 6
    failure = out["b"]
    assert isinstance(failure, BranchError)
    assert failure.key == "b"
    assert isinstance(failure.error, ValueError)
    assert not failure
    assert str(failure) == "[branch 'b' failed: ValueError: bad 3]"


async def test_synthesis_step_can_inspect_settled_errors() -> None:
    def synthesize(d: dict[str, Any]) -> str:
        good = sorted(k for k, v in d.items() if not isinstance(v, BranchError))
        return ",".join(good)

    chain = RunnableParallel(a=lambda x: 1, b=boom, c=lambda x: 2).with_failure_policy("settle")
    assert await (chain | synthesize).ainvoke(0) == "a,c"


async def test_quorum_stops_once_enough_succeeded_and_cancels_the_rest() -> None:
    cancelled = anyio.Event()

    async def never(x: Any) -> Any:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    chain = RunnableParallel(a=lambda x: "a", b=never, c=lambda x: "c").with_failure_policy(
        "quorum", min_successes=2
    )
    out = await chain.ainvoke(0)
    assert out["a"] == "a"
    assert out["c"] == "c"
    assert out["b"] == BranchError("b", cancelled=True)
    assert cancelled.is_set()


async def test_quorum_fails_as_soon_as_it_is_impossible() -> None:
    cancelled = anyio.Event()

    async def never(x: Any) -> Any:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()

    chain = RunnableParallel(a=boom, b=boom, c=never).with_failure_policy("quorum", min_successes=2)
    with pytest.raises(QuorumError, match="2 of 3 branches failed; 2 successes") as info:
        await chain.ainvoke(1)
    assert len(info.value.exceptions) == 2
    assert all(isinstance(e, ValueError) for e in info.value.exceptions)
    assert cancelled.is_set()


@pytest.mark.parametrize(
    ("policy", "kwargs", "error"),
    [
        ("yolo", {}, ValueError),
        ("quorum", {}, TypeError),
        ("quorum", {"min_successes": 4}, ValueError),
        ("quorum", {"min_successes": 0}, ValueError),
        ("settle", {"min_successes": 1}, ValueError),
    ],
)
def test_bad_policy_arguments_fail_at_build_time(
    policy: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    parallel = RunnableParallel(a=lambda x: x, b=lambda x: x, c=lambda x: x)
    with pytest.raises(error):
        parallel.with_failure_policy(policy, **kwargs)
