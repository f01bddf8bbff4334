"""RunnablePassthrough, assign and pick."""

from typing import Any

import pytest

from runnables import (
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
