"""How many requests a process reserves from a `RayRateLimiter`'s budget in one call.

A call to the budget actor costs a round trip; a block too small makes the callers wait on those
trips (100k items in blocks of 8: 12,513 calls, 4x the batch's time where the limit never
bound), a block too big hoards the budget: slots reserved by one process are slots the others
wait behind. So the block follows what the last one showed:

- the limit did not bind (the block's last slot was free at once): grow, doubling at most, to
  what this process used in `span` seconds at its pace since the last block, and at least to
  the callers already waiting for a slot (up to `ceiling`);
- the limit bound (its slots were spread over time): what the rate gives in `span` seconds
  (the block's spread tells the rate: n slots over t seconds), and no more than this process
  used in `span` seconds, so a process holds at most about `span` seconds of the budget ahead
  of its need, in two calls a second.

The rate holds either way: the actor hands out every slot on one bucket's schedule. The block
size only decides how many round trips that costs and how far ahead a process reserves.
Times are passed in, so the policy is tested without a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

FIRST_BLOCK = 8
"""The first reservation of an adaptive limiter (nothing is known yet)."""

CEILING = 4096
"""The largest block an adaptive limiter reserves."""

SPAN = 0.5
"""Seconds of demand (or, where the limit binds, of the rate) a block covers."""


class BlockSizer:
    """The size of each next block (see the module docstring).

    Args:
        fixed: Always this size (the limiter's `block_size`); None adapts.
        first: The first block's size when adapting.
        ceiling: The largest block when adapting.
        span: Seconds of demand, or of the rate where it binds, a block covers.
    """

    def __init__(
        self,
        fixed: int | None = None,
        *,
        first: int = FIRST_BLOCK,
        ceiling: int = CEILING,
        span: float = SPAN,
    ) -> None:
        self.fixed = fixed
        self.size = fixed or first
        self.ceiling = ceiling
        self.span = span

    def next(self, *, used: int, elapsed: float, waiting: int, waits: Sequence[float]) -> int:
        """The size of the block to reserve now.

        Args:
            used: Slots handed out since the previous block arrived.
            elapsed: Seconds since the previous block arrived.
            waiting: Callers waiting for a slot right now.
            waits: The previous block's waits: seconds from its arrival until each slot could
                start (empty before the first block).
        """
        if self.fixed is not None or not waits:
            return self.size
        # Slots this process would use in `span` seconds at the pace it had.
        pace = _whole(used / elapsed * self.span, math.ceil) if elapsed > 0 else None
        if waits[-1] <= 0:  # the limit did not bind
            grown = 2 * self.size if pace is None else min(2 * self.size, pace)
            self.size = max(1, min(self.ceiling, max(grown, waiting)))
            return self.size
        spread = waits[-1] - waits[0]  # n slots, 1/rate apart
        if spread > 0:
            size = _whole((len(waits) - 1) / spread * self.span, math.floor)
        else:  # every slot at one moment (a token limit's refill): keep the size
            size = self.size
        if pace is not None:
            size = min(size, pace)
        self.size = max(1, min(self.ceiling, size))
        return self.size


def _whole(x: float, rounding: Callable[[float], int]) -> int:
    # Rounded to 6 places first: 9 slots over 0.45 s is 20 per second, not 19.999...
    return rounding(round(x, 6))
