"""Virtual time on asyncio and trio, so no test of a timeout is decided by the wall clock.

`virtual_time_backends` gives `anyio_backend` parameters whose clock is virtual: trio's `MockClock`,
and for asyncio a selector loop whose `time()` reads a `VirtualClock`. Two modes:

- ``autojump=True``: whenever every task waits and no I/O is ready, time jumps to the next
  deadline (trio's ``MockClock(autojump_threshold=0)``). A timeout fires exactly when nothing
  else can happen first. Waiting on a worker thread counts as waiting, so keep threads out of
  the timed part.
- ``autojump=False``: time stands still until the test calls `jump`. For runs doing real I/O:
  the test waits (on a thread, by the real clock) until the server has the request, then jumps
  past the timeout. `anyio.sleep` and ``fail_after`` never end on their own in this mode.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any, cast

import pytest
import trio
import trio.testing


class VirtualClock:
    """The time of one asyncio loop: starts at 0 and moves only by jumps."""

    def __init__(self, *, autojump: bool) -> None:
        self.now = 0.0
        self.autojump = autojump

    def jump(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot jump back in time: {seconds!r}")
        self.now += seconds


class _Selector(selectors.BaseSelector):
    """The default selector; with autojump, a wait that finds nothing ready jumps the clock."""

    def __init__(self, clock: VirtualClock) -> None:
        self._inner = selectors.DefaultSelector()
        self._clock = clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if not self._clock.autojump or timeout is None or timeout <= 0:
            return self._inner.select(timeout)
        ready = self._inner.select(0)
        if not ready:  # every task waits on the clock: let the next deadline come now
            self._clock.jump(timeout)
        return ready

    def get_map(self) -> Any:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on a `VirtualClock` (asyncio and anyio read `loop.time()`)."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(_Selector(clock))
        self.clock = clock

    def time(self) -> float:
        return self.clock.now


def virtual_time_backends(*, autojump: bool) -> list[Any]:
    """`anyio_backend` parameters for asyncio and trio on virtual clocks.

    Tests that use the same parameters may share a clock (anyio's plugin keeps one asyncio loop
    for consecutive tests; trio's `MockClock` is one object): measure times as differences.
    """
    trio_clock = trio.testing.MockClock(autojump_threshold=0 if autojump else float("inf"))
    return [
        pytest.param(
            ("asyncio", {"loop_factory": lambda: VirtualTimeLoop(VirtualClock(autojump=autojump))}),
            id="asyncio",
        ),
        pytest.param(("trio", {"clock": trio_clock}), id="trio"),
    ]


def jump(seconds: float) -> None:
    """Move the running loop's virtual clock `seconds` forward (asyncio or trio)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        cast(trio.testing.MockClock, trio.lowlevel.current_clock()).jump(seconds)
        return
    if not isinstance(loop, VirtualTimeLoop):
        raise RuntimeError("jump() needs a loop from virtual_time_backends()")
    loop.clock.jump(seconds)
