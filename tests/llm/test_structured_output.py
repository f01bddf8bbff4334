"""with_structured_output(method="json_mode") without a schema: the reply's JSON, parsed."""

from __future__ import annotations

from typing import Any

import pytest

from llm import ChatOpenAI, OfflineChatModel, OutputParserError
from prompts import AIMessage
from tests.openai_server import OpenAIServer

pytestmark = [
    pytest.mark.anyio,
    # The SDK leaves its SSE generators for the collector (see tests/llm/test_openai.py).
    pytest.mark.filterwarnings(
        r"ignore:Async generator '(openai|httpx2|httpcore2)\.:ResourceWarning"
    ),
]


def make_model(server: OpenAIServer) -> ChatOpenAI:
    return ChatOpenAI(api_key="test-key", base_url=server.base_url, max_retries=0)


async def test_json_mode_without_a_schema_returns_the_parsed_json(
    openai_server: OpenAIServer,
) -> None:
    openai_server.reply('```json\n{"title": "Alien", "year": 1979, "tags": ["space"]}\n```')
    structured = make_model(openai_server).with_structured_output(method="json_mode")
    assert await structured.ainvoke("a film") == {
        "title": "Alien",
        "year": 1979,
        "tags": ["space"],
    }
    assert openai_server.requests[0]["response_format"] == {"type": "json_object"}


async def test_json_mode_without_a_schema_passes_schema_none_too() -> None:
    model = OfflineChatModel(responses=['{"a": [1, 2]}'])
    assert await model.with_structured_output(None, method="json_mode").ainvoke("x") == {
        "a": [1, 2]
    }


async def test_json_mode_without_a_schema_runs_offline_by_default() -> None:
    structured = OfflineChatModel().with_structured_output(method="json_mode")
    assert await structured.ainvoke("x") == {"reply": "[offline model]"}


async def test_json_mode_without_a_schema_and_include_raw() -> None:
    model = OfflineChatModel(responses=['{"ok": true}', "not json"])
    structured = model.with_structured_output(method="json_mode", include_raw=True)
    good = await structured.ainvoke("x")
    assert good["parsed"] == {"ok": True}
    assert good["parsing_error"] is None
    assert isinstance(good["raw"], AIMessage)
    assert good["raw"].content == '{"ok": true}'
    bad = await structured.ainvoke("x")
    assert bad["parsed"] is None
    assert isinstance(bad["parsing_error"], OutputParserError)
    assert bad["raw"].content == "not json"


async def test_json_mode_without_a_schema_raises_on_a_reply_that_is_not_json() -> None:
    structured = OfflineChatModel(responses=["sorry, no"]).with_structured_output(
        method="json_mode"
    )
    with pytest.raises(OutputParserError, match="Invalid JSON") as info:
        await structured.ainvoke("x")
    assert info.value.text == "sorry, no"


async def test_json_mode_without_a_schema_streams_growing_values() -> None:
    model = OfflineChatModel(responses=['{"name": "Ada Lovelace", "n": 2}'], chunk_size=4)
    chunks = [c async for c in model.with_structured_output(method="json_mode").astream("x")]
    assert chunks[-1] == {"name": "Ada Lovelace", "n": 2}
    assert {"name": "Ada Lo"} in chunks  # the string grows as it streams


def test_json_mode_without_a_schema_works_sync() -> None:
    structured = OfflineChatModel(responses=["[1, 2]"]).with_structured_output(method="json_mode")
    assert structured.invoke("x") == [1, 2]
    assert structured.batch(["x", "y"]) == [[1, 2], [1, 2]]


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_other_methods_still_need_a_schema(method: Any) -> None:
    with pytest.raises(ValueError, match=r'"schema" argument: None; method=.*needs a schema'):
        OfflineChatModel().with_structured_output(method=method)
    with pytest.raises(ValueError, match='"schema" argument: None'):
        OfflineChatModel().with_structured_output()
