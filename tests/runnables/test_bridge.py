"""The sync bridge: from plain threads, from inside a running loop, and streaming chunk by chunk."""

import asyncio
import atexit
import contextvars
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import trio

from runnables import RunnableLambda, RunnableParallel
from runnables._bridge import _BridgeLoop


async def double(x: int) -> int:
    return x * 2


def test_invoke_from_plain_thread() -> None:
    results: list[Any] = []

    def worker() -> None:
        results.append(RunnableLambda(double).invoke(4))
        results.append(RunnableParallel(a=double, b=double).batch([1, 2]))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert results == [8, [{"a": 2, "b": 2}, {"a": 4, "b": 4}]]


def test_invoke_repeatedly_on_main_thread_and_with_asyncio_run_in_between() -> None:
    step = RunnableLambda(double)
    assert step.invoke(1) == 2
    assert asyncio.run(step.ainvoke(2)) == 4
    assert step.invoke(3) == 6


def test_sync_calls_inside_a_running_loop() -> None:
    async def main() -> Any:
        step = RunnableLambda(double)
        return step.invoke(5), step.batch([1]), list(step.stream(2))

    assert asyncio.run(main()) == (10, [2], [4])


@pytest.mark.anyio
async def test_sync_invoke_inside_running_loop_any_backend() -> None:
    assert RunnableLambda(double).invoke(21) == 42


def test_sync_stream_hands_over_chunk_by_chunk() -> None:
    # The producer makes chunk i only once the consumer holds chunk i - 1: a bridge that
    # collected the stream before handing it over would leave the producer waiting here.
    received = [threading.Event() for _ in range(3)]
    waited: list[bool] = []

    async def numbers(x: int) -> AsyncIterator[int]:
        for i in range(3):
            if i:
                waited.append(await anyio.to_thread.run_sync(received[i - 1].wait, 10.0))
            yield i

    seen = []
    for chunk in RunnableLambda(numbers).stream(0):
        seen.append(chunk)
        received[chunk].set()
    assert seen == [0, 1, 2]
    assert waited == [True, True]


def test_breaking_out_of_sync_stream_stops_the_producer() -> None:
    produced: list[int] = []

    async def numbers(x: int) -> AsyncIterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    stream = RunnableLambda(numbers).stream(0)
    for chunk in stream:
        if chunk == 2:
            break
    stream.close()
    assert len(produced) <= 4
    assert not [t for t in threading.enumerate() if t.name == "runnables-stream"]


def test_errors_cross_the_bridge_with_their_type() -> None:
    def boom(x: int) -> int:
        raise LookupError("nope")

    with pytest.raises(LookupError, match="nope"):
        RunnableLambda(boom).invoke(1)

    async def bad_stream(x: int) -> AsyncIterator[int]:
        yield 1
        raise LookupError("mid-stream")

    with pytest.raises(LookupError, match="mid-stream"):
        list(RunnableLambda(bad_stream).stream(1))


def test_sync_calls_off_the_main_thread_share_one_background_loop() -> None:
    async def loop_id(x: int) -> int:
        return id(asyncio.get_running_loop())

    step = RunnableLambda(loop_id)
    seen: list[int] = []

    def worker() -> None:
        seen.append(step.invoke(1))
        seen.extend(step.stream(1))

    for _ in range(2):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
    assert len(set(seen)) == 1  # per-loop resources (connection pools) are reused


def test_sync_call_from_inside_the_background_loop_does_not_deadlock() -> None:
    inner = RunnableLambda(double)

    async def outer(x: int) -> Any:
        # Sync code running on the bridge's own loop: must not wait on that same loop.
        return inner.invoke(x), list(inner.stream(x))

    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(RunnableLambda(outer).invoke(3)))
    thread.start()
    thread.join()
    assert results == [(6, [6])]


@pytest.mark.anyio
async def test_caller_context_does_not_leak_into_the_bridged_run() -> None:
    # Called from inside a running loop (asyncio or trio), the sync call runs on the asyncio
    # background loop; anyio there must see asyncio, not the caller's backend.
    def blocking(x: int) -> int:
        return x + 1

    assert RunnableParallel(a=blocking, b=double).invoke(1) == {"a": 2, "b": 2}


request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="none")


async def read_request_id(x: Any) -> str:
    return request_id.get()


async def set_request_id(x: Any) -> str:
    request_id.set("changed inside")
    return request_id.get()


def read_all_ways() -> list[str]:
    """The caller's request id as every sync entry point's steps see it."""
    step = RunnableLambda(read_request_id)
    return [
        step.invoke(0),
        *step.batch([0]),
        *step.stream(0),
        *(out for _, out in step.batch_as_completed([0])),
        *RunnableParallel(a=step).stream(0).__next__().values(),
    ]


def test_caller_context_reaches_the_steps_from_a_plain_thread() -> None:
    seen: list[list[str]] = []

    def handler() -> None:
        request_id.set("req-42")
        seen.append(read_all_ways())

    thread = threading.Thread(target=handler)
    thread.start()
    thread.join()
    assert seen == [["req-42"] * 5]


def test_caller_context_reaches_the_steps_from_the_main_thread() -> None:
    token = request_id.set("req-main")
    try:
        assert read_all_ways() == ["req-main"] * 5
    finally:
        request_id.reset(token)


def test_caller_context_reaches_the_steps_inside_asyncio_run() -> None:
    async def main() -> list[str]:
        request_id.set("req-asyncio")
        return read_all_ways()

    assert asyncio.run(main()) == ["req-asyncio"] * 5


def test_caller_context_reaches_the_steps_under_trio() -> None:
    async def main() -> list[str]:
        request_id.set("req-trio")
        return read_all_ways()

    assert trio.run(main) == ["req-trio"] * 5


def test_changes_made_inside_do_not_leak_out() -> None:
    token = request_id.set("caller")
    try:
        assert RunnableLambda(set_request_id).invoke(0) == "changed inside"
        assert list(RunnableLambda(set_request_id).stream(0)) == ["changed inside"]
        assert request_id.get() == "caller"
    finally:
        request_id.reset(token)


def bridge_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("runnables-loop")}


def test_nested_sync_calls_make_no_loop_or_exit_hook_per_call() -> None:
    inner = RunnableLambda(double)

    async def outer(x: int) -> Any:
        # Sync code on a bridge loop's own thread: runs one loop deeper, never on its own loop.
        return inner.invoke(x), list(inner.stream(x))

    step = RunnableLambda(outer)
    assert step.invoke(1) == (2, [2])  # the loops this needs exist from here on
    threads, hooks = bridge_threads(), atexit._ncallbacks()
    for i in range(20):
        assert list(step.stream(i)) == [(2 * i, [2 * i])]
        assert step.invoke(i) == (2 * i, [2 * i])
    assert bridge_threads() == threads
    assert atexit._ncallbacks() == hooks
    assert {"runnables-loop-0", "runnables-loop-1"} <= threads


def test_invoke_and_stream_run_on_the_same_loop() -> None:
    async def loop_id(x: int) -> int:
        return id(asyncio.get_running_loop())

    step = RunnableLambda(loop_id)
    assert step.invoke(1) == next(iter(step.stream(1))) == step.batch([1])[0]


def test_an_error_from_a_nested_sync_call_keeps_its_type_and_notes() -> None:
    def boom(x: int) -> int:
        raise LookupError("deep")

    inner = RunnableLambda(boom) | RunnableLambda(double)

    async def outer(x: int) -> Any:
        return inner.invoke(x)  # sync code on the bridge loop: runs on the next loop down

    with pytest.raises(LookupError, match="deep") as info:
        RunnableLambda(outer).invoke(1)
    assert type(info.value) is LookupError
    assert "in step 1 of 2 (boom) of RunnableSequence" in info.value.__notes__


def main_thread_blocks_in_bridge_wait(caller: str = "result", limit: float = 10.0) -> bool:
    """Wait until the main thread waits in `threading` under the bridge's `caller`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(threading.main_thread().ident or 0)
        names = []
        while frame is not None:
            names.append((frame.f_code.co_name, Path(frame.f_code.co_filename).name))
            frame = frame.f_back
        if ("wait", "threading.py") in names and (caller, "_bridge.py") in names:
            return True
        time.sleep(0.001)
    return False


class Interrupted(BaseException):
    """Raised by the test's signal handler, as KeyboardInterrupt is by Ctrl-C's."""


@pytest.mark.parametrize("delivered_to", ["the main thread", "another thread"])
def test_an_interrupt_while_waiting_cancels_the_call_then_is_raised(delivered_to: str) -> None:
    # The OS hands a process's SIGINT to any of its threads; Python runs the handler on the main
    # thread, which must notice even when the signal did not interrupt its own wait.
    assert threading.current_thread() is threading.main_thread()
    started, cancelled = threading.Event(), threading.Event()

    async def waits(x: int) -> int:
        started.set()
        try:
            with anyio.move_on_after(10):  # without the interrupt: end, and fail below
                await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        return x

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    def send_once_waiting() -> None:
        # Only once the call runs and the caller is blocked waiting for it (an interrupt a
        # moment earlier, before the wait, would not be the case under test).
        if started.wait(10) and main_thread_blocks_in_bridge_wait():
            main = threading.main_thread().ident or 0
            target = main if delivered_to == "the main thread" else threading.get_ident()
            signal.pthread_kill(target, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    sender = threading.Thread(target=send_once_waiting)
    try:
        sender.start()
        with pytest.raises(Interrupted):
            RunnableLambda(waits).invoke(1)
    finally:
        sender.join()
        signal.signal(signal.SIGUSR1, previous)
    assert cancelled.is_set()  # the call's task was cancelled and done before the raise


def test_closing_a_bridge_loop_cancels_what_still_runs_and_closes_the_loop() -> None:
    bridge = _BridgeLoop(level=99)  # a loop of its own, not one the other tests share
    started, cancelled = threading.Event(), threading.Event()

    async def forever() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    bridge.submit(forever(), contextvars.Context())
    assert started.wait(10)
    bridge.close()
    assert cancelled.is_set()
    assert bridge.loop.is_closed()
    assert not bridge.thread.is_alive()
    bridge.close()  # closing again does nothing


def test_an_interrupt_while_a_sync_stream_waits_for_a_chunk_cancels_the_producer() -> None:
    assert threading.current_thread() is threading.main_thread()
    first_taken, cancelled = threading.Event(), threading.Event()

    async def stalls(x: int) -> AsyncIterator[int]:
        yield 1
        try:
            with anyio.move_on_after(10):  # without the interrupt: end, and fail below
                await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    def send_once_waiting() -> None:
        if first_taken.wait(10) and main_thread_blocks_in_bridge_wait("iter_sync"):
            signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # not the main thread

    previous = signal.signal(signal.SIGUSR1, interrupt)
    sender = threading.Thread(target=send_once_waiting)
    seen: list[int] = []
    try:
        sender.start()
        with pytest.raises(Interrupted):
            for chunk in RunnableLambda(stalls).stream(0):
                seen.append(chunk)
                first_taken.set()
    finally:
        sender.join()
        signal.signal(signal.SIGUSR1, previous)
    assert seen == [1]
    assert cancelled.is_set()
