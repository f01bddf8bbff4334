"""ToolExecutor: a reply's tool calls run concurrently, answered in call order."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from llm import ToolArgumentsError, ToolExecutor, tool
from prompts import AIMessage, HumanMessage, ToolMessage, invalid_tool_call, tool_call
from tests.openai_server import WAIT_LIMIT

GUARD = WAIT_LIMIT
"""Seconds before a test that should not block fails instead of hanging."""


def reply(*calls: tuple[str, dict[str, Any]]) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            tool_call(name=name, args=args, id=f"c{i}") for i, (name, args) in enumerate(calls)
        ],
    )


@pytest.mark.anyio
async def test_calls_run_concurrently_and_answers_keep_call_order() -> None:
    second_started = anyio.Event()

    @tool
    async def first() -> str:
        """Finishes only once the second call has started."""
        await second_started.wait()
        return "first"

    @tool
    async def second() -> str:
        """Starts, and finishes at once."""
        second_started.set()
        return "second"

    with anyio.fail_after(GUARD):  # run one after the other, `first` would wait forever
        out = await ToolExecutor([first, second]).ainvoke(reply(("first", {}), ("second", {})))
    assert out == [
        ToolMessage(content="first", tool_call_id="c0", name="first"),
        ToolMessage(content="second", tool_call_id="c1", name="second"),
    ]


@pytest.mark.anyio
async def test_the_run_wide_max_concurrency_bounds_the_tools() -> None:
    started = 0
    two_in = anyio.Event()
    release = anyio.Event()

    @tool
    async def work(n: int) -> int:
        """Wait for the test to release it."""
        nonlocal started
        started += 1
        if started == 2:
            two_in.set()
        await release.wait()
        return n

    message = reply(*[("work", {"n": n}) for n in range(3)])
    out: list[ToolMessage] = []

    async def run() -> None:
        out.extend(await ToolExecutor([work]).ainvoke(message, {"max_concurrency": 2}))

    with anyio.fail_after(GUARD):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await two_in.wait()
            await anyio.wait_all_tasks_blocked()  # a third call had every chance to start
            assert started == 2
            release.set()
    assert started == 3
    assert [m.content for m in out] == ["0", "1", "2"]


@pytest.mark.anyio
async def test_a_failing_tool_raises_with_a_note_and_cancels_the_others() -> None:
    cancelled = anyio.Event()
    waiting = anyio.Event()

    @tool
    async def slow() -> str:
        """Waits until cancelled."""
        try:
            waiting.set()
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            raise
        return "never"

    @tool
    async def boom(x: int) -> str:
        """Fails once the other call is running."""
        await waiting.wait()
        raise RuntimeError(f"boom {x}")

    with anyio.fail_after(GUARD), pytest.raises(RuntimeError, match="boom 7") as info:
        await ToolExecutor([slow, boom]).ainvoke(reply(("slow", {}), ("boom", {"x": 7})))
    assert type(info.value) is RuntimeError
    assert info.value.__notes__[0] == "in tool 'boom' (call 2 of 2, id 'c1')"
    assert cancelled.is_set()


@pytest.mark.anyio
async def test_handle_errors_turns_failures_into_error_messages() -> None:
    @tool
    def divide(a: float, b: float) -> float:
        """Divide a by b."""
        return a / b

    message = AIMessage(
        content="",
        tool_calls=[
            tool_call(name="divide", args={"a": 1, "b": 2}, id="ok"),
            tool_call(name="divide", args={"a": 1, "b": 0}, id="zero"),
            tool_call(name="divide", args={"a": 1}, id="missing"),
            tool_call(name="multiply", args={}, id="unknown"),
        ],
        invalid_tool_calls=[
            invalid_tool_call(name="divide", args='{"a": 1,', id="broken", error="not JSON")
        ],
    )
    out = await ToolExecutor([divide], handle_errors=True).ainvoke(message)
    assert [(m.tool_call_id, m.status) for m in out] == [
        ("ok", "success"),
        ("zero", "error"),
        ("missing", "error"),
        ("unknown", "error"),
        ("broken", "error"),
    ]
    assert out[0].content == "0.5"
    assert out[1].content == "Error: ZeroDivisionError: float division by zero"
    assert out[2].text.startswith(
        "Error: ToolArgumentsError: Invalid arguments for tool 'divide': 'b': Field required"
    )
    assert out[3].content == (
        "Error: ToolCallError: The model called an unknown tool 'multiply'; the tools are "
        "['divide']"
    )
    assert out[4].content == ("Error: ToolCallError: Invalid arguments for tool 'divide': not JSON")
    assert all(m.name in ("divide", "multiply") for m in out)


@pytest.mark.anyio
async def test_without_handle_errors_bad_calls_raise() -> None:
    @tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    executor = ToolExecutor([echo])
    with pytest.raises(LookupError, match="unknown tool 'shout'") as unknown:
        await executor.ainvoke(reply(("shout", {})))
    assert unknown.value.__notes__[0] == "in tool 'shout' (call 1 of 1, id 'c0')"
    with pytest.raises(ToolArgumentsError, match="'echo': 'text': Field required"):
        await executor.ainvoke(reply(("echo", {})))


@pytest.mark.anyio
async def test_input_may_be_a_conversation_ending_with_the_reply() -> None:
    @tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    executor = ToolExecutor([echo])
    history = [HumanMessage(content="say hi"), reply(("echo", {"text": "hi"}))]
    assert [m.content for m in await executor.ainvoke(history)] == ["hi"]
    assert await executor.ainvoke(AIMessage(content="no calls")) == []
    with pytest.raises(TypeError, match="ToolExecutor expects an AIMessage"):
        await executor.ainvoke([HumanMessage(content="x")])


def test_bad_arguments_fail_at_build_time() -> None:
    @tool
    def echo(text: str) -> str:
        """Echo."""
        return text

    with pytest.raises(TypeError, match='"tools" argument'):
        ToolExecutor(echo)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match='"tools" argument: \\[\\]'):
        ToolExecutor([])
    with pytest.raises(TypeError, match=r'"tools\[1\]" argument: 5'):
        ToolExecutor([echo, 5])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="two tools are named 'echo'"):
        ToolExecutor([echo, echo])
    with pytest.raises(TypeError, match='"handle_errors" argument'):
        ToolExecutor([echo], handle_errors="yes")  # type: ignore[arg-type]


def test_an_executor_pickles() -> None:
    import pickle

    from tests.llm.test_tools import add, get_weather

    executor = pickle.loads(pickle.dumps(ToolExecutor([get_weather, add], handle_errors=True)))
    out = executor.invoke(reply(("add", {"a": 1, "b": 2}), ("nope", {})))
    assert [(m.content, m.status) for m in out] == [
        ("3", "success"),
        ("Error: ToolCallError: The model called an unknown tool 'nope'; "
         "the tools are ['add', 'get_weather']", "error"),
    ]  # fmt: skip


@pytest.mark.anyio
async def test_each_tool_call_is_a_step_in_the_run_events() -> None:
    from tests.llm.test_tools import add, get_weather

    executor = ToolExecutor([get_weather, add])
    message = reply(("add", {"a": 1, "b": 2}), ("get_weather", {"city": "Oslo"}))
    events = [e async for e in executor.astream_events(message)]
    started = [e["name"] for e in events if "start" in e["event"]]
    assert {"add", "get_weather"} <= set(started)
    ids = {e["name"]: e["run_id"] for e in events if "start" in e["event"]}
    ends = [e for e in events if "end" in e["event"] and e["name"] == "add"]
    assert [e["run_id"] for e in ends] == [ids["add"]]
    assert ends[0]["data"]["output"] == ToolMessage(content="3", tool_call_id="c0", name="add")


@pytest.mark.anyio
async def test_each_tool_reports_as_a_child_of_the_executor() -> None:
    from tests.llm.test_tools import add

    message = reply(("add", {"a": 1, "b": 2}), ("add", {"a": 3, "b": 4}))
    events = [e async for e in ToolExecutor([add]).astream_events(message, version="v2")]
    (root,) = [e["run_id"] for e in events if e["event"] == "on_chain_start"]
    starts = [(e["event"], e["name"], e["parent_ids"]) for e in events if "start" in e["event"]]
    assert starts == [
        ("on_chain_start", "ToolExecutor", []),
        ("on_tool_start", "add", [root]),
        ("on_tool_start", "add", [root]),
    ]
