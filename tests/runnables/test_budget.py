"""Budget: limits checked before each call, estimates settled with real counts, a lasting stop."""

from __future__ import annotations

import copy
import pickle
import threading
from typing import Any

import pytest

from runnables import Budget, BudgetExceededError, RunnableLambda


@pytest.mark.parametrize(
    ("kwargs", "param", "error"),
    [
        ({"max_cost": -1}, "max_cost", ValueError),
        ({"max_cost": "1"}, "max_cost", TypeError),
        ({"max_tokens": "x"}, "max_tokens", TypeError),
        ({"max_tokens": 1.5}, "max_tokens", TypeError),
        ({"max_tokens": True}, "max_tokens", TypeError),
        ({"max_requests": -3}, "max_requests", ValueError),
        ({"max_requests": None, "max_tokens": -1}, "max_tokens", ValueError),
        ({"max_cost": float("nan")}, "max_cost", ValueError),
    ],
)
def test_bad_limits_fail_at_build_time_naming_the_parameter_and_value(
    kwargs: dict[str, Any], param: str, error: type[Exception]
) -> None:
    with pytest.raises(error, match=f'"{param}"') as info:
        Budget(**kwargs)
    assert type(info.value) is error
    assert repr(kwargs[param]) in str(info.value)


def test_a_budget_needs_a_limit_and_prices_must_be_a_mapping() -> None:
    with pytest.raises(ValueError, match="max_cost, max_tokens or max_requests"):
        Budget()
    with pytest.raises(TypeError, match='"prices"'):
        Budget(max_cost=1, prices=[("gpt", 1)])  # type: ignore[arg-type]


def test_a_call_past_the_request_limit_is_refused_naming_limit_spent_and_asked() -> None:
    budget = Budget(max_requests=2)
    budget.reserve().settle(10)
    budget.reserve().settle(5)
    with pytest.raises(BudgetExceededError) as info:
        budget.reserve(3)
    error = info.value
    assert (error.limit, error.maximum, error.spent, error.reserved, error.asked) == (
        "max_requests",
        2,
        2,
        0,
        1,
    )
    assert "max_requests=2" in str(error)
    assert "spent 2 requests" in str(error)
    assert (budget.requests, budget.tokens) == (2, 15)


def test_reservations_in_flight_count_against_the_limit() -> None:
    budget = Budget(max_tokens=100)
    budget.reserve(60)
    with pytest.raises(BudgetExceededError) as info:
        budget.reserve(50)
    assert (info.value.spent, info.value.reserved, info.value.asked) == (0, 60, 50)


def test_settling_replaces_the_estimate_with_the_real_count() -> None:
    budget = Budget(max_tokens=100)
    reservation = budget.reserve(90)
    reservation.settle(30)
    reservation.settle(1000)  # once only
    assert budget.tokens == 30
    budget.reserve(70).settle(70)  # exactly the limit fits
    assert budget.tokens == 100


def test_a_stopped_budget_refuses_even_calls_that_would_fit() -> None:
    # A batch stops at the first refusal rather than sending its smaller items.
    budget = Budget(max_tokens=100)
    budget.reserve(50).settle(50)
    with pytest.raises(BudgetExceededError):
        budget.reserve(80)
    assert budget.stopped is not None
    assert budget.stopped.limit == "max_tokens"
    with pytest.raises(BudgetExceededError) as info:
        budget.reserve(1)
    assert info.value.asked == 1


def test_cost_is_checked_as_a_number_and_unsent_calls_are_not_requests() -> None:
    budget = Budget(max_cost=0.01, max_requests=5)
    budget.reserve(cost=0.004).settle(10, 0.006)
    budget.reserve(cost=0.001).settle(0, sent=False)  # e.g. a cache hit
    budget.reserve(cost=0.001).cancel()
    assert (budget.requests, budget.cost) == (1, 0.006)
    with pytest.raises(BudgetExceededError) as info:
        budget.reserve(cost=0.005)
    assert info.value.limit == "max_cost"
    assert "USD" in str(info.value)


def test_concurrent_threads_never_overspend() -> None:
    budget = Budget(max_requests=50)
    granted: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(20):
            try:
                budget.reserve(1).settle(1)
            except BudgetExceededError:
                continue
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == budget.requests == 50


def test_a_budget_is_never_copied() -> None:
    budget = Budget(max_requests=1)
    assert copy.copy(budget) is budget
    assert copy.deepcopy({"b": budget})["b"] is budget
    with pytest.raises(TypeError, match="RayExecutor"):
        pickle.dumps(budget)


def test_the_error_pickles_with_its_fields() -> None:
    error = BudgetExceededError("max_tokens", 10, 8, 1, 5)
    back = pickle.loads(pickle.dumps(error))
    assert (back.limit, back.spent, back.asked, str(back)) == ("max_tokens", 8, 5, str(error))


def test_config_budget_is_validated_and_reaches_every_step() -> None:
    budget = Budget(max_requests=3)
    seen: list[Any] = []

    def look(x: int, config: Any) -> int:
        seen.append(config.get("budget"))
        return x

    chain = RunnableLambda(look) | RunnableLambda(look)
    assert chain.invoke(1, {"budget": budget}) == 1
    assert chain.batch([1, 2], {"budget": budget}) == [1, 2]
    assert seen == [budget] * 6
    with pytest.raises(TypeError, match='"budget"') as info:
        chain.invoke(1, {"budget": 5})
    assert "5" in str(info.value)


@pytest.mark.anyio
async def test_areserve_takes_and_refuses_as_reserve_does() -> None:
    budget = Budget(max_requests=1, max_tokens=10)
    reservation = await budget.areserve(4)
    with pytest.raises(BudgetExceededError) as info:
        await budget.areserve(1)
    assert (info.value.limit, info.value.spent, info.value.reserved) == ("max_requests", 0, 1)
    reservation.settle(3)
    assert (budget.requests, budget.tokens) == (1, 3)
