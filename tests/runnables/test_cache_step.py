"""`with_cache` on any step: hits skip the step, batches resume, streams, events, single-flight,
and the default namespace (the step's fingerprint)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from llm import ChatOpenAI, OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import (
    BaseCache,
    InMemoryCache,
    Runnable,
    RunnableConfig,
    RunnableLambda,
    RunnableParallel,
    RunnableWithCache,
    SQLiteCache,
)
from runnables._fingerprint import fingerprint
from tests.clock import jump, virtual_time_backends

pytestmark = pytest.mark.anyio


@pytest.fixture(params=virtual_time_backends(autojump=True))
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    return request.param


@pytest.fixture(params=["memory", "sqlite"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseCache]:
    if request.param == "memory":
        yield InMemoryCache()
        return
    cache = SQLiteCache(tmp_path / "c.db")
    yield cache
    cache.close()


class Counted:
    """A step function that records its inputs."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    def __call__(self, x: Any) -> Any:
        self.calls.append(x)
        return {"double": x * 2}


async def test_a_second_call_with_the_same_input_does_not_run_the_step(cache: BaseCache) -> None:
    f = Counted()
    cached = RunnableLambda(f).with_cache(cache)
    assert await cached.ainvoke(2) == {"double": 4}
    assert await cached.ainvoke(2) == {"double": 4}
    assert await cached.ainvoke(3) == {"double": 6}
    assert f.calls == [2, 3]


def test_sync_invoke_and_batch_use_the_cache(cache: BaseCache) -> None:
    f = Counted()
    cached = RunnableLambda(f).with_cache(cache)
    assert cached.invoke(1) == {"double": 2}
    assert cached.batch([1, 2, 3]) == [{"double": 2}, {"double": 4}, {"double": 6}]
    assert f.calls == [1, 2, 3] or sorted(f.calls) == [1, 2, 3]
    assert len(f.calls) == 3


def test_a_rerun_batch_skips_the_items_already_done(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky(x: int) -> int:
        calls.append(x)
        if x % 3 == 0:
            raise ValueError(f"item {x} failed")
        return x + 100

    def build() -> Runnable[int, int]:
        return RunnableLambda(flaky).with_cache(SQLiteCache(tmp_path / "run.db"))

    first = build().batch(list(range(10)), return_exceptions=True)
    assert [isinstance(r, ValueError) for r in first] == [x % 3 == 0 for x in range(10)]
    assert sorted(calls) == list(range(10))
    calls.clear()
    # A new chain on the same file (as a new process would build): only the failures run.
    second = build().batch(list(range(10)), return_exceptions=True)
    assert sorted(calls) == [0, 3, 6, 9]
    assert second[1:3] == [101, 102]


async def test_errors_are_never_cached(cache: BaseCache) -> None:
    attempts = []

    def fails_once(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("boom")
        return x

    cached = RunnableLambda(fails_once).with_cache(cache)
    with pytest.raises(RuntimeError, match="boom"):
        await cached.ainvoke(1)
    assert await cached.ainvoke(1) == 1
    assert await cached.ainvoke(1) == 1
    assert attempts == [1, 1]


async def test_a_stream_miss_streams_and_stores_the_sum_a_hit_replays_one_chunk(
    cache: BaseCache,
) -> None:
    runs: list[str] = []

    async def words(text: str) -> AsyncIterator[str]:
        runs.append(text)
        for word in text.split():
            yield word + " "

    cached = RunnableLambda(words).with_cache(cache)
    assert [c async for c in cached.astream("a b c")] == ["a ", "b ", "c "]
    assert [c async for c in cached.astream("a b c")] == ["a b c "]
    assert await cached.ainvoke("a b c") == "a b c "
    assert runs == ["a b c"]
    assert list(cached.stream("a b c")) == ["a b c "]


async def test_an_interrupted_stream_stores_nothing(cache: BaseCache) -> None:
    runs: list[str] = []

    async def words(text: str) -> AsyncIterator[str]:
        runs.append(text)
        for word in text.split():
            yield word + " "

    cached = RunnableLambda(words).with_cache(cache)
    stream = cached.astream("x y z")
    assert await anext(stream) == "x "
    await stream.aclose()
    assert [c async for c in cached.astream("x y z")] == ["x ", "y ", "z "]
    assert runs == ["x y z", "x y z"]


async def test_a_stream_that_fails_stores_nothing(cache: BaseCache) -> None:
    runs = []

    async def breaks(text: str) -> AsyncIterator[str]:
        runs.append(text)
        yield "part"
        if len(runs) == 1:
            raise ConnectionError("cut")

    cached = RunnableLambda(breaks).with_cache(cache)
    with pytest.raises(ConnectionError):
        _ = [c async for c in cached.astream("q")]
    assert [c async for c in cached.astream("q")] == ["part"]
    assert [c async for c in cached.astream("q")] == ["part"]
    assert len(runs) == 2


async def test_a_hit_is_the_steps_run_marked_in_its_events(cache: BaseCache) -> None:
    prompt = ChatPromptTemplate.from_messages([("user", "Tell me about {topic}")])
    cached = prompt.with_cache(cache)

    async def events() -> list[tuple[str, str, Any]]:
        return [
            (e["event"], e["name"], e["metadata"].get("cache_hit"))
            async for e in cached.astream_events({"topic": "owls"}, {"metadata": {"user": "u"}})
        ]

    miss = await events()
    hit = await events()
    assert miss == [
        ("on_prompt_start", "ChatPromptTemplate", None),
        ("on_prompt_end", "ChatPromptTemplate", None),
    ]
    assert hit == [
        ("on_prompt_start", "ChatPromptTemplate", True),
        ("on_prompt_end", "ChatPromptTemplate", True),
    ]
    got = [e async for e in cached.astream_events({"topic": "owls"}, {"metadata": {"user": "u"}})]
    assert got[0]["data"]["input"] == {"topic": "owls"}
    assert got[0]["metadata"] == {"user": "u", "cache_hit": True}
    assert got[-1]["data"]["output"] == await prompt.ainvoke({"topic": "owls"})


async def test_a_hit_inside_a_chain_is_a_child_of_the_chain(cache: BaseCache) -> None:
    f = Counted()
    chain = RunnableLambda(f).with_cache(cache) | RunnableLambda(lambda d: d["double"])
    assert await chain.ainvoke(4) == 8
    events = [e async for e in chain.astream_events(4)]
    root = events[0]
    assert root["name"] == "RunnableSequence"
    starts = [e for e in events if e["event"] == "on_chain_start" and e is not root]
    assert starts[0]["metadata"] == {"cache_hit": True}
    assert starts[0]["parent_ids"] == [root["run_id"]]
    assert f.calls == [4]


async def test_a_root_hit_takes_the_run_id_given(cache: BaseCache) -> None:
    cached = RunnableLambda(Counted()).with_cache(cache)
    await cached.ainvoke(1)
    run_id = "0123456789abcdef0123456789abcdef"
    events = [e async for e in cached.astream_events(1, {"run_id": run_id})]
    assert {e["run_id"] for e in events} == {run_id}


async def test_identical_calls_in_flight_run_the_step_once(cache: BaseCache) -> None:
    gate = anyio.Event()
    started = anyio.Event()
    calls = []

    async def slow(x: int) -> list[int]:
        calls.append(x)
        started.set()
        await gate.wait()
        return [x]

    cached = RunnableLambda(slow).with_cache(cache)
    results: list[Any] = []

    async def one() -> None:
        results.append(await cached.ainvoke(7))

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(one)
        await started.wait()
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert calls == [7]
    assert results == [[7]] * 100


async def test_when_the_call_in_flight_fails_a_waiter_runs_the_step(cache: BaseCache) -> None:
    gate = anyio.Event()
    calls = []

    async def first_fails(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            await gate.wait()
            raise RuntimeError("first")
        return x

    cached = RunnableLambda(first_fails).with_cache(cache)
    outcomes: list[Any] = []

    async def one() -> None:
        try:
            outcomes.append(await cached.ainvoke(5))
        except RuntimeError as exc:
            outcomes.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(one)
        await anyio.wait_all_tasks_blocked()
        gate.set()
    assert len(calls) == 2  # the failed leader, then one waiter; the last one takes its value
    assert [type(o) for o in outcomes] == [RuntimeError, int, int]


async def test_when_the_call_in_flight_is_cancelled_a_waiter_runs_the_step(
    cache: BaseCache,
) -> None:
    calls = []
    started = anyio.Event()

    async def hangs_first(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            started.set()
            await anyio.sleep_forever()
        return x

    cached = RunnableLambda(hangs_first).with_cache(cache)
    leader_scope = anyio.CancelScope()
    got: list[int] = []

    async def lead() -> None:
        with leader_scope:
            await cached.ainvoke(9)

    async def follow() -> None:
        got.append(await cached.ainvoke(9))

    async with anyio.create_task_group() as tg:
        tg.start_soon(lead)
        await started.wait()
        tg.start_soon(follow)
        await anyio.wait_all_tasks_blocked()
        assert calls == [9]
        leader_scope.cancel()
    assert got == [9]
    assert calls == [9, 9]


async def test_key_says_what_identifies_an_input(cache: BaseCache) -> None:
    f = Counted()
    cached = RunnableLambda(lambda d: f(d["n"])).with_cache(cache, key=lambda d: d["id"])
    assert await cached.ainvoke({"id": "a", "n": 1}) == {"double": 2}
    assert await cached.ainvoke({"id": "a", "n": 999}) == {"double": 2}
    assert f.calls == [1]


class _Echo(Runnable[str, str]):
    async def _acall(self, input: str, config: RunnableConfig, **kwargs: Any) -> str:
        return f"{input}{sorted(kwargs.items())}"


async def test_call_options_are_part_of_the_key(cache: BaseCache) -> None:
    cached = _Echo().with_cache(cache)
    assert await cached.ainvoke("x") == "x[]"
    assert await cached.ainvoke("x", stop=["a"]) == "x[('stop', ['a'])]"
    assert await cached.ainvoke("x", stop=["b"]) == "x[('stop', ['b'])]"
    assert cached.cache_key("x") != cached.cache_key("x", stop=["a"])


async def test_ttl_expires_stored_results() -> None:
    f = Counted()
    cached = RunnableLambda(f).with_cache(InMemoryCache(), ttl=10)
    await cached.ainvoke(1)
    jump(9)
    await cached.ainvoke(1)
    jump(2)
    await cached.ainvoke(1)
    assert f.calls == [1, 1]


async def test_a_namespace_given_is_shared_by_the_steps_that_name_it(cache: BaseCache) -> None:
    one = RunnableLambda(lambda x: "one").with_cache(cache, namespace="shared")
    two = RunnableLambda(lambda x: "two").with_cache(cache, namespace="shared")
    assert await one.ainvoke(1) == "one"
    assert await two.ainvoke(1) == "one"
    assert one.namespace == "shared"


async def test_an_input_that_makes_no_key_is_a_type_error_suggesting_key(
    cache: BaseCache,
) -> None:
    cached = RunnableLambda(lambda x: 1).with_cache(cache)
    with pytest.raises(TypeError, match=r"cannot make a cache key from a object.*key="):
        await cached.ainvoke(object())


async def test_an_output_sqlite_cannot_store_fails_with_a_note(tmp_path: Path) -> None:
    cached = RunnableLambda(lambda x: lambda: x).with_cache(SQLiteCache(tmp_path / "c.db"))
    with pytest.raises(Exception, match="pickle") as info:
        await cached.ainvoke(1)
    assert any("storing the result of" in note for note in info.value.__notes__)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"cache": {}}, TypeError, r'"cache".*got \{\}'),
        ({"key": "id"}, TypeError, r"\"key\".*got 'id'"),
        ({"ttl": 0}, ValueError, r'"ttl".*got 0'),
        ({"namespace": 3}, TypeError, r'"namespace".*got 3'),
        ({"namespace": ""}, ValueError, r'"namespace"'),
    ],
)
def test_bad_arguments_fail_when_the_chain_is_built(
    kwargs: dict[str, Any], error: type, match: str
) -> None:
    args: dict[str, Any] = {"cache": InMemoryCache(), **kwargs}
    with pytest.raises(error, match=match):
        RunnableLambda(lambda x: x).with_cache(**args)


def test_a_cached_step_shows_its_step_and_cache() -> None:
    cached = RunnableLambda(lambda x: x, name="f").with_cache(InMemoryCache())
    assert isinstance(cached, RunnableWithCache)
    assert repr(cached) == "RunnableWithCache(RunnableLambda(f), InMemoryCache(max_size=None))"
    assert cached.name == "f"
    assert "cached" in cached.get_graph().draw_ascii()


# -- the default namespace: the step's fingerprint ----------------------------------------------


def build_chain(text: str = "Summarize: {doc}", temperature: float = 0.2) -> Runnable[Any, Any]:
    """A model chain, built the same way in this process and in a subprocess."""
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", text)])
    model = ChatOpenAI(model="gpt-4o-mini", temperature=temperature, api_key="sk-test")
    return prompt | model | StrOutputParser() | RunnableLambda(_shout)


def _shout(text: str) -> str:
    return text.upper()


def test_the_fingerprint_is_the_same_in_another_interpreter() -> None:
    code = textwrap.dedent(
        """
        from runnables import InMemoryCache
        from tests.runnables.test_cache_step import build_chain
        print(build_chain().with_cache(InMemoryCache()).namespace)
        """
    )
    root = Path(__file__).parents[2]
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert outs == {build_chain().with_cache(InMemoryCache()).namespace}


def test_the_fingerprint_changes_with_a_prompts_text() -> None:
    assert fingerprint(build_chain("Summarize: {doc}")) == fingerprint(build_chain())
    assert fingerprint(build_chain("Summarise: {doc}")) != fingerprint(build_chain())


def test_the_fingerprint_changes_with_a_models_parameters_not_its_key_or_timeout() -> None:
    def model(**kwargs: Any) -> ChatOpenAI:
        return ChatOpenAI(**{"model": "m", "temperature": 0.1, **kwargs})

    assert fingerprint(model()) != fingerprint(model(temperature=0.2))
    assert fingerprint(model()) != fingerprint(model(model="n"))
    assert fingerprint(model()) != fingerprint(model(base_url="http://other/v1"))
    assert fingerprint(model()) == fingerprint(model(api_key="sk-other", timeout=5))
    assert fingerprint(model()) == fingerprint(model(max_retries=9))
    assert fingerprint(build_chain(temperature=0.3)) != fingerprint(build_chain())


def _function(body: str) -> Any:
    namespace: dict[str, Any] = {"helper": _shout}
    exec(textwrap.dedent(body), namespace)
    return namespace["f"]


def test_the_fingerprint_changes_with_a_functions_code() -> None:
    one = _function("def f(x):\n    return x + 1\n")
    same = _function("def f(x):\n    return x + 1\n")
    other_const = _function("def f(x):\n    return x + 2\n")
    other_op = _function("def f(x):\n    return x - 1\n")
    calls_helper = _function("def f(x):\n    return helper(x)\n")
    assert fingerprint(RunnableLambda(one)) == fingerprint(RunnableLambda(same))
    assert fingerprint(RunnableLambda(one)) != fingerprint(RunnableLambda(other_const))
    assert fingerprint(RunnableLambda(one)) != fingerprint(RunnableLambda(other_op))
    # A global function it calls is part of it: changing the helper changes the fingerprint.
    before = fingerprint(RunnableLambda(calls_helper))
    calls_helper.__globals__["helper"] = _function("def f(x):\n    return x.lower()\n")
    assert fingerprint(RunnableLambda(calls_helper)) != before


def test_the_fingerprint_follows_closures_defaults_and_composites() -> None:
    def make(n: int) -> Any:
        def f(x: int) -> int:
            return x + n

        return f

    assert fingerprint(RunnableLambda(make(1))) == fingerprint(RunnableLambda(make(1)))
    assert fingerprint(RunnableLambda(make(1))) != fingerprint(RunnableLambda(make(2)))
    a, b = RunnableLambda(make(1)), RunnableLambda(make(2))
    assert fingerprint({"x": a, "y": b} | a) != fingerprint({"x": a, "y": a} | a)
    assert fingerprint(a.bind(stop=["x"])) != fingerprint(a.bind(stop=["y"]))
    assert fingerprint(a.with_retry()) == fingerprint(a.with_retry())


def test_a_step_may_state_its_own_fingerprint() -> None:
    class Versioned(_Echo):
        def __init__(self, version: int, noise: object) -> None:
            self.version = version
            self.noise = noise

        def _fingerprint_(self) -> Any:
            return {"version": self.version}

    assert fingerprint(Versioned(1, object())) == fingerprint(Versioned(1, object()))
    assert fingerprint(Versioned(1, None)) != fingerprint(Versioned(2, None))


def test_the_fingerprint_ends_on_cycles_and_takes_odd_objects() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self
            self.items = {1, 2}
            self.method = self.run

        def run(self) -> None:
            pass

    assert fingerprint(Node()) == fingerprint(Node())
    assert fingerprint(OfflineChatModel(responses=["a"])) != fingerprint(
        OfflineChatModel(responses=["b"])
    )


async def test_identical_branches_of_a_parallel_run_once_and_the_copy_is_a_marked_hit(
    cache: BaseCache,
) -> None:
    gate = anyio.Event()
    started = anyio.Event()
    calls = []

    async def slow(x: int) -> int:
        calls.append(x)
        started.set()
        await gate.wait()
        return x + 1

    cached = RunnableLambda(slow).with_cache(cache)
    both = RunnableParallel(a=cached, b=cached)

    async def release() -> None:
        await started.wait()
        await anyio.wait_all_tasks_blocked()
        gate.set()

    for method in ("invoke", "stream"):
        calls.clear()
        gate, started = anyio.Event(), anyio.Event()
        await cache.aclear()
        async with anyio.create_task_group() as tg:
            tg.start_soon(release)
            if method == "invoke":
                assert await both.ainvoke(1) == {"a": 2, "b": 2}
            else:
                marks = [
                    (e["event"], e["metadata"].get("cache_hit"))
                    async for e in both.astream_events(1)
                    if e["name"] == "slow"
                ]
                assert sorted(marks, key=str) == sorted(
                    [
                        ("on_chain_start", None),
                        ("on_chain_stream", None),
                        ("on_chain_end", None),
                        ("on_chain_start", True),
                        ("on_chain_stream", True),
                        ("on_chain_end", True),
                    ],
                    key=str,
                )
        assert calls == [1]


async def test_a_call_arriving_while_the_result_is_being_stored_takes_it(tmp_path: Path) -> None:
    class SlowWrites(InMemoryCache):
        def __init__(self) -> None:
            super().__init__()
            self.writing = anyio.Event()
            self.finish = anyio.Event()

        async def aset(self, key: str, value: Any, ttl: float | None = None) -> None:
            self.writing.set()
            await self.finish.wait()
            await super().aset(key, value, ttl)

    cache = SlowWrites()
    f = Counted()
    cached = RunnableLambda(f).with_cache(cache)
    got: list[Any] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(cached.ainvoke, 3)
        await cache.writing.wait()
        got.append(await cached.ainvoke(3))  # the flight is resolved, its write not done
        cache.finish.set()
    assert got == [{"double": 6}]
    assert f.calls == [3]


def test_the_fingerprint_reads_partials_enums_and_pydantic_fields_but_not_secrets() -> None:
    import enum
    import functools

    from pydantic import BaseModel, SecretStr

    class Mode(enum.Enum):
        FAST = 1
        SLOW = 2

    class Settings(BaseModel, extra="allow"):
        name: str
        token: SecretStr
        mode: Any = None

    def add(x: int, y: int) -> int:
        return x + y

    def settings(**kwargs: Any) -> Settings:
        return Settings(**{"name": "a", "token": SecretStr("t1"), "mode": Mode.FAST, **kwargs})

    assert fingerprint(settings()) == fingerprint(settings(token=SecretStr("t2")))
    assert fingerprint(settings()) != fingerprint(settings(name="b"))
    assert fingerprint(settings()) != fingerprint(settings(mode=Mode.SLOW))
    assert fingerprint(settings(extra=1)) != fingerprint(settings(extra=2))
    assert fingerprint(settings(mode=add)) == fingerprint(settings(mode=add))
    assert fingerprint(functools.partial(add, 1)) != fingerprint(functools.partial(add, 2))


def test_the_fingerprint_takes_a_closure_cell_not_yet_bound() -> None:
    def outer() -> Any:
        def inner() -> Any:
            return later

        first = fingerprint(inner)
        later = 1
        return first, fingerprint(inner)

    before, after = outer()
    assert before != after
