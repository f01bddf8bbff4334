"""Streaming end to end: first words while the server is still sending, parallel branches
interleaving, chunks adding up to invoke, and the sync bridge chunk by chunk."""

import threading
from typing import Any

import anyio
import pytest

from llm import ChatOpenAI, CommaSeparatedListOutputParser, OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RunnableParallel, RunnablePassthrough
from runnables._chunks import add_chunks
from tests.openai_server import OpenAIServer

PROMPT = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{topic}")])


def model_for(server: OpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(base_url=server.base_url, api_key="test", max_retries=0)


def total(chunks: list[Any]) -> Any:
    out: Any = chunks[0]
    for chunk in chunks[1:]:
        out = add_chunks(out, chunk)
    return out


@pytest.mark.anyio
async def test_first_words_arrive_while_the_server_is_still_sending(
    openai_server: OpenAIServer,
) -> None:
    gate = openai_server.gate()
    openai_server.reply("Hello there space fans", gate=gate, pause_after=1)
    chain = PROMPT | model_for(openai_server) | StrOutputParser()
    seen: list[str] = []
    async for chunk in chain.astream("space"):
        if not seen:
            # The server has sent one piece and is waiting: the client already has it.
            assert not gate.released
            gate.release()
        seen.append(chunk)
    assert "".join(seen) == "Hello there space fans"
    assert seen[0] == "Hello"


@pytest.mark.anyio
async def test_parallel_branches_stream_keyed_chunks_interleaved(
    openai_server: OpenAIServer,
) -> None:
    first, second = openai_server.gate(), openai_server.gate()
    openai_server.reply("one two three", gate=first, pause_after=1)
    openai_server.reply("four five six", gate=second, pause_after=1)
    branch = PROMPT | model_for(openai_server) | StrOutputParser()
    chain = RunnableParallel(a=branch, b=branch)
    chunks: list[dict[str, str]] = []
    async for chunk in chain.astream("x"):
        chunks.append(chunk)
        if len(chunks) == 2:
            # Both servers paused after one piece each, so both branches have spoken.
            assert {next(iter(c)) for c in chunks} == {"a", "b"}
            assert not first.released
            assert not second.released
            first.release()
            second.release()
    # Three words per branch (plus empty chunks that carry finish reason and usage).
    assert len([c for c in chunks if next(iter(c.values()))]) == 6
    merged = total(chunks)
    assert sorted(merged.values()) == ["four five six", "one two three"]


@pytest.mark.anyio
async def test_seed_chain_stream_adds_up_to_invoke_with_chunk_delay() -> None:
    model = OfflineChatModel(chunk_delay=0.001)
    branch = PROMPT | model | StrOutputParser()
    chain = (
        RunnableParallel(summary=branch, terms=branch, topic=RunnablePassthrough())
        | ChatPromptTemplate.from_template("{summary} | {terms} | {topic}")
        | model
        | StrOutputParser()
    )
    chunks = [c async for c in chain.astream("comets")]
    assert len(chunks) > 3
    assert "".join(chunks) == await chain.ainvoke("comets")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tail",
    [StrOutputParser(), CommaSeparatedListOutputParser()],
    ids=["str", "list"],
)
async def test_parsed_chunks_add_up_to_invoke(tail: Any) -> None:
    # The model's own chunks adding up: test_offline.py and test_openai.py.
    chain = OfflineChatModel(responses=["red, green, blue"], chunk_size=2) | tail
    chunks = [c async for c in chain.astream("colours")]
    assert total(chunks) == await chain.ainvoke("colours")


def test_sync_stream_from_a_plain_thread_and_inside_a_loop(openai_server: OpenAIServer) -> None:
    chain = PROMPT | model_for(openai_server) | StrOutputParser()
    results: list[list[str]] = []

    def worker() -> None:
        results.append(list(chain.stream("from a thread")))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()

    async def inside_loop() -> list[str]:
        return list(chain.stream("inside a loop"))

    results.append(anyio.run(inside_loop))
    assert ["".join(r) for r in results] == ["echo: from a thread", "echo: inside a loop"]
    assert all(len(r) > 1 for r in results)  # chunk by chunk, not one buffered string
