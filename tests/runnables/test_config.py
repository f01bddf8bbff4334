"""Config: propagation to nested steps, run_name on the root only, merging, bad values."""

from typing import Any

import pytest

from runnables import RunnableConfig, RunnableLambda, RunnableParallel

pytestmark = pytest.mark.anyio


def recorder(store: list[RunnableConfig]) -> RunnableLambda[Any, Any]:
    def record(x: Any, config: RunnableConfig) -> Any:
        store.append(config)
        return x

    return RunnableLambda(record)


async def test_config_reaches_every_nested_step() -> None:
    seen: list[RunnableConfig] = []
    chain = RunnableParallel(a=recorder(seen) | recorder(seen), b={"c": recorder(seen)})
    config: RunnableConfig = {
        "tags": ["t1"],
        "metadata": {"user": "u"},
        "configurable": {"model": "m"},
        "max_concurrency": 3,
        "recursion_limit": 7,
    }
    await chain.ainvoke("x", config)
    assert len(seen) == 3
    for cfg in seen:
        assert cfg["tags"] == ["t1"]
        assert cfg["metadata"] == {"user": "u"}
        assert cfg["configurable"] == {"model": "m"}
        assert cfg["max_concurrency"] == 3
        assert cfg["recursion_limit"] == 7


async def test_run_name_names_the_root_only() -> None:
    seen: list[RunnableConfig] = []
    root = recorder(seen)
    await root.ainvoke("x", {"run_name": "root"})
    assert seen[-1]["run_name"] == "root"
    chain = recorder(seen) | recorder(seen)
    await chain.ainvoke("x", {"run_name": "root"})
    assert "run_name" not in seen[-1]
    assert "run_name" not in seen[-2]


async def test_with_config_merges_under_the_callers_config() -> None:
    seen: list[RunnableConfig] = []
    step = recorder(seen).with_config(tags=["bound"], metadata={"a": 1, "b": 1})
    await step.ainvoke("x", {"tags": ["caller"], "metadata": {"b": 2}})
    assert seen[0]["tags"] == ["bound", "caller"]
    assert seen[0]["metadata"] == {"a": 1, "b": 2}


async def test_with_config_accepts_a_dict_and_chains() -> None:
    seen: list[RunnableConfig] = []
    step = recorder(seen).with_config({"tags": ["one"]}).with_config(tags=["two"])
    await step.ainvoke("x")
    assert seen[0]["tags"] == ["one", "two"]


@pytest.mark.parametrize(
    ("bad", "error"),
    [(0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError), ("4", TypeError)],
)
async def test_bad_max_concurrency_is_rejected(bad: Any, error: type[Exception]) -> None:
    # A wrong kind is a TypeError, a number out of range a ValueError.
    with pytest.raises(error, match=rf"max_concurrency.*{bad!r}"):
        await RunnableLambda(lambda x: x).ainvoke(1, {"max_concurrency": bad})


@pytest.mark.parametrize(
    ("key", "bad", "error"),
    [
        ("recursion_limit", -1, ValueError),
        ("recursion_limit", "3", TypeError),
        ("recursion_limit", 2.0, TypeError),
        ("timeout", 0, ValueError),
        ("timeout", float("nan"), ValueError),
        ("timeout", "5", TypeError),
        ("timeout", False, TypeError),
    ],
)
def test_bad_recursion_limit_and_timeout_are_rejected_by_kind(
    key: str, bad: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match=rf'"{key}"'):
        RunnableLambda(lambda x: x).with_config({key: bad})  # type: ignore[arg-type]


def test_bad_max_concurrency_in_with_config_fails_at_build_time() -> None:
    with pytest.raises(ValueError, match="max_concurrency"):
        RunnableLambda(lambda x: x).with_config(max_concurrency=0)


async def test_unknown_config_key_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"unknown keys.*'tag'"):
        await RunnableLambda(lambda x: x).ainvoke(1, {"tag": ["x"]})  # type: ignore[arg-type]


async def test_config_must_be_a_dict() -> None:
    with pytest.raises(TypeError, match='"config"'):
        await RunnableLambda(lambda x: x).ainvoke(1, ["tags"])  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [5, "t", [1], {"t"}])
async def test_bad_tags_are_named(bad: Any) -> None:
    with pytest.raises(TypeError, match=r'"tags".*expected a list of str'):
        await RunnableLambda(lambda x: x).ainvoke(1, {"tags": bad})
