"""`RayRateLimiter`: one request and token budget for every process of a Ray cluster.

The budget is a `RateLimiter` inside one Ray actor (`Budget`), made the first time the limiter is
used or shipped. Every copy of the limiter (one per worker process, unpickled there with the
chain) reserves from it in blocks: one call reserves a block of requests, and the actor
answers with the moment each of them may start, on the bucket's own first-come-first-served
schedule. The copy hands those slots out to its callers, each waiting until its slot's moment, so
the requests of the whole cluster follow one bucket while only one call per block goes to the
actor. Blocks are sized by `runnables._ray_blocks.BlockSizer` from what the last one showed
(large while the limit does not bind, about half a second of the rate where it does), and the
next block is fetched while half of the current one is left, so callers rarely wait on the
actor; `block_size=n` fixes the size instead (fetched when the block is used up).

Tokens ride along: each slot reserves the estimate of the call that fetched its block; the
difference to a call's own estimate, and `Reservation.settle`'s correction, are owed to the
budget and paid with the next reservation.
"""

from __future__ import annotations

import concurrent.futures
import math
import time
from collections import deque
from typing import Any

import anyio
import ray

from runnables._bridge import wait_future
from runnables._concurrency import clock
from runnables._ratelimit import RateLimiter, Reservation
from runnables._ray_blocks import BlockSizer

__all__ = ["Budget", "RayRateLimiter"]


class Budget:
    """The Ray actor holding the cluster's bucket (a `RateLimiter`'s arithmetic, on its clock)."""

    def __init__(self, limits: dict[str, float | None]) -> None:
        self._bucket = RateLimiter(**limits)
        self._requests = 0
        self._calls = 0

    async def reserve(self, requests: int, tokens_each: int, owed: int) -> list[float]:
        """Take `requests` requests (each with `tokens_each` tokens) and the `owed` tokens;
        return, for each request, the seconds from now until it may start."""
        if owed:
            self._bucket._give_back(0, -owed)
        self._requests += requests
        self._calls += 1
        return [self._bucket._take(tokens_each) for _ in range(requests)]

    async def usage(self) -> tuple[int, int]:
        """Requests reserved so far, and the reservation calls that took them."""
        return self._requests, self._calls


class RayRateLimiter(RateLimiter):
    """A `RateLimiter` that holds across a Ray cluster: one budget, however many processes.

    Give it to models (`rate_limiter=`) like a `RateLimiter`; when the chain runs on
    `RayExecutor` workers, their copies all draw from one budget actor. Needs a connected Ray
    when first used (a `RayExecutor` connects on construction).

    Args:
        requests_per_minute: Requests allowed per minute, cluster-wide (None: no request limit).
        tokens_per_minute: Tokens allowed per minute, cluster-wide (None: no token limit).
        request_burst: Most requests available at once (default: a minute's allowance).
        token_burst: Most tokens available at once (default: a minute's allowance).
        block_size: Requests a process reserves from the budget in one call. None (the
            default) sizes each block from the rate and the demand: a limit that never binds
            costs a few calls to the budget per process, one that binds reserves about half a
            second of the rate at a time.

    Raises:
        TypeError: `block_size` is not an int.
        ValueError: As `RateLimiter`, or `block_size` is below 1.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        request_burst: float | None = None,
        token_burst: float | None = None,
        block_size: int | None = None,
    ) -> None:
        super().__init__(
            requests_per_minute=requests_per_minute,
            tokens_per_minute=tokens_per_minute,
            request_burst=request_burst,
            token_burst=token_burst,
        )
        if block_size is not None and (
            isinstance(block_size, bool) or not isinstance(block_size, int)
        ):
            raise TypeError(
                f'Invalid "block_size" argument: expected an int or None, got {block_size!r}'
            )
        if block_size is not None and block_size < 1:
            raise ValueError(
                f'Invalid "block_size" argument: expected an int >= 1, got {block_size!r}'
            )
        self.block_size = block_size
        self._limits: dict[str, float | None] = {
            "requests_per_minute": requests_per_minute,
            "tokens_per_minute": tokens_per_minute,
            "request_burst": request_burst,
            "token_burst": token_burst,
        }
        self._budget: Any = None
        self._local()

    def _local(self) -> None:
        """This process's share: slots not handed out yet, and what it owes the budget."""
        self._slots: deque[tuple[float, int]] = deque()  # (start time, tokens reserved)
        self._slot_clock: object = None
        self._owed = 0
        self._fetch: concurrent.futures.Future[list[float]] | None = None
        self._fetch_tokens = 0
        self._sizer = BlockSizer(self.block_size)
        self._waits: list[float] = []  # the last block's, as the budget answered
        self._arrived = 0.0  # when it arrived (on `_slot_clock`)
        self._used = 0  # slots handed out since
        self._waiting = 0  # callers waiting for a block now

    def __repr__(self) -> str:
        return (
            f"RayRateLimiter(requests_per_minute={self.requests_per_minute}, "
            f"tokens_per_minute={self.tokens_per_minute}, block_size={self.block_size})"
        )

    def __getstate__(self) -> dict[str, object]:
        budget = self._ensure_budget()
        state = super().__getstate__()
        for key in (
            "_slots",
            "_slot_clock",
            "_owed",
            "_fetch",
            "_fetch_tokens",
            "_sizer",
            "_waits",
            "_arrived",
            "_used",
            "_waiting",
        ):
            del state[key]
        state["_budget"] = budget
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        super().__setstate__(state)
        self._local()

    def _ensure_budget(self) -> Any:
        if self._budget is None:
            if not ray.is_initialized():
                raise RuntimeError(
                    "RayRateLimiter needs a connected Ray: create a RayExecutor "
                    "(or call ray.init) before using or shipping it"
                )
            budget_class: Any = ray.remote(Budget)
            self._budget = budget_class.options(num_cpus=0).remote(self._limits)
        return self._budget

    async def usage(self) -> tuple[int, int]:
        """Requests reserved from the budget so far (cluster-wide), and the calls that took
        them (fewer, by the block size)."""
        requests, calls = await wait_future(self._ensure_budget().usage.remote().future())
        return int(requests), int(calls)

    async def acquire(self, tokens: int = 0) -> Reservation:
        """Wait for one request (and `tokens`, an estimate) of the cluster's budget.

        Returns:
            A `Reservation`; `settle(actual_tokens)` corrects the estimate.

        Raises:
            ValueError: `tokens` is not an int >= 0.
            RuntimeError: Ray is not connected.
        """
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f'Invalid "tokens" argument: expected an int >= 0, got {tokens!r}')
        budget = self._budget if self._budget is not None else self._ensure_budget()
        # The clock is read once on the way through (reading it costs more than the rest).
        clock_id, now = clock()
        while True:
            self._collect(clock_id, now)
            if self._slots:
                break
            self._waiting += 1
            try:
                await wait_future(self._fetch_block(budget, tokens, now))
            finally:
                self._waiting -= 1
            clock_id, now = clock()
        start, reserved = self._slots.popleft()
        self._used += 1
        self._owed += tokens - reserved
        if self.block_size is None and len(self._slots) <= self._sizer.size // 2:
            self._fetch_block(budget, tokens, now)  # the next block, before this one runs out
        wait = start - now
        if wait > 0:
            try:
                await anyio.sleep(wait)
            except BaseException:
                self._slots.appendleft((start, reserved))  # still good for the next caller
                self._used -= 1
                self._owed -= tokens - reserved
                raise
        return Reservation(self, tokens)

    def _fetch_block(
        self, budget: Any, tokens: int, now: float
    ) -> concurrent.futures.Future[list[float]]:
        """The reservation in flight, started `now` (sized by the sizer) if there is none."""
        if self._fetch is None:
            size = self._sizer.next(
                used=self._used,
                elapsed=now - self._arrived,
                waiting=self._waiting,
                waits=self._waits,
            )
            owed, self._owed = self._owed, 0
            self._fetch_tokens = tokens
            fetch = self._fetch = budget.reserve.remote(size, tokens, owed).future()
            # When the answer arrived (on Ray's thread, where the loop's clock is not at hand):
            # a block fetched ahead may be collected later, and its waits count from arrival.
            fetch.add_done_callback(lambda _: setattr(fetch, "arrived", time.monotonic()))
        return self._fetch

    def _collect(self, clock_id: object, now: float) -> None:
        """Turn a finished block reservation into slots on this loop's clock (`now` on it)."""
        if clock_id != self._slot_clock:
            # Slot times on another clock (another trio run) mean nothing here: drop them.
            self._slots.clear()
            self._slot_clock = clock_id
        fetch = self._fetch
        if fetch is None or not fetch.done():
            return
        self._fetch = None
        waits = fetch.result()
        arrived = now - max(0.0, time.monotonic() - getattr(fetch, "arrived", math.inf))
        self._slots.extend((arrived + wait, self._fetch_tokens) for wait in waits)
        self._waits, self._arrived, self._used = waits, arrived, 0

    def _give_back(self, requests: float, tokens: float) -> None:
        # Called by `Reservation.settle` (requests 0): the correction is owed to the budget.
        self._owed -= int(tokens)
