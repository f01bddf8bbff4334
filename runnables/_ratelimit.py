"""`RateLimiter`: requests per minute and tokens per minute, shared by every step that holds it.

Two token buckets refill continuously (a minute's allowance at most, by default). A caller asks for
one request and an estimate of its tokens before the work, and settles the estimate with the real
count after it (`Reservation.settle`), so a run that used more than it guessed is paid back before
the next caller goes.

Waiting is first come, first served without a lock: each caller takes its share at once (a bucket
may go below zero) and sleeps until the buckets have refilled to cover it, so a later caller waits
behind every earlier one. A cancelled waiter gives its share back. Nothing is tied to an event
loop: one limiter serves asyncio, trio and sync calls in any order, and several threads at once.
Time is read from the backend's clock (`anyio.current_time()`), so trio's `MockClock` drives it.
"""

from __future__ import annotations

import threading

import anyio

from runnables._concurrency import clock


class Reservation:
    """What one `acquire` took from a limiter; `settle` corrects the token estimate."""

    def __init__(self, limiter: RateLimiter, tokens: int) -> None:
        self._limiter = limiter
        self.tokens = tokens
        self._settled = False

    def settle(self, actual_tokens: int) -> None:
        """Replace the estimate with the tokens really used (once; later calls are ignored)."""
        if self._settled:
            return
        self._settled = True
        self._limiter._give_back(0, self.tokens - actual_tokens)


class RateLimiter:
    """Limit requests and tokens per minute across every model (or step) that shares it.

    Args:
        requests_per_minute: Requests allowed per minute (None: no request limit).
        tokens_per_minute: Tokens allowed per minute (None: no token limit).
        request_burst: Most requests available at once (default: a minute's allowance).
        token_burst: Most tokens available at once (default: a minute's allowance).

    Raises:
        ValueError: no limit given, or a value that is not a positive number.
    """

    def __init__(
        self,
        *,
        requests_per_minute: float | None = None,
        tokens_per_minute: float | None = None,
        request_burst: float | None = None,
        token_burst: float | None = None,
    ) -> None:
        for name, value in (
            ("requests_per_minute", requests_per_minute),
            ("tokens_per_minute", tokens_per_minute),
            ("request_burst", request_burst),
            ("token_burst", token_burst),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value <= 0
            ):
                raise ValueError(f'Invalid "{name}" argument: expected a number > 0, got {value!r}')
        if requests_per_minute is None and tokens_per_minute is None:
            raise ValueError("RateLimiter needs requests_per_minute or tokens_per_minute (or both)")
        self.requests_per_minute = requests_per_minute
        self.tokens_per_minute = tokens_per_minute
        self._request_cap = float(request_burst or requests_per_minute or 0)
        self._token_cap = float(token_burst or tokens_per_minute or 0)
        self._requests = self._request_cap
        self._tokens = self._token_cap
        self._clock_id: object = None
        self._stamp = 0.0
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self.requests_per_minute}, "
            f"tokens_per_minute={self.tokens_per_minute})"
        )

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        del state["_mutex"]
        state["_clock_id"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._mutex = threading.Lock()

    def _refill(self) -> None:
        # Called with the mutex held.
        clock_id, now = clock()
        if clock_id != self._clock_id:
            # Another clock (first use, or another trio run): no time is known to have passed.
            self._clock_id, self._stamp = clock_id, now
            return
        elapsed, self._stamp = max(0.0, now - self._stamp), now
        if self.requests_per_minute is not None:
            self._requests = min(
                self._request_cap, self._requests + elapsed * self.requests_per_minute / 60
            )
        if self.tokens_per_minute is not None:
            self._tokens = min(
                self._token_cap, self._tokens + elapsed * self.tokens_per_minute / 60
            )

    def _take(self, tokens: int) -> float:
        """Take one request and `tokens` now; return how long to wait until they are covered."""
        with self._mutex:
            self._refill()
            wait = 0.0
            if self.requests_per_minute is not None:
                if self._requests < 1:
                    wait = (1 - self._requests) * 60 / self.requests_per_minute
                self._requests -= 1
            if self.tokens_per_minute is not None:
                # A call bigger than the bucket waits for a full bucket, not forever.
                need = min(tokens, self._token_cap)
                if self._tokens < need:
                    wait = max(wait, (need - self._tokens) * 60 / self.tokens_per_minute)
                self._tokens -= tokens
            return wait

    def _give_back(self, requests: float, tokens: float) -> None:
        with self._mutex:
            self._refill()
            if self.requests_per_minute is not None:
                self._requests = min(self._request_cap, self._requests + requests)
            if self.tokens_per_minute is not None:
                self._tokens = min(self._token_cap, self._tokens + tokens)

    async def acquire(self, tokens: int = 0) -> Reservation:
        """Wait for one request and `tokens` (an estimate) to be available, then take them.

        Args:
            tokens: Tokens the call is expected to use; settle the real count afterwards.

        Returns:
            A `Reservation`; call `settle(actual_tokens)` on it when the usage is known.

        Raises:
            ValueError: `tokens` is not an int >= 0.
        """
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f'Invalid "tokens" argument: expected an int >= 0, got {tokens!r}')
        wait = self._take(tokens)
        if wait > 0:
            try:
                await anyio.sleep(wait)
            except BaseException:
                self._give_back(1, tokens)
                raise
        return Reservation(self, tokens)
