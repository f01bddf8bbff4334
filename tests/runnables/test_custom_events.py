"""Custom events: `dispatch_custom_event` / `adispatch_custom_event` from a step's body, seen by
handlers (`on_custom_event`) and by `astream_events` (LangChain's `on_custom_event`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runnables import (
    BaseCallbackHandler,
    RunEvent,
    RunnableConfig,
    RunnableGenerator,
    RunnableLambda,
    adispatch_custom_event,
    chain,
    dispatch_custom_event,
)

pytestmark = pytest.mark.anyio


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def on_start(self, event: RunEvent) -> None:
        self.events.append(event)

    def on_custom_event(self, event: RunEvent) -> None:
        self.events.append(event)


class AsyncRecorder(Recorder):
    async def on_custom_event(self, event: RunEvent) -> None:  # type: ignore[override]
        self.events.append(event)


@chain
async def progress(x: int, config: RunnableConfig) -> int:
    await adispatch_custom_event("progress", {"done": x}, config=config)
    return x


def sync_progress(x: int) -> int:
    dispatch_custom_event("sync_progress", [x, x])  # from its worker thread
    return x + 1


async def test_astream_events_yields_custom_events_in_langchains_shape() -> None:
    steps = (progress | RunnableLambda(sync_progress)).with_config(tags=["T"], metadata={"m": 1})
    events = [e async for e in steps.astream_events(3, version="v2")]
    root = events[0]["run_id"]
    starts = {e["name"]: e for e in events if e["event"] == "on_chain_start"}
    custom = [e for e in events if e["event"] == "on_custom_event"]
    assert [(e["name"], e["data"]) for e in custom] == [
        ("progress", {"done": 3}),
        ("sync_progress", [3, 3]),
    ]
    assert custom[0]["run_id"] == starts["progress"]["run_id"]
    assert custom[1]["run_id"] == starts["sync_progress"]["run_id"]
    assert all(e["parent_ids"] == [root] for e in custom)
    assert all(e["tags"] == ["T"] and e["metadata"] == {"m": 1} for e in custom)
    # Each comes between its step's start and end.
    order = [(e["event"], e["name"]) for e in events]
    assert (
        order.index(("on_chain_start", "progress"))
        < order.index(("on_custom_event", "progress"))
        < order.index(("on_chain_end", "progress"))
    )


@pytest.mark.parametrize("recorder", [Recorder, AsyncRecorder])
async def test_handlers_receive_custom_events_with_the_steps_run_id(
    recorder: type[Recorder],
) -> None:
    handler = recorder()
    steps = progress | RunnableLambda(sync_progress)
    assert await steps.ainvoke(1, {"callbacks": [handler], "tags": ["x"]}) == 2
    assert steps.invoke(5, {"callbacks": [handler]}) == 6
    starts = {(e.name, e.event): e for e in handler.events if e.event == "start"}
    custom = [e for e in handler.events if e.event == "custom_event"]
    assert [(e.name, e.data["data"]) for e in custom] == [
        ("progress", {"done": 1}),
        ("sync_progress", [1, 1]),
        ("progress", {"done": 5}),
        ("sync_progress", [5, 5]),
    ]
    assert custom[0].kind == "lambda"
    assert custom[0].tags == ["x"]
    assert custom[3].run_id == starts[("sync_progress", "start")].run_id
    assert custom[3].parent_ids == starts[("sync_progress", "start")].parent_ids


async def test_a_generator_dispatches_between_its_chunks() -> None:
    async def gen(chunks: AsyncIterator[int]) -> AsyncIterator[int]:
        async for chunk in chunks:
            await adispatch_custom_event("seen", chunk)
            yield chunk

    events = [e async for e in RunnableGenerator(gen).astream_events(7)]
    assert [e["event"] for e in events] == [
        "on_chain_start",
        "on_custom_event",
        "on_chain_stream",
        "on_chain_end",
    ]
    assert events[1]["data"] == 7
    assert events[1]["run_id"] == events[0]["run_id"]


async def test_a_dispatch_nobody_listens_to_does_nothing() -> None:
    assert await progress.ainvoke(2) == 2
    assert RunnableLambda(sync_progress).invoke(2) == 3
    await adispatch_custom_event("outside", 1)  # outside any run: nobody listens either
    dispatch_custom_event("outside", 1)


async def test_a_dispatch_outside_any_step_with_handlers_listening_fails() -> None:
    handler = Recorder()

    async def dispatch_from_the_handler(x: Any) -> Any:
        return x

    class Dispatcher(BaseCallbackHandler):
        def __init__(self) -> None:
            self.error: BaseException | None = None

        async def on_batch_start(self, event: RunEvent) -> None:
            try:
                await adispatch_custom_event("from the batch", 1)
            except RuntimeError as exc:
                self.error = exc

    dispatcher = Dispatcher()
    await RunnableLambda(dispatch_from_the_handler).abatch(
        [1], {"callbacks": [handler, dispatcher]}
    )
    assert isinstance(dispatcher.error, RuntimeError)
    assert "outside any step" in str(dispatcher.error)


async def test_a_custom_event_name_must_be_a_string() -> None:
    @chain
    async def bad(x: int) -> int:
        await adispatch_custom_event(1, x)  # type: ignore[arg-type]
        return x

    with pytest.raises(TypeError, match='Invalid "name" argument'):
        await bad.ainvoke(1, {"callbacks": [Recorder()]})


def test_a_config_that_is_not_a_dict_is_named() -> None:
    with pytest.raises(TypeError, match=r"Invalid \"config\" argument: .*'tags'"):
        dispatch_custom_event("progress", {}, config="tags")  # type: ignore[arg-type]


class FailingHandler(BaseCallbackHandler):
    raise_error = True

    def __init__(self) -> None:
        self.calls = 0

    async def on_custom_event(self, event: RunEvent) -> None:
        self.calls += 1
        raise RuntimeError("handler failed")


async def test_a_sync_dispatch_whose_async_handler_fails_delivers_once_and_raises_its_error() -> (
    None
):
    # The handler's RuntimeError is the handler's, not a sign of a missing loop: the delivery
    # is not tried again on another loop.
    handler = FailingHandler()

    def step(x: int) -> int:
        dispatch_custom_event("progress", x)
        return x

    with pytest.raises(RuntimeError, match="handler failed"):
        await RunnableLambda(step).ainvoke(1, {"callbacks": [handler]})
    assert handler.calls == 1


async def test_a_sync_dispatch_from_a_plain_thread_reaches_an_async_handler() -> None:
    # A plain thread (not a loop's worker thread) carrying the step's context: the handler's
    # coroutine runs on a bridge loop, by the rule of every sync entry point.
    import contextvars
    import threading

    recorder = AsyncRecorder()

    def step(x: int) -> int:
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(dispatch_custom_event, "from", x))
        thread.start()
        thread.join()
        return x

    assert await RunnableLambda(step).ainvoke(7, {"callbacks": [recorder]}) == 7
    custom = [e for e in recorder.events if e.event == "custom_event"]
    assert [(e.name, e.data) for e in custom] == [("from", {"data": 7})]
