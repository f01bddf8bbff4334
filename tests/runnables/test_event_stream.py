"""`astream_events` as LangChain's v2: `seq:step:N` tags, `on_tool_error`, nested sync calls
reported as children, and a clean early stop (closed, or dropped for the garbage collector)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from runnables import (
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnableSequence,
    chain,
)

pytestmark = pytest.mark.anyio


async def events_of(step: Any, input: Any) -> list[dict[str, Any]]:
    async with contextlib.aclosing(step.astream_events(input, version="v2")) as stream:
        return [e async for e in stream]


def named(name: str) -> RunnableLambda[Any, Any]:
    return RunnableLambda(lambda x: x, name=name)


async def test_a_sequences_steps_carry_seq_step_tags_their_children_do_not() -> None:
    inner = RunnableSequence(named("i1"), named("i2"), name="branch")
    steps = named("a") | RunnableParallel(p=inner) | named("z")
    events = await events_of(steps.with_config(tags=["mine"]), 1)
    tags = {e["name"]: e["tags"] for e in events if e["event"].endswith("_start")}
    parallel = next(name for name in tags if name.startswith("RunnableParallel"))
    assert tags["RunnableSequence"] == ["mine"]
    assert tags["a"] == ["seq:step:1", "mine"]
    assert tags[parallel] == ["seq:step:2", "mine"]
    # The branch's own sequence is no step of the outer one (it carries its key); its steps
    # have their own numbers.
    assert tags["branch"] == ["map:key:p", "mine"]
    assert tags["i1"] == ["seq:step:1", "mine"]
    assert tags["i2"] == ["seq:step:2", "mine"]
    assert tags["z"] == ["seq:step:3", "mine"]
    # Every event of a step carries its tag, not only its start.
    assert {tuple(e["tags"]) for e in events if e["name"] == "z"} == {("seq:step:3", "mine")}


async def test_seq_step_tags_reach_handlers_and_tag_filters() -> None:
    steps = named("a") | named("b")
    async with contextlib.aclosing(steps.astream_events(1, include_tags=["seq:step:2"])) as stream:
        names = {e["name"] async for e in stream}
    assert names == {"b"}
    assert await steps.ainvoke(1) == 1  # and nothing changes without a listener


class Failing(Runnable[dict[str, int], int]):
    _kind = "tool"
    name_ = "fails"

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kw: Any) -> int:
        raise ValueError("tool broke")


async def test_a_failing_tool_gives_on_tool_error_before_the_exception() -> None:
    seen: list[dict[str, Any]] = []
    steps = RunnableLambda(lambda x: {"x": x}, name="pre") | Failing()
    with pytest.raises(ValueError, match="tool broke"):
        async with contextlib.aclosing(steps.astream_events(1)) as stream:
            async for event in stream:
                seen.append(event)
    error = seen[-1]
    assert [e["event"] for e in seen[-2:]] == ["on_tool_start", "on_tool_error"]
    assert error["name"] == "Failing"
    assert error["tags"] == ["seq:step:2"]
    assert isinstance(error["data"]["error"], ValueError)
    assert error["data"]["input"] == {"x": 1}
    assert error["data"]["tool_call_id"] is None
    assert error["run_id"] == seen[-2]["run_id"]


async def test_a_tool_call_input_names_its_id_in_on_tool_error() -> None:
    call: Any = {"name": "f", "args": {"x": 1}, "id": "call-9", "type": "tool_call"}
    seen: list[dict[str, Any]] = []
    with pytest.raises(ValueError, match="tool broke"):
        async with contextlib.aclosing(Failing().astream_events(call)) as stream:
            async for event in stream:
                seen.append(event)
    assert seen[-1]["event"] == "on_tool_error"
    assert seen[-1]["data"]["tool_call_id"] == "call-9"
    assert seen[-1]["data"]["input"] == {"x": 1}  # the call's arguments, as LangChain shows
    assert seen[-2]["data"]["input"] == call


async def test_a_failing_chain_step_gives_no_error_event() -> None:
    seen: list[str] = []

    def fail(x: Any) -> Any:
        raise KeyError(x)

    with pytest.raises(KeyError):
        async with contextlib.aclosing(RunnableLambda(fail).astream_events(1)) as stream:
            async for event in stream:
                seen.append(event["event"])
    assert seen == ["on_chain_start"]


inner = RunnableLambda(lambda y: y + 1, name="inner")


def nested_sync_calls(x: int) -> list[int]:
    return [*inner.stream(x), inner.invoke(x)]


async def test_sync_stream_and_invoke_inside_a_function_report_as_its_children() -> None:
    events = await events_of(RunnableLambda(nested_sync_calls, name="outer"), 1)
    outer = events[0]
    assert outer["name"] == "outer"
    nested = [(e["event"], e["data"]) for e in events if e["name"] == "inner"]
    assert nested == [
        ("on_chain_start", {"input": 1}),
        ("on_chain_stream", {"chunk": 2}),
        ("on_chain_end", {"output": 2}),
        ("on_chain_start", {"input": 1}),
        ("on_chain_end", {"output": 2}),
    ]
    assert all(e["parent_ids"] == [outer["run_id"]] for e in events if e["name"] == "inner")
    order = [(e["event"], e["name"]) for e in events]
    assert order[-1] == ("on_chain_end", "outer")
    assert events[-1]["data"]["output"] == [2, 2]


async def test_a_sync_call_inside_a_custom_steps_invoke_reports_as_its_child() -> None:
    class Outer(Runnable[int, int]):
        def invoke(self, input: int, config: RunnableConfig | None = None, **kw: Any) -> int:
            out: int = inner.invoke(input)
            return out

    events = await events_of(Outer(), 1)
    parents = {e["name"]: e["parent_ids"] for e in events if e["event"] == "on_chain_start"}
    assert parents == {"Outer": [], "inner": [events[0]["run_id"]]}


async def test_calls_inside_a_step_without_its_config_inherit_its_tags_and_metadata() -> None:
    deep = RunnableLambda(lambda x: x, name="deep")
    inner = named("inner").with_config(tags=["own"], metadata={"i": 1}) | deep

    async def calls_async(x: int) -> int:
        out: int = await inner.ainvoke(x)
        return out

    def calls_sync(x: int) -> list[int]:
        return [inner.invoke(x), *inner.stream(x)]

    class Custom(Runnable[int, int]):
        def invoke(self, input: int, config: RunnableConfig | None = None, **kw: Any) -> int:
            out: int = inner.invoke(input)
            return out

    for body in (RunnableLambda(calls_async), RunnableLambda(calls_sync), Custom()):
        outer = body.with_config(tags=["outer"], metadata={"user": "u"})
        events = await events_of(outer, 1)
        starts = {e["name"]: e for e in events if e["event"] == "on_chain_start"}
        # As langchain-core 1.8.3 reports them (its order of tags differs): the enclosing
        # step's tags and metadata reach the nested call and its children, the nested
        # steps' own are kept, and a sequence's step tags stay with its steps.
        assert set(starts["RunnableSequence"]["tags"]) == {"outer"}
        assert set(starts["inner"]["tags"]) == {"seq:step:1", "outer", "own"}
        assert set(starts["deep"]["tags"]) == {"seq:step:2", "outer"}
        assert starts["inner"]["metadata"] == {"user": "u", "i": 1}
        assert starts["deep"]["metadata"] == {"user": "u"}
        ends = [e for e in events if e["event"] == "on_chain_end" and e["name"] == "deep"]
        assert ends
        assert all(set(e["tags"]) == {"seq:step:2", "outer"} for e in ends)
    assert await inner.ainvoke(1) == 1  # and nothing is left behind for calls outside any step
    events = await events_of(inner, 1)
    assert {tuple(e["tags"]) for e in events if e["name"] == "deep"} == {("seq:step:2",)}


@chain
async def slow(x: int) -> AsyncIterator[int]:
    yield x
    await anyio.sleep_forever()
    yield x  # pragma: no cover - never reached


class Watch:
    def __init__(self) -> None:
        self.cancelled = anyio.Event()


def watched(watch: Watch) -> Any:
    @chain
    async def waits(x: int) -> AsyncIterator[int]:
        try:
            yield x
            await anyio.sleep_forever()
        finally:
            watch.cancelled.set()
        yield x  # pragma: no cover - never reached

    return waits


async def test_breaking_out_under_aclosing_is_clean_and_cancels_the_run() -> None:
    watch = Watch()
    async with contextlib.aclosing(watched(watch).astream_events(1, version="v2")) as stream:
        async for event in stream:
            assert event["event"] == "on_chain_start"
            break
    assert watch.cancelled.is_set()  # aclose waited for the run to end


async def test_closing_after_a_break_is_clean() -> None:
    watch = Watch()
    stream = watched(watch).astream_events(1)
    async for _ in stream:
        break
    await stream.aclose()
    assert watch.cancelled.is_set()
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_stream_dropped_after_a_break_cancels_its_run() -> None:
    watch = Watch()
    stream = watched(watch).astream_events(1)
    async for _ in stream:
        break
    del stream
    gc.collect()
    with anyio.fail_after(5):
        await watch.cancelled.wait()


async def test_a_stream_never_iterated_starts_nothing() -> None:
    watch = Watch()
    stream = watched(watch).astream_events(1)
    await stream.aclose()
    del stream
    gc.collect()
    await anyio.lowlevel.checkpoint()
    assert not watch.cancelled.is_set()


async def test_a_consumer_cancelled_while_reading_leaves_no_run_behind() -> None:
    watch = Watch()
    with anyio.move_on_after(0):
        async with contextlib.aclosing(watched(watch).astream_events(1)) as stream:
            async for _ in stream:
                await anyio.sleep_forever()
    assert watch.cancelled.is_set()


async def test_bad_filters_fail_when_astream_events_is_called() -> None:
    with pytest.raises(TypeError, match='Invalid "include_names"'):
        slow.astream_events(1, include_names="slow")
    with pytest.raises(ValueError, match='Invalid "version"'):
        slow.astream_events(1, version="v1")  # type: ignore[arg-type,unused-ignore]
