"""A chat model call spending from a `Budget`: the estimate reserved before, the usage after.

A model call spends from the run's budget (`config["budget"]`, or the enclosing run's for a
call made in a step's body without its config), else from the model's own (`budget=`). With
one, `reserve` takes one request and the call's estimated tokens (the chat model's own
`estimate_tokens`, the one the rate limiter uses: the prompt at about 4 characters a token,
plus `max_tokens` when known, the call's or else the model's) and, when the budget has
`max_cost`, their estimated cost at the model's price; `Spend.settle` replaces the estimate
with the reply's usage, priced at the batch rate for a reply made through a Batch API
(`response_metadata["batch_api"]`). A reply without usage keeps its estimate; a call that fails
counts as a request sent (it may have reached the server) with no tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm._usage import Price, check_prices, is_cache_hit, price_of
from prompts._messages import AIMessage, BaseMessage
from runnables._budget import Budget, BudgetReservation


class Spend:
    """One call's reservation, and the price it is settled at."""

    __slots__ = ("price", "reservation")

    def __init__(self, reservation: BudgetReservation, price: Price | None) -> None:
        self.reservation = reservation
        self.price = price

    def settle(self, message: AIMessage | None) -> None:
        """Settle with a reply (or the last chunk of a stream carrying usage)."""
        reservation = self.reservation
        if message is not None and is_cache_hit(message):
            reservation.settle(0, 0.0, sent=False)
            return
        usage = message.usage if message is not None else None
        if usage is None:  # no usage reported: the estimate stands
            reservation.settle(reservation.tokens, reservation.cost)
            return
        cost = self.price.cost_of(message) if self.price is not None else 0.0
        reservation.settle(usage.total_tokens, cost)

    def failed(self) -> None:
        """The call raised: it may have been sent, so it counts as a request, without tokens."""
        self.reservation.settle(0, 0.0)


def reserve(
    budget: Budget, model: Any, messages: list[BaseMessage], options: Mapping[str, Any]
) -> Spend:
    """Reserve a call of `model` on `budget`.

    Raises:
        BudgetExceededError: The call would go past a limit (nothing is sent).
        ValueError: The budget has `max_cost` and no price is known for the model.
    """
    tokens, cost, price = _estimate(budget, model, messages, options)
    return Spend(budget.reserve(tokens, cost), price)


async def areserve(
    budget: Budget, model: Any, messages: list[BaseMessage], options: Mapping[str, Any]
) -> Spend:
    """`reserve`, awaiting a budget whose totals live elsewhere (a cluster's) without blocking
    the event loop.

    Raises:
        BudgetExceededError: The call would go past a limit (nothing is sent).
        ValueError: The budget has `max_cost` and no price is known for the model.
    """
    tokens, cost, price = _estimate(budget, model, messages, options)
    return Spend(await budget.areserve(tokens, cost), price)


def _estimate(
    budget: Budget, model: Any, messages: list[BaseMessage], options: Mapping[str, Any]
) -> tuple[int, float, Price | None]:
    """A call's estimated tokens and cost, and the price it is settled at."""
    from llm._chat_model import estimate_tokens  # here: _chat_model imports this module

    max_tokens = options.get("max_tokens", getattr(model, "max_tokens", None))
    tokens = estimate_tokens(messages, {"max_tokens": max_tokens})
    prompt = estimate_tokens(messages, {})  # the input's part, priced as input
    completion = tokens - prompt
    price = None
    cost = 0.0
    if budget.max_cost is not None:
        name = getattr(model, "model", None)
        price = price_of(name, budget.prices)
        if price is not None and not isinstance(price, Price):
            # A user's table, checked here (runnables cannot know what a Price is).
            price = check_prices({name: price}, "Budget prices")[name]
        if price is None:
            raise ValueError(
                f"Budget(max_cost={budget.max_cost!r}) needs the price of model {name!r}: "
                f"pass Budget(..., prices={{{name!r}: llm.Price(input, output, cached_input)}}) "
                "in USD per million tokens"
            )
        cost = price.cost({"input_tokens": prompt, "output_tokens": completion})
    return tokens, cost, price


def check_model_budget(value: object) -> Budget | None:
    """Validate a model's `budget` argument."""
    if value is not None and not isinstance(value, Budget):
        raise TypeError(f'Invalid "budget" argument: expected a runnables.Budget, got {value!r}')
    return value
