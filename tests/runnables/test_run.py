"""The run: one state per run, opened at every entry point and every bound config, reached through
one context variable, and kept out of the consumer's code between chunks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunState,
    current_run,
    leaf_slot,
)
from runnables._run import Limiter
from tests.runnables.test_concurrency import Gauge

pytestmark = pytest.mark.anyio


def three(gauge: Gauge) -> RunnableParallel[Any]:
    leaf = gauge.async_leaf()
    return RunnableParallel(a=leaf, b=leaf, c=leaf)


async def drain(stream: AsyncIterator[Any]) -> list[Any]:
    async with contextlib.aclosing(stream) as items:  # type: ignore[type-var]
        return [item async for item in items]


@pytest.mark.parametrize(
    "entry",
    ["ainvoke", "abatch", "abatch_as_completed", "astream", "astream_events", "atransform"],
)
async def test_every_entry_point_installs_the_limit(entry: str) -> None:
    gauge = Gauge()
    step = three(gauge)
    config: Any = {"max_concurrency": 1}
    if entry == "ainvoke":
        await step.ainvoke(1, config)
    elif entry == "abatch":
        await step.abatch([1, 2], config)
    elif entry == "abatch_as_completed":
        await drain(step.abatch_as_completed([1, 2], config))
    elif entry == "astream":
        await drain(step.astream(1, config))
    elif entry == "astream_events":
        await drain(step.astream_events(1, config))
    else:

        async def one() -> AsyncIterator[int]:
            yield 1

        await drain(step.atransform(one(), config))
    assert gauge.peak == 1


@pytest.mark.parametrize("how", ["ainvoke", "astream", "atransform"])
async def test_a_bound_max_concurrency_holds_on_every_path(how: str) -> None:
    # The measured bug: with_config(max_concurrency=1) held on ainvoke but not on astream.
    gauge = Gauge()
    step = three(gauge).with_config(max_concurrency=1)
    if how == "ainvoke":
        assert await step.ainvoke(1) == {"a": 1, "b": 1, "c": 1}
    elif how == "astream":
        assert len(await drain(step.astream(1))) == 3
    else:
        chain = RunnableLambda(lambda x: x) | step
        assert len(await drain(chain.astream(1))) == 3
    assert gauge.peak == 1


def test_a_bound_max_concurrency_holds_through_sync_stream() -> None:
    gauge = Gauge()
    assert len(list(three(gauge).with_config(max_concurrency=1).stream(1))) == 3
    assert gauge.peak == 1


async def test_outside_a_run_there_is_no_state() -> None:
    seen: list[RunState | None] = []

    async def look(x: Any) -> Any:
        seen.append(current_run())
        return x

    await RunnableLambda(look).ainvoke(1)
    await RunnableLambda(look).ainvoke(1, {"tags": ["t"]})
    assert seen == [None, None]
    assert current_run() is None


class Probe(Runnable[Any, Any]):
    """A leaf of our own: records the run state before and inside its slot."""

    def __init__(self) -> None:
        self.seen: list[RunState | None] = []

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        self.seen.append(current_run())
        async with leaf_slot():
            self.seen.append(current_run())
        return input


async def test_the_state_carries_the_limit_and_the_deadline_and_a_leaf_gives_up_the_limit() -> None:
    probe = Probe()
    before = anyio.current_time()
    await RunnableParallel(a=probe).ainvoke(1, {"max_concurrency": 2, "timeout": 30})
    outside, inside = probe.seen
    assert outside is not None
    assert inside is not None
    assert outside.limiter is not None
    assert outside.limiter.total_tokens == 2
    assert inside.limiter is None  # work started inside a leaf takes no further slot
    assert outside.deadline is not None
    assert before + 30 <= outside.deadline
    assert inside.deadline == outside.deadline


async def test_the_run_state_does_not_leak_into_the_consumer_between_chunks() -> None:
    async def words(x: str) -> AsyncIterator[str]:
        for word in x.split():
            assert current_run() is not None  # the stream works inside its run
            yield word

    outside: list[RunState | None] = []
    stream = RunnableLambda(words).astream("a b c", {"timeout": 30})
    async with contextlib.aclosing(stream) as chunks:
        async for _ in chunks:
            outside.append(current_run())
    assert outside == [None, None, None]


async def test_a_nested_entry_point_inside_a_composite_joins_the_outer_limit() -> None:
    gauge = Gauge()
    inner = three(gauge)

    class Outer(Runnable[Any, Any]):
        # A composite (not a leaf): its nested ainvoke runs under the caller's limit.
        async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
            return await inner.ainvoke(input)

    out = await RunnableParallel(p=Outer(), q=Outer()).ainvoke(1, {"max_concurrency": 2})
    assert out["p"] == {"a": 1, "b": 1, "c": 1}
    assert gauge.peak == 2


async def test_root_run_id_comes_from_the_config() -> None:
    events = [e async for e in RunnableLambda(lambda x: x).astream_events(1, {"run_id": "run-7"})]
    assert {e["run_id"] for e in events} == {"run-7"}


async def test_the_run_wide_limit_serves_waiters_in_arrival_order() -> None:
    limiter = Limiter.create(1)
    first = await limiter.acquire()
    order: list[int] = []

    async def wait(i: int) -> None:
        slot = await limiter.acquire()
        order.append(i)
        limiter.release(slot)

    async with anyio.create_task_group() as tg:
        for i in range(3):
            tg.start_soon(wait, i)
            await anyio.wait_all_tasks_blocked()
        assert limiter.acquire_nowait() is None
        limiter.release(first)
    assert order == [0, 1, 2]
    assert limiter.borrowed_tokens == 0


@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # asyncio's own limiter; trio: anyio's
async def test_a_waiter_cancelled_as_it_is_handed_a_slot_passes_the_slot_on() -> None:
    limiter = Limiter.create(1)
    held = await limiter.acquire()
    got: list[str] = []

    async def wait(name: str) -> None:
        slot = await limiter.acquire()
        got.append(name)
        limiter.release(slot)

    first = asyncio.create_task(wait("first"))
    second = asyncio.create_task(wait("second"))
    await anyio.wait_all_tasks_blocked()
    limiter.release(held)  # handed to "first", which is cancelled before it runs
    first.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert first.cancelled()
    assert got == ["second"]
    assert limiter.borrowed_tokens == 0


# -- the run's budget ---------------------------------------------------------------------------


def _calls_the_model_without_config() -> Any:
    """A chain streaming through a generator step whose body streams a model without config."""
    from llm import OfflineChatModel

    model = OfflineChatModel()

    async def ask(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for text in chunks:
            async for piece in model.astream(text):  # no config: the run's budget applies
                yield piece.text

    return RunnableLambda(lambda x: x) | ask


def _spent() -> Any:
    from runnables import Budget

    return Budget(max_requests=0)


async def test_a_stream_under_a_config_budget_stops_at_it() -> None:
    from runnables import BudgetExceededError

    chain = _calls_the_model_without_config()
    assert await drain(chain.astream("hi"))  # without a budget the model answers
    with pytest.raises(BudgetExceededError):
        await drain(chain.astream("hi", {"budget": _spent()}))


async def test_astream_events_under_a_config_budget_stops_at_it() -> None:
    from runnables import BudgetExceededError

    chain = _calls_the_model_without_config()
    with pytest.raises(BudgetExceededError):
        await drain(chain.astream_events("hi", {"budget": _spent()}, version="v2"))


async def test_a_sync_stream_under_a_config_budget_stops_at_it() -> None:
    from runnables import BudgetExceededError

    chain = _calls_the_model_without_config()
    with pytest.raises(BudgetExceededError):
        await anyio.to_thread.run_sync(lambda: list(chain.stream("hi", {"budget": _spent()})))


async def test_the_run_state_carries_the_budget_into_nested_runs_and_sync_calls() -> None:
    from runnables import Budget
    from runnables._run import current_budget

    budget = Budget(max_requests=5)
    seen: list[Any] = []

    def record(y: int) -> int:
        seen.append(current_budget())
        return y

    def sync_body(x: int) -> int:
        seen.append(current_budget())  # a worker thread's sync call of its own
        return RunnableLambda(record).invoke(x)

    async def body(x: int) -> int:
        seen.append(current_budget())
        return await RunnableLambda(sync_body).ainvoke(x, {"tags": ["nested"]})

    assert await RunnableLambda(body).ainvoke(1, {"budget": budget}) == 1
    assert seen == [budget, budget, budget]
    assert current_budget() is None


async def test_batch_items_spend_from_their_own_budgets() -> None:
    from llm import OfflineChatModel
    from runnables import BudgetExceededError

    model = OfflineChatModel()

    async def ask(x: str) -> str:
        return (await model.ainvoke(x)).text  # no config: the item's budget applies

    out = await RunnableLambda(ask).abatch(
        ["a", "b"], [{"budget": _spent()}, {}], return_exceptions=True
    )
    assert isinstance(out[0], BudgetExceededError)
    assert isinstance(out[1], str)
    pairs = dict(
        [
            pair
            async for pair in RunnableLambda(ask).abatch_as_completed(
                ["a", "b"], [{}, {"budget": _spent()}], return_exceptions=True
            )
        ]
    )
    assert isinstance(pairs[0], str)
    assert isinstance(pairs[1], BudgetExceededError)


async def test_a_batch_in_a_steps_body_spends_from_the_runs_budget() -> None:
    from llm import OfflineChatModel
    from runnables import BudgetExceededError

    model = OfflineChatModel()

    async def ask_twice(x: str) -> list[Any]:
        return await model.abatch([x, x])  # no config: the enclosing run's budget applies

    assert len(await RunnableLambda(ask_twice).ainvoke("hi")) == 2
    with pytest.raises(BudgetExceededError):
        await RunnableLambda(ask_twice).ainvoke("hi", {"budget": _spent()})
