"""A `Budget` under `RayExecutor`: one budget for the whole cluster, held by one Ray actor.

`RayExecutor` ships each `Budget` it finds (given to a model in the chain, or in a batch's
`config["budget"]`) as a `ClusterBudget`: a stand-in with the same limits whose totals live in
one `BudgetKeeper` actor (one per budget, kept by the executor for its next batches). A worker
process holds one `ClusterBudget` per keeper, however many copies of it arrive (with the chain,
in each chunk's configs).

**Blocks.** A worker reserves from the keeper in blocks: one call (`grant`) takes `n` slots,
each one request and the estimate of the call that asked (tokens, cost), and the worker's calls
are served from them locally, with no round trip. A call whose estimate is larger than a slot's
gives the rest of the block back and asks again. Settling is local too: what calls used, and
the slots they held, are reported with the next `grant`, or, once no call of the worker is in
flight (the end of its part of a batch), in one `report` sent without waiting, which also gives
the unused slots back. The first block is one slot; a block used up doubles the next (up to
`MAX_BLOCK`), and the keeper never grants more than half of what is left (at least the one call
that asks, if it fits), so near a limit blocks shrink to one call and the workers do not hoard
what another could spend.

**One budget.** The keeper hands out slots against the limits counting every slot granted and
not yet given back, so the cluster never reserves past a limit; a refusal names the limit,
what the cluster had spent and held, and what the call asked (`BudgetExceededError`). A stop
reaches a worker at its next `grant`, and the driver at its next exchange.

**Never blocking the loop.** `areserve` awaits the keeper through the bridge's `wait_future`
(asyncio and trio alike). The sync `reserve` (the form `Budget` users call) serves from the
block without waiting, and waits for the keeper only when a block must be fetched: once per
block rather than twice per call as before.

The driver's `Budget` stays the user's: before and after each batch (`SharedBudgets.open`,
`close`), what it spent locally since the last exchange is added to the keeper's totals, and
what the cluster spent to its own, so after a batch `budget.requests`, `tokens` and `cost` show
the cluster's spend, and a later local run (or batch) goes on from the same totals. After the
last batch on a budget has stopped on every worker, the keeper first waits (up to
`REPORT_WAIT` seconds) for the workers' last reports, which travel without waiting; what it
still holds then belongs to workers that were lost: each slot counts as a request sent, as a
failed call does (an upper bound: some of those slots may not have been used). A block granted
to a caller that was cancelled while it waited for it stays with the worker until its next
exchange (known limit: if none comes, those slots count as sent too).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

import anyio
import ray

from runnables._bridge import wait_future
from runnables._budget import Budget, BudgetExceededError, BudgetReservation

__all__ = ["MAX_BLOCK", "BudgetKeeper", "ClusterBudget", "SharedBudgets"]

Totals = tuple[int, int, float]
"""Requests, tokens, cost."""

MAX_BLOCK = 32
"""The most slots a worker asks for in one `grant`."""

REPORT_WAIT = 2.0
"""Seconds the keeper waits, at the last exchange of a batch, for the workers' last reports."""

_NONE: Totals = (0, 0, 0.0)


class BudgetKeeper:
    """The Ray actor holding one budget's cluster-wide totals (a `Budget`'s own arithmetic).

    An async actor: its methods run one at a time on its loop, except that `sync` may wait
    there for the workers' last reports.
    """

    def __init__(self, limits: dict[str, Any]) -> None:
        self._budget = Budget(**limits)
        self._changed: anyio.Event | None = None
        self._grants = 0
        self._reports = 0

    def _apply(self, release: Totals, spent: Totals) -> None:
        budget = self._budget
        with budget._mutex:
            budget._held_requests -= release[0]
            budget._held_tokens -= release[1]
            budget._held_cost -= release[2]
            budget.requests += spent[0]
            budget.tokens += spent[1]
            budget.cost += spent[2]
        if self._changed is not None:
            self._changed.set()

    async def grant(
        self, want: int, tokens: int, cost: float, release: Totals, spent: Totals
    ) -> int | BudgetExceededError:
        """Take back `release`, add `spent`, then grant up to `want` slots of one request,
        `tokens` and `cost` each: how many, or the refusal if not even one fits (returned, not
        raised: it arrives as itself, not wrapped by Ray)."""
        self._apply(release, spent)
        self._grants += 1
        budget = self._budget
        with budget._mutex:
            refused = budget._refusal(tokens, cost)
            if refused is not None:
                if budget._stopped is None:
                    budget._stopped = refused
                return refused
            fit = MAX_BLOCK * 2
            for maximum, used, held, each in (
                (budget.max_requests, budget.requests, budget._held_requests, 1),
                (budget.max_tokens, budget.tokens, budget._held_tokens, tokens),
                (budget.max_cost, budget.cost, budget._held_cost, cost),
            ):
                if maximum is not None and each > 0:
                    fit = min(fit, int((maximum - used - held) // each))
            # Half of what is left at most, so the other workers find some; one call fits.
            n = max(1, min(want, fit // 2))
            budget._held_requests += n
            budget._held_tokens += n * tokens
            budget._held_cost += n * cost
        return n

    async def report(self, release: Totals, spent: Totals) -> None:
        """Take back `release` (slots unused or settled) and add what calls `spent`."""
        self._reports += 1
        self._apply(release, spent)

    async def counts(self) -> tuple[int, int, int]:
        """`grant` and `report` calls so far, and the slots held now (for tests and tuning)."""
        return self._grants, self._reports, self._budget._held_requests

    async def sync(
        self,
        limits: dict[str, Any],
        added: Totals,
        stopped: BudgetExceededError | None,
        release: bool,
    ) -> tuple[Totals, BudgetExceededError | None]:
        """Take the driver's limits (changed since, maybe), add what it spent since its last
        sync (and its stop); return the totals.

        With `release` (no batch of the executor runs on this budget any more, and each has
        stopped on every worker), wait for the workers' last reports; the slots still held
        after `REPORT_WAIT` are those of lost workers: each counts as a request sent (it may
        have reached the server), without tokens, as a failed call does.
        """
        budget = self._budget
        for name, value in limits.items():
            setattr(budget, name, value)
        if release:
            with anyio.move_on_after(REPORT_WAIT):
                while budget._held_requests > 0:
                    self._changed = anyio.Event()
                    await self._changed.wait()
            self._changed = None
            with budget._mutex:
                stranded = budget._held_requests
                budget._held_requests = budget._held_tokens = 0
                budget._held_cost = 0.0
            added = (added[0] + stranded, added[1], added[2])
        return budget._merge(added, stopped), budget.stopped


_LOCAL: weakref.WeakValueDictionary[str, ClusterBudget] = weakref.WeakValueDictionary()
_LOCAL_LOCK = threading.Lock()


def _cluster_budget(
    keeper: Any,
    max_cost: float | None,
    max_tokens: int | None,
    max_requests: int | None,
    prices: Mapping[str, Any] | None,
) -> ClusterBudget:
    """This process's `ClusterBudget` for `keeper` (made on first use), with these limits."""
    name = keeper._actor_id.hex()
    with _LOCAL_LOCK:
        budget = _LOCAL.get(name)
        if budget is None:
            budget = ClusterBudget(keeper, max_cost, max_tokens, max_requests, prices)
            _LOCAL[name] = budget
        else:  # the latest limits (the driver may have raised one)
            budget.max_cost, budget.max_tokens = max_cost, max_tokens
            budget.max_requests, budget.prices = max_requests, prices
        return budget


class ClusterBudget(Budget):
    """A `Budget` shipped to the workers: calls are served from blocks reserved from the keeper.

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
        self._slots = 0  # unused slots of the current block
        self._slot: tuple[int, float] = (0, 0.0)  # tokens and cost of each
        self._want = 1  # the next block's size
        self._in_flight = 0
        self._release = [0, 0, 0.0]  # slots to give back at the next exchange
        self._spent = [0, 0, 0.0]  # what calls used, to report then
        self._fetch: Any = None  # the grant in flight (a concurrent future)
        self._fetch_ask: tuple[int, float] = (0, 0.0)

    def __reduce__(self) -> Any:
        return _cluster_budget, (
            self._keeper,
            self.max_cost,
            self.max_tokens,
            self.max_requests,
            self.prices,
        )

    def _take(self, tokens: int, cost: float) -> BudgetReservation | Any:
        """A reservation served from the block, or the grant to wait for before trying again.

        Raises:
            BudgetExceededError: The cluster's budget has stopped.
        """
        with self._mutex:
            stopped = self._stopped
            if stopped is not None:  # the cluster's refusal, with this call's ask
                asked = {"max_requests": 1, "max_tokens": tokens}.get(stopped.limit, cost)
                raise BudgetExceededError(
                    stopped.limit, stopped.maximum, stopped.spent, stopped.reserved, asked
                )
            slot_tokens, slot_cost = self._slot
            if self._slots and tokens <= slot_tokens and cost <= slot_cost:
                self._slots -= 1
                if not self._slots:  # a block used up: the next one may be bigger
                    self._want = min(MAX_BLOCK, self._want * 2)
                self._in_flight += 1
                self._held_requests += 1
                self._held_tokens += slot_tokens
                self._held_cost += slot_cost
                return BudgetReservation(self, slot_tokens, slot_cost)
            if self._fetch is None:
                self._give_back_block()
                release, self._release = tuple(self._release), [0, 0, 0.0]
                spent, self._spent = tuple(self._spent), [0, 0, 0.0]
                ref = self._keeper.grant.remote(self._want, tokens, cost, release, spent)
                self._fetch, self._fetch_ask = ref.future(), (tokens, cost)
            return self._fetch

    def _give_back_block(self) -> None:
        # Called with the mutex held.
        slot_tokens, slot_cost = self._slot
        n, self._slots = self._slots, 0
        self._release[0] += n
        self._release[1] += n * slot_tokens
        self._release[2] += n * slot_cost

    def _granted(self, fetch: Any) -> None:
        """Take a finished grant's answer (once, whoever waited for it sees it first)."""
        answer = fetch.result()
        with self._mutex:
            if self._fetch is not fetch:
                return
            self._fetch = None
            if isinstance(answer, BudgetExceededError):
                if self._stopped is None:
                    self._stopped = answer
                return
            self._slots, self._slot = int(answer), self._fetch_ask

    def reserve(self, tokens: int = 0, cost: float = 0.0) -> BudgetReservation:
        while True:
            taken = self._take(tokens, cost)
            if isinstance(taken, BudgetReservation):
                return taken
            taken.result()  # only when a block must be fetched (see the module docstring)
            self._granted(taken)

    async def areserve(self, tokens: int = 0, cost: float = 0.0) -> BudgetReservation:
        while True:
            taken = self._take(tokens, cost)
            if isinstance(taken, BudgetReservation):
                return taken
            await wait_future(taken)
            self._granted(taken)

    def _settle(self, reservation: BudgetReservation, tokens: int, cost: float, sent: bool) -> None:
        super()._settle(reservation, tokens, cost, sent)
        with self._mutex:
            self._in_flight -= 1
            self._release[0] += 1
            self._release[1] += reservation.tokens
            self._release[2] += reservation.cost
            self._spent[0] += int(sent)
            self._spent[1] += tokens
            self._spent[2] += cost
            if self._in_flight or self._fetch is not None:
                return
            # Nothing in flight: the worker's part is done (for now). Report, and give back
            # the unused slots, without waiting (this runs in a sync settle on the loop).
            self._give_back_block()
            release, self._release = tuple(self._release), [0, 0, 0.0]
            spent, self._spent = tuple(self._spent), [0, 0, 0.0]
        self._keeper.report.remote(release, spent)


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
            stand_in = _cluster_budget(
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
