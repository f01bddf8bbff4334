"""The LangServe endpoints over real HTTP (uvicorn on 127.0.0.1): bodies, SSE events, schemas,
OpenAPI, bad input and limits, config keys, the per-request config modifier."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette

from runnables import RunnableLambda
from runnables.serve import add_routes
from tests.serve_server import ServeServer


def events_of(text: str) -> list[tuple[str, Any]]:
    """(event, data) pairs of an SSE body (test-side reading of the raw bytes)."""
    out: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields: dict[str, str] = {}
        for line in lines:
            name, _, value = line.partition(": ")
            fields[name] = value
        data = fields.get("data")
        out.append((fields["event"], json.loads(data) if data else None))
    return out


@pytest.fixture
async def client(serve_server: ServeServer) -> Any:
    async with httpx.AsyncClient(base_url=serve_server.url, timeout=30) as client:
        yield client


@pytest.mark.anyio
async def test_invoke_answers_output_and_metadata(client: httpx.AsyncClient) -> None:
    response = await client.post("/text/invoke", json={"input": {"topic": "comets"}})
    assert response.status_code == 200
    body = response.json()
    assert body["output"] == "[offline model] Be brief. | comets"
    assert set(body["metadata"]) == {"run_id", "feedback_tokens"}
    assert body["metadata"]["feedback_tokens"] == []


@pytest.mark.anyio
async def test_a_message_output_carries_its_type_and_langchain_field_names(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/chat/invoke", json={"input": {"topic": "comets"}})
    output = response.json()["output"]
    assert output["type"] == "ai"
    assert output["content"] == "[offline model] Be brief. | comets"
    assert output["usage_metadata"]["total_tokens"] == 9


@pytest.mark.anyio
async def test_batch_keeps_input_order_with_a_run_id_each(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/text/batch", json={"inputs": [{"topic": "a"}, {"topic": "b"}], "config": {}}
    )
    body = response.json()
    assert body["output"] == ["[offline model] Be brief. | a", "[offline model] Be brief. | b"]
    run_ids = body["metadata"]["run_ids"]
    assert len(set(run_ids)) == 2
    assert [r["run_id"] for r in body["metadata"]["responses"]] == run_ids


@pytest.mark.anyio
async def test_batch_takes_one_config_per_input(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/config/batch",
        json={"inputs": ["a", "b"], "config": [{"tags": ["x"]}, {"tags": ["y"]}]},
    )
    assert [out["tags"] for out in response.json()["output"]] == [["x"], ["y"]]
    response = await client.post("/config/batch", json={"inputs": ["a"], "config": [{}, {}]})
    assert response.status_code == 422
    assert "2 configs for 1 inputs" in response.json()["detail"]
    response = await client.post("/config/batch", json={"inputs": "a"})
    assert response.status_code == 422
    assert response.json()["loc"] == ["body", "inputs"]


@pytest.mark.anyio
async def test_stream_sends_metadata_data_and_end(client: httpx.AsyncClient) -> None:
    response = await client.post("/text/stream", json={"input": {"topic": "comets"}})
    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    assert events[0][0] == "metadata"
    assert "run_id" in events[0][1]
    assert events[-1] == ("end", None)
    chunks = [data for event, data in events[1:-1]]
    assert all(event == "data" for event, _ in events[1:-1])
    assert len(chunks) > 1
    assert "".join(chunks) == "[offline model] Be brief. | comets"


@pytest.mark.anyio
async def test_stream_events_sends_v2_events(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/chat/stream_events",
        json={"input": {"topic": "comets"}, "include_types": ["chat_model"]},
    )
    events = events_of(response.text)
    assert events[-1] == ("end", None)
    kinds = [data["event"] for event, data in events if event == "data"]
    assert kinds[0] == "on_chat_model_start"
    assert kinds[-1] == "on_chat_model_end"
    assert "on_chat_model_stream" in kinds
    (end,) = [d for e, d in events if e == "data" and d["event"] == "on_chat_model_end"]
    assert end["data"]["output"]["type"] in ("ai", "AIMessageChunk")  # a summed stream
    assert [e for e, _ in events if e == "metadata"] == []  # as LangServe: its client knows none
    roots = {d["parent_ids"][0] for e, d in events if e == "data"}
    assert len(roots) == 1  # one run, the id the server chose


@pytest.mark.anyio
async def test_a_failing_stream_ends_with_an_error_event(client: httpx.AsyncClient) -> None:
    response = await client.post("/boom/stream", json={"input": "x"})
    events = events_of(response.text)
    assert events[0][0] == "metadata"
    assert events[-1] == (
        "error",
        {"status_code": 500, "message": "no luck with x", "type": "ValueError"},
    )


@pytest.mark.anyio
async def test_schemas_are_the_chains(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/text/input_schema")).json()
    assert schema["required"] == ["topic"]
    assert (await client.get("/text/output_schema")).json()["type"] == "string"
    config = (await client.get("/text/config_schema")).json()
    assert set(config["properties"]) == {"configurable", "tags", "metadata", "run_name"}
    capped = (await client.get("/config/config_schema")).json()
    assert "max_concurrency" in capped["properties"]


@pytest.mark.anyio
async def test_openapi_document_of_a_starlette_app(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/text/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert {"/text/invoke", "/text/batch", "/text/stream", "/text/stream_events"} <= set(
        doc["paths"]
    )
    body = doc["paths"]["/text/invoke"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["properties"]["input"]["$ref"]
    name = ref.rsplit("/", 1)[1]
    assert doc["components"]["schemas"][name]["required"] == ["topic"]


# -- bad input and limits -----------------------------------------------------------------


@pytest.mark.anyio
async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/text/invoke", content=b"{not json")
    assert response.status_code == 422
    assert response.json()["detail"].startswith("malformed JSON body")
    response = await client.post("/text/invoke", json=[1, 2])
    assert response.status_code == 422
    assert "JSON object" in response.json()["detail"]


@pytest.mark.anyio
async def test_input_failing_the_schema_is_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/text/invoke", json={"input": {"topic": 3}})
    assert response.status_code == 422
    assert response.json()["loc"] == ["body", "input", "topic"]
    assert response.json()["detail"].startswith("input.topic:")
    response = await client.post("/text/stream", json={"config": {}})
    assert response.status_code == 422
    assert response.json()["loc"] == ["body", "input"]
    response = await client.post("/text/batch", json={"inputs": [{"topic": "a"}, {}]})
    assert response.json()["loc"] == ["body", "inputs", 1, "topic"]


@pytest.mark.anyio
async def test_unknown_body_fields_and_call_options_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/text/invoke", json={"input": {"topic": "a"}, "x": 1})
    assert response.status_code == 422
    assert response.json()["loc"] == ["body", "x"]
    response = await client.post(
        "/text/invoke", json={"input": {"topic": "a"}, "kwargs": {"stop": ["."]}}
    )
    assert response.status_code == 422
    assert response.json()["loc"] == ["body", "kwargs"]
    response = await client.post(
        "/text/stream_events", json={"input": {"topic": "a"}, "include_names": "x"}
    )
    assert response.status_code == 422
    assert response.json()["loc"] == ["body", "include_names"]


@pytest.mark.anyio
async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    big = json.dumps({"input": "x" * 200}).encode()
    assert (await client.post("/small/invoke", content=big)).status_code == 413

    async def pieces() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 50

    response = await client.post("/small/invoke", content=pieces())
    assert response.status_code == 413
    ok = await client.post("/small/invoke", json={"input": "x"})
    assert ok.json()["output"] == "x"


@pytest.mark.anyio
async def test_a_server_exception_is_500_with_type_and_message_and_no_traceback(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/boom/invoke", json={"input": "x"})
    assert response.status_code == 500
    body = response.json()
    assert body == {"detail": "no luck with x", "type": "ValueError", "status_code": 500}
    assert "Traceback" not in response.text


@pytest.mark.anyio
async def test_debug_puts_the_traceback_in_500s(client: httpx.AsyncClient) -> None:
    body = (await client.post("/debug/invoke", json={"input": "x"})).json()
    assert body["type"] == "ValueError"
    assert "Traceback (most recent call last)" in body["traceback"]
    assert "boom" in body["traceback"]


# -- config from clients -------------------------------------------------------------------


@pytest.mark.anyio
async def test_allowed_config_keys_reach_the_chain(client: httpx.AsyncClient) -> None:
    config = {"tags": ["t"], "metadata": {"m": 1}, "configurable": {"c": 2}, "run_name": "r"}
    response = await client.post("/config/invoke", json={"input": "a", "config": config})
    output = response.json()["output"]
    assert output["tags"] == ["t"]
    assert output["metadata"]["m"] == 1
    assert output["configurable"] == {"c": 2}


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("config", "key", "words"),
    [
        ({"callbacks": []}, "callbacks", "cannot be sent"),
        ({"callbacks": None}, "callbacks", "cannot be sent"),
        ({"budget": 5}, "budget", "not accepted"),
        ({"timeout": 5}, "timeout", "not accepted"),
        ({"nonsense": 1}, "nonsense", "not a config key"),
        ({"max_concurrency": 5}, "max_concurrency", "cap of 4"),
        ({"max_concurrency": 0}, "max_concurrency", "greater than or equal to 1"),
        ({"tags": "t"}, "tags", "valid list"),
    ],
)
async def test_config_keys_clients_may_not_set_are_422(
    client: httpx.AsyncClient, config: dict[str, Any], key: str, words: str
) -> None:
    response = await client.post("/config/invoke", json={"input": "a", "config": config})
    assert response.status_code == 422
    body = response.json()
    assert body["loc"] == ["body", "config", key]
    assert key in body["detail"]
    assert words in body["detail"]


@pytest.mark.anyio
async def test_max_concurrency_without_a_cap_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/text/invoke", json={"input": {"topic": "a"}, "config": {"max_concurrency": 2}}
    )
    assert response.status_code == 422
    assert "sets no cap" in response.json()["detail"]


@pytest.mark.anyio
async def test_langchains_default_config_keys_are_dropped(client: httpx.AsyncClient) -> None:
    # What LangChain's ensure_config puts in every config (LangServe's client sends it).
    config = {"recursion_limit": 25, "run_id": "mine", "max_concurrency": None, "callbacks_": 1}
    del config["callbacks_"]
    response = await client.post("/text/invoke", json={"input": {"topic": "a"}, "config": config})
    assert response.status_code == 200
    assert response.json()["metadata"]["run_id"] != "mine"  # the server chooses


@pytest.mark.anyio
async def test_the_config_modifier_sees_the_request(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/auth/invoke",
        json={"input": "a", "config": {"configurable": {"c": 1}}},
        headers={"x-user": "ada"},
    )
    assert response.json()["output"]["configurable"] == {"c": 1, "user": "ada"}
    refused = await client.post("/auth/invoke", json={"input": "a"})
    assert refused.status_code == 401
    assert refused.json()["detail"] == "no x-user header"


@pytest.mark.anyio
async def test_an_async_config_modifier_is_awaited() -> None:
    async def modifier(config: Any, request: Any) -> Any:
        return {**config, "tags": [request.headers["x-tag"]]}

    app = Starlette()
    add_routes(
        app, RunnableLambda(lambda x, config: config["tags"]), per_req_config_modifier=modifier
    )
    with ServeServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post("/chain/invoke", json={"input": 1}, headers={"x-tag": "t"})
    assert response.json()["output"] == ["t"]


# -- FastAPI -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_on_fastapi_the_chain_joins_the_apps_openapi() -> None:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"ok": "yes"}

    add_routes(app, RunnableLambda(lambda x: x + 1).with_types(input_type=int), "/plus")
    add_routes(app, RunnableLambda(str), "/text")
    with ServeServer(app) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.post("/plus/invoke", json={"input": 1})).json()["output"] == 2
            assert (await client.post("/plus/invoke", json={"input": "x"})).status_code == 422
            doc = (await client.get("/openapi.json")).json()
            assert (await client.get("/docs")).status_code == 200
            assert (await client.get("/plus/openapi.json")).status_code == 404
    assert {"/health", "/plus/invoke", "/plus/stream", "/text/invoke"} <= set(doc["paths"])
    assert "plus_Input" in doc["components"]["schemas"]


# -- construction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"app": object()}, TypeError, '"app"'),
        ({"runnable": len}, TypeError, '"runnable"'),
        ({"path": "chain"}, ValueError, '"path"'),
        ({"path": "/chain/"}, ValueError, '"path"'),
        ({"path": 3}, TypeError, '"path"'),
        ({"config_keys": "tags"}, TypeError, '"config_keys"'),
        ({"config_keys": ("callbacks",)}, ValueError, "'callbacks' cannot be set"),
        ({"max_concurrency": 0}, ValueError, '"max_concurrency"'),
        ({"max_concurrency": "4"}, TypeError, '"max_concurrency"'),
        ({"max_body_bytes": 0}, ValueError, '"max_body_bytes"'),
        ({"max_body_bytes": 1.5}, TypeError, '"max_body_bytes"'),
        ({"per_req_config_modifier": 3}, TypeError, '"per_req_config_modifier"'),
    ],
)
def test_bad_arguments_fail_when_routes_are_added(
    kwargs: dict[str, Any], error: type[Exception], words: str
) -> None:
    arguments: dict[str, Any] = {"app": Starlette(), "runnable": RunnableLambda(str), **kwargs}
    with pytest.raises(error, match=words):
        add_routes(**arguments)


def test_serve_runs_uvicorn_on_an_app_with_the_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from runnables.serve import serve

    seen: dict[str, Any] = {}

    def run(app: Any, **kwargs: Any) -> None:
        seen.update(app=app, **kwargs)

    monkeypatch.setattr(uvicorn, "run", run)
    serve(RunnableLambda(str), port=8123, path="/x", max_body_bytes=10)
    assert seen["host"] == "127.0.0.1"
    assert seen["port"] == 8123
    paths = {route.path for route in seen["app"].routes}
    assert {"/x/invoke", "/x/stream", "/x/openapi.json", "/x/playground/", "/x/playground"} <= paths
