"""Blocking (sync) functions in worker threads: the thread limit, timeouts, sync calls in a loop;
and the sync calls that need none (sync functions one after another run in the calling thread).

These pin down what the README says about threads. Blocking functions wait on a
`threading.Event` the test controls; an async branch waits until the expected number run and
every other task is blocked, reads the loop's thread limiter, and lets them all go.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest

from runnables import (
    BaseCallbackHandler,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from tests.runnables.test_bridge import main_thread_blocks_in_bridge_wait

pytestmark = pytest.mark.anyio

SAFETY = 10.0  # seconds; only reached if the behaviour under test is broken


class Blockers:
    """Blocking functions that count how many run at once and wait until released."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.lock = threading.Lock()
        self.running = 0
        self.peak = 0
        self.all_in = threading.Event()  # set once `expected` of them run at the same time
        self.release = threading.Event()

    def block(self, x: Any) -> Any:
        with self.lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            if self.running == self.expected:
                self.all_in.set()
        try:
            self.release.wait(SAFETY)
        finally:
            with self.lock:
                self.running -= 1
        return x

    async def watch(self, _: Any) -> tuple[float, int, int]:
        """An async step: once the expected number of blockers run and every other task is
        blocked (the rest waiting for a thread), read the loop's thread limiter, then release."""
        limiter = anyio.to_thread.current_default_thread_limiter()
        try:
            # Waiting for a threading.Event takes a thread, but not one of the default limiter's.
            own = anyio.CapacityLimiter(1)
            assert await anyio.to_thread.run_sync(self.all_in.wait, SAFETY, limiter=own)
            await anyio.wait_all_tasks_blocked()
            return (limiter.total_tokens, self.running, limiter.statistics().tasks_waiting)
        finally:
            self.release.set()

    def parallel(self, n: int) -> RunnableParallel[Any]:
        steps: dict[str, Any] = {f"b{i}": self.block for i in range(n)}
        return RunnableParallel(steps, watch=self.watch)


@pytest.mark.parametrize("config", [None, {"max_concurrency": 50}], ids=["no-limit", "limit-50"])
async def test_at_most_40_blocking_functions_run_at_once(config: RunnableConfig | None) -> None:
    # max_concurrency above 40 does not raise the thread limit: it can only lower it.
    blockers = Blockers(expected=40)

    out = await blockers.parallel(45).ainvoke("x", config)

    assert out["watch"] == (40, 40, 5)
    assert blockers.peak == 40
    assert [out[f"b{i}"] for i in range(45)] == ["x"] * 45


def test_at_most_40_blocking_functions_run_at_once_under_sync_invoke() -> None:
    blockers = Blockers(expected=40)

    out = blockers.parallel(45).invoke("x")

    assert out["watch"] == (40, 40, 5)
    assert blockers.peak == 40


async def test_raising_the_loops_thread_limiter_lets_more_run_at_once() -> None:
    limiter = anyio.to_thread.current_default_thread_limiter()
    before = limiter.total_tokens
    limiter.total_tokens = 50
    try:
        blockers = Blockers(expected=45)
        out = await blockers.parallel(45).ainvoke("x")
    finally:
        limiter.total_tokens = before

    assert out["watch"] == (50, 45, 0)
    assert blockers.peak == 45


async def test_with_timeout_returns_on_time_while_the_thread_runs_on(anyio_backend: str) -> None:
    release, finished = threading.Event(), threading.Event()

    def blocking(x: str) -> str:
        release.wait(SAFETY)
        finished.set()
        return x

    limiter = anyio.to_thread.current_default_thread_limiter()
    try:
        with pytest.raises(TimeoutError, match=r"blocking timed out after 0\.05 s"):
            await RunnableLambda(blocking).with_timeout(0.05).ainvoke("x")
        assert not finished.is_set()  # the TimeoutError came while the function still ran
        # On trio the abandoned thread keeps its thread-limit slot until it ends; on asyncio
        # the slot is freed at once.
        assert limiter.borrowed_tokens == (1 if anyio_backend == "trio" else 0)
    finally:
        release.set()
    assert await anyio.to_thread.run_sync(finished.wait, SAFETY)  # it ran on to its end


def test_with_timeout_under_sync_invoke_returns_while_the_thread_runs_on() -> None:
    release, finished = threading.Event(), threading.Event()

    def blocking(x: str) -> str:
        release.wait(SAFETY)
        finished.set()
        return x

    try:
        with pytest.raises(TimeoutError, match="blocking timed out"):
            RunnableLambda(blocking).with_timeout(0.05).invoke("x")
        assert not finished.is_set()
    finally:
        release.set()
    assert finished.wait(SAFETY)


async def test_sync_invoke_inside_a_running_loop_blocks_that_loop() -> None:
    order: list[str] = []

    async def tick() -> None:
        order.append("tick")

    def work(x: int) -> int:
        # The calling loop's thread waits for this call, so `tick` cannot run meanwhile.
        assert main_thread_blocks_in_bridge_wait()
        order.append("work")
        return x

    async with anyio.create_task_group() as tg:
        tg.start_soon(tick)
        assert RunnableLambda(work).invoke(1) == 1  # a sync call from async code
        order.append("invoke returned")

    assert order == ["work", "invoke returned", "tick"]


# -- sync calls of chains that only run sync functions in order: no worker threads -------------


def where(x: Any) -> Any:
    return (*x, threading.get_ident()) if isinstance(x, tuple) else (threading.get_ident(),)


def test_sync_invoke_of_sync_functions_in_order_runs_them_in_the_calling_thread() -> None:
    chain = RunnableLambda(where) | where | RunnablePassthrough() | where

    assert chain.invoke(()) == (threading.get_ident(),) * 3


@pytest.mark.parametrize(
    "config",
    [{"max_concurrency": 2}, {"timeout": 30}, {"callbacks": [BaseCallbackHandler()]}],
    ids=["max_concurrency", "timeout", "callbacks"],
)
def test_sync_invoke_with_a_run_to_open_keeps_worker_threads(config: RunnableConfig) -> None:
    chain = RunnableLambda(where) | where

    seen = chain.invoke((), config)

    assert threading.get_ident() not in seen
    assert len(seen) == 2


def test_sync_invoke_of_a_chain_with_concurrent_parts_keeps_worker_threads() -> None:
    chain = RunnableLambda(where) | RunnableParallel(a=where, b=where)

    out = chain.invoke(())

    assert threading.get_ident() not in (*out["a"], *out["b"])


async def test_sync_invoke_inside_a_running_loop_keeps_worker_threads() -> None:
    chain = RunnableLambda(where) | where

    assert threading.get_ident() not in chain.invoke(())  # a blocking call, on purpose


def test_a_runnable_returned_by_an_inline_function_runs_as_a_sync_call_of_its_own() -> None:
    async def double(x: int) -> int:
        return 2 * x

    def pick_next(x: int) -> Any:
        return RunnableLambda(double)

    chain = RunnableLambda(lambda x: x + 1) | pick_next

    assert chain.invoke(1) == 4


def test_inline_functions_see_the_callers_context_and_keep_their_changes_inside() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    def read_and_set(x: Any) -> str:
        seen = var.get()
        var.set("changed inside")
        return seen

    var.set("caller")
    assert (RunnableLambda(read_and_set) | str.upper).invoke(None) == "CALLER"
    assert var.get() == "caller"


def test_an_inline_failure_keeps_its_type_and_says_where_it_happened() -> None:
    def fail(x: Any) -> Any:
        raise LookupError("no such thing")

    with pytest.raises(LookupError, match="no such thing") as info:
        (RunnableLambda(where) | fail).invoke(())
    assert any("step 2 of 2" in note for note in info.value.__notes__)
