"""A chain served as an OpenAI-compatible chat model: `add_openai_routes`.

`POST {prefix}/chat/completions` runs the chain on the request's messages and answers a
`chat.completion` (or, with `"stream": true`, `chat.completion.chunk` events ending with
`data: [DONE]`); `GET {prefix}/models` and `GET {prefix}/models/{model}` list the served chains.
So the official `openai` SDK, and this project's `ChatOpenAI(base_url=...)`, can call a chain
as if it were a model.

- The chain's input is the request's messages as this project's message classes
  (`convert_to_messages`); its output is a message (`AIMessage`, streamed as `AIMessageChunk`s)
  or a string (streamed as string pieces).
- Generation options the client sends (`temperature`, `max_tokens`, `stop`, ...) reach the
  chain in `config["configurable"]`, under their OpenAI names; nothing applies them by itself.
  Options that would change the shape of the answer (`tools`, `response_format`, `n` > 1,
  `logprobs`, audio) are refused with 400, as is any name that is no OpenAI field.
- Errors are OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`: 400 for a body
  that is not JSON or not a valid request, 404 for an unknown model, 413 for a body over
  `max_body_bytes`, 500 for an exception of the chain (its type and message).
- A client that hangs up (mid-answer or mid-stream) cancels the run.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from prompts._merge import content_text
from prompts._message_utils import convert_to_messages
from prompts._messages import AIMessage, AIMessageChunk, BaseMessage, Usage
from prompts._openai_messages import openai_tool_calls
from runnables._base import Runnable
from runnables._config import RunnableConfig
from runnables._serve_http import (
    ClientDisconnected,
    ConfigModifier,
    HTTPError,
    config_modifier,
    read_json,
    run_until_disconnect,
    sse_response,
    trace_context,
)

__all__ = ["add_openai_routes"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# Options that tune how a model generates: passed on to the chain in config["configurable"].
CONFIGURABLE_OPTIONS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "reasoning_effort",
    "verbosity",
)
# OpenAI fields that would promise an answer of another shape than the chain gives.
UNSUPPORTED = (
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "logit_bias",
    "top_logprobs",
    "audio",
    "prediction",
    "web_search_options",
    "moderation",
)
_REGISTRY = "runnables_openai_models"  # on app.state: the _Models of each prefix
# OpenAI's error types for the statuses a modifier refusing a request would answer.
_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


class _StreamOptions(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    include_usage: bool | None = None


class _ChatRequest(pydantic.BaseModel):
    """The fields of a Chat Completions request this endpoint reads or accepts."""

    model_config = pydantic.ConfigDict(extra="forbid")

    model: str
    messages: list[dict[str, Any]] = pydantic.Field(min_length=1)
    stream: bool | None = None
    stream_options: _StreamOptions | None = None
    n: Literal[1] | None = None
    logprobs: Literal[False] | None = None
    modalities: list[Literal["text"]] | None = None
    metadata: dict[str, str] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    # Accepted and left alone: they concern OpenAI's own bookkeeping, not the answer.
    user: str | None = None
    store: bool | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    prompt_cache_options: dict[str, Any] | None = None
    safety_identifier: str | None = None


class OpenAIError(Exception):
    """An error answered in OpenAI's shape, with its status."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = {"message": message, "type": type, "param": param, "code": code}

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.body}, status_code=self.status_code)


@dataclass
class _Served:
    runnable: Runnable[Any, Any]
    modifier: ConfigModifier | None
    created: int


@dataclass
class _Models:
    """The chains served under one prefix of one app, by model name."""

    max_body_bytes: int
    debug: bool
    served: dict[str, _Served] = field(default_factory=dict)

    def find(self, name: object) -> _Served:
        if isinstance(name, str) and name in self.served:
            return self.served[name]
        raise OpenAIError(
            404,
            f"The model {name!r} does not exist; served: {', '.join(sorted(self.served))}",
            param="model",
            code="model_not_found",
        )

    def card(self, name: str) -> dict[str, Any]:
        return {
            "id": name,
            "object": "model",
            "created": self.served[name].created,
            "owned_by": "runnables",
        }


def _request_error(exc: pydantic.ValidationError) -> OpenAIError:
    error = exc.errors()[0]
    param = ".".join(str(p) for p in error["loc"]) or None
    top = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "extra_forbidden":
        if top in UNSUPPORTED:
            message = f"{top!r} is not supported here: the served chain decides its own answer"
        else:
            message = f"Unrecognized request argument supplied: {top}"
    elif top in ("n", "logprobs", "modalities"):
        message = f"{top}={error.get('input')!r} is not supported here: one text answer only"
    else:
        message = f"Invalid value for {param!r}: {error['msg']}"
    return OpenAIError(400, message, param=param or None)


def _messages(raw: list[dict[str, Any]]) -> list[BaseMessage]:
    try:
        # OpenAI lets an assistant message with tool calls leave out its content.
        return convert_to_messages([{"content": None, **m} for m in raw])
    except (TypeError, ValueError) as exc:
        raise OpenAIError(400, f"Invalid 'messages': {exc}", param="messages") from exc


def _config(request: _ChatRequest) -> RunnableConfig:
    sent = request.model_dump(include=set(CONFIGURABLE_OPTIONS), exclude_none=True)
    config = RunnableConfig(configurable=sent)
    if request.metadata:
        config["metadata"] = dict(request.metadata)
    return config


def _usage(usage: Usage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    inputs = usage.input_token_details or {}
    if "cache_read" in inputs or "audio" in inputs:
        out["prompt_tokens_details"] = {
            "cached_tokens": inputs.get("cache_read"),
            "audio_tokens": inputs.get("audio"),
        }
    outputs = usage.output_token_details or {}
    if "reasoning" in outputs or "audio" in outputs:
        out["completion_tokens_details"] = {
            "reasoning_tokens": outputs.get("reasoning"),
            "audio_tokens": outputs.get("audio"),
        }
    return out


def _finish_reason(message: AIMessage | None, *, tool_calls: bool) -> str:
    reason = message.response_metadata.get("finish_reason") if message is not None else None
    return _reason(reason, tool_calls=tool_calls)


def _reason(reason: object, *, tool_calls: bool) -> str:
    """The model's own finish reason where it is one of OpenAI's, else what the answer shows."""
    if isinstance(reason, str) and reason in _FINISH_REASONS:
        return reason
    return "tool_calls" if tool_calls else "stop"


def _not_an_answer(output: Any) -> TypeError:
    return TypeError(
        "A chain served as a chat model must return a message or a string, "
        f"got {type(output).__name__} {output!r}"
    )


def _completion(output: Any, *, id: str, model: str, created: int) -> dict[str, Any]:
    """The chain's output as a `chat.completion`."""
    message: AIMessage | None = None
    if isinstance(output, str):
        text = output
    elif isinstance(output, BaseMessage):
        text = content_text(output.content)
        message = output if isinstance(output, AIMessage) else None
    else:
        raise _not_an_answer(output)
    reply: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    calls = openai_tool_calls(message) if message is not None and message.tool_calls else []
    if calls:
        reply["tool_calls"] = calls
        reply["content"] = text or None
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                "finish_reason": _finish_reason(message, tool_calls=bool(calls)),
            }
        ],
    }
    usage = _usage(message.usage if message is not None else None)
    if usage is not None:
        body["usage"] = usage
    return body


def _delta(chunk: Any) -> dict[str, Any]:
    """The `delta` of one output chunk (empty when it carries no text and no tool call)."""
    if isinstance(chunk, str):
        return {"content": chunk} if chunk else {}
    if not isinstance(chunk, BaseMessage):
        raise _not_an_answer(chunk)
    delta: dict[str, Any] = {}
    text = content_text(chunk.content)
    if text:
        delta["content"] = text
    if isinstance(chunk, AIMessageChunk) and chunk.tool_call_chunks:
        delta["tool_calls"] = [
            {
                "index": piece["index"] if piece["index"] is not None else i,
                "id": piece["id"],
                "type": "function",
                "function": {"name": piece["name"], "arguments": piece["args"] or ""},
            }
            for i, piece in enumerate(chunk.tool_call_chunks)
        ]
    elif isinstance(chunk, AIMessage) and chunk.tool_calls:
        delta["tool_calls"] = [
            {"index": i, **call} for i, call in enumerate(openai_tool_calls(chunk))
        ]
    return delta


async def _chunks(
    served: _Served,
    request: Request,
    messages: list[BaseMessage],
    config: RunnableConfig,
    *,
    id: str,
    model: str,
    created: int,
    include_usage: bool,
    debug: bool,
) -> AsyncIterator[dict[str, str]]:
    """The SSE events of a streamed answer: `chat.completion.chunk`s, then `[DONE]`."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> dict[str, str]:
        body = {
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": choices,
            **extra,
        }
        return {"data": json.dumps(body, ensure_ascii=False)}

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    usage: Usage | None = None
    reason: object = None
    called = False
    yield event([choice({"role": "assistant", "content": ""})])
    try:
        with trace_context(request):
            async with aclosing(served.runnable.astream(messages, config)) as stream:
                async for chunk in stream:
                    delta = _delta(chunk)
                    if isinstance(chunk, AIMessage):
                        reason = chunk.response_metadata.get("finish_reason", reason)
                        if chunk.usage is not None:
                            usage = chunk.usage if usage is None else usage + chunk.usage
                    called = called or "tool_calls" in delta
                    if delta:
                        yield event([choice(delta)])
    except Exception as exc:
        # The status line has gone: the error travels in the stream, where the SDK raises it.
        yield {"data": json.dumps({"error": _server_error(exc, debug=debug).body})}
        return
    yield event([choice({}, _reason(reason, tool_calls=called))])
    if include_usage:
        yield event([], usage=_usage(usage or Usage()))
    yield {"data": "[DONE]"}


async def _modified(
    modifier: ConfigModifier, config: RunnableConfig, request: Request
) -> RunnableConfig:
    """The config from `per_req_config_modifier`; an HTTP error it raises (refusing the
    request: 401, 403, 429) is answered with its status, in OpenAI's shape."""
    try:
        return await modifier(config, request)
    except HTTPError as exc:
        raise OpenAIError(exc.status_code, exc.message, type=_error_type(exc.status_code)) from exc
    except HTTPException as exc:
        raise OpenAIError(exc.status_code, exc.detail, type=_error_type(exc.status_code)) from exc


def _error_type(status: int) -> str:
    default = "invalid_request_error" if status < 500 else "server_error"
    return _ERROR_TYPES.get(status, default)


def _server_error(exc: BaseException, *, debug: bool) -> OpenAIError:
    logger.error("chain served as a chat model failed: %r", exc, exc_info=exc)
    message = f"{type(exc).__qualname__}: {exc}"
    if debug:
        import traceback

        message += "\n" + "".join(traceback.format_exception(exc))
    return OpenAIError(500, message, type="server_error")


async def _chat_completions(models: _Models, request: Request) -> Response:
    try:
        try:
            raw = await read_json(request, max_body_bytes=models.max_body_bytes)
        except HTTPError as exc:
            status = 413 if exc.status_code == 413 else 400
            raise OpenAIError(status, exc.message) from exc
        if not isinstance(raw, dict):
            raise OpenAIError(400, "The request body must be a JSON object")
        try:
            body = _ChatRequest.model_validate(raw)
        except pydantic.ValidationError as exc:
            raise _request_error(exc) from exc
        served = models.find(body.model)
        messages = _messages(body.messages)
        config = _config(body)
        if served.modifier is not None:
            config = await _modified(served.modifier, config, request)
    except OpenAIError as exc:
        return exc.response()
    except Exception as exc:  # the modifier failed
        return _server_error(exc, debug=models.debug).response()
    id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = _chunks(
            served,
            request,
            messages,
            config,
            id=id,
            model=body.model,
            created=created,
            include_usage=include_usage,
            debug=models.debug,
        )
        return sse_response(events)

    async def answer() -> Any:
        with trace_context(request):
            return await served.runnable.ainvoke(messages, config)

    try:
        output = await run_until_disconnect(request, answer)
        return JSONResponse(_completion(output, id=id, model=body.model, created=created))
    except ClientDisconnected:
        return Response(status_code=499)  # nobody reads it: the client has gone
    except Exception as exc:
        return _server_error(exc, debug=models.debug).response()


def add_openai_routes(
    app: Starlette,
    runnable: Runnable[Any, Any],
    model: str = "chain",
    *,
    prefix: str = "/v1",
    per_req_config_modifier: Callable[[RunnableConfig, Request], Any] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    debug: bool = False,
) -> None:
    """Serve `runnable` as the chat model `model`, at OpenAI's Chat Completions endpoints.

    Adds `POST {prefix}/chat/completions`, `GET {prefix}/models` and
    `GET {prefix}/models/{model}` to `app` (the first call for a prefix adds the routes; later
    calls add more models to them, and a request picks its chain by `model`).

    Args:
        app: A Starlette (or FastAPI) application.
        runnable: The chain: takes a list of messages, returns a message or a string.
        model: The name clients ask for (`model=` in the SDK); another name gets a 404.
        prefix: Where the endpoints go (`base_url` of a client is the server plus `prefix`).
        per_req_config_modifier: `(config, request) -> config`, sync or async: where
            authentication and per-user settings go (raise to refuse a request). It sees the
            options the client sent, in `config["configurable"]`.
        max_body_bytes: The largest request body read (413 above it); one value per prefix.
        debug: Add the traceback to the message of a 500 (never in production).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: `model` is empty or already served under `prefix`, `prefix` does not start
            with "/", `max_body_bytes` is below 1 or differs from the prefix's.
    """
    if not isinstance(app, Starlette):
        raise TypeError(f'Invalid "app" argument: {app!r}; expected a Starlette or FastAPI app')
    if not isinstance(runnable, Runnable):
        raise TypeError(f'Invalid "runnable" argument: {runnable!r}; expected a Runnable')
    if not isinstance(model, str) or not model:
        kind = ValueError if isinstance(model, str) else TypeError
        raise kind(f'Invalid "model" argument: {model!r}; expected a non-empty string')
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        kind = ValueError if isinstance(prefix, str) else TypeError
        raise kind(f'Invalid "prefix" argument: {prefix!r}; expected a path starting with "/"')
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
        raise TypeError(f'Invalid "max_body_bytes" argument: {max_body_bytes!r}; expected an int')
    if max_body_bytes < 1:
        raise ValueError(f'Invalid "max_body_bytes" argument: {max_body_bytes!r}; expected >= 1')
    modifier = config_modifier(per_req_config_modifier)
    prefix = prefix.rstrip("/")
    registry: dict[str, _Models] | None = getattr(app.state, _REGISTRY, None)
    if registry is None:
        registry = {}
        setattr(app.state, _REGISTRY, registry)
    models = registry.get(prefix)
    if models is None:
        models = registry[prefix] = _Models(max_body_bytes=max_body_bytes, debug=bool(debug))
        _add_routes(app, prefix, models)
    elif models.max_body_bytes != max_body_bytes:
        raise ValueError(
            f'Invalid "max_body_bytes" argument: {max_body_bytes!r}; the chains under '
            f"{prefix!r} read bodies up to {models.max_body_bytes}"
        )
    if model in models.served:
        raise ValueError(f'Invalid "model" argument: {model!r} is already served under {prefix!r}')
    models.served[model] = _Served(runnable, modifier, int(time.time()))


def _add_routes(app: Starlette, prefix: str, models: _Models) -> None:
    async def chat_completions(request: Request) -> Response:
        return await _chat_completions(models, request)

    async def list_models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [models.card(m) for m in models.served]})

    async def get_model(request: Request) -> Response:
        name = request.path_params["model"]
        try:
            models.find(name)
        except OpenAIError as exc:
            return exc.response()
        return JSONResponse(models.card(name))

    app.router.add_route(f"{prefix}/chat/completions", chat_completions, methods=["POST"])
    app.router.add_route(f"{prefix}/models", list_models, methods=["GET"])
    app.router.add_route(f"{prefix}/models/{{model:path}}", get_model, methods=["GET"])
