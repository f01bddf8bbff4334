"""`ChatOpenAI.with_batch_api()` against the loopback server's Batch API: one job per wave of
the seed chain with the direct calls' bodies, failed lines in place, jobs that end badly,
cancelling and resuming a run, events, streams, and bad arguments."""

from __future__ import annotations

import io
import json
import pickle
from typing import Any

import anyio
import openai
import pytest
from pydantic import BaseModel

from llm import (
    BaseChatModel,
    BatchAPIChatModel,
    BatchJobError,
    ChatOpenAI,
    OfflineChatModel,
    Price,
    UsageTracker,
    tool,
)
from prompts import AIMessage
from runnables import (
    BaseCallbackHandler,
    Budget,
    BudgetExceededError,
    InMemoryCache,
    RunEvent,
)
from tests.llm.test_seed_chain import seed_chain as direct_seed_chain
from tests.openai_server import ErrorReply, OpenAIServer, Reply, ToolCallSpec

TOPICS = ["Space exploration", "Coral reefs", "Honey bees"]


def seed_chain(model: BaseChatModel) -> Any:
    """The seed chain (three branches, then a synthesis) over any chat model."""
    return direct_seed_chain(model)  # type: ignore[arg-type]  # it is typed for ChatOpenAI only


def _model(server: OpenAIServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-test", temperature=0.7, base_url=server.base_url, api_key="sk-test", **kwargs
    )


def _batched(model: ChatOpenAI, **options: Any) -> BatchAPIChatModel:
    # A quiet time well above the gaps between one wave's calls (microseconds), on the real clock.
    return model.with_batch_api(**({"flush_after": 0.2, "poll_interval": 0.01} | options))


class Names(BaseCallbackHandler):
    """Keeps the names of the custom events it sees."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_custom_event(self, event: RunEvent) -> None:
        self.names.append(event.name)


def _tasks() -> int:
    # The bridge's own watcher of loop resources (made on first use in a loop) is not ours.
    tasks = anyio.get_running_tasks()
    return sum(1 for t in tasks if t.name != "runnables: close loop resources")


def _canonical(bodies: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(body, sort_keys=True) for body in bodies)


@pytest.mark.anyio
async def test_the_seed_batch_makes_one_job_per_wave_with_the_direct_bodies(
    openai_server: OpenAIServer,
) -> None:
    model = _model(openai_server)
    direct = await seed_chain(model).abatch(TOPICS)
    direct_bodies = openai_server.requests
    assert len(direct_bodies) == 12
    openai_server.reset()

    batched = await seed_chain(_batched(model)).abatch(TOPICS)

    assert batched == direct
    jobs = openai_server.batches.jobs
    assert [len(job.lines) for job in jobs] == [9, 3]  # the branches, then the syntheses
    assert all(job.status == "completed" for job in jobs)
    assert all(line["url"] == "/v1/chat/completions" for line in openai_server.batches.lines)
    assert all(line["method"] == "POST" for line in openai_server.batches.lines)
    lines = [line["body"] for line in openai_server.batches.lines]
    assert _canonical(lines) == _canonical(direct_bodies)
    assert openai_server.requests == []  # no direct call


class Weather(BaseModel):
    city: str
    celsius: int


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


@pytest.mark.anyio
async def test_tools_and_response_format_are_sent_as_the_direct_call_sends_them(
    openai_server: OpenAIServer,
) -> None:
    model = _model(openai_server, seed=7, extra_body={"top_k": 3})
    batched = _batched(model)
    call = ToolCallSpec("get_weather", {"city": "Paris"}, id="call_1")
    steps = [
        (model.bind_tools([get_weather], tool_choice="get_weather"), Reply(tool_calls=[call])),
        (model.with_structured_output(Weather), Reply('{"city": "Oslo", "celsius": 3}')),
    ]
    for step, reply in steps:
        openai_server.queue(reply)
        direct = await step.ainvoke("weather?")
        sent = openai_server.requests
        openai_server.reset()
        batched_step = (
            batched.bind_tools([get_weather], tool_choice="get_weather")
            if step is steps[0][0]
            else batched.with_structured_output(Weather)
        )
        openai_server.queue(reply)
        through_batch = await batched_step.ainvoke("weather?")
        assert [line["body"] for line in openai_server.batches.lines] == sent
        assert "top_k" in sent[0]
        assert "extra_body" not in sent[0]
        if isinstance(direct, AIMessage):
            assert isinstance(through_batch, AIMessage)
            assert through_batch.tool_calls == direct.tool_calls
            assert through_batch.tool_calls[0]["args"] == {"city": "Paris"}
            assert through_batch.response_metadata["batch_api"] is True
        else:
            assert through_batch == direct == Weather(city="Oslo", celsius=3)
        openai_server.reset()


@pytest.mark.anyio
async def test_failed_lines_raise_the_sdk_error_of_their_status_in_place(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(
        Reply("fine", usage=(5, 1)),
        ErrorReply(429, message="Too many tokens in the batch", code="rate_limit_exceeded"),
        ErrorReply(400, message="Bad request body", type="invalid_request_error"),
    )
    prompts = ["first", "second", "third"]
    out = await _batched(_model(openai_server)).abatch(prompts, return_exceptions=True)

    [job] = openai_server.batches.jobs
    order = [line["body"]["messages"][-1]["content"] for line in job.lines]
    by_line = [out[prompts.index(prompt)] for prompt in order]  # the order lines were sent
    ok, limited, bad = by_line
    assert isinstance(ok, AIMessage)
    assert ok.content == "fine"
    assert ok.response_metadata["batch_api"] is True
    assert ok.response_metadata["batch_id"] == job.id
    assert ok.usage_metadata is not None
    assert ok.usage_metadata["total_tokens"] == 6
    assert isinstance(limited, openai.RateLimitError)
    assert limited.status_code == 429
    assert "Too many tokens in the batch" in str(limited)
    assert isinstance(bad, openai.BadRequestError)
    assert "Bad request body" in str(bad)
    assert limited.response.headers["x-request-id"].startswith("req-")

    with pytest.raises(openai.RateLimitError):  # without return_exceptions: the first error
        openai_server.queue(ErrorReply(429, message="again"))
        await _batched(_model(openai_server)).abatch(["only"])


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["expired", "failed", "cancelled"])
async def test_a_job_that_ends_badly_raises_batch_job_error_for_the_calls_it_left(
    openai_server: OpenAIServer, ending: str
) -> None:
    openai_server.batches.hold()
    model = _batched(_model(openai_server))
    prompts = ["a", "b", "c"]
    out: list[Any] = []

    async def run() -> None:
        out.extend(await model.abatch(prompts, return_exceptions=True))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await openai_server.batches.wait_for_jobs_async(1)
        if ending == "expired":
            openai_server.batches.expire(answered=1)
        elif ending == "failed":
            openai_server.batches.fail(message="The input file has a bad line.")
        else:  # cancelled by someone else (another client, the dashboard)
            job_id = openai_server.batches.jobs[0].id
            other = openai.OpenAI(api_key="sk-other", base_url=openai_server.base_url)
            await anyio.to_thread.run_sync(lambda: other.batches.cancel(job_id))
            other.close()

    [job] = openai_server.batches.jobs
    first = job.lines[0]["body"]["messages"][-1]["content"]
    for prompt, result in zip(prompts, out, strict=True):
        if ending == "expired" and prompt == first:
            assert isinstance(result, AIMessage)
            assert result.content == f"echo: {prompt}"
        else:
            assert isinstance(result, BatchJobError)
            assert (result.job_id, result.status) == (job.id, ending)
            assert job.id in str(result)
            assert ending in str(result)
    if ending == "failed":
        assert "The input file has a bad line." in str(out[0])


@pytest.mark.anyio
@pytest.mark.parametrize("cancel_on_exit", [False, True])
async def test_cancelling_the_run_leaves_the_job_running_unless_asked_to_cancel_it(
    openai_server: OpenAIServer, cancel_on_exit: bool
) -> None:
    openai_server.batches.hold()
    model = _batched(_model(openai_server), cancel_on_exit=cancel_on_exit)
    before = _tasks()
    async with anyio.create_task_group() as tg:
        tg.start_soon(model.abatch, ["a", "b"])
        await openai_server.batches.wait_for_jobs_async(1)
        tg.cancel_scope.cancel()
    assert _tasks() == before  # nothing of the collector is left
    [job] = openai_server.batches.jobs
    assert job.cancel_requested is cancel_on_exit
    assert job.status == ("cancelling" if cancel_on_exit else "in_progress")


@pytest.mark.anyio
async def test_a_rerun_with_the_same_cache_waits_on_the_recorded_job(
    openai_server: OpenAIServer,
) -> None:
    cache = InMemoryCache()
    model = _model(openai_server, cache=cache)
    openai_server.batches.hold()
    with anyio.move_on_after(60) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(seed_chain(_batched(model)).abatch, TOPICS)
            await openai_server.batches.wait_for_jobs_async(1)
            tg.cancel_scope.cancel()  # Ctrl-C: the first wave's job runs on
    assert not scope.cancelled_caught
    openai_server.batches.complete()

    seen = Names()
    again = await seed_chain(_batched(model)).abatch(TOPICS, {"callbacks": [seen]})
    assert seen.names.count("batch_api.job_resumed") == 1  # the first wave's job, found
    assert seen.names.count("batch_api.job_submitted") == 1  # only the second wave's
    jobs = openai_server.batches.jobs
    assert [len(job.lines) for job in jobs] == [9, 3]  # the first wave was not sent again
    assert jobs[0].retrieved >= 1
    assert openai_server.requests == []

    # Every reply is now in the cache: a third run sends nothing, and polls nothing.
    retrieved = [job.retrieved for job in jobs]
    assert await seed_chain(_batched(model)).abatch(TOPICS) == again
    assert [job.retrieved for job in openai_server.batches.jobs] == retrieved
    assert len(openai_server.batches.jobs) == 2
    # And the direct model shares those entries: a hit, not a request.
    hit = await model.ainvoke(jobs[0].lines[0]["body"]["messages"])
    assert hit.response_metadata["cache_hit"] is True
    assert openai_server.requests == []


@pytest.mark.anyio
async def test_job_events_reach_astream_events_with_the_request_counts(
    openai_server: OpenAIServer,
) -> None:
    model = _batched(_model(openai_server))
    events = [e async for e in model.astream_events("hello", version="v2")]
    custom = [e for e in events if e["event"] == "on_custom_event"]
    names = [e["name"] for e in custom]
    assert names[0] == "batch_api.job_submitted"
    assert names[-1] == "batch_api.job_completed"
    assert "batch_api.job_polled" in names
    [job] = openai_server.batches.jobs
    assert all(e["data"]["job_id"] == job.id for e in custom)
    assert custom[0]["data"]["requests"] == 1
    assert custom[-1]["data"]["request_counts"] == {"total": 1, "completed": 1, "failed": 0}
    end = next(e for e in events if e["event"] == "on_chat_model_end")
    assert end["data"]["output"].content == "echo: hello"


@pytest.mark.anyio
async def test_a_stream_yields_the_whole_reply_as_one_chunk(openai_server: OpenAIServer) -> None:
    model = _batched(_model(openai_server))
    chunks = [chunk async for chunk in model.astream("hello there")]
    assert len(chunks) == 1
    assert chunks[0].content == "echo: hello there"
    assert chunks[0].response_metadata["batch_api"] is True
    assert len(openai_server.batches.lines) == 1
    assert openai_server.requests == []


@pytest.mark.anyio
async def test_calls_waiting_on_a_job_hold_no_concurrency_slot(
    openai_server: OpenAIServer,
) -> None:
    # With max_concurrency=1 the three branches would be sent one after another if each held
    # the run's one slot while its job runs: three jobs instead of one.
    chain = seed_chain(_batched(_model(openai_server)))
    out = await chain.ainvoke("Coral reefs", {"max_concurrency": 1})
    assert out == "echo: Original topic: Coral reefs"
    assert [len(job.lines) for job in openai_server.batches.jobs] == [3, 1]


def test_sync_batch_and_repr(openai_server: OpenAIServer) -> None:
    model = _batched(_model(openai_server), max_requests_per_job=2)
    out = model.batch(["a", "b", "c"])
    assert [m.content for m in out] == ["echo: a", "echo: b", "echo: c"]
    assert sorted(len(job.lines) for job in openai_server.batches.jobs) == [1, 2]
    assert repr(model).startswith("ChatOpenAI(model='gpt-test'")
    assert "with_batch_api(completion_window='24h'" in repr(model)
    assert model.model == "gpt-test"
    again = model.with_batch_api(flush_after=3)
    assert again.bound is model.bound
    assert again.options.flush_after == 3


def test_a_model_without_a_batch_api_says_so() -> None:
    with pytest.raises(NotImplementedError, match="OfflineChatModel has no Batch API"):
        OfflineChatModel().with_batch_api()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"completion_window": "1h"}, ValueError, "completion_window"),
        ({"completion_window": 24}, TypeError, "completion_window"),
        ({"poll_interval": 0}, ValueError, "poll_interval"),
        ({"poll_interval": "5"}, TypeError, "poll_interval"),
        ({"flush_after": -1}, ValueError, "flush_after"),
        ({"flush_after": float("nan")}, ValueError, "flush_after"),
        ({"max_requests_per_job": 0}, ValueError, "max_requests_per_job"),
        ({"max_requests_per_job": 50_001}, ValueError, "max_requests_per_job"),
        ({"max_requests_per_job": 1.5}, TypeError, "max_requests_per_job"),
        ({"cancel_on_exit": 1}, TypeError, "cancel_on_exit"),
    ],
)
def test_bad_arguments_fail_when_the_model_is_made(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    model = ChatOpenAI(api_key="sk-test")
    with pytest.raises(error, match=match):
        model.with_batch_api(**options)


@pytest.mark.anyio
async def test_the_progress_bar_shows_the_jobs(openai_server: OpenAIServer) -> None:
    from runnables.progress import ProgressBar

    screen = io.StringIO()
    bar = ProgressBar("topics", file=screen, mininterval=0)
    out = await seed_chain(_batched(_model(openai_server))).abatch(TOPICS, {"callbacks": [bar]})
    assert len(out) == 3
    first, second = (job.id for job in openai_server.batches.jobs)
    assert list(bar.batch_jobs) == [first, second]
    assert bar.batch_jobs[second]["status"] == "completed"
    assert bar.batch_jobs[first]["request_counts"] == {"total": 9, "completed": 9, "failed": 0}
    text = screen.getvalue()
    assert "jobs=1/2" in text  # the second wave's job submitted, the first one done
    assert "job=completed 3/3" in text


@pytest.mark.anyio
async def test_usage_through_the_batch_api_is_priced_at_the_batch_rate(
    openai_server: OpenAIServer,
) -> None:
    prices = {"gpt-test": Price(input=1.0, output=2.0)}
    direct, batched = UsageTracker(prices=prices), UsageTracker(prices=prices)
    model = _model(openai_server)
    openai_server.queue(Reply("four words of reply", usage=(1000, 4)))
    await model.ainvoke("hi", {"callbacks": [direct]})
    openai_server.queue(Reply("four words of reply", usage=(1000, 4)))
    await _batched(model).ainvoke("hi", {"callbacks": [batched]})
    assert direct.total_tokens == batched.total_tokens == 1004
    assert batched.cost == pytest.approx(direct.cost / 2)
    assert direct.cost > 0


@pytest.mark.anyio
async def test_a_budget_stops_calls_before_they_join_a_job(openai_server: OpenAIServer) -> None:
    model = _batched(_model(openai_server))
    budget = Budget(max_requests=2)
    out = await model.abatch(["a", "b", "c"], {"budget": budget}, return_exceptions=True)
    assert sum(isinstance(r, BudgetExceededError) for r in out) == 1
    assert sum(isinstance(r, AIMessage) for r in out) == 2
    assert [len(job.lines) for job in openai_server.batches.jobs] == [2]  # never sent
    assert budget.requests == 2


def test_a_batch_api_model_pickles_and_works_after(openai_server: OpenAIServer) -> None:
    model = _batched(_model(openai_server))
    copy = pickle.loads(pickle.dumps(model))
    assert repr(copy) == repr(model)
    assert copy.invoke("after the trip").content == "echo: after the trip"
    assert len(openai_server.batches.jobs) == 1
