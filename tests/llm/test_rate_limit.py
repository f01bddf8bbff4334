"""Models share a RateLimiter: every call waits on it; token estimates are settled with usage."""

import pytest

from llm import ChatOpenAI, OfflineChatModel
from runnables import RateLimiter, RunnableParallel
from tests.openai_server import OpenAIServer

pytestmark = pytest.mark.anyio


async def test_token_estimate_is_corrected_with_the_replys_usage() -> None:
    limiter = RateLimiter(tokens_per_minute=100_000)
    model = OfflineChatModel(responses=["one two three"], rate_limiter=limiter)
    reply = await model.ainvoke("four five")
    assert reply.usage is not None
    # Whatever was estimated, what remains reflects the real total (refill adds a little).
    assert 100_000 - limiter._tokens == pytest.approx(reply.usage.total_tokens, abs=2)


async def test_stream_settles_with_the_last_chunks_usage() -> None:
    limiter = RateLimiter(tokens_per_minute=100_000)
    model = OfflineChatModel(responses=["a b c d"], rate_limiter=limiter)
    chunks = [c async for c in model.astream("x y")]
    usage = chunks[-1].usage
    assert usage is not None
    assert 100_000 - limiter._tokens == pytest.approx(usage.total_tokens, abs=2)


async def test_two_models_share_one_limiter() -> None:
    limiter = RateLimiter(requests_per_minute=60_000, request_burst=2)
    a = OfflineChatModel(responses=["a"], rate_limiter=limiter)
    b = OfflineChatModel(responses=["b"], rate_limiter=limiter)
    out = await RunnableParallel(a=a, b=b).abatch(["q1", "q2", "q3"])
    assert [(o["a"].content, o["b"].content) for o in out] == [("a", "b")] * 3
    # Six requests went through a bucket of two: the limiter was drawn down, not bypassed.
    assert limiter._requests < 2


async def test_chat_openai_waits_on_the_limiter(openai_server: OpenAIServer) -> None:
    limiter = RateLimiter(requests_per_minute=60_000, request_burst=1)
    model = ChatOpenAI(
        base_url=openai_server.base_url, api_key="test", max_retries=0, rate_limiter=limiter
    )
    replies = await model.abatch(["one", "two"])
    assert [r.content for r in replies] == ["echo: one", "echo: two"]
    assert len(openai_server.requests) == 2
    assert limiter._requests < 1


def test_rate_limiter_argument_is_checked() -> None:
    with pytest.raises(TypeError, match='"rate_limiter"'):
        OfflineChatModel(rate_limiter=60)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='"rate_limiter"'):
        ChatOpenAI(rate_limiter="fast")  # type: ignore[arg-type]
