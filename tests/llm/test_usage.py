"""Usage and cost: usage_metadata in LangChain's shape, get_usage_metadata_callback, UsageTracker,
the price table, and the progress bar's tokens and cost."""

from __future__ import annotations

import io
from typing import Any

import anyio
import pytest

from llm import (
    DEFAULT_PRICES,
    PRICES_DATE,
    ChatOpenAI,
    OfflineChatModel,
    Price,
    StrOutputParser,
    UsageTracker,
    get_usage_metadata_callback,
)
from llm._usage import price_of
from prompts import AIMessage, AIMessageChunk, BaseMessage, ChatPromptTemplate
from runnables import InMemoryCache, RunnableConfig, RunnableLambda, RunnableParallel
from runnables.progress import ProgressBar
from tests.openai_server import OpenAIServer, Reply

pytestmark = pytest.mark.anyio

sdk_stream_generators = pytest.mark.filterwarnings(
    r"ignore:Async generator '(openai|httpx2|httpcore2)\.:ResourceWarning"
)


def make_model(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(api_key="k", base_url=server.base_url, max_retries=0, **kwargs)


# -- usage_metadata -------------------------------------------------------------------------------


async def test_openai_reply_carries_cached_and_reasoning_tokens(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(Reply("hi", usage=(100, 20), cached_tokens=64, reasoning_tokens=5))
    reply = await make_model(openai_server).ainvoke("q")
    assert reply.usage_metadata == {
        "input_tokens": 100,
        "output_tokens": 20,
        "total_tokens": 120,
        "input_token_details": {"cache_read": 64},
        "output_token_details": {"reasoning": 5},
    }


async def test_openai_reply_without_details_has_the_three_counts_only(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(Reply("hi", usage=(3, 1)))
    reply = await make_model(openai_server).ainvoke("q")
    assert reply.usage_metadata == {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4}


@sdk_stream_generators
async def test_a_streams_summed_chunks_carry_the_usage_with_details(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(Reply("a b c", usage=(10, 3), cached_tokens=4))
    total: AIMessageChunk | None = None
    async for chunk in make_model(openai_server).astream("q"):
        total = chunk if total is None else total + chunk
    assert total is not None
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_token_details"] == {"cache_read": 4}
    assert total.usage_metadata["total_tokens"] == 13


def test_chunks_add_usage_details_key_by_key() -> None:
    a = AIMessageChunk(
        content="a",
        usage_metadata={
            "input_tokens": 5,
            "output_tokens": 1,
            "total_tokens": 6,
            "input_token_details": {"cache_read": 2},
        },
    )
    b = AIMessageChunk(
        content="b",
        usage_metadata={
            "input_tokens": 1,
            "output_tokens": 2,
            "total_tokens": 3,
            "input_token_details": {"cache_read": 1, "audio": 4},
            "output_token_details": {"reasoning": 2},
        },
    )
    assert (a + b).usage_metadata == {
        "input_tokens": 6,
        "output_tokens": 3,
        "total_tokens": 9,
        "input_token_details": {"cache_read": 3, "audio": 4},
        "output_token_details": {"reasoning": 2},
    }


# -- get_usage_metadata_callback ------------------------------------------------------------------


async def test_usage_callback_sums_per_model_name(openai_server: OpenAIServer) -> None:
    openai_server.queue(
        Reply("x", usage=(2, 1)), Reply("y", usage=(5, 2)), Reply("z", usage=(1, 1))
    )
    big, small = make_model(openai_server, model="big"), make_model(openai_server, model="small")
    with get_usage_metadata_callback() as cb:
        await big.ainvoke("a")
        await small.ainvoke("b")
        await big.ainvoke("c")
    assert cb.usage_metadata == {
        "big": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
        "small": {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7},
    }
    await big.ainvoke("after")  # outside the block: not counted
    assert cb.usage_metadata["big"]["total_tokens"] == 5


def test_usage_callback_in_sync_code_sees_batches_and_nested_steps() -> None:
    model = OfflineChatModel(responses=["one two"])
    chain = RunnableParallel(a=model, b=model | StrOutputParser())
    with get_usage_metadata_callback() as cb:
        chain.batch(["q r", "s"])
    # 4 calls: inputs of 2 and 1 words (each twice), 2 output words each.
    assert cb.usage_metadata == {
        "offline": {"input_tokens": 6, "output_tokens": 8, "total_tokens": 14},
    }


async def test_usage_callback_counts_the_tasks_started_in_its_block() -> None:
    model = OfflineChatModel(responses=["w"])
    inside_done = anyio.Event()

    async def elsewhere() -> None:
        await inside_done.wait()
        await model.ainvoke("also mine")  # 2 + 1 tokens

    with get_usage_metadata_callback() as cb:
        async with anyio.create_task_group() as tg:
            tg.start_soon(elsewhere)
            await model.ainvoke("mine")  # 1 + 1 tokens
            inside_done.set()
    assert cb.usage_metadata["offline"]["total_tokens"] == 5


async def test_usage_callback_ignores_tasks_started_before_its_block() -> None:
    model = OfflineChatModel(responses=["w"])
    go, done = anyio.Event(), anyio.Event()

    async def outsider() -> None:
        await go.wait()
        await model.ainvoke("not mine")
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(outsider)  # its context was copied before the block began
        with get_usage_metadata_callback() as cb:
            await model.ainvoke("mine")
            go.set()
            await done.wait()
    assert cb.usage_metadata == {
        "offline": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}
    }


# -- UsageTracker ---------------------------------------------------------------------------------


async def test_tracker_gives_usage_and_cost_per_item_per_model_and_in_total(
    openai_server: OpenAIServer,
) -> None:
    prompt = ChatPromptTemplate.from_messages([("user", "{q}")])
    mini, big = make_model(openai_server, model="gpt-4o-mini"), make_model(openai_server, model="x")
    chain = prompt | RunnableParallel(a=mini, b=big)
    # Both models of item i answer with usage (10 * (i + 1), i + 1), cached tokens i.
    openai_server.queue(
        *[
            Reply("r", usage=(10 * (i + 1), i + 1), cached_tokens=i)
            for i in range(3)
            for _ in range(2)
        ]
    )
    prices = {"gpt-4o-mini": Price(1.0, 4.0, 0.5), "x": Price(2.0, 8.0)}
    tracker = UsageTracker(prices=prices)
    # Items finish in any order; max_concurrency 1 makes the queued usages follow the items.
    await chain.abatch(
        [{"q": "a"}, {"q": "b"}, {"q": "c"}], {"callbacks": [tracker], "max_concurrency": 1}
    )
    assert sorted(tracker.by_item) == [0, 1, 2]
    for i in range(3):
        item = tracker.by_item[i]
        assert (item.requests, item.input_tokens, item.output_tokens) == (
            2,
            20 * (i + 1),
            2 * (i + 1),
        )
        assert item.cached_input_tokens == 2 * i
        fresh, cached, out = 10 * (i + 1) - i, i, i + 1
        expected = (fresh * 1.0 + cached * 0.5 + out * 4.0) + (10 * (i + 1) * 2.0 + out * 8.0)
        assert item.cost == pytest.approx(expected / 1e6)
    assert set(tracker.by_model) == {"gpt-4o-mini", "x"}
    assert tracker.by_model["x"].input_tokens == 60
    assert tracker.total.requests == 6
    assert tracker.total.total_tokens == tracker.total_tokens == 120 + 12
    assert tracker.cost == pytest.approx(sum(t.cost for t in tracker.by_item.values()))
    assert tracker.unpriced == set()


async def test_tracker_lists_unpriced_models_and_counts_their_tokens() -> None:
    tracker = UsageTracker()
    model = OfflineChatModel(responses=["a b"])
    await model.abatch(["x", "y z"], {"callbacks": [tracker]})
    assert tracker.unpriced == {"offline"}
    assert tracker.cost == 0
    assert (tracker.by_item[0].total_tokens, tracker.by_item[1].total_tokens) == (3, 4)


async def test_tracker_counts_a_cache_hit_with_no_tokens_and_no_cost() -> None:
    tracker = UsageTracker(prices={"offline": Price(1.0, 1.0)})
    model = OfflineChatModel(responses=["a b"], cache=InMemoryCache())
    await model.abatch(["same", "same"], {"callbacks": [tracker], "max_concurrency": 1})
    assert (tracker.total.requests, tracker.total.cache_hits) == (1, 1)
    assert tracker.total.total_tokens == 3
    assert tracker.total.cost == pytest.approx(3 / 1e6)
    assert tracker.by_item[0].requests + tracker.by_item[1].requests == 1


async def test_tracker_starts_items_afresh_per_top_level_batch() -> None:
    tracker = UsageTracker()
    model = OfflineChatModel(responses=["a"])
    await model.abatch(["x", "y"], {"callbacks": [tracker]})
    await model.abatch(["p q r"], {"callbacks": [tracker]})
    assert list(tracker.by_item) == [0]
    assert tracker.by_item[0].input_tokens == 3
    assert tracker.total.requests == 3


def test_bad_prices_fail_at_build_time_naming_the_parameter() -> None:
    with pytest.raises(TypeError, match='"prices"'):
        UsageTracker(prices={"m": "cheap"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match=r'"prices".*\'m\'.*"output".*-2\.0'):
        UsageTracker(prices={"m": (1.0, -2.0)})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match='"prices"'):
        UsageTracker(prices={3: Price(1.0, 2.0)})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match='"prices"'):
        UsageTracker(prices=[("m", Price(1.0, 2.0))])  # type: ignore[arg-type]
    assert UsageTracker(prices={"m": (1.0, 2.0)}).prices == {"m": Price(1.0, 2.0)}  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("kwargs", "param", "error"),
    [
        ({"input": "1", "output": 1.0}, "input", TypeError),
        ({"input": 1.0, "output": None}, "output", TypeError),
        ({"input": True, "output": 1.0}, "input", TypeError),
        ({"input": -1.0, "output": 1.0}, "input", ValueError),
        ({"input": 1.0, "output": float("nan")}, "output", ValueError),
        ({"input": 1.0, "output": 1.0, "cached_input": -0.5}, "cached_input", ValueError),
        ({"input": 1.0, "output": 1.0, "batch_input": "half"}, "batch_input", TypeError),
        ({"input": 1.0, "output": 1.0, "batch_output": -2}, "batch_output", ValueError),
        ({"input": 1.0, "output": 1.0, "batch_cached_input": []}, "batch_cached_input", TypeError),
    ],
)
def test_a_bad_price_fails_at_construction_naming_the_parameter_and_value(
    kwargs: dict[str, Any], param: str, error: type[Exception]
) -> None:
    with pytest.raises(error, match=f'"{param}"') as info:
        Price(**kwargs)
    assert type(info.value) is error
    assert repr(kwargs[param]) in str(info.value)


def test_a_batch_api_reply_costs_half_by_default_or_the_batch_prices_given() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 100, "input_token_details": {"cache_read": 200}}
    price = Price(2.0, 8.0, 1.0)
    normal = (800 * 2.0 + 200 * 1.0 + 100 * 8.0) / 1e6
    assert price.cost(usage) == pytest.approx(normal)
    assert price.cost(usage, batch=True) == pytest.approx(normal / 2)
    own = Price(2.0, 8.0, 1.0, batch_input=1.5, batch_output=3.0, batch_cached_input=0.1)
    assert own.cost(usage, batch=True) == pytest.approx((800 * 1.5 + 200 * 0.1 + 100 * 3.0) / 1e6)
    assert own.cost(usage) == pytest.approx(normal)


class _BatchAPIModel(OfflineChatModel):
    """The offline model's replies, marked as a Batch API model's are (issue 22)."""

    async def _agenerate(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AIMessage:
        reply = await super()._agenerate(messages, stop=stop, **options)
        metadata = {**reply.response_metadata, "batch_api": True}
        return reply.model_copy(update={"response_metadata": metadata})


async def test_tracker_prices_a_batch_api_reply_at_the_batch_rate() -> None:
    tracker = UsageTracker(prices={"offline": Price(1.0, 4.0)})
    config: RunnableConfig = {"callbacks": [tracker]}
    await OfflineChatModel(responses=["one two"]).ainvoke("a b c", config)
    normal, tokens = tracker.cost, tracker.total_tokens
    assert normal == pytest.approx((3 * 1.0 + 2 * 4.0) / 1e6)
    reply = await _BatchAPIModel(responses=["one two"]).ainvoke("a b c", config)
    assert reply.response_metadata["batch_api"] is True
    assert tracker.total_tokens == 2 * tokens
    assert tracker.cost - normal == pytest.approx(normal / 2)


def test_default_prices_are_dated_and_a_snapshot_takes_its_base_models_price() -> None:
    assert PRICES_DATE.count("-") == 2
    assert price_of("gpt-4o-mini-2024-07-18", None) == DEFAULT_PRICES["gpt-4o-mini"]
    assert price_of("gpt-4o-mini-realtime", None) is None
    usage = {"input_tokens": 1_000_000, "output_tokens": 0, "total_tokens": 1_000_000}
    usage["input_token_details"] = {"cache_read": 500_000}  # type: ignore[assignment]
    price = DEFAULT_PRICES["gpt-4o-mini"]
    assert price.cost(usage) == pytest.approx(0.5 * price.input + 0.5 * (price.cached_input or 0))


# -- ProgressBar ----------------------------------------------------------------------------------


async def test_progress_bar_shows_tokens_and_with_a_tracker_the_cost() -> None:
    model = OfflineChatModel(responses=["a b"])
    out = io.StringIO()
    bar = ProgressBar(file=out, mininterval=0)
    await model.abatch(["x", "y"], {"callbacks": [bar]})
    assert bar.tokens == 6
    assert "tokens=6" in out.getvalue()

    out = io.StringIO()
    tracker = UsageTracker(prices={"offline": Price(1000.0, 1000.0)})
    bar = ProgressBar(file=out, mininterval=0, usage=tracker)
    await model.abatch(["x", "y"], {"callbacks": [bar]})
    assert tracker.total_tokens == 6
    assert "tokens=6" in out.getvalue()
    assert "cost=$0.0060" in out.getvalue()


async def test_progress_bar_without_usage_shows_no_tokens() -> None:
    out = io.StringIO()
    bar = ProgressBar(file=out, mininterval=0)
    await RunnableLambda(lambda x: x).abatch([1, 2], {"callbacks": [bar]})
    assert "tokens" not in out.getvalue()


def test_progress_bar_rejects_a_usage_that_is_no_tracker() -> None:
    with pytest.raises(TypeError, match='"usage"'):
        ProgressBar(usage=5)


# -- under RayExecutor ----------------------------------------------------------------------------


@pytest.mark.usefixtures("ray_session")
async def test_tracker_under_ray_executor_names_each_item_by_its_place_in_the_batch() -> None:
    from runnables.ray import RayExecutor

    tracker = UsageTracker(prices={"offline": Price(1.0, 1.0)})
    inputs = [" ".join(["w"] * (i + 1)) for i in range(12)]  # item i: i + 1 input tokens
    # Chunks of 3: on a worker, each chunk's items are numbered from 0.
    with RayExecutor(num_workers=2, chunk_size=3) as executor:
        await executor.abatch(OfflineChatModel(responses=["r"]), inputs, {"callbacks": [tracker]})
    assert sorted(tracker.by_item) == list(range(12))
    assert [tracker.by_item[i].input_tokens for i in range(12)] == [i + 1 for i in range(12)]
    assert tracker.total.requests == 12
    assert tracker.cost == pytest.approx((78 + 12) / 1e6)


async def test_batch_items_tell_handlers_their_index_but_not_astream_events() -> None:
    starts: list[tuple[Any, ...]] = []

    class Starts:
        def on_start(self, event: Any) -> None:
            starts.append((event.parent_ids, event.data.get("batch_index"), event.data["input"]))

    step = RunnableLambda(lambda x: x)
    await step.abatch(["a", "b", "c"], {"callbacks": [Starts()]})
    assert sorted((i, x) for parents, i, x in starts if not parents) == [
        (0, "a"),
        (1, "b"),
        (2, "c"),
    ]

    async def inner_batch(xs: list[str]) -> list[str]:
        return await step.abatch(xs)

    datas = [
        e["data"]
        async for e in RunnableLambda(inner_batch).astream_events(["x", "y"], version="v2")
        if e["event"] == "on_chain_start"
    ]
    assert len(datas) == 3
    assert all("batch_index" not in d for d in datas)
