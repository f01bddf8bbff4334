"""Calling served chains back: LangServe's own client, and our `RemoteRunnable` (invoke, batch,
stream, astream, astream_events, `|`, config, errors), from async code on both backends and
from sync code."""

from __future__ import annotations

import pickle
from typing import Any

import anyio
import httpx
import pytest
from langchain_core.messages import AIMessage as LangChainAIMessage
from langchain_core.messages import AIMessageChunk as LangChainAIMessageChunk
from langserve import RemoteRunnable as LangServeRemoteRunnable

from llm import StrOutputParser
from prompts import AIMessage, AIMessageChunk
from runnables import RunnableLambda
from runnables.serve import RemoteRunnable, ServerError
from tests.serve_server import ServeServer

ANSWER = "[offline model] Be brief. | comets"


# -- LangServe's client, unchanged -------------------------------------------------------------


def test_langserve_client_invokes_batches_and_streams(serve_server: ServeServer) -> None:
    text: Any = LangServeRemoteRunnable(f"{serve_server.url}/text")
    assert text.invoke({"topic": "comets"}) == ANSWER
    assert text.batch([{"topic": "a"}, {"topic": "b"}]) == [
        "[offline model] Be brief. | a",
        "[offline model] Be brief. | b",
    ]
    chunks = list(text.stream({"topic": "comets"}))
    assert len(chunks) > 1
    assert "".join(chunks) == ANSWER


def test_langserve_client_gets_langchain_messages(serve_server: ServeServer) -> None:
    chat: Any = LangServeRemoteRunnable(f"{serve_server.url}/chat")
    message = chat.invoke({"topic": "comets"})
    assert isinstance(message, LangChainAIMessage)
    assert message.content == ANSWER
    chunks = list(chat.stream({"topic": "comets"}))
    assert all(isinstance(chunk, LangChainAIMessageChunk) for chunk in chunks)
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == ANSWER


def test_langserve_client_sees_server_errors(serve_server: ServeServer) -> None:
    boom: Any = LangServeRemoteRunnable(f"{serve_server.url}/boom")
    with pytest.raises(httpx.HTTPStatusError) as info:
        boom.invoke("x")
    assert info.value.response.status_code == 500
    assert "no luck with x" in str(info.value)
    with pytest.raises(httpx.HTTPStatusError, match="no luck with x"):
        list(boom.stream("x"))


def test_langserve_client_config_reaches_the_chain(serve_server: ServeServer) -> None:
    remote: Any = LangServeRemoteRunnable(f"{serve_server.url}/config")
    output = remote.invoke("a", {"tags": ["t"], "configurable": {"c": 1}})
    assert output["tags"] == ["t"]
    assert output["configurable"] == {"c": 1}


def test_langserve_client_streams_events() -> None:
    # LangServe's async client needs asyncio (langchain-core's callback managers do).
    async def collect(url: str) -> list[Any]:
        chat: Any = LangServeRemoteRunnable(f"{url}/chat")
        try:
            return [event async for event in chat.astream_events({"topic": "comets"})]
        finally:
            await chat.async_client.aclose()  # its pool belongs to this loop

    from tests.runnables.serve.conftest import build_app

    with ServeServer(build_app()) as server:
        import asyncio

        events = asyncio.run(collect(server.url))
        text: Any = LangServeRemoteRunnable(f"{server.url}/text")

        async def ainvoke() -> Any:
            try:
                return await text.ainvoke({"topic": "comets"})
            finally:
                await text.async_client.aclose()

        ainvoked = asyncio.run(ainvoke())
    names = [event["event"] for event in events]
    assert names[0] == "on_chain_start"
    assert "on_chat_model_stream" in names
    assert names[-1] == "on_chain_end"
    (model_end,) = [e for e in events if e["event"] == "on_chat_model_end"]
    assert isinstance(model_end["data"]["output"], (LangChainAIMessage, LangChainAIMessageChunk))
    assert ainvoked == ANSWER


# -- our RemoteRunnable --------------------------------------------------------------------


@pytest.mark.anyio
async def test_remote_invoke_gives_back_our_messages(serve_server: ServeServer) -> None:
    chat = RemoteRunnable(f"{serve_server.url}/chat")
    message = await chat.ainvoke({"topic": "comets"})
    assert type(message) is AIMessage
    assert message.content == ANSWER
    assert message.usage is not None
    assert message.usage.total_tokens == 9


@pytest.mark.anyio
async def test_remote_composes_with_pipe(serve_server: ServeServer) -> None:
    chain = RemoteRunnable(f"{serve_server.url}/chat") | StrOutputParser() | str.upper
    assert await chain.ainvoke({"topic": "comets"}) == ANSWER.upper()
    streaming = RemoteRunnable(f"{serve_server.url}/chat") | StrOutputParser()
    chunks = [chunk async for chunk in streaming.astream({"topic": "comets"})]
    assert len(chunks) > 1
    assert "".join(chunks) == ANSWER


@pytest.mark.anyio
async def test_remote_astream_yields_chunks_as_sent(serve_server: ServeServer) -> None:
    chat = RemoteRunnable(f"{serve_server.url}/chat")
    chunks = [chunk async for chunk in chat.astream({"topic": "comets"})]
    assert all(type(chunk) is AIMessageChunk for chunk in chunks)
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == ANSWER


@pytest.mark.anyio
async def test_remote_abatch_keeps_order_and_places_errors(serve_server: ServeServer) -> None:
    text = RemoteRunnable(f"{serve_server.url}/text")
    assert await text.abatch([{"topic": "a"}, {"topic": "b"}]) == [
        "[offline model] Be brief. | a",
        "[offline model] Be brief. | b",
    ]
    results = await text.abatch([{"topic": "a"}, {"nope": 1}], return_exceptions=True)
    assert results[0] == "[offline model] Be brief. | a"
    assert isinstance(results[1], ServerError)
    assert results[1].status_code == 422


@pytest.mark.anyio
async def test_remote_astream_events_are_the_servers(serve_server: ServeServer) -> None:
    chat = RemoteRunnable(f"{serve_server.url}/chat")
    events = [
        e async for e in chat.astream_events({"topic": "comets"}, include_types=["chat_model"])
    ]
    assert next(e["event"] for e in events) == "on_chat_model_start"
    streamed = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    assert streamed
    assert all(isinstance(chunk, AIMessageChunk) for chunk in streamed)
    with pytest.raises(ValueError, match='"version"'):
        chat.astream_events({"topic": "x"}, version="v1")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_remote_forwards_the_allowed_config(serve_server: ServeServer) -> None:
    remote = RemoteRunnable(f"{serve_server.url}/config")
    config: Any = {
        "tags": ["t"],
        "metadata": {"m": 1},
        "configurable": {"c": 2},
        "max_concurrency": 3,  # a local setting: not sent
        "callbacks": [],
    }
    output = await remote.ainvoke("a", config)
    assert output["tags"] == ["t"]
    assert output["metadata"]["m"] == 1
    assert output["configurable"] == {"c": 2}


@pytest.mark.anyio
async def test_remote_errors_keep_status_type_and_message(serve_server: ServeServer) -> None:
    boom = RemoteRunnable(f"{serve_server.url}/boom")
    with pytest.raises(ServerError) as info:
        await boom.ainvoke("x")
    assert isinstance(info.value, httpx.HTTPStatusError)
    assert info.value.status_code == 500
    assert info.value.server_type == "ValueError"
    assert info.value.detail == "no luck with x"
    assert "ValueError: no luck with x" in str(info.value)
    copy = pickle.loads(pickle.dumps(info.value))  # e.g. back from a Ray worker
    assert (copy.status_code, copy.server_type, copy.detail) == (
        500,
        "ValueError",
        "no luck with x",
    )
    assert str(copy) == str(info.value)
    with pytest.raises(ServerError) as streamed:
        async for _ in boom.astream("x"):
            pass
    assert streamed.value.status_code == 500
    assert streamed.value.server_type == "ValueError"
    text = RemoteRunnable(f"{serve_server.url}/text")
    with pytest.raises(ServerError) as bad:
        await text.ainvoke({"topic": 3})
    assert bad.value.status_code == 422
    assert bad.value.detail.startswith("input.topic")
    with pytest.raises(ServerError) as refused:
        async for _ in text.astream({"nope": 1}):
            pass
    assert refused.value.status_code == 422
    missing = RemoteRunnable(f"{serve_server.url}/nothing")
    with pytest.raises(ServerError) as gone:
        await missing.ainvoke(1)
    assert gone.value.status_code == 404


@pytest.mark.anyio
async def test_a_stream_cut_before_its_end_is_an_error() -> None:
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    async def cut(request: Any) -> Response:
        body = 'event: metadata\ndata: {"run_id": "r"}\n\nevent: data\ndata: "a"\n\n'
        return Response(body, media_type="text/event-stream")

    async def malformed(request: Any) -> Response:
        return Response("event: error\ndata: nonsense\n\n", media_type="text/event-stream")

    async def after_end(request: Any) -> Response:
        body = 'event: end\n\nevent: data\ndata: "late"\n\n'
        return Response(body, media_type="text/event-stream")

    app = Starlette(
        routes=[
            Route("/after/stream", after_end, methods=["POST"]),
            Route("/cut/stream", cut, methods=["POST"]),
            Route("/bad/stream", malformed, methods=["POST"]),
        ]
    )
    with ServeServer(app) as server:
        seen: list[Any] = []
        with pytest.raises(httpx.RemoteProtocolError, match="without its end event"):
            async for chunk in RemoteRunnable(f"{server.url}/cut").astream(1):
                seen.append(chunk)
        assert seen == ["a"]
        late = [c async for c in RemoteRunnable(f"{server.url}/after").astream(1)]
        assert late == []  # nothing counts after the end event
        with pytest.raises(ServerError, match="malformed error event"):
            async for _ in RemoteRunnable(f"{server.url}/bad").astream(1):
                pass


def test_remote_works_from_sync_code(serve_server: ServeServer) -> None:
    text = RemoteRunnable(f"{serve_server.url}/text")
    assert text.invoke({"topic": "comets"}) == ANSWER
    assert text.batch([{"topic": "a"}]) == ["[offline model] Be brief. | a"]
    assert "".join(text.stream({"topic": "comets"})) == ANSWER
    assert sorted(text.batch_as_completed([{"topic": "a"}, {"topic": "b"}])) == [
        (0, "[offline model] Be brief. | a"),
        (1, "[offline model] Be brief. | b"),
    ]


def test_remote_works_across_event_loops(serve_server: ServeServer) -> None:
    text = RemoteRunnable(f"{serve_server.url}/text")
    for backend in ("asyncio", "trio", "asyncio"):
        assert anyio.run(text.ainvoke, {"topic": "comets"}, backend=backend) == ANSWER


def test_remote_is_picklable_and_named(serve_server: ServeServer) -> None:
    remote = RemoteRunnable(f"{serve_server.url}/text/", headers={"x": "y"}, timeout=5)
    assert remote.url == f"{serve_server.url}/text"
    copy = pickle.loads(pickle.dumps(remote))
    assert copy.invoke({"topic": "comets"}) == ANSWER
    assert repr(remote) == f"RemoteRunnable('{serve_server.url}/text')"
    assert RemoteRunnable("http://x", name="mine").name == "mine"


def test_remote_sends_its_headers(serve_server: ServeServer) -> None:
    auth = RemoteRunnable(f"{serve_server.url}/auth", headers={"x-user": "ada"})
    assert auth.invoke("a")["configurable"] == {"user": "ada"}
    with pytest.raises(ServerError) as info:
        RemoteRunnable(f"{serve_server.url}/auth").invoke("a")
    assert info.value.status_code == 401


def test_remote_takes_no_call_options(serve_server: ServeServer) -> None:
    with pytest.raises(TypeError, match="no call options"):
        RemoteRunnable(f"{serve_server.url}/text").invoke({"topic": "a"}, stop=["."])


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"url": 3}, TypeError, '"url"'),
        ({"url": "ftp://x"}, ValueError, '"url"'),
        ({"timeout": "5"}, TypeError, '"timeout"'),
        ({"timeout": 0}, ValueError, '"timeout"'),
        ({"headers": {"a": 1}}, TypeError, '"headers"'),
        ({"name": 3}, TypeError, '"name"'),
    ],
)
def test_bad_remote_arguments_fail_at_construction(
    kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    arguments: dict[str, Any] = {"url": "http://127.0.0.1:1/chain", **kwargs}
    with pytest.raises(error, match=words):
        RemoteRunnable(**arguments)


def test_a_served_remote_chain_can_be_served_again(serve_server: ServeServer) -> None:
    from starlette.applications import Starlette

    from runnables.serve import add_routes

    app = Starlette()
    add_routes(app, RemoteRunnable(f"{serve_server.url}/text") | RunnableLambda(str.upper))
    with ServeServer(app) as front:
        assert RemoteRunnable(f"{front.url}/chain").invoke({"topic": "comets"}) == ANSWER.upper()


def test_messages_sent_as_input_arrive_as_messages(serve_server: ServeServer) -> None:
    from langchain_core.messages import HumanMessage as LangChainHumanMessage
    from langchain_core.messages import SystemMessage as LangChainSystemMessage

    from prompts import HumanMessage, SystemMessage

    langserve_model: Any = LangServeRemoteRunnable(f"{serve_server.url}/model")
    theirs = langserve_model.invoke(
        [LangChainSystemMessage("Be brief."), LangChainHumanMessage("comets")]
    )
    assert isinstance(theirs, LangChainAIMessage)
    assert theirs.content == ANSWER
    ours = RemoteRunnable(f"{serve_server.url}/model").invoke(
        [SystemMessage("Be brief."), HumanMessage("comets")]
    )
    assert type(ours) is AIMessage
    assert ours.content == ANSWER
