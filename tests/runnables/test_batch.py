"""batch / abatch / *_as_completed: order, exceptions in place, bad input, cancellation."""

import asyncio
import contextlib
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from runnables import RunnableLambda
from runnables._batch import BATCH_WIDTH

pytestmark = pytest.mark.anyio


def fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError(f"bad item {x}")
    return x * 10


async def test_abatch_keeps_order() -> None:
    gates = [anyio.Event() for _ in range(3)]

    async def f(x: int) -> int:
        # Finish in reverse order: item 2 first, then 1, then 0.
        if x < 2:
            await gates[x + 1].wait()
        gates[x].set()
        return x

    assert await RunnableLambda(f).abatch([0, 1, 2]) == [0, 1, 2]


def test_batch_keeps_order_and_empty_list() -> None:
    step = RunnableLambda(lambda x: x + 1)
    assert step.batch([1, 2, 3]) == [2, 3, 4]
    assert step.batch([]) == []


async def test_return_exceptions_puts_them_in_place() -> None:
    out = await RunnableLambda(fail_on_two).abatch([1, 2, 3], return_exceptions=True)
    assert out[0] == 10
    assert isinstance(out[1], ValueError)
    assert out[2] == 30


async def test_first_failure_raises_with_item_note() -> None:
    with pytest.raises(ValueError, match="bad item 2") as info:
        await RunnableLambda(fail_on_two).abatch([1, 2, 3])
    assert any("batch item 1" in n for n in info.value.__notes__)


async def test_config_list_per_input() -> None:
    def tag(x: int, config: Any) -> str:
        return f"{x}:{config['tags'][0]}"

    out = await RunnableLambda(tag).abatch([1, 2], [{"tags": ["a"]}, {"tags": ["b"]}])
    assert out == ["1:a", "2:b"]


async def test_config_list_of_wrong_length_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="2 configs for 3 inputs"):
        await RunnableLambda(fail_on_two).abatch([1, 2, 3], [{}, {}])


@pytest.mark.parametrize("bad", ["abc", 5, {"a": 1}, None])
def test_batch_with_non_list_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError, match=r'"inputs".*expected a list'):
        RunnableLambda(fail_on_two).batch(bad)


async def test_abatch_as_completed_yields_in_completion_order() -> None:
    release = {i: anyio.Event() for i in range(3)}

    async def f(x: int) -> int:
        await release[x].wait()
        return x * 10

    release[2].set()
    seen: list[tuple[int, Any]] = []
    async with contextlib.aclosing(RunnableLambda(f).abatch_as_completed([0, 1, 2])) as results:
        async for index, out in results:
            seen.append((index, out))
            if index == 2:
                release[0].set()
            elif index == 0:
                release[1].set()
    assert seen == [(2, 20), (0, 0), (1, 10)]


async def test_breaking_out_of_abatch_as_completed_cancels_pending() -> None:
    cancelled: list[int] = []
    never = anyio.Event()

    async def f(x: int) -> int:
        if x == 0:
            return 0
        try:
            await never.wait()
        except anyio.get_cancelled_exc_class():
            cancelled.append(x)
            raise
        return x

    async with contextlib.aclosing(RunnableLambda(f).abatch_as_completed([0, 1, 2])) as results:
        async for index, _ in results:
            assert index == 0
            break
    assert sorted(cancelled) == [1, 2]


async def test_abatch_as_completed_return_exceptions() -> None:
    pairs = [
        p
        async for p in RunnableLambda(fail_on_two).abatch_as_completed(
            [1, 2], return_exceptions=True
        )
    ]
    by_index = dict(pairs)
    assert by_index[0] == 10
    assert isinstance(by_index[1], ValueError)


def test_batch_as_completed_sync_and_break_cancels() -> None:
    step = RunnableLambda(lambda x: x * 2)
    assert sorted(step.batch_as_completed([1, 2, 3])) == [(0, 2), (1, 4), (2, 6)]

    cancelled: list[int] = []

    async def slow(x: int) -> int:
        if x == 0:
            return 0
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(x)
            raise
        return x

    results = RunnableLambda(slow).batch_as_completed([0, 1, 2])
    for index, _ in results:
        assert index == 0
        break
    results.close()
    assert sorted(cancelled) == [1, 2]


async def test_map_applies_to_each_item() -> None:
    assert await RunnableLambda(lambda x: x + 1).map().ainvoke([1, 2, 3]) == [2, 3, 4]


def test_abatch_as_completed_leaves_no_unretrieved_failures() -> None:
    def boom(x: int) -> int:
        raise ValueError(x)

    async def main() -> list[Any]:
        unhandled: list[Any] = []
        asyncio.get_running_loop().set_exception_handler(lambda loop, ctx: unhandled.append(ctx))
        # The items race in worker threads: whichever fails first ends the batch.
        with pytest.raises(ValueError, match=r"^[123]\b"):
            async for _ in RunnableLambda(boom).abatch_as_completed([1, 2, 3]):
                pass
        import gc

        gc.collect()
        await asyncio.sleep(0)
        return unhandled

    assert asyncio.run(main()) == []


async def test_a_batch_far_bigger_than_its_limit_keeps_few_items_going() -> None:
    going, peak = [0], [0]

    async def enter(x: int) -> int:
        going[0] += 1
        peak[0] = max(peak[0], going[0])
        await anyio.lowlevel.checkpoint()
        return x

    async def leave(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        going[0] -= 1
        return x

    chain = RunnableLambda(enter) | leave
    out = await chain.abatch(list(range(40)), {"max_concurrency": 2})

    assert out == list(range(40))
    # Items start as others finish, not all at once, each waiting for a slot.
    assert peak[0] <= BATCH_WIDTH * 2


async def test_a_batch_bigger_than_its_limit_puts_exceptions_in_place() -> None:
    out = await RunnableLambda(fail_on_two).abatch(
        list(range(10)), {"max_concurrency": 1}, return_exceptions=True
    )
    assert isinstance(out[2], ValueError)
    assert out[:2] == [0, 10]
    assert out[3:] == [x * 10 for x in range(3, 10)]


async def test_a_batch_bigger_than_its_limit_stops_at_the_first_failure_and_names_it() -> None:
    seen: list[int] = []

    def record(x: int) -> int:
        seen.append(x)
        return fail_on_two(x)

    with pytest.raises(ValueError, match="bad item 2") as info:
        await RunnableLambda(record).abatch(list(range(50)), {"max_concurrency": 1})
    assert "in batch item 2 of record" in info.value.__notes__
    # One at a time: the items before the failure, the failing one, and at most the one that
    # took the slot it gave back; the rest never started.
    assert seen[:3] == [0, 1, 2]
    assert len(seen) <= 4


async def test_abatch_as_completed_raises_a_failing_item_and_cancels_the_rest() -> None:
    cancelled: list[int] = []
    waiting = [anyio.Event(), anyio.Event()]

    async def f(x: int) -> int:
        if x == 2:
            for event in waiting:
                await event.wait()
            raise ValueError("item two")
        try:
            waiting[x].set()
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(x)
            raise
        return x  # pragma: no cover

    seen: list[tuple[int, Any]] = []
    with pytest.raises(ValueError, match="item two") as info:
        async with contextlib.aclosing(RunnableLambda(f).abatch_as_completed([0, 1, 2])) as results:
            async for pair in results:
                seen.append(pair)  # pragma: no cover
    assert type(info.value) is ValueError  # itself, not in a group
    assert "in batch item 2 of f" in info.value.__notes__
    assert seen == []
    assert sorted(cancelled) == [0, 1]


async def test_abatch_as_completed_of_no_inputs_yields_nothing() -> None:
    assert [p async for p in RunnableLambda(fail_on_two).abatch_as_completed([])] == []


async def test_abatch_as_completed_runs_at_most_max_concurrency_items_at_once() -> None:
    running: list[int] = []
    gates = {i: anyio.Event() for i in range(5)}
    send, starts = anyio.create_memory_object_stream[int](5)

    async def f(x: int) -> int:
        running.append(x)
        send.send_nowait(x)
        await gates[x].wait()
        running.remove(x)
        return x

    async def release_as_they_start() -> None:
        # Items take the two slots in any order. At each start at most two run, among them the
        # started items not let go yet; once two are, the earlier is let go, freeing a slot.
        pending: list[int] = []
        for _ in range(5):
            pending.append(await starts.receive())
            assert len(running) <= 2
            assert set(pending) <= set(running)
            if len(pending) == 2:
                gates[pending.pop(0)].set()
        gates[pending.pop()].set()

    seen: list[int] = []
    stream = RunnableLambda(f).abatch_as_completed([0, 1, 2, 3, 4], {"max_concurrency": 2})
    with send, starts:
        async with contextlib.aclosing(stream) as results, anyio.create_task_group() as tg:
            tg.start_soon(release_as_they_start)
            async for index, _ in results:
                seen.append(index)
    assert sorted(seen) == [0, 1, 2, 3, 4]
