"""Models share a RateLimiter: every call waits on it; token estimates are settled with usage."""

import anyio
import anyio.lowlevel
import pytest

from llm import ChatOpenAI, OfflineChatModel
from runnables import RateLimiter, RunnableParallel
from tests.openai_server import OpenAIServer

pytestmark = pytest.mark.anyio

# A minute's refill of one token: nothing refills while a test runs.
NO_REFILL = 1


async def waits(limiter: RateLimiter, tokens: int = 0) -> bool:
    """Whether `acquire` would wait now; if it would, the cancelled attempt takes nothing."""
    with anyio.move_on_after(0) as scope:
        await limiter.acquire(tokens)
    return scope.cancelled_caught


async def test_token_estimate_is_corrected_with_the_replys_usage() -> None:
    limiter = RateLimiter(tokens_per_minute=NO_REFILL, token_burst=10_000)
    model = OfflineChatModel(responses=["one two three"], rate_limiter=limiter)
    reply = await model.ainvoke("four five")
    assert reply.usage is not None
    left = 10_000 - reply.usage.total_tokens  # whatever was estimated, the real total counts
    assert await waits(limiter, tokens=left + 1)
    assert not await waits(limiter, tokens=left)


async def test_stream_settles_with_the_last_chunks_usage() -> None:
    limiter = RateLimiter(tokens_per_minute=NO_REFILL, token_burst=10_000)
    model = OfflineChatModel(responses=["a b c d"], rate_limiter=limiter)
    chunks = [c async for c in model.astream("x y")]
    usage = chunks[-1].usage
    assert usage is not None
    left = 10_000 - usage.total_tokens
    assert await waits(limiter, tokens=left + 1)
    assert not await waits(limiter, tokens=left)


async def test_two_models_share_one_limiter() -> None:
    limiter = RateLimiter(requests_per_minute=NO_REFILL, request_burst=6)
    a = OfflineChatModel(responses=["a"], rate_limiter=limiter)
    b = OfflineChatModel(responses=["b"], rate_limiter=limiter)
    out = await RunnableParallel(a=a, b=b).abatch(["q1", "q2", "q3"])
    assert [(o["a"].content, o["b"].content) for o in out] == [("a", "b")] * 3
    # Six requests, from both models, drew down one bucket of six.
    assert await waits(limiter)


async def test_chat_openai_waits_on_the_limiter_before_sending(openai_server: OpenAIServer) -> None:
    limiter = RateLimiter(requests_per_minute=NO_REFILL, request_burst=1)
    model = ChatOpenAI(
        base_url=openai_server.base_url, api_key="test", max_retries=0, rate_limiter=limiter
    )
    assert (await model.ainvoke("one")).content == "echo: one"
    with anyio.CancelScope() as scope:

        async def cancel_once_waiting() -> None:
            await anyio.wait_all_tasks_blocked()
            scope.cancel()

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_once_waiting)
            await model.ainvoke("two")  # waits on the limiter (a minute) until cancelled
    assert scope.cancelled_caught
    assert [r["messages"][-1]["content"] for r in openai_server.requests] == ["one"]


def test_rate_limiter_argument_is_checked() -> None:
    with pytest.raises(TypeError, match='"rate_limiter"'):
        OfflineChatModel(rate_limiter=60)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='"rate_limiter"'):
        ChatOpenAI(rate_limiter="fast")  # type: ignore[arg-type]
