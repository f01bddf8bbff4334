"""The contract every wrapper keeps (bind, with_config, retry, timeout, fallbacks, each, race),
stated once and checked for each of them and for the plain step they wrap."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from runnables import (
    Runnable,
    RunnableConfig,
    RunnableParallel,
    RunnableRace,
    RunnableRetry,
    RunnableTimeout,
    RunnableWithFallbacks,
    RunnableWrapper,
)
from tests.runnables.test_concurrency import Gauge


class Shout(Runnable[str, str]):
    """A leaf step that streams its input's words upper-cased, and takes one call option."""

    def __init__(self, name: str = "Shout") -> None:
        self._name = name

    def check_call_options(self, options: Mapping[str, Any]) -> None:
        suffix = options.get("suffix", "")
        if not isinstance(suffix, str):
            raise TypeError(f'Invalid "suffix" option: {suffix!r}; expected a str')

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> str:
        return "".join([c async for c in self._astream(input, config, **kwargs)])

    async def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[str]:
        for word in str(input).split():
            await anyio.lowlevel.checkpoint()
            yield word.upper() + kwargs.get("suffix", "") + " "


def _never_called(x: Any) -> str:
    raise AssertionError("a fallback ran although the primary succeeded")  # pragma: no cover


@dataclass
class Case:
    """A wrapper around `Shout`, an input for it, and what it returns."""

    build: Callable[[Runnable[Any, Any]], Runnable[Any, Any]]
    input: Any
    output: Any
    # Steps (by name) whose events must appear under the root's run, as its children.
    children: tuple[str, ...]


CASES: dict[str, Case] = {
    "plain": Case(lambda s: s, "a b", "A B ", ()),
    "bind": Case(lambda s: s.bind(suffix="!"), "a b", "A! B! ", ()),
    "with_config": Case(lambda s: s.with_config(tags=["t"]), "a b", "A B ", ()),
    "retry": Case(lambda s: s.with_retry(stop_after_attempt=2), "a b", "A B ", ("Shout",)),
    "timeout": Case(lambda s: s.with_timeout(30), "a b", "A B ", ("Shout",)),
    "fallbacks": Case(lambda s: s.with_fallbacks([_never_called]), "a b", "A B ", ("Shout",)),
    "each": Case(lambda s: s.map(), ["a", "b c"], ["A ", "B C "], ("Shout", "Shout")),
    "race": Case(lambda s: RunnableRace(s, Shout("Other")), "a", "A ", ("Shout", "Other")),
}
WRAPPERS = {k: v for k, v in CASES.items() if k != "plain"}


def add(chunks: list[Any]) -> Any:
    out = chunks[0]
    for chunk in chunks[1:]:
        out = out + chunk
    return out


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_every_wrapper_derives_from_the_one_base() -> None:
    for name, c in WRAPPERS.items():
        step = c.build(Shout())
        assert isinstance(step, RunnableWrapper), name
        assert step.bound is not None


@pytest.mark.anyio
async def test_ainvoke_astream_and_abatch(case: Case) -> None:
    step = case.build(Shout())
    assert await step.ainvoke(case.input) == case.output
    assert add([c async for c in step.astream(case.input)]) == case.output
    assert await step.abatch([case.input, case.input]) == [case.output, case.output]


def test_invoke_stream_and_batch(case: Case) -> None:
    step = case.build(Shout())
    assert step.invoke(case.input) == case.output
    assert add(list(step.stream(case.input))) == case.output
    assert step.batch([case.input]) == [case.output]


@pytest.mark.anyio
async def test_events_show_the_wrapped_steps_under_the_wrapper(case: Case) -> None:
    step = case.build(Shout())
    events = [e async for e in step.astream_events(case.input)]
    root = events[0]
    assert root["event"] == "on_chain_start"
    assert root["parent_ids"] == []
    assert events[-1]["event"] == "on_chain_end"
    assert events[-1]["run_id"] == root["run_id"]
    assert events[-1]["data"]["output"] == case.output
    starts = [e for e in events if e["event"] == "on_chain_start"]
    children = [e["name"] for e in starts[1:] if e["parent_ids"] == [root["run_id"]]]
    assert sorted(children) == sorted(case.children)
    # Nothing else: every start but the root's is one of those children.
    assert len(starts) == 1 + len(case.children)


def test_call_options_are_checked_when_the_chain_is_built(case: Case) -> None:
    step = case.build(Shout())
    with pytest.raises(TypeError, match='"suffix" option: 5'):
        step.bind(suffix=5)
    assert step.bind(suffix="?") is not None


@pytest.mark.anyio
async def test_pickles_and_runs_after(case: Case) -> None:
    step = pickle.loads(pickle.dumps(case.build(Shout())))
    assert await step.ainvoke(case.input) == case.output


def _counted(gauge: Gauge) -> Runnable[Any, Any]:
    leaf = gauge.async_leaf()
    return RunnableParallel(a=leaf, b=leaf, c=leaf)


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(CASES))
async def test_the_run_wide_limit_holds_through_the_wrapper(name: str) -> None:
    # A race runs its alternatives at once: give it two counted ones.
    build = (lambda s: RunnableRace(s, s)) if name == "race" else CASES[name].build
    gauge = Gauge()
    step = build(_counted(gauge).with_config(tags=["x"]) if name == "bind" else _counted(gauge))
    value: Any = ["x", "y"] if name == "each" else "x"
    await step.ainvoke(value, {"max_concurrency": 1})
    async for _ in step.astream(value, {"max_concurrency": 1}):
        pass
    assert gauge.peak == 1
    # and through a bound config, on the stream path too
    gauge.peak = 0
    async for _ in build(_counted(gauge)).with_config(max_concurrency=1).astream(value):
        pass
    assert gauge.peak == 1


@pytest.mark.parametrize(
    "build",
    [
        lambda: RunnableRetry(5),  # type: ignore[arg-type]
        lambda: RunnableTimeout(5, 1),  # type: ignore[arg-type]
        lambda: RunnableWithFallbacks(5, [lambda x: x]),  # type: ignore[arg-type]
    ],
    ids=["retry", "timeout", "fallbacks"],
)
def test_wrappers_reject_a_non_runnable_at_build_time(build: Any) -> None:
    with pytest.raises(TypeError, match="int 5"):
        build()
