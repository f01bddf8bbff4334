"""RunnableLambda and RunnableGenerator: signatures, sync/async, returned runnables, recursion."""

import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from runnables import (
    RunnableConfig,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
    chain,
)

pytestmark = pytest.mark.anyio


async def test_function_taking_config_receives_a_dict() -> None:
    seen: list[Any] = []

    def f(x: int, config: RunnableConfig) -> int:
        seen.append(config)
        return x

    await RunnableLambda(f).ainvoke(1, {"tags": ["t"], "metadata": {"k": "v"}})
    assert isinstance(seen[0], dict)
    assert seen[0]["tags"] == ["t"]
    assert seen[0]["metadata"] == {"k": "v"}


async def test_sync_lambda_runs_in_worker_thread_under_ainvoke() -> None:
    main = threading.get_ident()
    thread = await RunnableLambda(lambda x: threading.get_ident()).ainvoke(None)
    assert thread != main


def test_async_lambda_under_sync_invoke() -> None:
    async def f(x: int) -> int:
        return x * 3

    assert RunnableLambda(f).invoke(2) == 6


async def test_returned_runnable_is_invoked_with_same_input() -> None:
    inner = RunnableLambda(lambda x: f"inner({x})")
    outer = RunnableLambda(lambda x: inner)
    assert await outer.ainvoke("a") == "inner(a)"


async def test_endless_recursion_hits_the_limit() -> None:
    def again(x: int) -> Any:
        return looping

    looping = RunnableLambda(again)
    with pytest.raises(RecursionError, match=r"Recursion limit reached: RunnableLambda\(again\)"):
        await looping.ainvoke(0, {"recursion_limit": 5})


async def test_recursion_within_limit_works() -> None:
    def countdown(x: int) -> Any:
        return x if x == 0 else (RunnableLambda(lambda _: x - 1) | step)

    step = RunnableLambda(countdown)
    assert await step.ainvoke(3) == 0


async def test_kwargs_reach_the_function() -> None:
    def f(x: str, *, suffix: str = "") -> str:
        return x + suffix

    assert await RunnableLambda(f).ainvoke("a", suffix="!") == "a!"
    assert await RunnableLambda(f).bind(suffix="?").ainvoke("a") == "a?"


async def test_chain_decorator() -> None:
    @chain
    async def shout(x: str) -> str:
        return x.upper()

    assert isinstance(shout, RunnableLambda)
    assert shout.name == "shout"
    assert await shout.ainvoke("hi") == "HI"


async def test_generator_lambda_sums_on_invoke_and_streams_chunks() -> None:
    async def words(x: str) -> AsyncIterator[str]:
        for word in x.split():
            yield word + " "

    def sync_words(x: str) -> Iterator[str]:
        yield from (w + " " for w in x.split())

    for fn in (words, sync_words):
        step = RunnableLambda(fn)
        assert await step.ainvoke("a b c") == "a b c "
        assert [c async for c in step.astream("a b c")] == ["a ", "b ", "c "]


async def test_runnable_generator_transforms_a_stream() -> None:
    def upper(chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            yield chunk.upper()

    async def aupper(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    for gen in (
        RunnableGenerator(upper),
        RunnableGenerator(aupper),
        RunnableGenerator(upper, aupper),
    ):
        assert await gen.ainvoke("abc") == "ABC"
        pipeline = RunnableLambda(lambda x: x) | gen
        assert await pipeline.ainvoke("xy") == "XY"


def test_runnable_generator_rejects_plain_function() -> None:
    with pytest.raises(TypeError, match='"transform"'):
        RunnableGenerator(lambda x: x)


def test_runnable_generator_sync_invoke_and_stream() -> None:
    def split(chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            yield from chunk

    gen = RunnableGenerator(split)
    assert gen.invoke("abc") == "abc"
    assert list(gen.stream("abc")) == ["a", "b", "c"]


# -- a sync function that returns an awaitable ----------------------------------------------------

FORGOT_ASYNC = r"returned an awaitable .* but is not declared `async def`.*declare the function"


async def fetch(x: int) -> int:
    return x


def keep(made: list[Coroutine[Any, Any, int]], coro: Coroutine[Any, Any, int]) -> Any:
    made.append(coro)
    return coro


async def test_plain_def_returning_a_coroutine_is_a_type_error_naming_it() -> None:
    made: list[Coroutine[Any, Any, int]] = []

    def fetch_later(x: int) -> Any:
        return keep(made, fetch(x))

    with pytest.raises(TypeError, match=FORGOT_ASYNC) as info:
        await RunnableLambda(fetch_later).ainvoke(1)

    assert "fetch_later" in str(info.value)
    assert "<coroutine object fetch" in str(info.value)
    # Closed before it ever ran, so no "never awaited" RuntimeWarning (an error in this suite).
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED


async def test_lambda_returning_a_coroutine_in_a_chain_is_a_type_error() -> None:
    made: list[Coroutine[Any, Any, int]] = []
    chain = RunnableLambda(lambda x: x + 1) | (lambda x: keep(made, fetch(x)))

    with pytest.raises(TypeError, match=FORGOT_ASYNC) as info:
        await chain.ainvoke(1)

    assert "<function " in str(info.value)
    assert "<lambda>" in str(info.value)
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED


async def test_function_taking_config_returning_a_coroutine_is_a_type_error() -> None:
    made: list[Coroutine[Any, Any, int]] = []

    def with_config(x: int, config: RunnableConfig) -> Any:
        return keep(made, fetch(x))

    with pytest.raises(TypeError, match=FORGOT_ASYNC):
        await RunnableLambda(with_config).ainvoke(1, {"tags": ["t"]})

    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED


async def test_function_returning_another_awaitable_is_a_type_error() -> None:
    class Pending:
        def __await__(self) -> Generator[Any, None, int]:
            yield from ()
            return 1

    with pytest.raises(TypeError, match=FORGOT_ASYNC + r".*") as info:
        await RunnableLambda(lambda x: Pending()).ainvoke(1)

    assert "Pending object" in str(info.value)


def test_sync_invoke_of_a_function_returning_a_coroutine_is_the_same_type_error() -> None:
    made: list[Coroutine[Any, Any, int]] = []

    with pytest.raises(TypeError, match=FORGOT_ASYNC):
        RunnableLambda(lambda x: keep(made, fetch(x))).invoke(1)

    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED


async def test_a_step_at_the_last_recursion_level_can_still_call_others() -> None:
    inner = RunnableLambda(lambda x: x + 1)

    async def uses_config(x: int, config: Any) -> int:
        # Run at recursion level 0 (its caller returned it), it passes its config on.
        result: int = await inner.ainvoke(x, config)
        return result

    returning = RunnableLambda(lambda x: RunnableLambda(uses_config))
    assert await returning.ainvoke(1, {"recursion_limit": 1}) == 2
    with pytest.raises(ValueError, match="recursion_limit"):
        await inner.ainvoke(1, {"recursion_limit": -1})


def test_a_subclass_that_awaits_in_its_own_acall_runs_on_a_loop() -> None:
    # The fast paths (no loop for a sync invoke, no task in a parallel) describe the class's own
    # `_acall`; a subclass that overrides it must not inherit them from the instance.
    class Awaits(RunnableLambda[int, int]):
        async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> int:
            await anyio.lowlevel.checkpoint()
            return int(input) + 1

    class AwaitsToo(RunnablePassthrough[int]):
        async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> int:
            await anyio.lowlevel.checkpoint()
            return int(input)

    step, passthrough = Awaits(lambda x: x), AwaitsToo()
    assert step.invoke(1) == 2
    assert passthrough.invoke(3) == 3
    assert RunnableParallel(a=step, b=passthrough, c=RunnablePassthrough()).invoke(1) == {
        "a": 2,
        "b": 1,
        "c": 1,
    }


def cfg_tags(x: int, cfg: RunnableConfig) -> Any:
    return cfg.get("tags")


def optional_cfg_tags(x: int, settings: RunnableConfig | None = None) -> Any:
    return settings.get("tags") if settings is not None else "no config"


def string_annotated(x: int, c: "RunnableConfig") -> Any:
    return c.get("tags")


async def test_a_parameter_annotated_runnable_config_receives_the_steps_config() -> None:
    funcs: list[Callable[..., Any]] = [cfg_tags, optional_cfg_tags, string_annotated]
    for func in funcs:
        assert await RunnableLambda(func).ainvoke(1, {"tags": ["t"]}) == ["t"]
        assert RunnableLambda(func).invoke(1, {"tags": ["u"]}) == ["u"]


async def test_async_functions_and_chain_take_a_renamed_config_parameter() -> None:
    @chain
    async def tagged(x: int, run_config: RunnableConfig) -> Any:
        return run_config.get("tags")

    assert await tagged.ainvoke(1, {"tags": ["a"]}) == ["a"]
    assert await (RunnableLambda(lambda x: x) | tagged).ainvoke(1, {"tags": ["b"]}) == ["b"]


async def test_generator_steps_take_a_renamed_config_parameter() -> None:
    def gen(x: int, conf: RunnableConfig) -> Iterator[Any]:
        yield conf.get("metadata")

    async def agen(chunks: AsyncIterator[int], conf: RunnableConfig) -> AsyncIterator[Any]:
        async for _ in chunks:
            yield conf.get("metadata")

    config: RunnableConfig = {"metadata": {"k": 1}}
    assert [c async for c in RunnableLambda(gen).astream(1, config)] == [{"k": 1}]
    assert await RunnableGenerator(agen).ainvoke(1, config) == {"k": 1}


def test_a_function_requiring_langchains_run_manager_is_rejected_when_built() -> None:
    def f(x: int, run_manager: Any) -> int:
        return x

    with pytest.raises(TypeError, match=r'Invalid "func" argument.*run_manager'):
        RunnableLambda(f)

    def g(x: int, run_manager: Any = None) -> Any:
        return run_manager

    assert RunnableLambda(g).invoke(1) is None  # given a default, it keeps it


async def test_a_sync_generator_left_early_is_closed_in_a_worker_thread() -> None:
    # Its `finally` runs when the consumer stops (not when it is collected), and off the loop:
    # cleanup may block.
    import contextlib

    where: list[threading.Thread] = []

    def gen(x: int) -> Iterator[int]:
        try:
            yield from range(x)
        finally:
            where.append(threading.current_thread())

    stream = RunnableLambda(gen).astream(5)
    async with contextlib.aclosing(stream) as chunks:
        async for _ in chunks:
            break
    assert len(where) == 1
    assert where[0] is not threading.current_thread()
