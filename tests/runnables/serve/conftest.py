"""Fixtures: chains served by a real uvicorn on 127.0.0.1 (tests/serve_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette

from llm import OfflineChatModel, StrOutputParser
from prompts import ChatPromptTemplate
from runnables import RunnableLambda
from runnables.serve import HTTPError, add_routes
from tests.serve_server import ServeServer


def boom(text: str) -> str:
    raise ValueError(f"no luck with {text}")


def configured(text: str, config: Any) -> dict[str, Any]:
    return {
        "text": text,
        "tags": sorted(config.get("tags", [])),
        "metadata": {k: v for k, v in config.get("metadata", {}).items()},
        "configurable": config.get("configurable", {}),
    }


def authenticate(config: Any, request: Any) -> Any:
    user = request.headers.get("x-user")
    if user is None:
        raise HTTPError(401, "no x-user header")
    return {**config, "configurable": {**config.get("configurable", {}), "user": user}}


def chat_chain() -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("user", "{topic}")])
    return prompt | OfflineChatModel(chunk_size=4)


def build_app() -> Starlette:
    app = Starlette()
    add_routes(app, chat_chain(), "/chat")
    add_routes(app, OfflineChatModel(), "/model")
    add_routes(app, chat_chain() | StrOutputParser(), "/text")
    add_routes(app, RunnableLambda(boom), "/boom")
    add_routes(app, RunnableLambda(boom), "/debug", debug=True)
    add_routes(app, RunnableLambda(configured), "/config", max_concurrency=4)
    add_routes(app, RunnableLambda(configured), "/auth", per_req_config_modifier=authenticate)
    add_routes(app, RunnableLambda(lambda x: x), "/small", max_body_bytes=100)
    return app


@pytest.fixture(scope="session")
def serve_server() -> Iterator[ServeServer]:
    """One server with several chains for the whole session."""
    with ServeServer(build_app()) as server:
        yield server
