"""RunnablePassthrough, assign and pick."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runnables import (
    AddableDict,
    RunnableAssign,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    RunnablePick,
)

pytestmark = pytest.mark.anyio


async def test_passthrough_is_identity() -> None:
    value = {"a": [1, 2]}
    assert await RunnablePassthrough().ainvoke(value) is value


async def test_passthrough_func_is_a_side_effect() -> None:
    seen: list[Any] = []
    out = await RunnablePassthrough(seen.append).ainvoke("x")
    assert out == "x"
    assert seen == ["x"]


async def test_assign_adds_keys_without_mutating_input() -> None:
    data = {"topic": "space", "n": 1}
    step = RunnablePassthrough.assign(upper=lambda d: d["topic"].upper(), n=lambda d: d["n"] + 1)
    out = await step.ainvoke(data)
    assert out == {"topic": "space", "n": 2, "upper": "SPACE"}
    assert list(out) == ["topic", "n", "upper"]  # existing key keeps its place, new appended
    assert data == {"topic": "space", "n": 1}


async def test_assign_method_on_any_runnable() -> None:
    chain = RunnableLambda(lambda x: {"x": x}).assign(y=lambda d: d["x"] * 2)
    assert await chain.ainvoke(3) == {"x": 3, "y": 6}


async def test_runnable_assign_of_parallel() -> None:
    step = RunnableAssign(RunnableParallel(len=lambda d: len(d)))
    assert await step.ainvoke({"a": 1}) == {"a": 1, "len": 1}


async def test_assign_on_non_dict_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"assign\(y\) expects a dict input, got str: 'text'"):
        await RunnablePassthrough.assign(y=lambda d: 1).ainvoke("text")  # type: ignore[arg-type]


async def test_pick_one_key_and_several() -> None:
    data = {"a": 1, "b": 2, "c": 3}
    assert await RunnablePick("b").ainvoke(data) == 2
    assert await RunnablePick(["c", "a"]).ainvoke(data) == {"c": 3, "a": 1}
    chain = RunnableLambda(lambda x: data).pick(["a"])
    assert await chain.ainvoke(None) == {"a": 1}


async def test_pick_missing_key_gives_none_or_leaves_it_out() -> None:
    # As in LCEL: a missing single key is None; with several keys only present ones are kept.
    assert await RunnablePick("zzz").ainvoke({"a": 1}) is None
    assert await RunnablePick(["a", "zzz"]).ainvoke({"a": 1}) == {"a": 1}


async def test_pick_on_non_dict_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"pick\('a'\) expects a dict input, got int: 5"):
        await RunnablePick("a").ainvoke(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [5, [], [1], None])
def test_pick_rejects_bad_keys_at_build_time(bad: Any) -> None:
    with pytest.raises(TypeError, match='"keys"'):
        RunnablePick(bad)


async def _words(text: str) -> AsyncIterator[str]:
    for word in text.split():
        yield word + " "


async def _records(text: str) -> AsyncIterator[dict[str, Any]]:
    # Keyed chunks (AddableDict) add up key by key; plain dicts would replace each other.
    yield AddableDict(text=text)
    yield AddableDict(lang="en")


async def test_passthrough_func_while_streaming_passes_chunks_on_then_sees_the_whole() -> None:
    seen: list[Any] = []
    chain = RunnableLambda(_words) | RunnablePassthrough(seen.append)
    assert [c async for c in chain.astream("a b c")] == ["a ", "b ", "c "]
    assert seen == ["a b c "]  # called once, with the chunks added up


async def test_passthrough_func_is_not_called_for_an_empty_stream() -> None:
    seen: list[Any] = []
    chain = RunnableLambda(_words) | RunnablePassthrough(seen.append)
    assert [c async for c in chain.astream("")] == []
    assert seen == []


def test_passthrough_rejects_a_non_callable_func() -> None:
    with pytest.raises(TypeError, match=r'"func".*got 5'):
        RunnablePassthrough(5)  # type: ignore[arg-type]


async def test_assign_streams_input_keys_then_the_new_keys() -> None:
    step = RunnablePassthrough.assign(n=lambda d: len(d["text"]))
    assert [c async for c in step.astream({"text": "abc"})] == [{"text": "abc"}, {"n": 3}]


async def test_assign_as_a_stage_passes_input_chunks_on_and_adds_keys_once_whole() -> None:
    chain = RunnableLambda(_records) | RunnableAssign({"size": lambda d: len(d)})
    chunks = [c async for c in chain.astream("hi")]
    assert chunks == [{"text": "hi"}, {"lang": "en"}, {"size": 2}]


async def test_assign_as_a_stage_of_an_empty_stream_adds_nothing() -> None:
    async def nothing(x: Any) -> AsyncIterator[dict[str, Any]]:
        return
        yield  # pragma: no cover

    chain = RunnableLambda(nothing) | RunnablePassthrough.assign(size=len)
    assert [c async for c in chain.astream("x")] == []


async def test_assign_stage_rejects_non_dict_chunks() -> None:
    chain = RunnableLambda(_words) | RunnablePassthrough.assign(size=len)
    with pytest.raises(TypeError, match=r"assign\(size\) expects a dict input, got str"):
        async for _ in chain.astream("a b"):
            pass


def test_assign_rejects_a_mapper_that_is_not_a_parallel() -> None:
    with pytest.raises(TypeError, match=r'"mapper".*got 5'):
        RunnableAssign(5)  # type: ignore[arg-type]


def test_reprs_show_the_mapper_and_the_keys() -> None:
    assign = RunnableAssign({"n": RunnablePassthrough()})
    assert repr(assign) == "RunnableAssign(mapper={\n  n: RunnablePassthrough()\n})"
    assert repr(RunnablePick(["a", "b"])) == "RunnablePick(['a', 'b'])"
