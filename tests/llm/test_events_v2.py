"""`astream_events(version="v2")` on prompt | model | parser chains: LangChain's names, fields,
order and content, and its filters."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from llm import ChatOpenAI, OfflineChatModel, StrOutputParser
from prompts import AIMessage, AIMessageChunk, ChatPromptTemplate, HumanMessage, SystemMessage
from runnables import RunnableParallel
from tests.openai_server import OpenAIServer

pytestmark = pytest.mark.anyio


def prompt() -> ChatPromptTemplate:
    return ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{topic}")])


async def collect(chain: Any, input: Any, **kwargs: Any) -> list[dict[str, Any]]:
    kwargs.setdefault("version", "v2")
    return [e async for e in chain.astream_events(input, **kwargs)]


def names(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["event"], e["name"]) for e in events]


async def test_names_fields_and_order_on_a_prompt_model_parser_chain() -> None:
    chain = prompt() | OfflineChatModel(responses=["one two three"]) | StrOutputParser()
    events = await collect(chain, {"topic": "comets"})
    seen = names(events)
    assert seen[0] == ("on_chain_start", "RunnableSequence")
    assert seen[-1] == ("on_chain_end", "RunnableSequence")
    for event in events:
        assert set(event) == {"event", "name", "run_id", "parent_ids", "tags", "metadata", "data"}
    kinds = {e for e, _ in seen}
    expected = {
        "on_prompt_start",
        "on_prompt_end",
        "on_chat_model_start",
        "on_chat_model_stream",
        "on_chat_model_end",
        "on_parser_start",
        "on_parser_stream",
        "on_parser_end",
    }
    assert expected <= kinds
    assert "on_prompt_stream" not in kinds
    # Every parent starts before its children, and upstream steps before downstream ones.
    starts = [e for e in events if e["event"].endswith("_start")]
    position = {e["run_id"]: i for i, e in enumerate(starts)}
    for i, event in enumerate(starts):
        assert all(position[p] < i for p in event["parent_ids"])
    assert [e["name"] for e in starts] == [
        "RunnableSequence", "ChatPromptTemplate", "OfflineChatModel", "StrOutputParser"
    ]  # fmt: skip
    root_id = events[0]["run_id"]
    assert events[0]["parent_ids"] == []
    children = [e for e in events if e["run_id"] != root_id]
    assert all(e["parent_ids"] == [root_id] for e in children)
    assert [e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream"] == [
        "one", " two", " three"
    ]  # fmt: skip


async def test_the_chat_model_start_carries_its_messages_and_chunks_add_up() -> None:
    chain = prompt() | OfflineChatModel(responses=["one two three"]) | StrOutputParser()
    events = await collect(chain, {"topic": "comets"})
    (start,) = [e for e in events if e["event"] == "on_chat_model_start"]
    assert start["data"]["input"] == {
        "messages": [[SystemMessage(content="Be brief."), HumanMessage(content="comets")]]
    }
    chunks = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    assert len(chunks) == 3
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    (end,) = [e for e in events if e["event"] == "on_chat_model_end"]
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == end["data"]["output"].content == "one two three"
    parser_end = next(e for e in events if e["event"] == "on_parser_end")
    assert parser_end["data"]["output"] == "one two three"
    assert parser_end["data"]["input"].content == "one two three"


async def test_against_the_server_the_model_streams_real_chunks(
    openai_server: OpenAIServer,
) -> None:
    model = ChatOpenAI(base_url=openai_server.base_url, api_key="test", max_retries=0)
    events = await collect(prompt() | model | StrOutputParser(), {"topic": "comets"})
    chunks = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    assert "".join(c.content for c in chunks) == "echo: comets"
    (end,) = [e for e in events if e["event"] == "on_chat_model_end"]
    assert isinstance(end["data"]["output"], AIMessage | AIMessageChunk)
    assert openai_server.requests[-1]["stream"] is True


async def test_filters_by_type_name_and_tag() -> None:
    model = OfflineChatModel(responses=["a b"]).with_config(tags=["llm"])
    other = OfflineChatModel(responses=["c"])
    chain = RunnableParallel(x=prompt() | model, y=prompt() | other | StrOutputParser())
    only_models = await collect(chain, {"topic": "t"}, include_types=["chat_model"])
    assert {e["event"] for e in only_models} == {
        "on_chat_model_start", "on_chat_model_stream", "on_chat_model_end"
    }  # fmt: skip
    tagged = await collect(chain, {"topic": "t"}, include_tags=["llm"])
    assert {e["name"] for e in tagged} == {"OfflineChatModel"}
    assert len({e["run_id"] for e in only_models}) == 2  # both models...
    assert len({e["run_id"] for e in tagged}) == 1  # ...but only the tagged one
    assert all("llm" in e["tags"] for e in tagged)
    assert "".join(e["data"]["chunk"].content for e in tagged if "chunk" in e["data"]) == "a b"
    no_prompts = await collect(chain, {"topic": "t"}, exclude_types=["prompt"])
    assert not [e for e in no_prompts if e["event"].startswith("on_prompt")]
    named = await collect(chain, {"topic": "t"}, include_names=["StrOutputParser"])
    assert {e["name"] for e in named} == {"StrOutputParser"}
    without = await collect(chain, {"topic": "t"}, exclude_names=["RunnableParallel"])
    assert "RunnableParallel" not in {e["name"] for e in without}


async def test_only_v2_is_spoken() -> None:
    with pytest.raises(ValueError, match='"version"'):
        await collect(prompt(), {"topic": "t"}, version="v1")
    with pytest.raises(TypeError, match='"include_types"'):
        await collect(prompt(), {"topic": "t"}, include_types="chat_model")


async def test_tools_report_as_tools() -> None:
    from llm import tool

    @tool
    def double(n: int) -> int:
        """Double a number."""
        return n * 2

    events = await collect(RunnableParallel(d=double), {"n": 4})
    seen = names(events)
    assert ("on_tool_start", "double") in seen
    assert ("on_tool_end", "double") in seen
    assert not [e for e, _ in seen if e == "on_tool_stream"]
    (end,) = [e for e in events if e["event"] == "on_tool_end"]
    assert end["data"]["output"] == 8


async def test_structured_output_reports_its_parser_as_a_parser() -> None:
    class Answer(BaseModel):
        text: str

    chain = OfflineChatModel().with_structured_output(Answer)
    events = names(await collect(chain, "hi"))
    assert ("on_parser_start", "StructuredOutputParser") in events
    assert ("on_parser_end", "StructuredOutputParser") in events
    assert not [e for e in events if e[1] == "StructuredOutputParser" and "chain" in e[0]]
