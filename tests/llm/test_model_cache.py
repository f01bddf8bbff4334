"""Model calls through a cache: `cache=` on chat models, `set_llm_cache`, keys, hits, errors,
single-flight (against the loopback OpenAI server, counting the requests it receives)."""

from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import BaseModel

from llm import ChatOpenAI, OfflineChatModel, UsageTracker, get_llm_cache, set_llm_cache
from llm._model_cache import model_cache_key
from prompts import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage, tool_call
from runnables import (
    BaseCache,
    Budget,
    BudgetExceededError,
    InMemoryCache,
    RedisCache,
    RunnableConfig,
    SQLiteCache,
)
from tests.openai_server import ErrorReply, OpenAIServer
from tests.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def no_global_cache() -> Iterator[None]:
    set_llm_cache(None)
    yield
    set_llm_cache(None)


def openai(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    options: dict[str, Any] = {"base_url": server.base_url, "api_key": "sk-test", "max_retries": 0}
    return ChatOpenAI(**{**options, **kwargs})


# -- arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["yes", 1, object(), {}])
def test_a_bad_cache_argument_is_a_type_error_naming_cache(bad: object) -> None:
    with pytest.raises(TypeError, match='"cache"') as info:
        ChatOpenAI(api_key="k", cache=bad)  # type: ignore[arg-type]
    assert repr(bad) in str(info.value)
    with pytest.raises(TypeError, match='"cache"'):
        OfflineChatModel(cache=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='"cache"'):
        set_llm_cache(bad)  # type: ignore[arg-type]


def test_set_llm_cache_sets_what_get_llm_cache_returns() -> None:
    cache = InMemoryCache()
    set_llm_cache(cache)
    assert get_llm_cache() is cache
    set_llm_cache(None)
    assert get_llm_cache() is None


async def test_cache_true_without_a_global_cache_is_a_value_error_naming_set_llm_cache() -> None:
    model = OfflineChatModel(cache=True)
    with pytest.raises(ValueError, match="set_llm_cache"):
        await model.ainvoke("hi")
    with pytest.raises(ValueError, match="set_llm_cache"):
        async for _ in model.astream("hi"):
            pass


def test_a_model_with_a_cache_pickles_with_it(tmp_path: Path) -> None:
    model = ChatOpenAI(api_key="k", cache=SQLiteCache(tmp_path / "c.db"))
    copy = pickle.loads(pickle.dumps(model))
    assert isinstance(copy.cache, SQLiteCache)
    assert model_cache_key(copy, [HumanMessage("x")], None, {}) == model_cache_key(
        model, [HumanMessage("x")], None, {}
    )


# -- hits and misses ----------------------------------------------------------------------------


async def test_a_repeated_call_is_a_marked_hit_that_keeps_tool_calls_and_usage() -> None:
    call = tool_call(name="search", args={"q": "x"}, id="c1")
    reply = AIMessage(content="first", tool_calls=[call])
    model = OfflineChatModel(responses=[reply, "second"], cache=InMemoryCache())
    miss = await model.ainvoke("hi")
    hit = await model.ainvoke("hi")
    assert "cache_hit" not in miss.response_metadata
    assert hit.response_metadata["cache_hit"] is True
    assert type(hit) is AIMessage
    assert hit.text == "first"
    assert hit.tool_calls == miss.tool_calls
    assert hit.usage_metadata == miss.usage_metadata is not None
    # The stored message itself stays unmarked (an in-memory store hands out the same object).
    again = await model.ainvoke("hi")
    assert again.response_metadata["cache_hit"] is True
    assert "cache_hit" not in miss.response_metadata


async def test_the_global_cache_serves_every_model_unless_it_says_false() -> None:
    set_llm_cache(InMemoryCache())
    default = OfflineChatModel(responses=["one", "two"])
    assert (await default.ainvoke("q")).text == "one"
    assert (await default.ainvoke("q")).text == "one"  # the second scripted reply is never made
    required = OfflineChatModel(responses=["one", "two"], cache=True)
    assert (await required.ainvoke("q")).response_metadata.get("cache_hit") is True
    never = OfflineChatModel(responses=["one", "two"], cache=False)
    assert [(await never.ainvoke("q")).text for _ in range(2)] == ["one", "two"]


async def test_a_sync_invoke_and_batch_go_through_the_cache_too(tmp_path: Path) -> None:
    model = OfflineChatModel(responses=["a", "b", "c"], cache=SQLiteCache(tmp_path / "c.db"))
    first = await anyio.to_thread.run_sync(model.invoke, "x")
    results = await anyio.to_thread.run_sync(model.batch, ["x", "y"])
    assert [m.text for m in results] == [first.text, "b"]
    assert results[0].response_metadata["cache_hit"] is True


async def test_an_error_is_never_cached(openai_server: OpenAIServer) -> None:
    openai_server.error(500)
    model = openai(openai_server, cache=InMemoryCache())
    with pytest.raises(Exception, match="server had an error"):
        await model.ainvoke("hi")
    assert (await model.ainvoke("hi")).text == "echo: hi"
    assert len(openai_server.requests) == 2
    assert (await model.ainvoke("hi")).response_metadata["cache_hit"] is True
    assert len(openai_server.requests) == 2


class Answer(BaseModel):
    text: str


class Other(BaseModel):
    text: str
    score: int


def _weather(city: str) -> str:
    """The weather in a city."""
    return city


def _time(city: str) -> str:
    """The time in a city."""
    return city


CASES: dict[str, Any] = {
    "temperature": lambda s: (openai(s), openai(s, temperature=0.5)),
    "model": lambda s: (openai(s), openai(s, model="gpt-4o")),
    "base_url": lambda s: (openai(s), openai(s, base_url=s.base_url + "/")),  # same server
    "max_tokens": lambda s: (openai(s), openai(s, max_tokens=7)),
    "seed": lambda s: (openai(s), openai(s, seed=3)),
    "stop": lambda s: (openai(s), openai(s).bind(stop=["\n"])),
    "tools": lambda s: (openai(s).bind_tools([_weather]), openai(s).bind_tools([_time])),
    "tool_choice": lambda s: (
        openai(s).bind_tools([_weather]),
        openai(s).bind_tools([_weather], tool_choice="required"),
    ),
    "schema": lambda s: (
        openai(s).with_structured_output(Answer),
        openai(s).with_structured_output(Other),
    ),
}


@pytest.mark.parametrize("change", sorted(CASES))
async def test_changing_what_shapes_the_reply_misses(
    openai_server: OpenAIServer, change: str
) -> None:
    set_llm_cache(InMemoryCache())
    before, after = CASES[change](openai_server)
    openai_server.reply('{"text": "a", "score": 1}')
    await before.ainvoke("hi")
    await before.ainvoke("hi")  # the same call again: a hit
    assert len(openai_server.requests) == 1
    openai_server.reply('{"text": "b", "score": 2}')
    await after.ainvoke("hi")
    assert len(openai_server.requests) == 2


@pytest.mark.parametrize(
    "other",
    [
        {"api_key": "sk-another"},
        {"timeout": 99.0},
        {"max_retries": 5},
        {"cache": None},  # the global cache: the same store, the same key
    ],
    ids=lambda o: next(iter(o)),
)
async def test_changing_the_api_key_timeout_or_retries_hits(
    openai_server: OpenAIServer, other: dict[str, Any]
) -> None:
    cache = InMemoryCache()
    set_llm_cache(cache)
    first = openai(openai_server, cache=cache)
    assert (await first.ainvoke("hi")).text == "echo: hi"
    second = openai(openai_server, **{"cache": cache, **other})
    assert (await second.ainvoke("hi")).response_metadata["cache_hit"] is True
    assert (await second.ainvoke("hi", timeout=5.0)).response_metadata["cache_hit"] is True
    assert len(openai_server.requests) == 1


def test_keys_cover_what_is_sent_of_messages_and_nothing_else() -> None:
    model = OfflineChatModel()
    call = tool_call(name="f", args={"x": 1}, id="c1")

    def key(*messages: Any) -> str:
        return model_cache_key(model, list(messages), None, {})

    convo = [SystemMessage("s"), HumanMessage("q"), AIMessage("", tool_calls=[call])]
    base = key(*convo, ToolMessage("42", tool_call_id="c1"))
    assert key(*convo, ToolMessage("43", tool_call_id="c1")) != base  # tool result
    other_call = tool_call(name="f", args={"x": 2}, id="c1")
    assert (
        key(
            *convo[:2], AIMessage("", tool_calls=[other_call]), ToolMessage("42", tool_call_id="c1")
        )
        != base
    )
    parts: list[str | dict[str, Any]] = [
        {"type": "text", "text": "q"},
        {"type": "image_url", "image_url": {"url": "u"}},
    ]
    assert key(HumanMessage(content=parts)) != key(HumanMessage("q"))  # content parts
    assert key(HumanMessage("q"), AIMessage("a")) != key(SystemMessage("q"), AIMessage("a"))
    # Not sent, so not in the key: message ids, an earlier reply's metadata and usage.
    marked = AIMessage("", tool_calls=[call], id="x", response_metadata={"cache_hit": True})
    assert key(*convo[:2], marked, ToolMessage("42", tool_call_id="c1", id="t")) == base
    assert model_cache_key(model, [HumanMessage("q")], ["\n"], {}) != key(HumanMessage("q"))
    assert model_cache_key(OfflineChatModel(responses=["r"]), [HumanMessage("q")], None, {}) != key(
        HumanMessage("q")
    )


_KEY_CODE = """
import sys
from llm import OfflineChatModel
from llm._model_cache import model_cache_key
from prompts import AIMessage, HumanMessage, SystemMessage, ToolMessage, tool_call
text = "".join(["inter", "ned"])  # built at run time: not interned, unlike the literal
if sys.argv[1] == "interned":
    text = sys.intern(text)
call = tool_call(name="f", args={"x": 1.5, "y": [text, None, True]}, id="c1")
parts = [{"type": "text", "text": text}, {"type": "image_url", "image_url": {"url": "u"}}]
messages = [SystemMessage("s"), HumanMessage(content=parts), AIMessage("", tool_calls=[call]),
            ToolMessage("42", tool_call_id="c1")]
options = {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}
print(model_cache_key(OfflineChatModel(), messages, ["\\n"], options))
"""


def test_model_keys_are_the_same_in_every_process_whatever_its_hash_seed_or_interning() -> None:
    keys = {
        subprocess.run(
            [sys.executable, "-c", _KEY_CODE, interned],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed, interned in [("0", "plain"), ("1", "interned"), ("12345", "plain")]
    }
    assert len(keys) == 1
    assert next(iter(keys)).startswith("llm:")


def test_request_parts_marshal_cannot_take_are_keyed_by_their_canonical_form() -> None:
    class Tag(str):
        pass

    model = OfflineChatModel()
    message: list[BaseMessage] = [HumanMessage("q")]
    plain = model_cache_key(model, message, None, {"metadata": {"a"}})
    assert model_cache_key(model, message, None, {"metadata": {"a"}}) == plain  # a set
    assert model_cache_key(model, message, None, {"metadata": {"b"}}) != plain
    tagged = model_cache_key(model, message, None, {"user": Tag("u")})  # a str subclass
    assert tagged == model_cache_key(model, message, None, {"user": Tag("u")})
    assert tagged != model_cache_key(model, message, None, {"user": Tag("v")})


# -- single-flight ------------------------------------------------------------------------------


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_a_hundred_identical_calls_in_flight_make_one_request(
    openai_server: OpenAIServer, tmp_path: Path, store: str
) -> None:
    cache: BaseCache = InMemoryCache() if store == "memory" else SQLiteCache(tmp_path / "c.db")
    model = openai(openai_server, cache=cache)
    hold = openai_server.hold_requests(1)
    results: list[AIMessage] = []

    async def call() -> None:
        results.append(await model.ainvoke("same"))

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(call)
        await hold.wait_arrived_async()
        await anyio.wait_all_tasks_blocked()  # the other 99 are waiting, not sending
        hold.release()
    assert len(openai_server.requests) == 1
    assert {m.text for m in results} == {"echo: same"}
    assert sum(1 for m in results if m.response_metadata.get("cache_hit")) == 99


async def test_when_the_one_request_fails_a_waiter_makes_its_own(
    openai_server: OpenAIServer,
) -> None:
    model = openai(openai_server, cache=InMemoryCache())
    gate = openai_server.gate()
    openai_server.queue(ErrorReply(500, gate=gate))
    outcomes: list[Any] = []

    async def call() -> None:
        try:
            outcomes.append((await model.ainvoke("same")).text)
        except Exception as exc:
            outcomes.append(type(exc).__name__)

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(call)
        await gate.wait_arrived_async()
        await anyio.wait_all_tasks_blocked()
        gate.release()
    assert sorted(outcomes) == ["InternalServerError", "echo: same", "echo: same"]
    assert len(openai_server.requests) == 2  # the failure, then one waiter's own request


# -- faults of the store ------------------------------------------------------------------------


def test_a_cache_file_that_is_not_a_database_fails_the_call_unsent(
    openai_server: OpenAIServer, tmp_path: Path
) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(bytes(range(256)) * 40)
    model = openai(openai_server, cache=SQLiteCache(path))
    with pytest.raises(sqlite3.DatabaseError, match=r"SQLiteCache cannot open '.*garbage\.db'"):
        model.invoke("hi")
    assert openai_server.requests == []


def test_redis_going_away_mid_batch_lets_the_model_calls_go_on_uncached(
    own_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def reply(messages: list[BaseMessage]) -> str:
        calls.append(messages[-1].text)
        if len(calls) == 3:
            own_redis_server.stop()
        return f"re: {messages[-1].text}"

    cache = RedisCache(own_redis_server.url, retry_interval=0)
    model = OfflineChatModel(responses=reply, cache=cache)
    inputs = [f"q{i}" for i in range(8)]
    with caplog.at_level(logging.WARNING, logger="runnables.cache"):
        out = model.batch(inputs, {"max_concurrency": 1})
    assert [m.text for m in out] == [f"re: {q}" for q in inputs]
    assert calls == inputs
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


# -- usage and budgets --------------------------------------------------------------------------


async def test_a_hit_counts_no_tokens_in_a_tracker_and_spends_nothing_from_a_budget() -> None:
    tracker = UsageTracker()
    budget = Budget(max_requests=1)
    model = OfflineChatModel(responses=["one two", "x"], cache=InMemoryCache())
    config: RunnableConfig = {"callbacks": [tracker], "budget": budget}
    miss = await model.ainvoke("q", config)
    assert miss.usage_metadata is not None
    hit = await model.ainvoke("q", config)  # a second request would exceed the budget
    [replayed] = [chunk async for chunk in model.astream("q", config)]
    assert hit.usage_metadata == replayed.usage_metadata == miss.usage_metadata  # kept, to read
    assert tracker.total.requests == 1
    assert tracker.total.cache_hits == 2
    assert tracker.total.total_tokens == miss.usage_metadata["total_tokens"]
    with pytest.raises(BudgetExceededError):
        await model.ainvoke("another", config)


async def test_a_model_changed_after_a_call_misses(openai_server: OpenAIServer) -> None:
    model = openai(openai_server, cache=InMemoryCache(), seed=1)
    await model.ainvoke("hi")
    await model.ainvoke("hi")
    assert len(openai_server.requests) == 1
    model.temperature = 0.5  # set to another value
    await model.ainvoke("hi")
    assert len(openai_server.requests) == 2
    model.model_kwargs["seed"] = 2  # a dict attribute changed in place
    await model.ainvoke("hi")
    assert len(openai_server.requests) == 3
    assert [body.get("seed") for body in openai_server.requests] == [1, 1, 2]
    await model.ainvoke("hi")
    assert len(openai_server.requests) == 3


def test_the_fingerprint_a_call_remembers_leaves_the_model_fingerprint_alone() -> None:
    from runnables._fingerprint import fingerprint

    model = OfflineChatModel(responses=["a"], cache=InMemoryCache())
    before = fingerprint(model)
    model.invoke("q")
    assert fingerprint(model) == before
    copy = pickle.loads(pickle.dumps(model))
    assert model_cache_key(copy, [HumanMessage("q")], None, {}) == model_cache_key(
        model, [HumanMessage("q")], None, {}
    )
