"""A `Budget` under `RayExecutor` is one budget for the whole cluster: given to a model in the
chain or in the batch's config, two workers together send exactly what it allows (counted at
the loopback server), the driver's `Budget` shows the cluster's spend after the batch, and local
runs and later batches go on from the same totals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import ray

from llm import ChatOpenAI, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import Budget, BudgetExceededError, Runnable, RunnableConfig
from runnables._bridge import wait_future
from runnables._ray_budget import BudgetKeeper, ClusterBudget
from runnables.ray import RayExecutor
from tests.openai_server import OpenAIServer
from tests.runnables.test_ray import batch_actors, docs, nothing_left_running

pytestmark = pytest.mark.anyio


def summarize(server: OpenAIServer, **model_options: Any) -> Runnable[dict[str, str], str]:
    model = ChatOpenAI(
        model="test-model", base_url=server.base_url, api_key="test", max_retries=0, **model_options
    )
    return ChatPromptTemplate.from_template("Summarize {text}") | model | StrOutputParser()


@pytest.fixture(scope="module")
def executor(ray_session: None) -> Iterator[RayExecutor]:
    with RayExecutor(num_workers=2) as executor:
        yield executor


def refused(out: list[Any]) -> list[BudgetExceededError]:
    return [x for x in out if isinstance(x, BudgetExceededError)]


async def test_a_models_budget_is_one_budget_for_two_workers(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=3)
    # 10 items, 5 per worker: a copy of the budget per worker would let 6 requests through.
    out = await executor.abatch(
        summarize(openai_server, budget=budget), docs(10), return_exceptions=True
    )
    assert len(openai_server.requests) == 3
    assert len([x for x in out if isinstance(x, str)]) == 3
    errors = refused(out)
    assert len(errors) == 7
    assert str(errors[0]).startswith("Budget max_requests=3 exceeded: spent ")
    assert (budget.requests, budget.stopped is not None) == (3, True)  # the cluster's spend
    assert nothing_left_running()


async def test_a_config_budget_is_one_budget_for_two_workers(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=4)
    out = await executor.abatch(
        summarize(openai_server), docs(10), {"budget": budget}, return_exceptions=True
    )
    assert len(openai_server.requests) == 4
    assert len(refused(out)) == 6
    assert budget.requests == 4
    assert budget.tokens > 0  # settled with the replies' usage, on the workers


async def test_one_budget_in_a_list_of_configs_is_shared_too(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=2)
    configs: list[Any] = [{"budget": budget} for _ in range(6)]
    out = await executor.abatch(summarize(openai_server), docs(6), configs, return_exceptions=True)
    assert len(openai_server.requests) == 2
    assert len(refused(out)) == 4


async def test_a_batch_stops_when_the_cluster_budget_is_spent(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=3)
    with pytest.raises(BudgetExceededError, match="max_requests=3 exceeded") as info:
        await executor.abatch(summarize(openai_server), docs(20), {"budget": budget})
    assert any(note.startswith("in batch item ") for note in info.value.__notes__)
    # Calls in flight when it stopped were cancelled; nothing past the budget went out.
    assert len(openai_server.requests) <= 3
    assert len(openai_server.requests) <= budget.requests <= 3
    assert nothing_left_running()


async def test_local_runs_and_later_batches_spend_from_the_same_totals(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=6)
    chain = summarize(openai_server, budget=budget)
    assert len(await executor.abatch(chain, docs(3))) == 3
    assert budget.requests == 3
    await chain.ainvoke({"text": "local"})  # spent here, on the driver
    assert budget.requests == 4
    out = await executor.abatch(chain, docs(4), return_exceptions=True)
    assert len(refused(out)) == 2  # the cluster knew of the local call: 2 were left
    assert budget.requests == 6
    with pytest.raises(BudgetExceededError):  # stopped on the cluster, stopped here
        await chain.ainvoke({"text": "local again"})
    assert len(openai_server.requests) == 6


async def test_a_raised_limit_reaches_the_cluster(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=2)
    chain = summarize(openai_server)
    await executor.abatch(chain, docs(2), {"budget": budget})
    budget.max_requests = 4
    await executor.abatch(chain, docs(2), {"budget": budget})
    assert (budget.requests, len(openai_server.requests)) == (4, 4)


async def test_calls_stranded_on_a_lost_worker_count_as_sent(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=9)
    hold = openai_server.hold_requests(6)
    results: list[str] = []

    async def run() -> None:
        results.extend(await executor.abatch(summarize(openai_server), docs(6), {"budget": budget}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await hold.wait_arrived_async()  # three items reserved and in flight on each worker
        victim = sorted(n for n in batch_actors() if n.startswith(executor._name))[0]
        ray.kill(ray.get_actor(victim))  # its three reservations are never settled
        await openai_server.wait_for_requests_async(9)  # its three items, reserved again
        hold.release()
    assert len(results) == 6
    # The ledger matches the server: the lost calls reached it, and nothing is left held.
    assert budget.requests == len(openai_server.requests) == 9
    with pytest.raises(BudgetExceededError):
        await executor.abatch(summarize(openai_server), docs(1), {"budget": budget})
    assert len(openai_server.requests) == 9


async def test_workers_reserve_in_blocks_and_give_the_unused_rest_back(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    budget = Budget(max_requests=1000)
    config: RunnableConfig = {"budget": budget, "max_concurrency": 8}
    out = await executor.abatch(summarize(openai_server), docs(40), config)
    assert len(out) == 40
    keeper = executor._limits.budgets.stand_in(budget)._keeper
    grants, reports, held = await wait_future(keeper.counts.remote().future())
    # Blocks: far fewer round trips than calls (two per call before), and nothing stays held.
    assert 1 <= grants < 20
    assert reports >= 1
    assert held == 0
    assert budget.requests == len(openai_server.requests) == 40


async def test_a_cluster_reserve_awaits_the_keeper_without_blocking_the_loop(
    ray_session: None,
) -> None:
    keeper_class: Any = ray.remote(BudgetKeeper)
    keeper = keeper_class.options(num_cpus=0).remote({"max_requests": 3})
    try:
        budget = ClusterBudget(keeper, None, None, 3, None)
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(tick)
            first = await budget.areserve(5)  # a round trip to the keeper: the loop runs on
            assert ticks > 0
            tg.cancel_scope.cancel()
        second, third = await budget.areserve(5), await budget.areserve(5)
        with pytest.raises(BudgetExceededError) as info:
            await budget.areserve(5)
        assert (info.value.limit, info.value.maximum, info.value.asked) == ("max_requests", 3, 1)
        for reservation in (first, second, third):
            reservation.settle(4)
        # Settled locally; the report (sent once nothing is in flight) reaches the keeper.
        totals, stopped = await wait_future(
            keeper.sync.remote({"max_requests": 3}, (0, 0, 0.0), None, True).future()
        )
        assert totals == (3, 12, 0.0)
        assert stopped is not None
    finally:
        ray.kill(keeper)


def test_a_budget_subclass_is_refused_not_multiplied(
    executor: RayExecutor, openai_server: OpenAIServer
) -> None:
    class OwnBudget(Budget):
        pass

    with pytest.raises(TypeError, match="Budget subclass"):
        executor.batch(summarize(openai_server, budget=OwnBudget(max_requests=1)), docs(2))
    with pytest.raises(TypeError, match="Budget subclass"):
        executor.batch(summarize(openai_server), docs(2), {"budget": OwnBudget(max_requests=1)})
    assert openai_server.requests == []
