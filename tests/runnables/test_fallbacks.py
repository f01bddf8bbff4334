"""with_fallbacks: order, handled types, all-fail error, exception_key, streaming."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runnables import RunnableLambda

pytestmark = pytest.mark.anyio


def failing(message: str, exc: type[Exception] = RuntimeError) -> RunnableLambda[Any, Any]:
    def fail(x: Any) -> Any:
        raise exc(message)

    return RunnableLambda(fail, name=f"fail[{message}]")


async def test_first_fallback_that_succeeds_wins() -> None:
    step = failing("primary").with_fallbacks([failing("second"), lambda x: f"third({x})"])
    assert await step.ainvoke("a") == "third(a)"


async def test_all_fail_raises_primary_error_with_others_as_notes() -> None:
    step = failing("primary", ValueError).with_fallbacks([failing("backup", KeyError)])
    with pytest.raises(ValueError, match="primary") as info:
        await step.ainvoke("a")
    assert any(
        "fallback 1" in n and "KeyError" in n and "backup" in n for n in info.value.__notes__
    )


async def test_unhandled_exception_types_are_raised_at_once() -> None:
    calls: list[str] = []

    def backup(x: Any) -> str:
        calls.append(x)
        return "backup"

    step = failing("primary", KeyError).with_fallbacks([backup], exceptions_to_handle=(ValueError,))
    with pytest.raises(KeyError):
        await step.ainvoke("a")
    assert calls == []


async def test_exception_key_passes_the_previous_error() -> None:
    def backup(d: dict[str, Any]) -> str:
        return f"{d['q']} after {type(d['error']).__name__}"

    step = failing("primary", TimeoutError).with_fallbacks([backup], exception_key="error")
    assert await step.ainvoke({"q": "hi"}) == "hi after TimeoutError"


async def test_exception_key_needs_dict_input() -> None:
    step = failing("primary").with_fallbacks([lambda d: d], exception_key="error")
    with pytest.raises(TypeError, match="needs a dict input"):
        await step.ainvoke("not a dict")


async def test_stream_falls_back_only_before_first_chunk() -> None:
    async def broken(x: str) -> AsyncIterator[str]:
        raise ConnectionError("down")
        yield ""  # pragma: no cover - makes this an async generator

    async def good(x: str) -> AsyncIterator[str]:
        yield "a"
        yield "b"

    step = RunnableLambda(broken).with_fallbacks([RunnableLambda(good)])
    assert [c async for c in step.astream("x")] == ["a", "b"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ([], {}, ValueError),
        ("abc", {}, TypeError),
        ([lambda x: x], {"exceptions_to_handle": ValueError}, TypeError),
        ([5], {}, TypeError),
    ],
)
def test_bad_arguments_fail_at_build_time(
    args: Any, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        RunnableLambda(lambda x: x).with_fallbacks(args, **kwargs)


@pytest.mark.parametrize("method", ["ainvoke", "astream"])
async def test_all_fail_keeps_the_last_fallbacks_error_as_context(method: str) -> None:
    step = failing("primary", ValueError).with_fallbacks(
        [failing("second", KeyError), failing("third", LookupError)]
    )
    with pytest.raises(ValueError, match="primary") as info:
        if method == "ainvoke":
            await step.ainvoke("a")
        else:
            async for _ in step.astream("a"):
                pass
    context = info.value.__context__
    assert isinstance(context, LookupError)
    assert str(context) == "third"


async def test_a_stream_that_fails_after_its_first_chunk_does_not_fall_back() -> None:
    backups: list[Any] = []

    async def half(x: Any) -> AsyncIterator[str]:
        yield "first "
        raise ConnectionError("dropped")

    def backup(x: Any) -> str:
        backups.append(x)
        return "backup"

    step = RunnableLambda(half).with_fallbacks([backup])
    seen: list[str] = []
    with pytest.raises(ConnectionError, match="dropped"):
        async for chunk in step.astream("a"):
            seen.append(chunk)
    assert seen == ["first "]
    assert backups == []
