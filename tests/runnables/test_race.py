"""RunnableRace: the first success wins, the rest are cancelled; all failing raises the first."""

from typing import Any

import anyio
import pytest

from runnables import RunnableRace

pytestmark = pytest.mark.anyio


def boom(x: Any) -> Any:
    raise ValueError(f"bad {x}")


async def test_race_returns_first_success_and_cancels_the_rest() -> None:
    cancelled = anyio.Event()

    async def slow(x: str) -> str:
        try:
            await anyio.sleep_forever()
        finally:
            cancelled.set()
        return "slow"  # pragma: no cover

    async def fast(x: str) -> str:
        return f"fast({x})"

    assert await RunnableRace(slow, boom, fast).ainvoke("q") == "fast(q)"
    assert cancelled.is_set()


async def test_race_all_failing_raises_first_error_with_notes() -> None:
    def other(x: Any) -> Any:
        raise KeyError("other")

    with pytest.raises(ValueError, match="bad 1") as info:
        await RunnableRace(boom, other).ainvoke(1)
    assert any("alternative 2" in n and "KeyError" in n for n in info.value.__notes__)


def test_race_needs_two_alternatives() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        RunnableRace(boom)


async def test_race_passes_call_options_on() -> None:
    def echo(x: str, *, suffix: str = "") -> str:
        return x + suffix

    assert await RunnableRace(echo, echo).bind(suffix="!").ainvoke("a") == "a!"
