"""A tool's run as the event path sees it: every tool reports as a step of kind "tool", its
failures included, so every consumer (handlers, astream_events, traces) can tell tools apart."""

from __future__ import annotations

import pytest

from llm import BaseTool, StructuredTool, ToolException, ToolExecutor, tool
from prompts import AIMessage, tool_call
from runnables import BaseCallbackHandler, RunEvent, RunnableLambda

pytestmark = pytest.mark.anyio


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def on_start(self, event: RunEvent) -> None:
        self.events.append(event)

    def on_end(self, event: RunEvent) -> None:
        self.events.append(event)

    def on_error(self, event: RunEvent) -> None:
        self.events.append(event)

    def seen(self) -> list[tuple[str, str, str]]:
        return [(e.event, e.kind, e.name) for e in self.events]


class Explode(BaseTool):
    name: str = "explode"
    description: str = "Always fails."

    def _run(self, x: int) -> int:
        raise ToolException(f"exploded on {x}")


async def test_a_failing_tool_reports_an_error_of_kind_tool() -> None:
    recorder = Recorder()
    with pytest.raises(ToolException):
        await Explode().ainvoke({"x": 1}, {"callbacks": [recorder]})
    assert recorder.seen() == [("start", "tool", "explode"), ("error", "tool", "explode")]
    error = recorder.events[-1].data["error"]
    assert isinstance(error, ToolException)
    assert str(error) == "exploded on 1"


async def test_a_failing_tool_in_the_executor_is_an_error_under_it() -> None:
    recorder = Recorder()
    reply = AIMessage(content="", tool_calls=[tool_call(name="explode", args={"x": 2}, id="c")])
    with pytest.raises(ToolException):
        await ToolExecutor([Explode()]).ainvoke(reply, {"callbacks": [recorder]})
    executor_start = next(e for e in recorder.events if e.name == "ToolExecutor")
    (tool_error,) = [e for e in recorder.events if e.event == "error" and e.kind == "tool"]
    assert tool_error.name == "explode"
    assert tool_error.parent_ids == (executor_start.run_id,)


async def test_a_handled_tool_error_ends_with_the_error_answer() -> None:
    recorder = Recorder()
    handled = Explode(handle_tool_error=True)
    answer = await handled.ainvoke(
        tool_call(name="explode", args={"x": 3}, id="c"), {"callbacks": [recorder]}
    )
    assert (answer.content, answer.status) == ("exploded on 3", "error")
    assert recorder.seen() == [("start", "tool", "explode"), ("end", "tool", "explode")]
    assert recorder.events[-1].data["output"] is answer


async def test_every_kind_of_tool_reports_as_a_tool() -> None:
    @tool
    def double(n: int) -> int:
        """Double it."""
        return 2 * n

    tools = [
        double,
        StructuredTool.from_function(coroutine=_halve),
        RunnableLambda(lambda n: n + 1).as_tool(name="inc", description="Add one."),
    ]
    for made in tools:
        recorder = Recorder()
        await made.ainvoke(
            {"n": 4} if made.name != "inc" else {"input": 4}, {"callbacks": [recorder]}
        )
        assert recorder.seen()[0] == ("start", "tool", made.name)
        assert recorder.seen()[-1] == ("end", "tool", made.name)


async def test_a_tools_own_tags_and_metadata_mark_its_events() -> None:
    recorder = Recorder()
    marked = Explode(tags=["risky"], metadata={"owner": "ops"}, handle_tool_error=True)
    await marked.ainvoke({"x": 1}, {"callbacks": [recorder], "tags": ["run"]})
    start = recorder.events[0]
    assert (sorted(start.tags), start.metadata) == (["risky", "run"], {"owner": "ops"})


async def test_astream_events_names_a_tool_step_by_its_tool_name() -> None:
    events = [e async for e in Explode(handle_tool_error="sorry").astream_events({"x": 1})]
    assert [(e["event"], e["name"]) for e in events] == [
        ("on_tool_start", "explode"),
        ("on_tool_end", "explode"),
    ]
    assert events[-1]["data"]["output"] == "sorry"


async def _halve(n: int) -> float:
    """Halve it."""
    return n / 2
