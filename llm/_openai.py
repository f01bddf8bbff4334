"""`ChatOpenAI`: a chat model over the official `openai` SDK's Chat Completions API.

Works with OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LM Studio) through
`base_url`. HTTP, SSE parsing and retries are the SDK's; SDK errors (`openai.RateLimitError`,
`openai.InternalServerError`, `openai.APIConnectionError`, ...) reach the caller unchanged.

The SDK is imported on first use (it takes ~0.4 s), and clients come from
`llm._openai_clients`: one per event loop, closed with it, never stored on the model.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llm._budget import check_model_budget
from llm._chat_model import BaseChatModel, check_rate_limiter
from llm._errors import MissingAPIKeyError
from llm._model_cache import ModelCache, check_cache
from llm._openai_clients import ClientSettings, import_openai, openai_client
from llm._openai_format import parse_completion, to_chunk, to_message, to_openai_messages
from llm._validation import (
    MANAGED_FIELDS,
    chat_completion_fields,
    check_int,
    check_max_tokens,
    check_number,
    check_optional_str,
    check_temperature,
)
from prompts._messages import AIMessage, AIMessageChunk, BaseMessage
from runnables import Budget, RateLimiter

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionChunk

    from llm._batch_api import BatchAPIChatModel


__all__ = ["ChatOpenAI"]


_DEFAULT_BASE_URL = "https://api.openai.com/v1"
_SDK_ARGUMENTS = ("timeout", "extra_headers", "extra_query")
"""Arguments of `chat.completions.create` that are the SDK's own, not fields of the body."""


class ChatOpenAI(BaseChatModel):
    """A chat model served by the OpenAI Chat Completions API (or a compatible server).

    Args:
        model: Model name sent with each request.
        temperature: Sampling temperature in [0, 2]; None leaves the server's default.
        max_tokens: Most tokens to generate (sent as `max_tokens`, which compatible servers
            understand; bind `max_completion_tokens=` for OpenAI reasoning models).
        base_url: API base URL; default `OPENAI_BASE_URL`, else the SDK's default (OpenAI).
        api_key: API key; default `OPENAI_API_KEY`. Looked up when the model is first called.
        organization: OpenAI organization id; default `OPENAI_ORG_ID` (read by the SDK).
        max_retries: Retries the SDK makes on connection errors, 408/409/429 and 5xx answers.
        timeout: Seconds before a request times out; None keeps the SDK's default.
        rate_limiter: A `RateLimiter` (requests and tokens per minute) to wait on before each
            call; several models may share one. Token use is estimated before the call and
            corrected with the reply's usage after.
        cache: Where replies are cached: None (the default) the global cache if
            `set_llm_cache` set one, True the global cache (a ValueError at call time if none
            is set), False never, or a `BaseCache` such as `SQLiteCache("llm.db")`. The key is
            the request body and the server (never the API key, timeout or retries).
        budget: A `runnables.Budget` every call spends from (requests, tokens, cost):
            checked before each request, so a call past it is never sent. A run's
            `config["budget"]` takes its place.
        **model_kwargs: Further request fields of `chat.completions.create` (e.g. `top_p`,
            `seed`, `extra_body`), sent with every call.

    Raises:
        TypeError: An argument has the wrong type, or `model_kwargs` names an unknown field.
        ValueError: An argument has a bad value (e.g. `temperature=3`, `max_retries=-1`).

    Call options (`invoke(x, stop=[...])`, `bind(max_tokens=...)`) are added to the request and
    win over the constructor's values. Calling without any API key raises `MissingAPIKeyError`.
    """

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        temperature: float | None = None,
        max_tokens: int | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        organization: str | None = None,
        max_retries: int = 2,
        timeout: float | None = None,
        rate_limiter: RateLimiter | None = None,
        cache: ModelCache = None,
        budget: Budget | None = None,
        **model_kwargs: Any,
    ) -> None:
        model_name = check_optional_str("model", model)
        if model_name is None:
            raise TypeError(f'Invalid "model" argument: {model!r}; expected a model name')
        self.model = model_name
        self.temperature = check_temperature(temperature)
        self.max_tokens = check_max_tokens(max_tokens)
        self.base_url = check_optional_str("base_url", base_url)
        self.api_key = check_optional_str("api_key", api_key)
        self.organization = check_optional_str("organization", organization)
        self.max_retries = check_int("max_retries", max_retries, low=0)
        self.timeout = None if timeout is None else check_number("timeout", timeout, positive=True)
        nested = model_kwargs.pop("model_kwargs", None)  # LangChain's form: model_kwargs={...}
        if nested is not None:
            if not isinstance(nested, dict):
                raise TypeError(f'Invalid "model_kwargs" argument: {nested!r}; expected a dict')
            model_kwargs = {**nested, **model_kwargs}
        if model_kwargs:
            self._check_option_names(model_kwargs, "model_kwargs")
        self.model_kwargs: dict[str, Any] = model_kwargs
        self.rate_limiter = check_rate_limiter(rate_limiter)
        self.cache = check_cache(cache)
        self.budget = check_model_budget(budget)
        # Now, not on the first call: the import takes ~0.4 s and would stall the event loop.
        import_openai()

    _genai_provider = "openai"

    def _genai_request(self, options: Mapping[str, Any]) -> dict[str, Any]:
        attributes = super()._genai_request(options)
        url = urlsplit(self.base_url or os.environ.get("OPENAI_BASE_URL") or _DEFAULT_BASE_URL)
        attributes["server.address"] = url.hostname
        attributes["server.port"] = url.port or (443 if url.scheme == "https" else 80)
        return attributes

    def __repr__(self) -> str:
        shown = {"model": self.model, "temperature": self.temperature}
        shown |= {"max_tokens": self.max_tokens, "base_url": self.base_url}
        args = [f"{k}={v!r}" for k, v in shown.items() if v is not None]
        args += [f"{k}={v!r}" for k, v in self.model_kwargs.items()]
        return f"ChatOpenAI({', '.join(args)})"  # never the API key

    _managed_options = MANAGED_FIELDS

    def _option_names(self) -> frozenset[str]:
        # The fields of the installed SDK's chat.completions.create (see BaseChatModel).
        return chat_completion_fields()

    def _settings(self) -> ClientSettings:
        api_key = self.api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key:
            raise MissingAPIKeyError(
                "No OpenAI API key: pass ChatOpenAI(api_key=...) or set the OPENAI_API_KEY "
                "environment variable (a local OpenAI-compatible server accepts any non-empty key)"
            )
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or None
        return ClientSettings(base_url, api_key, self.organization, self.max_retries, self.timeout)

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, options: dict[str, Any]
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(messages)}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        body.update(self.model_kwargs)
        if stop is not None:
            body["stop"] = stop
        body.update(options)
        return body

    def _batch_body(
        self, messages: list[BaseMessage], stop: list[str] | None, options: dict[str, Any]
    ) -> dict[str, Any]:
        """The JSON body the direct call sends, for a Batch API line: `_request`'s fields
        without the SDK's own arguments (`timeout`, `extra_headers`, `extra_query`), and with
        `extra_body`'s fields merged in, as the SDK merges them."""
        body = self._request(messages, stop, options)
        for name in _SDK_ARGUMENTS:
            body.pop(name, None)
        extra = body.pop("extra_body", None)
        if isinstance(extra, Mapping):
            body.update(extra)
        return body

    def with_batch_api(
        self,
        *,
        completion_window: str = "24h",
        poll_interval: float = 10.0,
        flush_after: float = 1.0,
        max_requests_per_job: int = 50_000,
        cancel_on_exit: bool = False,
    ) -> BatchAPIChatModel:
        """This model with every call deferred into OpenAI Batch API jobs (half the price,
        answered within the completion window).

        The calls a run makes at about the same time go in one job: the collector submits
        once no call has come for `flush_after` seconds, or a job is full. Each line's body is
        exactly the one the direct call would send (tools and response_format included).
        Cancelling the run leaves the job running (it is paid for); with a model cache, the job
        is recorded, and a rerun waits on it instead of submitting again.

        Args:
            completion_window: The job's completion window ("24h", the only one offered).
            poll_interval: Seconds before the first check of a job's status; each later wait
                is 1.5 times longer, at most 10 times this.
            flush_after: Seconds without a new call before the calls gathered are submitted.
            max_requests_per_job: The most requests in one job (the Batch API takes up to
                50,000, and 200 MB of input).
            cancel_on_exit: Cancel a job when every call waiting on it was cancelled.

        Returns:
            A `BatchAPIChatModel`: a chat model like this one, whose stream yields the whole
            reply as one chunk.

        Raises:
            TypeError: An argument has the wrong type.
            ValueError: An argument has a bad value.
        """
        from llm._batch_api import BatchAPIChatModel, check_batch_options

        options = check_batch_options(
            completion_window=completion_window,
            poll_interval=poll_interval,
            flush_after=flush_after,
            max_requests_per_job=max_requests_per_job,
            cancel_on_exit=cancel_on_exit,
        )
        return BatchAPIChatModel(self, options)

    def _cache_request(
        self, messages: list[BaseMessage], stop: list[str] | None, options: dict[str, Any]
    ) -> Any:
        # The body as sent (a per-call timeout does not shape the reply), and where it goes.
        body = self._request(messages, stop, options)
        body.pop("timeout", None)
        base_url = self.base_url or os.environ.get("OPENAI_BASE_URL") or _DEFAULT_BASE_URL
        return [base_url, body]

    async def _agenerate(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AIMessage:
        body = self._request(messages, stop, options)
        async with openai_client(self._settings()) as client:
            # The raw form, so a reply that is not a chat completion (an SSE body, text, JSON
            # without choices) is reported as such rather than handed on as a string.
            raw = await client.chat.completions.with_raw_response.create(**body)
        return to_message(parse_completion(raw))

    async def _astream_chunks(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AsyncIterator[AIMessageChunk]:
        body = self._request(messages, stop, options)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        async with openai_client(self._settings()) as client:
            stream = await client.chat.completions.create(**body)
            # `async with` closes the HTTP response on every exit: the end of the stream, an
            # error, a cancellation, or a consumer that stops early (the server sees the
            # connection go, and stops generating).
            async with stream:
                first = True
                while True:
                    # anext() rather than `async for`: no extra wrapper generator to clean up.
                    try:
                        chunk: ChatCompletionChunk = await anext(stream)
                    except StopAsyncIteration:
                        break
                    message = to_chunk(chunk, first=first)
                    if message is not None:
                        first = False
                        yield message
