"""`Budget`: the most requests, tokens and dollars a run (or a model) may spend, checked per call.

A caller asks before the work (`Budget.reserve`, with an estimate of the call's tokens and cost)
and settles with what the work really used (`BudgetReservation.settle`), as with `RateLimiter`.
A call that would take the budget past one of its limits, counting what calls in flight have
reserved, is refused with `BudgetExceededError` before anything is sent; from then on the budget
refuses every call (a stopped budget stays stopped: a batch stops rather than squeezing in the
smaller items that would still fit). Settling replaces the estimate with the real counts.

The core knows requests, tokens and cost as numbers only; what a model's tokens cost is the
model layer's business (`llm` passes the cost; `prices` is kept here for it). One budget serves
asyncio, trio and sync calls, from several threads. It is not copied: pickling it fails with a
`TypeError` rather than giving every process the whole budget; `RayExecutor` ships it as one
budget for the cluster instead (`runnables._ray_budget`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["Budget", "BudgetExceededError", "BudgetReservation"]


class BudgetExceededError(RuntimeError):
    """A call was refused, unsent, because it would take a `Budget` past a limit.

    Attributes:
        limit: Which limit: `"max_requests"`, `"max_tokens"` or `"max_cost"`.
        maximum: The limit's value.
        spent: What had been spent (settled) when the call was refused, in the limit's unit.
        reserved: What calls still in flight held.
        asked: What this call asked for (an estimate for tokens and cost).
    """

    def __init__(
        self, limit: str, maximum: float, spent: float, reserved: float, asked: float
    ) -> None:
        self.limit = limit
        self.maximum = maximum
        self.spent = spent
        self.reserved = reserved
        self.asked = asked
        unit = {"max_requests": "requests", "max_tokens": "tokens", "max_cost": "USD"}[limit]
        super().__init__(
            f"Budget {limit}={_num(maximum)} exceeded: spent {_num(spent)} {unit} "
            f"(+{_num(reserved)} reserved by calls in flight), this call asked for "
            f"{_num(asked)}; nothing was sent"
        )

    def __reduce__(self) -> Any:
        # Keeps its fields when pickled (a Ray worker's error, a process pool's).
        return type(self), (self.limit, self.maximum, self.spent, self.reserved, self.asked)


def _num(value: float) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


class BudgetReservation:
    """What one `Budget.reserve` took; `settle` replaces the estimate with the real counts."""

    __slots__ = ("_budget", "_settled", "cost", "tokens")

    def __init__(self, budget: Budget, tokens: int, cost: float) -> None:
        self._budget = budget
        self.tokens = tokens
        self.cost = cost
        self._settled = False

    def settle(self, tokens: int, cost: float = 0.0, *, sent: bool = True) -> None:
        """Record what the call used (once; later calls are ignored).

        Args:
            tokens: Tokens really used.
            cost: What they cost, in USD.
            sent: False when no request went out after all (a cache hit, a failure before
                sending): the request is not counted.
        """
        if self._settled:
            return
        self._settled = True
        self._budget._settle(self, tokens, cost, sent)

    def cancel(self) -> None:
        """Give the whole reservation back: the call sent nothing (it failed or was cancelled
        before any usage was known)."""
        self.settle(0, 0.0, sent=False)


class Budget:
    """The most a run (or every call of a model) may spend: requests, tokens, dollars.

    Give it in a run's config (`{"budget": budget}`, inherited by every step below, as
    `max_concurrency` is) or to a model (`ChatOpenAI(..., budget=budget)`). Each model call
    reserves its estimated tokens and cost before it is sent and settles with the reply's usage;
    a call that would go past a limit raises `BudgetExceededError` and sends nothing.

    Args:
        max_cost: Most USD to spend (needs prices: `prices`, or the model's in
            `llm.DEFAULT_PRICES`).
        max_tokens: Most tokens (input plus output) to spend.
        max_requests: Most requests to send.
        prices: `{model name: llm.Price(...)}` used to price calls against `max_cost`
            (default: `llm.DEFAULT_PRICES`).

    Raises:
        TypeError: a limit of the wrong kind (`max_tokens="x"`, `max_requests=1.5`, a bool),
            or `prices` is not a mapping.
        ValueError: no limit given, or a limit below 0 (or NaN).

    Attributes:
        requests: Requests sent so far.
        tokens: Tokens used so far (settled).
        cost: USD spent so far (settled).
    """

    def __init__(
        self,
        max_cost: float | None = None,
        max_tokens: int | None = None,
        max_requests: int | None = None,
        *,
        prices: Mapping[str, Any] | None = None,
    ) -> None:
        for name, value, kinds in (
            ("max_cost", max_cost, (int, float)),
            ("max_tokens", max_tokens, (int,)),
            ("max_requests", max_requests, (int,)),
        ):
            what = "a number" if name == "max_cost" else "an int"
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise TypeError(f'Invalid "{name}" argument: expected {what} >= 0, got {value!r}')
            if not value >= 0:  # NaN fails too
                raise ValueError(f'Invalid "{name}" argument: expected {what} >= 0, got {value!r}')
        if max_cost is None and max_tokens is None and max_requests is None:
            raise ValueError("Budget needs max_cost, max_tokens or max_requests (or several)")
        if prices is not None and not isinstance(prices, Mapping):
            raise TypeError(f'Invalid "prices" argument: expected a dict, got {prices!r}')
        self.max_cost = max_cost
        self.max_tokens = max_tokens
        self.max_requests = max_requests
        self.prices = prices
        self.requests = 0
        self.tokens = 0
        self.cost = 0.0
        self._held_requests = 0
        self._held_tokens = 0
        self._held_cost = 0.0
        self._stopped: BudgetExceededError | None = None
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        limits = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("max_cost", self.max_cost),
                ("max_tokens", self.max_tokens),
                ("max_requests", self.max_requests),
            )
            if value is not None
        )
        return (
            f"Budget({limits}; spent requests={self.requests}, tokens={self.tokens}, "
            f"cost={self.cost:.6g})"
        )

    def __reduce__(self) -> Any:
        raise TypeError(
            f"{self!r} cannot be copied to another process: each copy would let the whole "
            "budget through. RayExecutor ships it as one budget for the whole cluster; "
            "elsewhere, give each process its share as its own Budget"
        )

    def __copy__(self) -> Budget:
        return self  # one budget, however many copies of the steps that hold it

    def __deepcopy__(self, memo: dict[int, Any]) -> Budget:
        return self

    @property
    def stopped(self) -> BudgetExceededError | None:
        """The error of the first refused call, once the budget has stopped (None before)."""
        return self._stopped

    def reserve(self, tokens: int = 0, cost: float = 0.0) -> BudgetReservation:
        """Take one request, `tokens` and `cost` (estimates) for a call about to be sent.

        Raises:
            BudgetExceededError: the call would go past a limit (or the budget has stopped);
                nothing was taken.
        """
        with self._mutex:
            refused = self._refusal(tokens, cost)
            if refused is not None:
                if self._stopped is None:
                    self._stopped = refused
                raise refused
            self._held_requests += 1
            self._held_tokens += tokens
            self._held_cost += cost
        return BudgetReservation(self, tokens, cost)

    async def areserve(self, tokens: int = 0, cost: float = 0.0) -> BudgetReservation:
        """`reserve`, for async callers: a budget whose totals live elsewhere (a cluster's,
        under `RayExecutor`) waits for them here without blocking the event loop.

        Raises:
            BudgetExceededError: As `reserve`.
        """
        return self.reserve(tokens, cost)

    def _refusal(self, tokens: int, cost: float) -> BudgetExceededError | None:
        # Called with the mutex held. After the first refusal every call is refused, under the
        # limit that stopped the budget, with its own ask.
        stopped = self._stopped
        checks = (
            ("max_requests", self.max_requests, self.requests, self._held_requests, 1),
            ("max_tokens", self.max_tokens, self.tokens, self._held_tokens, tokens),
            ("max_cost", self.max_cost, self.cost, self._held_cost, cost),
        )
        for name, maximum, spent, held, asked in checks:
            if maximum is None:
                continue
            if stopped is not None and stopped.limit != name:
                continue
            if stopped is not None or spent + held + asked > maximum:
                return BudgetExceededError(name, maximum, spent, held, asked)
        return None

    def _merge(
        self, added: tuple[int, int, float], stopped: BudgetExceededError | None
    ) -> tuple[int, int, float]:
        """Add what was spent elsewhere (another process's share of this budget) and its stop,
        if this budget has none; return the totals (`runnables._ray_budget` keeps them in
        step)."""
        with self._mutex:
            self.requests += added[0]
            self.tokens += added[1]
            self.cost += added[2]
            if stopped is not None and self._stopped is None:
                self._stopped = stopped
            return self.requests, self.tokens, self.cost

    def _settle(self, reservation: BudgetReservation, tokens: int, cost: float, sent: bool) -> None:
        with self._mutex:
            self._held_requests -= 1
            self._held_tokens -= reservation.tokens
            self._held_cost -= reservation.cost
            if sent:
                self.requests += 1
            self.tokens += tokens
            self.cost += cost


def check_budget(value: object, param: str) -> Budget | None:
    """Validate a `budget` argument or config value."""
    if value is not None and not isinstance(value, Budget):
        raise TypeError(f'Invalid "budget" {param}: expected a Budget, got {value!r}')
    return value
