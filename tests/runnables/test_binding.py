"""bind / with_config (RunnableBinding) and map (RunnableEach): options, config, streams, notes."""

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from runnables import RunnableGenerator, RunnableLambda
from runnables._binding import RunnableBinding, RunnableEach
from tests.clock import virtual_time_backends

pytestmark = pytest.mark.anyio


@pytest.fixture(params=virtual_time_backends(autojump=True))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


async def _words(text: str) -> AsyncIterator[str]:
    for word in text.split():
        yield word + " "


def test_binding_rejects_a_non_runnable() -> None:
    with pytest.raises(TypeError, match=r'"bound".*got 5'):
        RunnableBinding(5)  # type: ignore[arg-type]


def test_each_rejects_a_non_runnable() -> None:
    with pytest.raises(TypeError, match=r'"bound".*got 5'):
        RunnableEach(5)  # type: ignore[arg-type]


def test_binding_repr_shows_kwargs_and_config() -> None:
    step = RunnableLambda(lambda x: x, name="same").bind(k=1).with_config(tags=["t"])
    assert repr(step).endswith("kwargs={'k': 1}, config={'tags': ['t']})")


async def test_a_bound_step_in_the_middle_of_a_stream_keeps_streaming_with_its_config() -> None:
    tags: list[list[str]] = []

    async def upper(chunks: AsyncIterator[str], config: Any) -> AsyncIterator[str]:
        tags.append(config.get("tags", []))
        async for chunk in chunks:
            yield chunk.upper()

    chain = RunnableLambda(_words) | RunnableGenerator(upper).with_config(tags=["middle"])
    assert [c async for c in chain.astream("a b c")] == ["A ", "B ", "C "]
    assert tags == [["middle"]]


async def test_with_config_timeout_bounds_a_stream() -> None:
    async def stalls(x: str) -> AsyncIterator[str]:
        yield "first"
        await anyio.sleep_forever()
        yield "never"  # pragma: no cover

    seen: list[str] = []
    start = anyio.current_time()
    with pytest.raises(TimeoutError, match=r"stalls timed out after 0\.5 s \(while streaming\)"):
        async for chunk in RunnableLambda(stalls).with_config(timeout=0.5).astream("x"):
            seen.append(chunk)
    assert seen == ["first"]
    assert anyio.current_time() - start == pytest.approx(0.5)


async def test_with_config_timeout_bounds_a_stage_in_the_middle_of_a_stream() -> None:
    async def stalls(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()
        await anyio.sleep_forever()
        yield "never"  # pragma: no cover

    seen: list[str] = []
    chain = RunnableLambda(_words) | RunnableGenerator(stalls).with_config(timeout=0.5)
    with pytest.raises(TimeoutError, match=r"timed out after 0\.5 s"):
        async for chunk in chain.astream("a b"):
            seen.append(chunk)
    assert seen == ["A ", "B "]


async def test_a_failing_map_item_is_noted_with_its_index() -> None:
    async def check(x: int) -> int:
        if x == 3:
            raise ValueError("three")
        return x

    with pytest.raises(ValueError, match="three") as info:
        await RunnableLambda(check).map().ainvoke([1, 2, 3])
    assert info.value.__notes__[0] == "in item 2 of RunnableEach<check>"


async def test_map_as_a_stream_stage_maps_the_whole_input() -> None:
    async def numbers(x: int) -> AsyncIterator[list[int]]:
        yield [x]
        yield [x + 1]

    chain = RunnableLambda(numbers) | RunnableLambda(lambda n: n * 10).map()
    assert [c async for c in chain.astream(1)] == [[10, 20]]


def test_map_types_are_lists_of_the_step_types() -> None:
    def length(text: str) -> int:
        return len(text)

    each = RunnableLambda(length).map()
    assert each.InputType == list[str]
    assert each.OutputType == list[int]
