"""Budgets on model calls: reserved before each request, settled with the reply's usage; a call
past the budget is never sent (counted at the loopback server), a batch stops, and with
`return_exceptions` the remaining items get the error in their places."""

from __future__ import annotations

from typing import Any

import pytest

from llm import ChatOpenAI, OfflineChatModel, Price, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import (
    Budget,
    BudgetExceededError,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
)
from tests.openai_server import OpenAIServer, Reply

pytestmark = pytest.mark.anyio

sdk_stream_generators = pytest.mark.filterwarnings(
    r"ignore:Async generator '(openai|httpx2|httpcore2)\.:ResourceWarning"
)


def make_model(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(api_key="k", base_url=server.base_url, max_retries=0, **kwargs)


async def test_a_batch_stops_at_max_requests_and_sends_nothing_past_it(
    openai_server: OpenAIServer,
) -> None:
    model = make_model(openai_server)
    budget = Budget(max_requests=3)
    with pytest.raises(BudgetExceededError) as info:
        await model.abatch([f"q{i}" for i in range(10)], {"budget": budget, "max_concurrency": 1})
    assert [r["messages"][0]["content"] for r in openai_server.requests] == ["q0", "q1", "q2"]
    assert (info.value.limit, info.value.maximum) == ("max_requests", 3)
    assert budget.requests == 3


async def test_a_batch_that_stops_cancels_its_calls_in_flight_and_sends_no_more(
    openai_server: OpenAIServer,
) -> None:
    # All 10 items reserve at once: 3 are granted, the first refusal stops the batch and
    # cancels the 3 (which may or may not have reached the server), and nothing else goes.
    with pytest.raises(BudgetExceededError):
        await make_model(openai_server).abatch(
            [f"q{i}" for i in range(10)], {"budget": Budget(max_requests=3)}
        )
    assert len(openai_server.requests) <= 3


async def test_with_return_exceptions_the_items_past_the_budget_get_the_error_unsent(
    openai_server: OpenAIServer,
) -> None:
    model = make_model(openai_server)
    budget = Budget(max_requests=3)
    out = await model.abatch(
        [f"q{i}" for i in range(6)],
        {"budget": budget, "max_concurrency": 1},
        return_exceptions=True,
    )
    assert [type(o).__name__ for o in out] == ["AIMessage"] * 3 + ["BudgetExceededError"] * 3
    assert [r["messages"][0]["content"] for r in openai_server.requests] == ["q0", "q1", "q2"]


async def test_concurrent_items_never_overspend_the_budget(openai_server: OpenAIServer) -> None:
    model = make_model(openai_server)
    out = await model.abatch(
        [f"q{i}" for i in range(20)], {"budget": Budget(max_requests=5)}, return_exceptions=True
    )
    assert sum(isinstance(o, BudgetExceededError) for o in out) == 15
    assert len(openai_server.requests) == 5


async def test_max_tokens_settles_each_call_with_the_replys_usage(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(*[Reply("r", usage=(15, 5)) for _ in range(3)])
    budget = Budget(max_tokens=50)
    model = make_model(openai_server)
    for _ in range(3):  # 20, 40, then 40 + a 2-token estimate fits: 60 spent
        await model.ainvoke("hello", {"budget": budget})
    with pytest.raises(BudgetExceededError) as info:
        await model.ainvoke("hello", {"budget": budget})
    assert (info.value.limit, info.value.spent, info.value.asked) == ("max_tokens", 60, 2)
    assert "spent 60 tokens" in str(info.value)
    assert len(openai_server.requests) == 3


async def test_a_call_whose_estimate_is_past_the_budget_is_never_sent(
    openai_server: OpenAIServer,
) -> None:
    model = make_model(openai_server, max_tokens=1000)  # the estimate includes max_tokens
    with pytest.raises(BudgetExceededError) as info:
        await model.ainvoke("hi", {"budget": Budget(max_tokens=500)})
    assert info.value.asked == 1001
    assert openai_server.requests == []


async def test_max_cost_uses_the_budgets_prices_and_cached_tokens_cost_less(
    openai_server: OpenAIServer,
) -> None:
    prices = {"m": Price(input=1_000_000.0, output=1_000_000.0, cached_input=0.0)}
    budget = Budget(max_cost=30.0, prices=prices)  # $1 per token, cached input free
    model = make_model(openai_server, model="m")
    openai_server.queue(Reply("r", usage=(10, 2), cached_tokens=8), Reply("r", usage=(10, 2)))
    await model.ainvoke("x", {"budget": budget})  # 2 fresh + 2 output: $4
    assert budget.cost == pytest.approx(4.0)
    await model.ainvoke("x", {"budget": budget})  # $12
    assert budget.cost == pytest.approx(16.0)
    with pytest.raises(BudgetExceededError) as info:
        await make_model(openai_server, model="m", max_tokens=20).ainvoke("x", {"budget": budget})
    assert info.value.limit == "max_cost"
    assert info.value.asked == pytest.approx(21.0)
    assert len(openai_server.requests) == 2


async def test_a_batch_api_reply_is_settled_at_the_batch_rate() -> None:
    from tests.llm.test_usage import _BatchAPIModel

    prices = {"offline": Price(input=1_000_000.0, output=1_000_000.0)}  # $1 per token
    budget = Budget(max_cost=100.0, prices=prices)
    await OfflineChatModel(responses=["one two"]).ainvoke("a b", {"budget": budget})
    assert budget.cost == pytest.approx(4.0)  # 2 input + 2 output tokens
    await _BatchAPIModel(responses=["one two"]).ainvoke("a b", {"budget": budget})
    assert budget.cost == pytest.approx(6.0)  # half of $4


async def test_max_cost_without_a_price_for_the_model_fails_before_sending(
    openai_server: OpenAIServer,
) -> None:
    with pytest.raises(ValueError, match="'unknown-model'"):
        await make_model(openai_server, model="unknown-model").ainvoke(
            "x", {"budget": Budget(max_cost=1.0)}
        )
    assert openai_server.requests == []


async def test_default_prices_price_a_well_known_model(openai_server: OpenAIServer) -> None:
    budget = Budget(max_cost=1.0)
    openai_server.queue(Reply("r", usage=(1_000, 1_000)))
    await make_model(openai_server, model="gpt-4o-mini").ainvoke("x", {"budget": budget})
    assert budget.cost == pytest.approx((1_000 * 0.15 + 1_000 * 0.60) / 1e6)


async def test_the_budget_is_inherited_by_nested_steps_and_bound_configs(
    openai_server: OpenAIServer,
) -> None:
    prompt = ChatPromptTemplate.from_messages([("user", "{q}")])
    model = make_model(openai_server)
    chain = prompt | RunnableParallel(a=model | StrOutputParser(), b=model)
    budget = Budget(max_requests=4)
    await chain.with_config(budget=budget).abatch([{"q": "1"}, {"q": "2"}])
    assert budget.requests == 4
    with pytest.raises(BudgetExceededError):
        await chain.ainvoke({"q": "3"}, {"budget": budget})
    assert len(openai_server.requests) == 4


async def test_calls_in_a_steps_body_without_its_config_spend_from_the_runs_budget() -> None:
    model = OfflineChatModel(responses=["r"])

    async def ask_twice(x: str) -> list[str]:
        return [(await model.ainvoke(x)).text, (await model.ainvoke(x)).text]

    def ask_sync(x: str) -> str:
        return model.invoke(x).text

    budget = Budget(max_requests=3)
    chain = RunnableLambda(ask_twice) | RunnableLambda(lambda xs: ask_sync(xs[0]))
    assert await chain.ainvoke("q", {"budget": budget}) == "r"
    assert budget.requests == 3
    with pytest.raises(BudgetExceededError):
        await RunnableLambda(ask_twice).ainvoke("q", {"budget": budget})
    await model.ainvoke("outside any run with a budget")  # spends from nothing
    assert budget.requests == 3


async def test_a_models_own_budget_holds_and_the_runs_takes_its_place() -> None:
    own = Budget(max_requests=1)
    model = OfflineChatModel(responses=["r"], budget=own)
    await model.ainvoke("a")
    with pytest.raises(BudgetExceededError):
        await model.ainvoke("b")
    run_budget = Budget(max_requests=2)
    await model.ainvoke("c", {"budget": run_budget})
    assert (own.requests, run_budget.requests) == (1, 1)


def test_bad_budget_arguments_fail_at_build_time() -> None:
    with pytest.raises(TypeError, match='"budget"') as info:
        OfflineChatModel(budget=10)  # type: ignore[arg-type]
    assert "10" in str(info.value)
    with pytest.raises(TypeError, match='"budget"'):
        ChatOpenAI(api_key="k", budget={"max_cost": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='"budget"'):
        RunnableLambda(lambda x: x).with_config(budget="a lot")


def test_sync_calls_spend_from_the_budget() -> None:
    model = OfflineChatModel(responses=["r"])
    budget = Budget(max_requests=2)
    out = model.batch(["a", "b", "c"], {"budget": budget}, return_exceptions=True)
    assert sum(isinstance(o, BudgetExceededError) for o in out) == 1
    assert budget.requests == 2


@sdk_stream_generators
async def test_a_stream_reserves_before_sending_and_settles_with_its_usage(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(Reply("a b", usage=(7, 2)))
    budget = Budget(max_tokens=9)  # the first call's estimate (1) fits, then 9 are spent
    model = make_model(openai_server)
    assert "".join([c.text async for c in model.astream("x", {"budget": budget})]) == "a b"
    assert (budget.requests, budget.tokens) == (1, 9)
    with pytest.raises(BudgetExceededError):
        async for _ in model.astream("y", {"budget": budget}):
            pass
    assert len(openai_server.requests) == 1


async def test_a_failed_call_counts_as_a_request_without_tokens(
    openai_server: OpenAIServer,
) -> None:
    openai_server.error(500)
    budget = Budget(max_requests=1)
    model = make_model(openai_server)
    with pytest.raises(Exception, match="server"):
        await model.ainvoke("x", {"budget": budget})
    assert (budget.requests, budget.tokens) == (1, 0)
    with pytest.raises(BudgetExceededError):
        await model.ainvoke("x", {"budget": budget})
    assert len(openai_server.requests) == 1


@pytest.mark.usefixtures("ray_session")
async def test_a_budget_under_ray_executor_is_one_budget_not_one_per_worker() -> None:
    from runnables.ray import RayExecutor

    in_config, on_model = Budget(max_requests=2), Budget(max_requests=2)
    with RayExecutor(num_workers=2) as executor:
        cases: list[tuple[Budget, OfflineChatModel, RunnableConfig | None]] = [
            (in_config, OfflineChatModel(), {"budget": in_config}),
            (on_model, OfflineChatModel(budget=on_model), None),
        ]
        for budget, model, config in cases:
            out = await executor.abatch(model, list("abcdef"), config, return_exceptions=True)
            errors = [x for x in out if isinstance(x, BudgetExceededError)]
            assert (len(errors), budget.requests) == (4, 2)  # 3 items per worker, 2 in all


async def test_an_async_reservation_estimates_and_settles_as_the_sync_one() -> None:
    from llm import _budget
    from prompts import AIMessage, BaseMessage, HumanMessage

    model = OfflineChatModel()
    budget = Budget(max_requests=2)
    messages: list[BaseMessage] = [HumanMessage("one two three four")]
    sync = _budget.reserve(budget, model, messages, {"max_tokens": 5})
    spend = await _budget.areserve(budget, model, messages, {"max_tokens": 5})
    assert (
        spend.reservation.tokens
        == sync.reservation.tokens
        == len("one two three four") // 4 + 1 + 5
    )
    spend.settle(AIMessage("r", response_metadata={"cache_hit": True}))  # a hit: nothing sent
    sync.settle(AIMessage("r"))  # no usage reported: the estimate stands
    assert (budget.requests, budget.tokens) == (1, sync.reservation.tokens)
