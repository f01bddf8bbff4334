"""RunnableParallel: keys, concurrency, and fail-fast cancellation."""

import threading
from typing import Any

import anyio
import pytest

from runnables import (
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
)
from tests.openai_server import WAIT_LIMIT

pytestmark = pytest.mark.anyio


async def test_dict_and_kwargs_forms_are_equal() -> None:
    def add(x: int) -> int:
        return x + 1

    by_dict = RunnableParallel({"a": add, "b": lambda x: x * 10})
    by_kw = RunnableParallel(a=add, b=lambda x: x * 10)
    assert await by_dict.ainvoke(1) == await by_kw.ainvoke(1) == {"a": 2, "b": 10}


async def test_empty_parallel_gives_empty_dict() -> None:
    assert await RunnableParallel().ainvoke("x") == {}
    assert RunnableParallel().invoke("x") == {}


async def test_output_keys_in_declared_order_not_completion_order() -> None:
    first_done = anyio.Event()

    async def slow(x: str) -> str:
        await first_done.wait()
        return "slow"

    async def fast(x: str) -> str:
        first_done.set()
        return "fast"

    out = await RunnableParallel(slow=slow, fast=fast).ainvoke("x")
    assert list(out) == ["slow", "fast"]
    assert out == {"slow": "slow", "fast": "fast"}


async def test_every_branch_gets_the_same_input() -> None:
    seen: list[Any] = []

    async def record(x: Any) -> None:
        seen.append(x)

    payload = {"topic": "space"}
    await RunnableParallel(a=record, b=record, c=record).ainvoke(payload)
    assert seen == [payload] * 3


async def test_async_branches_run_concurrently() -> None:
    # Each branch waits until all three have started: only possible if they overlap.
    started = [anyio.Event() for _ in range(3)]

    def branch(i: int) -> Any:
        async def run(x: str) -> int:
            started[i].set()
            for event in started:
                await event.wait()
            return i

        return run

    out = await RunnableParallel(a=branch(0), b=branch(1), c=branch(2)).ainvoke("x")
    assert out == {"a": 0, "b": 1, "c": 2}


def test_blocking_sync_branches_overlap_in_threads_under_invoke() -> None:
    barrier = threading.Barrier(3, timeout=WAIT_LIMIT)

    def blocking(x: str) -> int:
        return barrier.wait()  # raises BrokenBarrierError unless all three run at once

    out = RunnableParallel(a=blocking, b=blocking, c=blocking).invoke("x")
    assert sorted(out.values()) == [0, 1, 2]


async def test_blocking_sync_branches_overlap_under_ainvoke() -> None:
    barrier = threading.Barrier(2, timeout=WAIT_LIMIT)

    def blocking(x: str) -> str:
        barrier.wait()
        return x

    out = await RunnableParallel(a=blocking, b=blocking).ainvoke("y")
    assert out == {"a": "y", "b": "y"}


class BranchFailed(Exception):
    pass


async def test_failing_branch_cancels_siblings_and_raises_its_own_type() -> None:
    sibling_started = anyio.Event()
    state = {"finished": False, "cancelled": False}

    async def slow(x: str) -> str:
        sibling_started.set()
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            state["cancelled"] = True
            raise
        state["finished"] = True
        return "late"

    async def boom(x: str) -> str:
        await sibling_started.wait()
        raise BranchFailed("no luck")

    with pytest.raises(BranchFailed, match="no luck") as info:
        await RunnableParallel(summary=slow, terms=boom).ainvoke("x")
    assert state == {"finished": False, "cancelled": True}
    assert any("branch 'terms'" in note for note in info.value.__notes__)
    assert not isinstance(info.value, BaseExceptionGroup)


class FailedFirst(Exception):
    pass


class FailedSecond(Exception):
    pass


@pytest.mark.parametrize("first", ["a", "b"])
async def test_of_two_failing_branches_the_first_to_fail_is_raised(first: str) -> None:
    # The other branch fails too, later: while being cancelled by the first failure.
    other_waits = anyio.Event()

    async def fails(x: str) -> str:
        await other_waits.wait()
        raise FailedFirst("first")

    async def fails_when_cancelled(x: str) -> str:
        try:
            other_waits.set()
            await anyio.sleep_forever()
        finally:
            raise FailedSecond("second")  # replaces the cancellation

    second = "b" if first == "a" else "a"
    branches = {first: fails, second: fails_when_cancelled}
    with pytest.raises(FailedFirst) as info:
        await RunnableParallel({k: branches[k] for k in ("a", "b")}).ainvoke("x")
    assert type(info.value) is FailedFirst  # one plain exception, not a group
    assert info.value.__notes__ == [f"in branch {first!r} of RunnableParallel"]


async def test_branches_failing_in_the_same_step_raise_one_of_them_with_its_note() -> None:
    go = anyio.Event()
    waiting = [anyio.Event(), anyio.Event()]

    def failing(i: int) -> Any:
        async def fail(x: str) -> str:
            waiting[i].set()
            await go.wait()
            raise FailedFirst(str(i))

        return fail

    async def release() -> None:
        for event in waiting:
            await event.wait()
        go.set()  # both branches wake in the same scheduling round and raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(release)
        with pytest.raises(FailedFirst) as info:
            await RunnableParallel(a=failing(0), b=failing(1)).ainvoke("x")
    key = "ab"[int(str(info.value))]
    assert type(info.value) is FailedFirst
    assert info.value.__notes__ == [f"in branch {key!r} of RunnableParallel"]


def test_failing_branch_under_sync_invoke_keeps_type_and_note() -> None:
    def boom(x: str) -> str:
        raise KeyError("missing")

    with pytest.raises(KeyError) as info:
        RunnableParallel(ok=lambda x: x, bad=boom).invoke("x")
    assert "in branch 'bad' of RunnableParallel" in info.value.__notes__


async def test_nested_dicts_are_nested_parallels() -> None:
    chain = RunnableParallel(outer={"inner": lambda x: x + 1, "same": lambda x: x})
    assert await chain.ainvoke(1) == {"outer": {"inner": 2, "same": 1}}


async def test_parallel_of_sequences() -> None:
    double = RunnableLambda(lambda x: x * 2)
    chain = RunnableParallel(a=double | (lambda x: x + 1), b=double)
    assert await chain.ainvoke(3) == {"a": 7, "b": 6}


async def test_a_failing_branch_that_never_waits_is_named_and_stops_the_others() -> None:
    started: list[str] = []

    async def slow(x: Any) -> Any:
        started.append("slow")
        return x

    parallel = RunnableParallel(slow=slow, picked=RunnablePick("a"))
    with pytest.raises(TypeError, match="expects a dict input") as info:
        await parallel.ainvoke("not a dict")
    assert "in branch 'picked' of RunnableParallel" in info.value.__notes__
    assert started == []  # computed first, it failed before the others started


async def test_branches_that_never_wait_keep_their_place_among_the_others() -> None:
    async def double(x: dict[str, int]) -> int:
        return 2 * x["a"]

    parallel = RunnableParallel(
        first=RunnablePassthrough(), doubled=double, picked=RunnablePick("a")
    )

    assert await parallel.ainvoke({"a": 2}) == {"first": {"a": 2}, "doubled": 4, "picked": 2}


def _named(name: str) -> RunnableLambda[Any, Any]:
    return RunnableLambda(lambda x: x, name=name)


@pytest.mark.parametrize("policy", ["fail_fast", "settle"])
@pytest.mark.parametrize("streamed", [True, False])
async def test_a_branch_s_events_carry_its_key_as_a_map_key_tag_its_children_do_not(
    policy: Any, streamed: bool
) -> None:
    parallel = RunnableParallel(first=_named("a"), second=_named("b") | _named("c"))
    steps = parallel.with_failure_policy(policy).with_config(tags=["mine"])

    async def invoked(x: int, config: RunnableConfig) -> Any:
        return await steps.ainvoke(x, config)  # the parallel runs whole, not streamed

    root = steps if streamed else RunnableLambda(invoked)
    events = [e async for e in root.astream_events(1, version="v2")]
    # As langchain-core 1.8.3 tags them.
    for kind in ("on_chain_start", "on_chain_end"):
        tags = {e["name"]: e["tags"] for e in events if e["event"] == kind}
        assert tags["a"] == ["map:key:first", "mine"]
        assert tags["RunnableSequence"] == ["map:key:second", "mine"]
        assert tags["b"] == ["seq:step:1", "mine"]
        assert tags["c"] == ["seq:step:2", "mine"]
        assert tags["RunnableParallel"] == ["mine"]
