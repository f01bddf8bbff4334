"""Tests of the loopback server itself, driven by the official ``openai`` SDK."""

from __future__ import annotations

import json
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.openai_server import WAIT_LIMIT, OpenAIServer, Reply

MODEL = "gpt-test"


def _async_client(
    server: OpenAIServer, max_retries: int = 0, timeout: float = WAIT_LIMIT
) -> AsyncOpenAI:
    return AsyncOpenAI(
        base_url=server.base_url, api_key="test", max_retries=max_retries, timeout=timeout
    )


@pytest.mark.anyio
async def test_json_reply(openai_server: OpenAIServer) -> None:
    openai_server.reply("Hello there")
    async with _async_client(openai_server) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi you"}]
        )
    assert completion.model == MODEL
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (2, 2)
    assert completion.usage.total_tokens == 4
    assert openai_server.requests == [
        {"model": MODEL, "messages": [{"role": "user", "content": "hi you"}]}
    ]


def test_sync_client_default_echo(openai_server: OpenAIServer) -> None:
    with OpenAI(base_url=openai_server.base_url, api_key="test", max_retries=0) as client:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "ping"}]
        )
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "a b"}], stream=True
        )
        with stream:
            pieces = [c.choices[0].delta.content for c in stream if c.choices]
    assert completion.choices[0].message.content == "echo: ping"
    assert pieces == ["", "echo:", " a", " b", None]
    assert openai_server.records[0].headers["authorization"] == "Bearer test"


@pytest.mark.anyio
async def test_stream_with_usage_chunk(openai_server: OpenAIServer) -> None:
    openai_server.reply(chunks=["Hel", "lo", " world"])
    async with _async_client(openai_server) as client:
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello world"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 2


@pytest.mark.anyio
async def test_rate_limit_then_success_honors_retry_after(openai_server: OpenAIServer) -> None:
    openai_server.rate_limit(retry_after=0.05)
    openai_server.reply("ok")
    waits: list[float] = []

    class RecordingClient(AsyncOpenAI):
        """Records how long the SDK decides to wait before each retry."""

        def _calculate_retry_timeout(self, *args: Any, **kwargs: Any) -> float:
            waits.append(super()._calculate_retry_timeout(*args, **kwargs))
            return waits[-1]

    async with RecordingClient(
        base_url=openai_server.base_url, api_key="test", max_retries=1, timeout=5.0
    ) as client:
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "ok"
    # The SDK's own backoff would be 0.375-0.5 s: exactly 0.05 s is the server's Retry-After.
    assert waits == [0.05]
    assert [r.headers.get("x-stainless-retry-count") for r in openai_server.records] == ["0", "1"]


@pytest.mark.anyio
async def test_server_error_surfaces(openai_server: OpenAIServer) -> None:
    openai_server.error(500, message="boom", code="internal")
    async with _async_client(openai_server) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )
    assert caught.value.status_code == 500
    assert caught.value.code == "internal"
    assert caught.value.body == {
        "message": "boom",
        "type": "server_error",
        "param": None,
        "code": "internal",
    }
    assert len(openai_server.requests) == 1


@pytest.mark.anyio
async def test_hold_proves_three_requests_overlap(openai_server: OpenAIServer) -> None:
    hold = openai_server.hold_requests(3)
    answers: list[str | None] = []

    async def ask(client: AsyncOpenAI, question: str) -> None:
        completion = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}]
        )
        answers.append(completion.choices[0].message.content)

    async with _async_client(openai_server) as client, anyio.create_task_group() as tg:
        for question in ("q0", "q1", "q2"):
            tg.start_soon(ask, client, question)
        await hold.wait_arrived_async()
        # All three are inside the server at once and none has been answered.
        assert len(openai_server.requests) == 3
        assert answers == []
        hold.release()
    assert sorted(a or "" for a in answers) == ["echo: q0", "echo: q1", "echo: q2"]


def test_hold_with_sync_clients_in_threads(openai_server: OpenAIServer) -> None:
    hold = openai_server.hold_requests(2)

    def ask(client: OpenAI, question: str) -> str | None:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}]
        )
        return completion.choices[0].message.content

    with (
        OpenAI(base_url=openai_server.base_url, api_key="test", max_retries=0) as client,
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        futures = [pool.submit(ask, client, q) for q in ("x", "y")]
        hold.wait_arrived()
        assert not any(f.done() for f in futures)
        hold.release()
        answers = sorted(f.result(timeout=WAIT_LIMIT) or "" for f in futures)
    assert answers == ["echo: x", "echo: y"]


@pytest.mark.anyio
async def test_stream_pauses_mid_way_until_released(openai_server: OpenAIServer) -> None:
    gate = openai_server.gate()
    openai_server.reply(chunks=["a", "b", "c"], gate=gate, pause_after=1)
    async with _async_client(openai_server) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        async with stream:
            assert (await anext(stream)).choices[0].delta.role == "assistant"
            assert (await anext(stream)).choices[0].delta.content == "a"
            await gate.wait_arrived_async()
            assert not gate.released  # the client got "a" while the server is mid-stream
            gate.release()
            rest = [c.choices[0].delta.content async for c in stream]
    assert rest == ["b", "c", None]
    assert openai_server.disconnects == 0


@pytest.mark.anyio
async def test_client_closing_stream_early_is_detected(openai_server: OpenAIServer) -> None:
    gate = openai_server.gate()
    openai_server.reply(chunks=["a", "b"], gate=gate, pause_after=1)
    async with _async_client(openai_server) as client:
        stream = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
        )
        await anext(stream)
        assert (await anext(stream)).choices[0].delta.content == "a"
        await gate.wait_arrived_async()
        await stream.close()
        await openai_server.wait_for_disconnects_async(1)
    assert openai_server.disconnects == 1
    assert not gate.released


@pytest.mark.anyio
async def test_faults(openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture) -> None:
    openai_server.queue(
        Reply(chunks=["a", "b"], fault="drop", fault_after=1),
        Reply(chunks=["a", "b"], fault="malformed", fault_after=1),
        Reply(fault="drop"),
        Reply(fault="hang"),
    )
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "hi"}
    ]
    async with _async_client(openai_server) as client:
        stream = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        with pytest.raises(openai.APIConnectionError):
            _ = [c async for c in stream]
        stream = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        with pytest.raises(ValueError, match="Expecting value"):
            _ = [c async for c in stream]
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(model=MODEL, messages=messages)
        with pytest.raises(openai.APITimeoutError):  # only the hanging request has a short limit
            await client.with_options(timeout=0.3).chat.completions.create(
                model=MODEL, messages=messages
            )
    await openai_server.wait_for_disconnects_async(1)  # the timed-out client hung up
    assert len(openai_server.requests) == 4
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.anyio
async def test_cancelled_client_while_held_is_detected(openai_server: OpenAIServer) -> None:
    hold = openai_server.hold_requests(1)
    async with _async_client(openai_server) as client, anyio.create_task_group() as tg:

        async def ask() -> None:
            await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}]
            )

        tg.start_soon(ask)
        await hold.wait_arrived_async()
        tg.cancel_scope.cancel()
    await openai_server.wait_for_disconnects_async(1)
    assert not hold.released


def test_max_active_counts_requests_in_progress_at_once(openai_server: OpenAIServer) -> None:
    hold = openai_server.hold_requests(3)

    def ask(client: OpenAI, question: str) -> str | None:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}]
        )
        return completion.choices[0].message.content

    with (
        OpenAI(base_url=openai_server.base_url, api_key="test", max_retries=0) as client,
        ThreadPoolExecutor(max_workers=3) as pool,
    ):
        futures = [pool.submit(ask, client, q) for q in "xyz"]
        hold.wait_arrived()
        hold.release()
        assert sorted(f.result(timeout=WAIT_LIMIT) or "" for f in futures) == [
            "echo: x",
            "echo: y",
            "echo: z",
        ]
        assert openai_server.max_active == 3
        openai_server.reset()
        for question in "abcd":  # one after another: each starts once the last one's reply came
            ask(client, question)
    assert openai_server.max_active == 1


@pytest.mark.anyio
async def test_settle_counts_hanging_requests_and_those_their_clients_hung_up_on(
    openai_server: OpenAIServer,
) -> None:
    openai_server.queue(Reply(fault="hang"), Reply(fault="hang"))
    messages: list[openai.types.chat.ChatCompletionMessageParam] = [
        {"role": "user", "content": "hi"}
    ]
    async with _async_client(openai_server) as client, anyio.create_task_group() as tg:
        for _ in range(2):
            tg.start_soon(lambda: client.chat.completions.create(model=MODEL, messages=messages))
        await openai_server.wait_for_requests_async(2)
        with anyio.move_on_after(0.05) as still_hanging:  # both wait at the server: not idle
            await openai_server.settle_async()
        assert still_hanging.cancelled_caught
        tg.cancel_scope.cancel()  # the clients hang up
    assert await openai_server.settle_async() == (2, 2)

    # A request whose client left before the server read it (a late one from an earlier test) is
    # answered into the closed socket: not a hanging request, whether or not a disconnect is seen.
    send_and_leave(openai_server, "late")
    await openai_server.wait_for_requests_async(3)
    assert await openai_server.settle_async() == (2, 2)


def send_and_leave(server: OpenAIServer, text: str) -> None:
    """Send a chat request on a connection of its own and close it without reading the reply."""
    host, port = server.base_url.removeprefix("http://").removesuffix("/v1").split(":")
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": text}]}).encode()
    with socket.create_connection((host, int(port))) as connection:
        connection.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )


def test_reset_first_records_the_requests_already_sent(openai_server: OpenAIServer) -> None:
    # A request an earlier test sent and abandoned is the reset's, not the next test's: it takes
    # neither the next test's scripted reply nor a place in its records.
    for i in range(5):
        send_and_leave(openai_server, f"late {i}")
    openai_server.reset()
    openai_server.reply("scripted")
    with OpenAI(base_url=openai_server.base_url, api_key="test", max_retries=0) as client:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "scripted"
    assert [r["messages"][-1]["content"] for r in openai_server.requests] == ["hi"]
