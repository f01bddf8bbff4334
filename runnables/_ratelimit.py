"""`RateLimiter`: requests per minute and tokens per minute, shared by every step that holds it.

Two token buckets refill continuously (a minute's allowance at most, by default). A caller asks for
one request and an estimate of its tokens before the work, and settles the estimate with the real
count after it (`Reservation.settle`), so a run that used more than it guessed waits longer next
time. Waiting is first come, first served (an `anyio.Lock` is fair) and cancellable; a cancelled
waiter takes nothing.
"""

from __future__ import annotations

import time

import anyio


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
        self._limiter._adjust_tokens(self.tokens - actual_tokens)


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
        self._stamp = time.monotonic()
        self._lock: anyio.Lock | None = None

    def __repr__(self) -> str:
        return (
            f"RateLimiter(requests_per_minute={self.requests_per_minute}, "
            f"tokens_per_minute={self.tokens_per_minute})"
        )

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_lock"] = None
        return state

    def _refill(self) -> None:
        now = time.monotonic()
        elapsed, self._stamp = now - self._stamp, now
        if self.requests_per_minute is not None:
            self._requests = min(
                self._request_cap, self._requests + elapsed * self.requests_per_minute / 60
            )
        if self.tokens_per_minute is not None:
            self._tokens = min(
                self._token_cap, self._tokens + elapsed * self.tokens_per_minute / 60
            )

    def _adjust_tokens(self, delta: float) -> None:
        if self.tokens_per_minute is not None:
            self._refill()
            self._tokens = min(self._token_cap, self._tokens + delta)

    def _wait_time(self, tokens: int) -> float:
        wait = 0.0
        if self.requests_per_minute is not None and self._requests < 1:
            wait = (1 - self._requests) * 60 / self.requests_per_minute
        if self.tokens_per_minute is not None:
            need = min(tokens, self._token_cap)
            if self._tokens < need:
                wait = max(wait, (need - self._tokens) * 60 / self.tokens_per_minute)
        return wait

    async def acquire(self, tokens: int = 0) -> Reservation:
        """Wait for one request and `tokens` (an estimate) to be available, then take them.

        Args:
            tokens: Tokens the call is expected to use; settle the real count afterwards.

        Returns:
            A `Reservation`; call `settle(actual_tokens)` on it when the usage is known.
        """
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
            raise ValueError(f'Invalid "tokens" argument: expected an int >= 0, got {tokens!r}')
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            while True:
                self._refill()
                wait = self._wait_time(tokens)
                if wait <= 0:
                    break
                await anyio.sleep(wait)
            if self.requests_per_minute is not None:
                self._requests -= 1
            if self.tokens_per_minute is not None:
                self._tokens -= tokens
        return Reservation(self, tokens)
