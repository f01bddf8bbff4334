"""add_openai_routes: chains served at OpenAI's Chat Completions endpoints, called by the official
`openai` SDK (sync and async, both backends) over a real uvicorn on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request

from llm import OfflineChatModel, StrOutputParser, add_openai_routes
from prompts import AIMessage, BaseMessage, ToolCall, Usage
from runnables import RunnableConfig, RunnableLambda
from runnables.serve import HTTPError
from tests.uvicorn_thread import running

KEYS = ("user", "team")
WEATHER_CALL = ToolCall(name="get_weather", args={"city": "Paris"}, id="call_1")


def echo_config(messages: list[BaseMessage], config: RunnableConfig) -> str:
    """What reached the chain: the options (configurable), the metadata and the messages."""
    seen = {
        "configurable": dict(config.get("configurable") or {}),
        "metadata": {k: v for k, v in (config.get("metadata") or {}).items() if k in KEYS},
        "messages": [[m.type, m.content] for m in messages],
    }
    return json.dumps(seen, sort_keys=True)


DETAILED = AIMessage(
    "ok",
    tool_calls=[WEATHER_CALL],
    usage=Usage(
        input_tokens=10,
        output_tokens=4,
        total_tokens=14,
        input_token_details={"cache_read": 6},
        output_token_details={"reasoning": 3},
    ),
    response_metadata={"finish_reason": "length"},
)
"""A whole message with everything: text and a tool call, usage details, its finish reason."""


def broken(messages: list[BaseMessage]) -> str:
    raise ValueError("no luck")


def authorize(config: RunnableConfig, request: Request) -> RunnableConfig:
    """Refuse requests without the right key; record the user (as the README shows)."""
    key = request.headers.get("authorization")
    if key == "Bearer banned":
        raise HTTPError(403, "this key may not call the chain")
    if key == "Bearer crash":
        raise RuntimeError("the key store is down")
    if key != "Bearer secret":
        raise HTTPException(401, "a valid API key is needed")
    return {**config, "metadata": {**config.get("metadata", {}), "user": "alice"}}


def make_app() -> Starlette:
    app = Starlette()
    add_openai_routes(app, OfflineChatModel(), "offline")
    add_openai_routes(app, OfflineChatModel() | StrOutputParser(), "text")
    tools = OfflineChatModel(responses=[AIMessage("", tool_calls=[WEATHER_CALL])])
    add_openai_routes(app, tools, "tools")
    add_openai_routes(app, RunnableLambda(echo_config), "options")
    add_openai_routes(app, RunnableLambda(broken), "broken")
    add_openai_routes(app, RunnableLambda(lambda m: {"not": "an answer"}), "dict")
    add_openai_routes(app, RunnableLambda(lambda m: DETAILED), "detailed")
    add_openai_routes(app, RunnableLambda(broken), "broken", prefix="/debug/v1", debug=True)
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    app = make_app()
    add_openai_routes(
        app,
        RunnableLambda(echo_config),
        "guarded",
        prefix="/guarded/v1",
        per_req_config_modifier=authorize,
        max_body_bytes=2_000,
    )
    with running(app) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="unused", max_retries=0) as c:
        yield c


# -- answers ---------------------------------------------------------------------------------


def test_sync_sdk_gets_a_chat_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="offline", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "offline"
    assert completion.created > 0
    [choice] = completion.choices
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "[offline model] reply to: hi"
    assert choice.message.tool_calls is None
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (1, 5)
    assert completion.usage.total_tokens == 6


def test_sync_sdk_streams_chunks_then_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="offline",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[offline model] Be brief. | hi"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 2  # streamed
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert set(finishes[:-1]) == {None}
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 3


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="text", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == (
        "[offline model] reply to: hi"
    )


@pytest.mark.anyio
async def test_async_sdk_gets_a_string_chains_answer(aclient: openai.AsyncOpenAI) -> None:
    completion = await aclient.chat.completions.create(
        model="text", messages=[{"role": "user", "content": "hello there"}]
    )
    assert completion.choices[0].message.content == "[offline model] reply to: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is None  # a string carries no usage


@pytest.mark.anyio
async def test_async_sdk_streams(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="offline", messages=[{"role": "user", "content": "comets"}], stream=True
    )
    pieces = [c.choices[0].delta.content async for c in stream if c.choices]
    assert "".join(p or "" for p in pieces) == "[offline model] reply to: comets"


def test_tool_calls_answer_in_openai_form(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="tools", messages=[{"role": "user", "content": "weather?"}]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.id == "call_1"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_tool_calls_stream_as_deltas(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="tools", messages=[{"role": "user", "content": "weather?"}], stream=True
        )
    )
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or ()]
    assert {d.index for d in deltas} == {0}
    assert [d.function.name for d in deltas if d.function and d.function.name] == ["get_weather"]
    args = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(args) == {"city": "Paris"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_history_reaches_the_chain_as_messages(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="options",
        messages=[
            {"role": "developer", "content": "Use tools."},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        ],
    )
    seen = json.loads(completion.choices[0].message.content or "")
    assert seen["messages"] == [
        ["system", "Use tools."],
        ["human", [{"type": "text", "text": "weather?"}]],
        ["ai", ""],
        ["tool", "sunny"],
    ]


def test_generation_options_reach_the_chain_in_configurable(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="options",
        messages=[{"role": "user", "content": "hi"}],
        temperature=0.2,
        max_tokens=7,
        stop=["\n"],
        seed=3,
        user="someone",  # accepted, not passed on
        n=1,
    )
    seen = json.loads(completion.choices[0].message.content or "")
    assert seen["configurable"] == {"temperature": 0.2, "max_tokens": 7, "stop": ["\n"], "seed": 3}


def test_models_are_listed_and_retrieved(client: openai.OpenAI) -> None:
    names = [m.id for m in client.models.list()]
    assert names == ["offline", "text", "tools", "options", "broken", "dict", "detailed"]
    card = client.models.retrieve("text")
    assert (card.id, card.object, card.owned_by) == ("text", "model", "runnables")
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_a_whole_message_keeps_usage_details_and_finish_reason(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="detailed", messages=[{"role": "user", "content": "x"}]
    )
    choice = completion.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("ok", "length")
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls if c.type == "function"] == ["get_weather"]
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 6
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 3


def test_a_whole_message_streams_as_one_chunk(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="detailed",
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    [answer] = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.content]
    assert answer.content == "ok"
    assert [(t.index, t.id) for t in answer.tool_calls or []] == [(0, "call_1")]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.total_tokens == 14


def test_request_metadata_reaches_the_chain(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="options", messages=[{"role": "user", "content": "x"}], metadata={"team": "blue"}
    )
    assert json.loads(completion.choices[0].message.content or "")["metadata"] == {"team": "blue"}


# -- errors ----------------------------------------------------------------------------------


def test_unknown_model_is_404_in_openais_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"
    assert caught.value.param == "model"
    assert "'gpt-4o' does not exist" in caught.value.message


@pytest.mark.parametrize(
    ("options", "param", "words"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "not supported"),
        ({"response_format": {"type": "json_object"}}, "response_format", "not supported"),
        ({"n": 2}, "n", "one text answer"),
        ({"logprobs": True}, "logprobs", "one text answer"),
        ({"extra_body": {"temprature": 1}}, "temprature", "Unrecognized request argument"),
        ({"temperature": "hot"}, "temperature", "Invalid value"),
    ],
)
def test_unsupported_or_bad_options_are_400(
    client: openai.OpenAI, options: dict[str, Any], param: str, words: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="offline", messages=[{"role": "user", "content": "x"}], **options
        )
    assert caught.value.param == param
    assert words in caught.value.message
    assert caught.value.type == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "malformed JSON body"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"model": "offline", "messages": []}', "Invalid value for 'messages'"),
        (b'{"model": "offline"}', "Invalid value for 'messages'"),
        (b'{"model": "offline", "messages": [{"role": "robot", "content": "x"}]}', "robot"),
    ],
)
def test_bad_bodies_are_400_in_openais_shape(base_url: str, body: bytes, message: str) -> None:
    response = httpx.post(
        f"{base_url}/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert message in error["message"]


def test_body_over_the_limit_is_413(base_url: str) -> None:
    big = {"model": "guarded", "messages": [{"role": "user", "content": "x" * 3_000}]}
    response = httpx.post(f"{base_url}/guarded/v1/chat/completions", json=big)
    assert response.status_code == 413
    assert "over the limit of 2000 bytes" in response.json()["error"]["message"]


def test_a_chains_exception_is_500_with_its_type(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body == {
        "message": "ValueError: no luck",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert caught.value.type == "server_error"
    assert "Traceback" not in caught.value.message


def test_an_output_that_is_no_answer_is_500(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError, match="must return a message or a string"):
        client.chat.completions.create(model="dict", messages=[{"role": "user", "content": "x"}])


def test_debug_adds_the_traceback(base_url: str) -> None:
    debug = openai.OpenAI(base_url=f"{base_url}/debug/v1", api_key="x", max_retries=0)
    with debug, pytest.raises(openai.InternalServerError) as caught:
        debug.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"].startswith("ValueError: no luck\nTraceback")
    assert 'raise ValueError("no luck")' in caught.value.body["message"]


@pytest.mark.anyio
@pytest.mark.parametrize(("model", "match"), [("broken", "ValueError: no luck"), ("dict", "must")])
async def test_an_error_mid_stream_reaches_the_sdk(
    aclient: openai.AsyncOpenAI, model: str, match: str
) -> None:
    stream = await aclient.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError, match=match):
        async for _ in stream:
            pass


# -- per_req_config_modifier ------------------------------------------------------------------


def ask_guarded(base_url: str, key: str, **options: Any) -> Any:
    """One call to the guarded chain with API key `key`: its answer (what reached the chain)."""
    with openai.OpenAI(base_url=f"{base_url}/guarded/v1", api_key=key, max_retries=0) as sdk:
        completion = sdk.chat.completions.create(
            model="guarded", messages=[{"role": "user", "content": "hi"}], **options
        )
    return json.loads(completion.choices[0].message.content or "")


def test_modifier_sets_the_user_and_sees_the_options(base_url: str) -> None:
    seen = ask_guarded(base_url, "secret", top_p=0.5)
    assert seen["metadata"] == {"user": "alice"}
    assert seen["configurable"] == {"top_p": 0.5}


@pytest.mark.parametrize(
    ("key", "error", "message"),
    [
        ("wrong", openai.AuthenticationError, "a valid API key is needed"),  # HTTPException
        ("banned", openai.PermissionDeniedError, "this key may not call the chain"),  # HTTPError
        ("crash", openai.InternalServerError, "RuntimeError: the key store is down"),
    ],
)
def test_modifier_refuses_with_its_status(
    base_url: str, key: str, error: type[openai.APIStatusError], message: str
) -> None:
    with pytest.raises(error) as caught:
        ask_guarded(base_url, key)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == message


# -- building ---------------------------------------------------------------------------------


def test_bad_arguments_fail_when_routes_are_added() -> None:
    app = Starlette()
    chain = OfflineChatModel()
    with pytest.raises(TypeError, match='"app"'):
        add_openai_routes(object(), chain)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match='"runnable"'):
        add_openai_routes(app, lambda m: m)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="\"model\" argument: ''"):
        add_openai_routes(app, chain, "")
    with pytest.raises(ValueError, match='"prefix"'):
        add_openai_routes(app, chain, prefix="v1")
    with pytest.raises(ValueError, match='"max_body_bytes"'):
        add_openai_routes(app, chain, max_body_bytes=0)
    with pytest.raises(TypeError, match='"per_req_config_modifier"'):
        add_openai_routes(app, chain, per_req_config_modifier="no")  # type: ignore[arg-type]
    add_openai_routes(app, chain, "m")
    with pytest.raises(ValueError, match="already served"):
        add_openai_routes(app, chain, "m")
    with pytest.raises(TypeError, match='"max_body_bytes"'):
        add_openai_routes(app, chain, "n", max_body_bytes=True)
    with pytest.raises(ValueError, match="read bodies up to"):
        add_openai_routes(app, chain, "n", max_body_bytes=10)


def test_importing_llm_does_not_import_starlette() -> None:
    # add_openai_routes needs the `serve` extra; `import llm` must work without it.
    code = "import sys, llm; print('starlette' in sys.modules); llm.add_openai_routes"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_fastapi_app_serves_the_routes_too() -> None:
    from fastapi import FastAPI  # FastAPI is Starlette's subclass; the routes need nothing more

    app = FastAPI()
    add_openai_routes(app, OfflineChatModel(), "offline")
    with (
        running(app) as url,
        openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as sdk,
    ):
        completion = sdk.chat.completions.create(
            model="offline", messages=[{"role": "user", "content": "hi"}]
        )
    assert completion.choices[0].message.content == "[offline model] reply to: hi"
