"""Run handlers: every step's events reach `config["callbacks"]` and the process-wide handlers,
across branches, batch items, retries, fallbacks and sync calls; failures are contained."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runnables import (
    BaseCallbackHandler,
    RunEvent,
    RunnableLambda,
    RunnableParallel,
    add_global_handler,
    remove_global_handler,
)

pytestmark = pytest.mark.anyio


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.lock = threading.Lock()

    def _record(self, event: RunEvent) -> None:
        with self.lock:
            self.events.append(event)

    on_start = on_stream = on_end = on_error = on_batch_start = _record

    def seen(self, kind: str | None = None) -> list[tuple[str, str]]:
        return [(e.event, e.name) for e in self.events if kind is None or e.event == kind]

    def by_name(self, name: str, event: str = "start") -> RunEvent:
        (found,) = [e for e in self.events if e.name == name and e.event == event]
        return found


class AsyncRecorder(Recorder):
    async def on_start(self, event: RunEvent) -> None:  # type: ignore[override]
        self._record(event)

    async def on_end(self, event: RunEvent) -> None:  # type: ignore[override]
        self._record(event)


def shout(x: str) -> str:
    return x.upper()


async def words(x: str) -> AsyncIterator[str]:
    for word in x.split():
        yield word + " "


def chain() -> Any:
    return (
        RunnableLambda(shout) | RunnableParallel(a=RunnableLambda(words), b=lambda x: len(x))
    ).with_config(run_name="root")


@pytest.mark.parametrize("recorder_type", [Recorder, AsyncRecorder], ids=["sync", "async"])
async def test_every_step_reports_to_the_handlers(recorder_type: type[Recorder]) -> None:
    recorder = recorder_type()
    config: Any = {"callbacks": [recorder], "tags": ["t"], "metadata": {"user": "u"}}
    out = await chain().ainvoke("hi there", config)
    assert out == {"a": "HI THERE ", "b": 8}
    starts = recorder.seen("start")
    assert starts[0] == ("start", "root")
    assert {name for _, name in starts} == {"root", "shout", "RunnableParallel", "words", "lambda"}
    assert len(recorder.seen("end")) == len(starts)
    root = recorder.by_name("root")
    assert root.parent_ids == ()
    assert root.kind == "chain"
    parallel = recorder.by_name("RunnableParallel")
    assert parallel.parent_ids == (root.run_id,)
    branch = recorder.by_name("words")
    assert branch.parent_ids == (root.run_id, parallel.run_id)
    assert branch.kind == "lambda"
    assert branch.tags == ["map:key:a", "t"]  # its key, as LangChain tags a branch
    assert branch.metadata == {"user": "u"}
    assert recorder.by_name("shout").data == {"input": "hi there"}
    assert recorder.by_name("shout", "end").data == {"output": "HI THERE"}


async def test_streams_report_chunks_and_errors() -> None:
    recorder = Recorder()

    def boom(x: Any) -> Any:
        raise ValueError("bad")

    stream = (RunnableLambda(words) | boom).astream("a b", {"callbacks": [recorder]})
    with pytest.raises(ValueError, match="bad"):
        async for _ in stream:
            pass
    chunks = [e.data["chunk"] for e in recorder.events if e.event == "stream" and e.name == "words"]
    assert chunks == ["a ", "b "]
    error = recorder.by_name("boom", "error")
    assert isinstance(error.data["error"], ValueError)
    assert ("error", "RunnableSequence") in recorder.seen("error")


async def test_batch_items_retries_and_fallbacks_inherit_the_handlers() -> None:
    recorder = Recorder()
    calls = {"n": 0}

    def flaky(x: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("once")
        return x

    def broken(x: int) -> int:
        raise KeyError(x)

    step = RunnableParallel(
        r=RunnableLambda(flaky).with_retry(wait_exponential_jitter=False),
        f=RunnableLambda(broken).with_fallbacks([RunnableLambda(lambda x: -x, name="backup")]),
    )
    assert await step.abatch([1], {"callbacks": [recorder]}) == [{"r": 1, "f": -1}]
    assert recorder.seen("batch_start") == [("batch_start", "RunnableParallel")]
    assert recorder.events[0].data == {"size": 1}
    # The retry wrapper (named after its step), then two attempts under it.
    wrapper, first, second = [
        e for e in recorder.events if e.name == "flaky" and e.event == "start"
    ]
    assert (wrapper.kind, first.kind, second.kind) == ("chain", "lambda", "lambda")
    assert first.parent_id == second.parent_id == wrapper.run_id
    assert "retry:attempt:2" in second.tags
    assert ("error", "broken") in recorder.seen("error")
    assert ("end", "backup") in recorder.seen("end")


def test_sync_calls_report_and_carry_the_handlers_into_nested_sync_calls() -> None:
    recorder = Recorder()
    inner = RunnableLambda(shout)

    def outer(x: str) -> str:
        # A blocking function (in a worker thread) making a sync call of its own.
        return inner.invoke(x) + "!"

    assert RunnableLambda(outer).invoke("a", {"callbacks": [recorder]}) == "A!"
    outer_start = recorder.by_name("outer")
    assert recorder.by_name("shout").parent_ids == (outer_start.run_id,)


async def test_a_failing_handler_is_logged_and_the_run_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(BaseCallbackHandler):
        def on_start(self, event: RunEvent) -> None:
            raise RuntimeError("handler bug")

    with caplog.at_level(logging.WARNING, logger="runnables"):
        assert await RunnableLambda(shout).ainvoke("x", {"callbacks": [Broken()]}) == "X"
    assert "handler bug" in caplog.text


async def test_a_handler_may_ask_to_fail_the_run() -> None:
    class Strict(BaseCallbackHandler):
        raise_error = True

        async def on_end(self, event: RunEvent) -> None:
            raise RuntimeError("strict handler")

    with pytest.raises(RuntimeError, match="strict handler"):
        await RunnableLambda(shout).ainvoke("x", {"callbacks": [Strict()]})


async def test_process_wide_handlers_see_every_run() -> None:
    recorder = Recorder()
    add_global_handler(recorder)
    try:
        await RunnableLambda(shout).ainvoke("x")
        RunnableLambda(shout).invoke("y")
        # Given again in a config, a handler still hears each event once.
        await RunnableLambda(shout).ainvoke("z", {"callbacks": [recorder]})
    finally:
        remove_global_handler(recorder)
    await RunnableLambda(shout).ainvoke("after")
    inputs = [e.data["input"] for e in recorder.events if e.event == "start"]
    assert inputs == ["x", "y", "z"]


async def test_a_config_passed_on_inside_a_step_does_not_repeat_events() -> None:
    recorder = Recorder()
    inner = RunnableLambda(shout)

    async def outer(x: str, config: Any) -> str:
        return await inner.ainvoke(x, config)

    await RunnableLambda(outer).ainvoke("a", {"callbacks": [recorder]})
    assert recorder.seen("start") == [("start", "outer"), ("start", "shout")]


async def test_handlers_bound_with_config_see_the_step_they_are_bound_to() -> None:
    bound, outer = Recorder(), Recorder()
    step = RunnableLambda(shout).with_config(callbacks=[bound], tags=["t"])
    assert await step.ainvoke("a") == "A"
    assert bound.seen() == [("start", "shout"), ("end", "shout")]
    assert bound.by_name("shout").tags == ["t"]

    bound.events.clear()
    chain = RunnableLambda(len) | RunnableLambda(str).with_config(callbacks=[bound])
    assert [c async for c in chain.astream("ab", {"callbacks": [outer]})] == ["2"]
    assert bound.seen() == [("start", "str"), ("stream", "str"), ("end", "str")]
    # The run's own handlers see that step once, as a child of the sequence, as before.
    assert outer.seen("start") == [
        ("start", "RunnableSequence"),
        ("start", "len"),
        ("start", "str"),
    ]
    assert bound.by_name("str").parent_ids == outer.by_name("str").parent_ids
    assert len(outer.by_name("str").parent_ids) == 1


@pytest.mark.parametrize("bad", [[object()], "handler", [5], (h for h in [Recorder()])])
def test_bad_callbacks_are_rejected_when_the_chain_is_built(bad: Any) -> None:
    with pytest.raises(TypeError, match="callbacks"):
        RunnableLambda(shout).with_config(callbacks=bad)


_COUNT_READS = """
import asyncio, cProfile, pstats
from runnables import RunnableLambda

async def f(x):
    return x

chain = RunnableLambda(f) | f | f  # 4 steps: the sequence and its 3 lambdas

async def main():
    await chain.ainvoke(1)
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(10):
        await chain.ainvoke(1)
    profile.disable()
    stats = pstats.Stats(profile).stats
    reads = sum(v[1] for k, v in stats.items() if "of '_contextvars.ContextVar'" in k[2]
                and k[2].startswith("<method 'get'"))
    print(reads / 10)

asyncio.run(main())
"""


def test_a_step_with_no_consumer_costs_one_context_variable_read() -> None:
    # In a fresh process: no handler anywhere (global or scoped), so a call reads the run state
    # once at the entry point and once per step, and nothing else (not the scoped handlers'
    # variable, which costs nothing until `scoped_handler` is first used).
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _COUNT_READS], capture_output=True, text=True, check=True
    )
    assert float(out.stdout) == 1 + 4
