"""A `Budget` under `RayExecutor`: one budget for the whole cluster, held by one Ray actor.

`RayExecutor` ships each `Budget` it finds (given to a model in the chain, or in a batch's
`config["budget"]`) as a `ClusterBudget`: a stand-in with the same limits whose totals live in
one `BudgetKeeper` actor (one per budget, kept by the executor for its next batches). Every
worker's copy asks the keeper before each call (`reserve`) and tells it what the call used
(`settle`): two remote calls per model call, each waited for. That is simple and exact: a model
call a budget guards is a paid request of hundreds of milliseconds, against about a millisecond
for each round trip, so no blocks are reserved ahead as `RayRateLimiter` does. Both calls block
the worker's loop for their round trip, because `Budget.reserve` and
`BudgetReservation.settle` are synchronous (the model layer calls them so).

The driver's `Budget` stays the user's: before and after each batch (`SharedBudgets.open`,
`close`), what it spent locally since the last exchange is added to the keeper's totals, and
what the cluster spent to its own, so after a batch `budget.requests`, `tokens` and `cost` show
the cluster's spend, and a later local run (or batch) goes on from the same totals. A stop
travels both ways: once either side refused a call, both refuse every later one. When the last
batch of the executor on a budget has stopped on every worker, what the keeper still holds
belongs to calls stranded on lost workers: each counts as a request sent, as a failed call does.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import ray

from runnables._bridge import wait_future
from runnables._budget import Budget, BudgetExceededError, BudgetReservation

__all__ = ["BudgetKeeper", "ClusterBudget", "SharedBudgets"]

Totals = tuple[int, int, float]
"""Requests, tokens, cost."""


class BudgetKeeper:
    """The Ray actor holding one budget's cluster-wide totals (a `Budget`'s own arithmetic).

    Its methods are synchronous: Ray runs them one at a time, in the order each caller sent them.
    """

    def __init__(self, limits: dict[str, Any]) -> None:
        self._budget = Budget(**limits)

    def reserve(self, tokens: int, cost: float) -> BudgetExceededError | None:
        """Take one request, `tokens` and `cost`; the refusal instead, if the call would go past
        a limit (returned, not raised: it arrives as itself, not wrapped by Ray)."""
        try:
            self._budget.reserve(tokens, cost)
        except BudgetExceededError as refused:
            return refused
        return None

    def settle(
        self, reserved_tokens: int, reserved_cost: float, tokens: int, cost: float, sent: bool
    ) -> None:
        """Replace a reservation's estimate with what the call used."""
        BudgetReservation(self._budget, reserved_tokens, reserved_cost).settle(
            tokens, cost, sent=sent
        )

    def sync(
        self,
        limits: dict[str, Any],
        added: Totals,
        stopped: BudgetExceededError | None,
        release: bool,
    ) -> tuple[Totals, BudgetExceededError | None]:
        """Take the driver's limits (changed since, maybe), add what it spent since its last
        sync (and its stop); return the totals.

        With `release` (no batch of the executor runs on this budget any more, and each has
        stopped on every worker), the reservations still held are those of calls stranded on
        lost workers: each counts as a request sent (it may have reached the server), without
        tokens, as a failed call does.
        """
        budget = self._budget
        for name, value in limits.items():
            setattr(budget, name, value)
        if release:
            with budget._mutex:
                stranded = budget._held_requests
                budget._held_requests = budget._held_tokens = 0
                budget._held_cost = 0.0
            added = (added[0] + stranded, added[1], added[2])
        return budget._merge(added, stopped), budget.stopped


class ClusterBudget(Budget):
    """A `Budget` shipped to the workers: each call reserves from, and settles to, the keeper.

    Its own `requests`, `tokens` and `cost` count what this copy spent; the cluster's totals are
    the keeper's (and the driver's `Budget`, after the batch).
    """

    def __init__(
        self,
        keeper: Any,
        max_cost: float | None,
        max_tokens: int | None,
        max_requests: int | None,
        prices: Mapping[str, Any] | None,
    ) -> None:
        super().__init__(max_cost, max_tokens, max_requests, prices=prices)
        self._keeper = keeper

    def __reduce__(self) -> Any:
        return type(self), (
            self._keeper,
            self.max_cost,
            self.max_tokens,
            self.max_requests,
            self.prices,
        )

    def reserve(self, tokens: int = 0, cost: float = 0.0) -> BudgetReservation:
        refused = _wait(self._keeper.reserve.remote(tokens, cost))
        if refused is not None:
            self._merge((0, 0, 0.0), refused)
            raise refused
        with self._mutex:
            self._held_requests += 1
            self._held_tokens += tokens
            self._held_cost += cost
        return BudgetReservation(self, tokens, cost)

    def _settle(self, reservation: BudgetReservation, tokens: int, cost: float, sent: bool) -> None:
        _wait(self._keeper.settle.remote(reservation.tokens, reservation.cost, tokens, cost, sent))
        super()._settle(reservation, tokens, cost, sent)


def _wait(ref: Any) -> Any:
    # Through the reply's future rather than `ray.get`, which warns inside an async actor
    # (the worker's loop is blocked for the round trip either way: the caller is synchronous).
    return ref.future().result()


class _Shared:
    """One budget's keeper, and the driver's totals when it last synced with it."""

    __slots__ = ("batches", "keeper", "stand_in", "synced")

    def __init__(self, keeper: Any, stand_in: ClusterBudget) -> None:
        self.keeper = keeper
        self.stand_in = stand_in
        self.synced: Totals = (0, 0, 0.0)
        self.batches = 0  # the executor's batches spending from it now


class SharedBudgets:
    """The keeper of each `Budget` an executor has shipped, for as long as the budget lives."""

    def __init__(self) -> None:
        self._shared: weakref.WeakKeyDictionary[Budget, _Shared] = weakref.WeakKeyDictionary()

    def stand_in(self, budget: Budget) -> ClusterBudget:
        """What is shipped in `budget`'s place (its keeper is started the first time)."""
        shared = self._shared.get(budget)
        if shared is None:
            keeper_class: Any = ray.remote(BudgetKeeper)
            keeper = keeper_class.options(num_cpus=0).remote(_limits(budget))
            stand_in = ClusterBudget(
                keeper, budget.max_cost, budget.max_tokens, budget.max_requests, budget.prices
            )
            shared = self._shared[budget] = _Shared(keeper, stand_in)
        else:  # the same limits as the budget now (a user may have raised one)
            for name, value in _limits(budget).items():
                setattr(shared.stand_in, name, value)
            shared.stand_in.prices = budget.prices
        return shared.stand_in

    async def open(self, budgets: list[Budget]) -> None:
        """A batch spending from `budgets` starts: the keepers learn what was spent here."""
        for budget in budgets:  # all counted first: `close` counts them all down
            self.stand_in(budget)
            self._shared[budget].batches += 1
        for budget in budgets:
            await self._sync(budget, release=False)

    async def close(self, budgets: list[Budget], *, stopped_everywhere: bool) -> None:
        """The batch ended (`stopped_everywhere`: every worker confirmed it stopped): the
        budgets learn what the cluster spent."""
        for budget in budgets:
            shared = self._shared[budget]
            shared.batches -= 1
            await self._sync(budget, release=stopped_everywhere and not shared.batches)

    async def _sync(self, budget: Budget, *, release: bool) -> None:
        """Bring `budget` and its keeper to the same totals (what both sides spent)."""
        shared = self._shared[budget]
        now = budget._merge((0, 0, 0.0), None)
        added = _minus(now, shared.synced)
        reply = shared.keeper.sync.remote(_limits(budget), added, budget.stopped, release)
        totals, stopped = await wait_future(reply.future())
        # What the cluster spent since the last sync: its totals less what it just got.
        budget._merge(_minus(totals, now), stopped)
        shared.synced = totals


def _limits(budget: Budget) -> dict[str, Any]:
    return {
        "max_cost": budget.max_cost,
        "max_tokens": budget.max_tokens,
        "max_requests": budget.max_requests,
    }


def _minus(a: Totals, b: Totals) -> Totals:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]
