"""Custom steps written LangChain's way: a `Runnable` subclass overriding public methods only."""

from __future__ import annotations

import threading
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator
from typing import Any

import anyio
import pytest

from runnables import Runnable, RunnableConfig, RunnableLambda, RunnableParallel
from runnables._bridge import threadsafe_caller
from runnables._config import EMPTY_CONFIG
from tests.runnables.test_concurrency import Gauge

pytestmark = pytest.mark.anyio


class Upper(Runnable[str, str]):
    """Overrides only `invoke`, as a LangChain user would."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.configs: list[Any] = []

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        self.threads.append(threading.get_ident())
        self.configs.append(config)
        suffix: str = kwargs.get("suffix", "")
        return input.upper() + suffix


class Shout(Runnable[str, str]):
    """Overrides only `ainvoke`."""

    async def ainvoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        await anyio.lowlevel.checkpoint()
        return input + "!"


class Letters(Runnable[str, str]):
    """Overrides only `stream`: a sync generator of chunks."""

    def stream(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Generator[str, None, None]:
        yield from input


class ALetters(Runnable[str, str]):
    """Overrides only `astream`."""

    async def astream(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncGenerator[str, None]:
        for letter in input:
            await anyio.lowlevel.checkpoint()
            yield letter


class Doubler(Runnable[str, str]):
    """Overrides only `transform`: chunks in, chunks out, one by one."""

    def transform(
        self, input: Iterator[str], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Generator[str, None, None]:
        for chunk in input:
            yield chunk * 2


class ADoubler(Runnable[str, str]):
    """Overrides only `atransform`."""

    async def atransform(
        self, input: AsyncIterator[str], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncGenerator[str, None]:
        async for chunk in input:
            yield chunk * 2


class Wrapped(RunnableLambda[str, str]):
    """Overrides `invoke` and calls `super().invoke`: the lambda's own behaviour, once."""

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return "<" + super().invoke(input, config, **kwargs) + ">"


class AWrapped(RunnableLambda[str, str]):
    async def ainvoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return "<" + await super().ainvoke(input, config, **kwargs) + ">"


class Circular(Runnable[str, str]):
    """Calls a default that can only come back to itself."""

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return super().invoke(input, config)


class Batched(Runnable[str, str]):
    """Overrides `invoke` and `batch`; its batch is its own."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        return input * 2

    def batch(self, inputs: Any, config: Any = None, **kwargs: Any) -> Any:
        self.batches.append(list(inputs))
        return super().batch(inputs, config, **kwargs)


async def test_a_step_overriding_only_invoke_runs_on_every_entry_point() -> None:
    step = Upper()
    assert step.invoke("a") == "A"
    assert await step.ainvoke("b") == "B"
    assert step.batch(["c", "d"]) == ["C", "D"]
    assert await step.abatch(["e"]) == ["E"]
    assert list(step.stream("f")) == ["F"]
    assert [c async for c in step.astream("g")] == ["G"]
    assert await step.ainvoke("h", suffix="?") == "H?"


async def test_ainvoke_of_an_invoke_override_runs_it_in_a_worker_thread() -> None:
    step = Upper()
    await step.ainvoke("a", {"tags": ["t"]})
    assert step.threads == [step.threads[0]]
    assert step.threads[0] != threading.get_ident()
    assert step.configs[0]["tags"] == ["t"]


async def test_a_step_overriding_only_ainvoke_serves_sync_callers_through_the_bridge() -> None:
    step = Shout()
    assert await step.ainvoke("a") == "a!"
    assert step.invoke("b") == "b!"
    assert step.batch(["c"]) == ["c!"]
    assert list(step.stream("d")) == ["d!"]


async def test_custom_steps_work_in_chains_parallels_and_batches() -> None:
    chain = RunnableLambda(lambda x: x + "x") | Upper() | Shout()
    assert await chain.ainvoke("a") == "AX!"
    assert chain.invoke("b") == "BX!"
    assert await chain.abatch(["c", "d"]) == ["CX!", "DX!"]
    both = RunnableParallel(up=Upper(), shout=Shout())
    assert await both.ainvoke("q") == {"up": "Q", "shout": "q!"}
    assert await (Upper() | Shout()).map().ainvoke(["a", "b"]) == ["A!", "B!"]


async def test_stream_overrides_stream_their_chunks_through_a_chain() -> None:
    assert [c async for c in Letters().astream("ab")] == ["a", "b"]
    assert await Letters().ainvoke("abc") == "abc"
    assert await ALetters().ainvoke("xy") == "xy"
    assert [c async for c in (Upper() | ALetters()).astream("ab")] == ["A", "B"]
    assert list((Upper() | Letters()).stream("ab")) == ["A", "B"]


async def test_transform_overrides_transform_chunk_by_chunk() -> None:
    assert Doubler()._transforms
    assert ADoubler()._transforms
    assert not Upper()._transforms
    assert [c async for c in (ALetters() | Doubler()).astream("ab")] == ["aa", "bb"]
    assert [c async for c in (ALetters() | ADoubler()).astream("ab")] == ["aa", "bb"]
    assert await Doubler().ainvoke("ab") == "abab"
    assert list(Doubler().transform(iter(["x", "y"]))) == ["xx", "yy"]


async def test_super_invoke_in_an_override_runs_the_inherited_step_once() -> None:
    step = Wrapped(lambda x: x + "1")
    assert step.invoke("a") == "<a1>"
    assert await step.ainvoke("b") == "<b1>"
    assert await (step | Upper()).ainvoke("c") == "<C1>"
    astep = AWrapped(lambda x: x + "2")
    assert await astep.ainvoke("d") == "<d2>"
    assert astep.invoke("e") == "<e2>"


async def test_an_override_calling_back_into_itself_fails_clearly() -> None:
    with pytest.raises(NotImplementedError, match=r"Circular\.invoke calls a default"):
        await Circular().ainvoke("a")
    with pytest.raises(NotImplementedError, match=r"Circular\.invoke calls a default"):
        Circular().invoke("a")


async def test_a_batch_override_is_the_steps_own_batch() -> None:
    step = Batched()
    assert step.batch(["a", "b"]) == ["aa", "bb"]
    assert step.batches == [["a", "b"]]
    assert await (step | Upper()).ainvoke("c") == "CC"


async def test_a_sync_override_holds_a_slot_of_the_runs_max_concurrency() -> None:
    gauge = Gauge()
    release = threading.Event()
    two_in = anyio.Event()
    call_soon = threadsafe_caller()

    class Blocking(Runnable[int, int]):
        def invoke(self, input: int, config: RunnableConfig | None = None, **kw: Any) -> int:
            gauge.enter()
            if gauge.running == 2:
                call_soon(two_in.set)
            release.wait(10)
            gauge.leave()
            return input

    async def watch() -> None:
        await two_in.wait()
        release.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(watch)
        assert await Blocking().abatch(list(range(6)), {"max_concurrency": 2}) == list(range(6))
    assert gauge.peak == 2


async def test_an_override_reports_as_its_own_step_in_events() -> None:
    chain = RunnableLambda(lambda x: x, name="first") | Upper() | Shout()
    events = [e async for e in chain.astream_events("a", version="v2")]
    root = events[0]["run_id"]
    starts = {e["name"]: e for e in events if e["event"] == "on_chain_start"}
    ends = {e["name"]: e for e in events if e["event"] == "on_chain_end"}
    assert starts["Upper"]["data"] == {"input": "a"}
    assert ends["Upper"]["data"]["output"] == "A"
    assert ends["Shout"]["data"]["output"] == "A!"
    assert starts["Upper"]["parent_ids"] == [root] == starts["Shout"]["parent_ids"]
    assert starts["Upper"]["tags"] == ["seq:step:2"]


async def test_an_override_changing_its_config_changes_nothing_outside() -> None:
    class Meddles(Runnable[int, int]):
        def invoke(self, input: int, config: RunnableConfig | None = None, **kw: Any) -> int:
            assert config is not None
            config["tags"] = ["meddled"]
            return input

    assert await (Meddles() | Meddles()).ainvoke(1) == 1
    assert await Meddles().ainvoke(1) == 1
    events = [e async for e in (Meddles() | Meddles()).astream_events(1)]
    assert all("meddled" not in e["tags"] for e in events)
    assert Upper().invoke("a", None) == "A"
    assert EMPTY_CONFIG == {}  # the config shared by calls without one is untouched


async def test_an_abatch_override_serves_sync_batch_through_the_bridge() -> None:
    class ABatched(Runnable[int, int]):
        def __init__(self) -> None:
            self.calls: list[list[int]] = []

        async def ainvoke(self, input: int, config: Any = None, **kw: Any) -> int:
            return input + 1

        async def abatch(self, inputs: Any, config: Any = None, **kwargs: Any) -> Any:
            self.calls.append(list(inputs))
            return await super().abatch(inputs, config, **kwargs)

    step = ABatched()
    assert step.batch([1, 2]) == [2, 3]
    assert await step.abatch([3]) == [4]
    assert step.calls == [[1, 2], [3]]


async def test_map_hands_the_whole_list_to_a_batch_or_abatch_override() -> None:
    class ABatched(Runnable[int, str]):
        def __init__(self) -> None:
            self.calls: list[list[int]] = []

        def invoke(self, input: int, config: Any = None, **kw: Any) -> str:
            return f"one {input}"

        async def abatch(self, inputs: Any, config: Any = None, **kwargs: Any) -> Any:
            self.calls.append(list(inputs))
            return [f"many {i}" for i in inputs]

    # langchain-core 1.8.3: Batched().map().invoke(["a", "b"]) calls its batch once.
    batched = Batched()
    assert batched.map().invoke(["a", "b"]) == ["aa", "bb"]
    assert await batched.map().ainvoke(["c"]) == ["cc"]
    assert batched.batches == [["a", "b"], ["c"]]
    abatched = ABatched()
    assert await abatched.map().ainvoke([1, 2]) == ["many 1", "many 2"]
    assert (abatched | RunnableLambda(lambda x: x)).map().invoke([3]) == ["one 3"]  # no override
    assert abatched.map().invoke([4]) == ["many 4"]
    assert abatched.calls == [[1, 2], [4]]
    events = [e async for e in batched.map().astream_events(["e", "f"], version="v2")]
    root = events[0]
    items = [e for e in events if e["event"] == "on_chain_start" and e["name"] == "Batched"]
    assert [e["data"]["input"] for e in items] == ["e", "f"]
    assert all(e["parent_ids"] == [root["run_id"]] for e in items)
