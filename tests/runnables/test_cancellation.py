"""Cancelling the caller stops every branch: cancel scopes and Ctrl-C in sync code."""

import signal
import subprocess
import sys
import textwrap
from typing import Any

import anyio
import pytest

from runnables import RunnableLambda, RunnableParallel

SCRIPT = textwrap.dedent(
    """
    import faulthandler
    import signal
    import sys
    import threading
    import time

    faulthandler.dump_traceback_later(45, exit=True)  # a hang shows every thread's stack
    # Ctrl-C's default, even where this child inherits SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    import anyio
    from runnables import RunnableParallel

    started = []
    both_started = threading.Event()

    def branch(key):
        async def run(x):
            started.append(key)
            if len(started) == 2:
                both_started.set()
            try:
                await anyio.sleep_forever()
            finally:
                print("cancelled", key, flush=True)
        return run

    def main_thread_waits_on_the_bridge():
        frame = sys._current_frames().get(threading.main_thread().ident)
        names = set()
        while frame is not None:
            names.add((frame.f_code.co_name, frame.f_code.co_filename.rsplit("/", 1)[-1]))
            frame = frame.f_back
        return {("wait", "threading.py"), ("result", "_bridge.py")} <= names

    def announce():
        # "started" once both branches run and the caller is blocked waiting for them, so
        # Ctrl-C lands in that wait.
        both_started.wait()
        while not main_thread_waits_on_the_bridge():
            time.sleep(0.001)
        print("started", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    try:
        RunnableParallel(a=branch("a"), b=branch("b")).invoke("x")
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    """
)


def test_ctrl_c_in_sync_invoke_cancels_every_branch() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True, bufsize=1
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "started"
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = out.split("\n")
    assert sorted(line for line in lines if line.startswith("cancelled")) == [
        "cancelled a",
        "cancelled b",
    ]
    assert "interrupted" in lines
    assert proc.returncode == 0


@pytest.mark.anyio
async def test_cancel_scope_around_ainvoke_cancels_every_branch() -> None:
    started: list[str] = []
    cancelled: list[str] = []
    all_started = anyio.Event()

    def branch(key: str) -> Any:
        async def run(x: Any) -> None:
            started.append(key)
            if len(started) == 3:
                all_started.set()
            try:
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                cancelled.append(key)
                raise

        return run

    chain = RunnableLambda(lambda x: x) | RunnableParallel(
        a=branch("a"), b=branch("b"), c=RunnableLambda(branch("c")) | (lambda x: x)
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(chain.ainvoke, "x")
        await all_started.wait()
        tg.cancel_scope.cancel()
    assert sorted(cancelled) == ["a", "b", "c"]
