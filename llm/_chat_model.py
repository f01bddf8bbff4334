"""`BaseChatModel`: the interface every chat model states once.

A model implements two coroutines over a list of messages:

- `_agenerate(messages, *, stop, **options) -> AIMessage`: required, one whole reply;
- `_astream_chunks(messages, *, stop, **options)`: optional, the reply as `AIMessageChunk`s
  (default: one chunk made from `_agenerate`).

The base class turns those into a `Runnable`: input coercion (prompt value, list of messages or
`(role, text)` pairs, or a plain string), checks of the common call options, a run-wide
concurrency slot around the work, and therefore `invoke`/`batch`/`stream`/`bind(stop=...)`/
`with_config` on asyncio and trio, plus `bind_tools` and `with_structured_output` for every model.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    Protocol,
    TypeAlias,
    TypeVar,
    overload,
    runtime_checkable,
)

from pydantic import ValidationError

from llm import _budget, _model_cache
from llm._validation import check_max_tokens, check_temperature
from prompts._message_utils import MessageLikeRepresentation, convert_to_messages
from prompts._messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    HumanMessage,
)
from prompts._values import ChatPromptValue, StringPromptValue
from runnables import RateLimiter, Reservation, Runnable, RunnableConfig, current_run, leaf_slot

if TYPE_CHECKING:
    from llm._structured import StructuredMethod
    from runnables import BaseCache, Budget, RunnableBinding

T = TypeVar("T")

__all__ = [
    "COMMON_OPTIONS",
    "BaseChatModel",
    "LanguageModelInput",
    "PromptValueLike",
    "coerce_messages",
]


@runtime_checkable
class PromptValueLike(Protocol):
    """Anything with `to_messages()`, such as a prompt template's output."""

    def to_messages(self) -> list[BaseMessage]:
        """The prompt as chat messages."""
        ...


LanguageModelInput: TypeAlias = PromptValueLike | str | Sequence[MessageLikeRepresentation]
"""What a chat model accepts: a prompt value, a string, or a list of messages, strings,
`(role, content)` pairs and `{"role", "content", ...}` dicts (content a string or parts)."""


def coerce_messages(value: object) -> list[BaseMessage]:
    """Turn a chat model's input into a list of messages.

    Args:
        value: A prompt value (anything with `to_messages()`), a string (one human message), or
            a list/tuple of messages, `(role, text)` pairs (role one of `system`, `human`,
            `user`, `ai`, `assistant`) and strings (human messages).

    Raises:
        TypeError: `value`, or an item of it, is none of those; the message names what it got.
        ValueError: a `(role, text)` pair has an unknown role.
    """
    if type(value) is ChatPromptValue:  # checked when it was made: the common, fast case
        return list(value.messages)
    if isinstance(value, str):
        return [HumanMessage(content=value)]
    if isinstance(value, list | tuple):
        return [_coerce_one(item) for item in value]
    to_messages = getattr(value, "to_messages", None)
    if callable(to_messages):
        return _coerce_prompt_value(to_messages())
    raise TypeError(
        "Invalid chat model input: expected a prompt value, a string or a list of messages, "
        f"got {type(value).__name__}: {value!r}"
    )


def _coerce_prompt_value(messages: object) -> list[BaseMessage]:
    if not isinstance(messages, list | tuple) or not all(
        isinstance(m, BaseMessage) for m in messages
    ):
        raise TypeError(f"to_messages() returned {messages!r}; expected a list of messages")
    return list(messages)


def _coerce_one(item: object) -> BaseMessage:
    if isinstance(item, BaseMessage):
        return item
    if isinstance(item, str):
        return HumanMessage(content=item)
    # (role, content) pairs with text or content parts, and {"role", "content", ...} dicts
    # (OpenAI's and LangChain's forms), read as convert_to_messages reads them.
    try:
        [message] = convert_to_messages([item])  # type: ignore[list-item]
    except ValidationError as exc:  # a pair or dict of the right shape, its fields wrong
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise TypeError(f"Invalid message in chat model input {item!r}: {errors}") from None
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"Invalid message in chat model input: {exc}") from None
    return message


COMMON_OPTIONS = frozenset(
    {
        "stop",
        "temperature",
        "max_tokens",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
    }
)
"""The call options every chat model understands, and checks the same way."""


def check_common_options(options: Mapping[str, Any]) -> None:
    """Check the call options every chat model understands the same way.

    `stop` (a string or list of strings), `temperature` (in [0, 2]), `max_tokens` (an int >= 1),
    `tools` (a list of OpenAI tool dicts), `tool_choice` (a string or dict),
    `parallel_tool_calls` (a bool) and `response_format` (a dict).

    Raises:
        TypeError: An option has the wrong type.
        ValueError: An option has a bad value.
    """
    if "stop" in options:
        _coerce_stop(options["stop"])
    if options.get("temperature") is not None:
        check_temperature(options["temperature"])
    if options.get("max_tokens") is not None:
        check_max_tokens(options["max_tokens"])
    tools = options.get("tools")
    if tools is not None and (
        not isinstance(tools, list | tuple) or not all(isinstance(t, dict) for t in tools)
    ):
        raise TypeError(
            f'Invalid "tools" option: {tools!r}; expected a list of OpenAI tool dicts '
            "(use bind_tools to convert tools, functions or pydantic models)"
        )
    choice = options.get("tool_choice")
    if choice is not None and not isinstance(choice, str | dict):
        raise TypeError(f'Invalid "tool_choice" option: {choice!r}; expected a string or a dict')
    parallel = options.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise TypeError(f'Invalid "parallel_tool_calls" option: {parallel!r}; expected a bool')
    response_format = options.get("response_format")
    if response_format is not None and not isinstance(response_format, dict):
        raise TypeError(f'Invalid "response_format" option: {response_format!r}; expected a dict')


def _coerce_stop(stop: object) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list | tuple) and all(isinstance(s, str) for s in stop):
        return list(stop)
    raise TypeError(f'Invalid "stop" option: {stop!r}; expected a string or a list of strings')


class BaseChatModel(Runnable[LanguageModelInput, AIMessage]):
    """A chat model as a runnable: messages in, one `AIMessage` out (or a stream of chunks).

    Call options given to `invoke(..., stop=[...])` or fixed with `bind(stop=[...],
    max_tokens=...)` reach `_agenerate` / `_astream_chunks`: `stop` (a string or a list of
    strings, normalized to a list) as a keyword, everything else in `**options`.

    While generating, the model holds one slot of the run's `max_concurrency` limit (for a stream,
    until the stream ends).
    """

    _kind = "chat_model"
    _genai_provider = "unknown"
    """`gen_ai.provider.name` of this model's spans."""

    def _event_input(self, input: Any) -> Any:
        # As LangChain's v2 events show it: one list of messages per prompt.
        return {"messages": [coerce_messages(input)]}

    def _genai_request(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The OpenTelemetry GenAI request attributes of a call with these options (None: unset)."""
        extra: Mapping[str, Any] = getattr(self, "model_kwargs", None) or {}

        def option(name: str) -> Any:
            if name in options:
                return options[name]
            return getattr(self, name, None) if hasattr(self, name) else extra.get(name)

        stop = options.get("stop")
        return {
            "gen_ai.provider.name": self._genai_provider,
            "gen_ai.request.model": getattr(self, "model", None) or self.name,
            "gen_ai.request.temperature": option("temperature"),
            "gen_ai.request.max_tokens": option("max_tokens"),
            "gen_ai.request.top_p": option("top_p"),
            "gen_ai.request.seed": option("seed"),
            "gen_ai.request.stop_sequences": [stop] if isinstance(stop, str) else stop,
        }

    if TYPE_CHECKING:
        # Streams yield chunks (which add with `+`), not whole messages; say so to type checkers.
        def astream(
            self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
        ) -> AsyncGenerator[AIMessageChunk, None]: ...

        def stream(
            self, input: LanguageModelInput, config: RunnableConfig | None = None, **kwargs: Any
        ) -> Generator[AIMessageChunk, None, None]: ...

    async def _agenerate(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AIMessage:
        """Produce one whole reply to `messages`. Subclasses must implement this."""
        raise NotImplementedError(f"{type(self).__name__} does not implement _agenerate")

    async def _astream_chunks(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AsyncIterator[AIMessageChunk]:
        """Produce the reply as chunks; by default, one chunk holding the whole reply."""
        message = await self._agenerate(messages, stop=stop, **options)
        yield AIMessageChunk(
            content=message.content,
            name=message.name,
            id=message.id,
            tool_calls=message.tool_calls,
            invalid_tool_calls=message.invalid_tool_calls,
            usage=message.usage,
            response_metadata=dict(message.response_metadata),
        )

    @property
    def InputType(self) -> Any:  # LCEL's name
        """What the model accepts, with the message classes spelled out for schemas."""
        return self.custom_input_type or (
            str | StringPromptValue | ChatPromptValue | list[AnyMessage | tuple[str, str] | str]
        )

    _managed_options: frozenset[str] = frozenset()
    """Request fields the model sets itself: a call option naming one is a ValueError."""

    def _option_names(self) -> frozenset[str] | None:
        """The call options this model takes besides the common ones; None takes any name.

        A model states only this set; `check_call_options` is the one check every model uses
        on every path (`bind`, and options given to `invoke`/`stream`/`batch`).
        """
        return None

    def check_call_options(self, options: Mapping[str, Any]) -> None:
        """Check call options: the common ones' values (`check_common_options`), and that
        every other name is one this model takes (a misspelt `temprature` fails here).

        `bind` calls it, so bad bound options fail when the chain is built; options given at
        call time (`invoke(x, stop=...)`) are checked before the model is called.

        Raises:
            TypeError: An option has the wrong type, or the model takes no option of that name.
            ValueError: An option has a bad value, or names a field the model sets itself.
        """
        check_common_options(options)
        self._check_option_names(options, "call options")

    def _check_option_names(self, options: Mapping[str, Any], what: str) -> None:
        managed = sorted(self._managed_options.intersection(options))
        if managed:
            raise ValueError(f"Invalid {what} {managed!r}: {self.name} sets these itself")
        if COMMON_OPTIONS.issuperset(options):
            return  # the common options need no table (ChatOpenAI's imports the SDK)
        known = self._option_names()
        if known is None:
            return
        unknown = sorted(k for k in options if k not in known and k not in COMMON_OPTIONS)
        if unknown:
            close = {
                name: match[0]
                for name in unknown
                if (match := difflib.get_close_matches(name, known | COMMON_OPTIONS, n=1))
            }
            hint = ", ".join(
                repr(m) if len(unknown) == 1 else f"{m!r} for {n!r}" for n, m in close.items()
            )
            hint = f" (did you mean {hint}?)" if hint else ""
            raise TypeError(
                f"Invalid {what} {unknown!r}: not options of {self.name}{hint}; send "
                "server-specific fields with extra_body={...}"
            )

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | bool | dict[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
    ) -> RunnableBinding[LanguageModelInput, AIMessage]:
        """This model with tools it may call; its replies carry `tool_calls`.

        Args:
            tools: Tools (`@tool`, `as_tool`), pydantic model or TypedDict classes, functions,
                or OpenAI tool dicts; each is sent as an OpenAI tool spec.
            tool_choice: "auto" (the server's default), "none", "required" (or "any"), a
                tool's name (that tool must be called), True (the only tool must be called),
                or an OpenAI tool-choice dict. None sends nothing.
            parallel_tool_calls: Whether the model may call several tools in one reply.
            strict: Ask the server to follow each tool's schema exactly (OpenAI's strict mode).

        Raises:
            TypeError: `tools` is not a list, or a tool / option has the wrong type.
            ValueError: `tools` is empty, a name is invalid, or `tool_choice` names no tool.
        """
        from llm._tool_specs import convert_to_openai_tool, tool_choice_spec

        if not isinstance(tools, list | tuple):
            raise TypeError(f'Invalid "tools" argument: {tools!r}; expected a list of tools')
        if not tools:
            raise ValueError('Invalid "tools" argument: []; give at least one tool')
        if parallel_tool_calls is not None and not isinstance(parallel_tool_calls, bool):
            raise TypeError(
                f'Invalid "parallel_tool_calls" argument: {parallel_tool_calls!r}; expected a bool'
            )
        if strict is not None and not isinstance(strict, bool):
            raise TypeError(f'Invalid "strict" argument: {strict!r}; expected a bool or None')
        specs = []
        for i, tool in enumerate(tools):
            try:
                specs.append(convert_to_openai_tool(tool, strict=strict))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f'Invalid "tools[{i}]" argument: {exc}') from exc
        options: dict[str, Any] = {"tools": specs}
        if tool_choice is not None:
            names = [spec["function"]["name"] for spec in specs]
            options["tool_choice"] = tool_choice_spec(tool_choice, names)
        if parallel_tool_calls is not None:
            options["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(**options)

    @overload
    def with_structured_output(
        self,
        schema: type[T],
        *,
        method: StructuredMethod = "json_schema",
        include_raw: Literal[False] = False,
        strict: bool | None = None,
    ) -> Runnable[LanguageModelInput, T]: ...
    @overload
    def with_structured_output(
        self,
        schema: Mapping[str, Any] | type[Any] | None = None,
        *,
        method: StructuredMethod = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
    ) -> Runnable[LanguageModelInput, Any]: ...

    def with_structured_output(
        self,
        schema: Mapping[str, Any] | type[Any] | None = None,
        *,
        method: StructuredMethod = "json_schema",
        include_raw: bool = False,
        strict: bool | None = None,
    ) -> Runnable[LanguageModelInput, Any]:
        """This model asked for output that follows `schema`, and that output parsed.

        Args:
            schema: A pydantic model class (the result is an instance), a TypedDict class (a
                validated dict) or a JSON-schema dict with a `title` (a dict). None with
                `method="json_mode"`: the reply's JSON as parsed (a dict, for a JSON object).
            method: "json_schema" (a `response_format` with the schema; the default),
                "function_calling" (the schema as a tool the model must call) or "json_mode"
                (`response_format` JSON object; say the schema in the prompt).
            include_raw: Return `{"raw": AIMessage, "parsed": value or None,
                "parsing_error": None or the error}` instead of raising on a bad reply.
            strict: Ask the server to follow the schema exactly (OpenAI's strict mode; objects
                are sent with `additionalProperties: false`).

        Raises:
            TypeError: `schema` is of no accepted kind, or an option has the wrong type.
            ValueError: `method` is unknown, or `schema` is None with a method other than
                "json_mode".

        Without `include_raw`, a reply that does not fit raises `OutputParserError` carrying
        the text. Streaming yields partial objects as the JSON grows.
        """
        from llm._structured import structured_output

        return structured_output(
            self, schema, method=method, include_raw=include_raw, strict=strict
        )

    rate_limiter: RateLimiter | None = None
    """A shared `RateLimiter` every call waits on before it starts (None: no limit)."""

    budget: Budget | None = None
    """A `Budget` every call of this model spends from (the run's `config["budget"]` wins)."""

    cache: BaseCache | bool | None = None
    """Where replies are cached: None the global cache (`set_llm_cache`) if one is set, True
    the global cache (required), False never, or a `BaseCache` (see `llm._model_cache`)."""

    def _cache_model(self) -> BaseChatModel:
        """The model whose cache settings and keys this model's calls use (a model wrapping
        another, such as a batch-API model, shares the wrapped model's entries)."""
        return self

    def with_batch_api(
        self,
        *,
        completion_window: str = "24h",
        poll_interval: float = 10.0,
        flush_after: float = 1.0,
        max_requests_per_job: int = 50_000,
        cancel_on_exit: bool = False,
    ) -> BaseChatModel:
        """This model with its calls sent through the provider's Batch API (see
        `ChatOpenAI.with_batch_api`).

        Raises:
            NotImplementedError: The model's provider has no Batch API here.
        """
        raise NotImplementedError(
            f"{self.name} has no Batch API: with_batch_api() needs a model whose provider "
            "offers one (ChatOpenAI, for OpenAI and servers compatible with its Batch API)"
        )

    def _cache_request(
        self, messages: list[BaseMessage], stop: list[str] | None, options: dict[str, Any]
    ) -> Any:
        """What this call sends, as cache key material (the model's own parameters are in its
        fingerprint). A model may override it with its exact request."""
        return [[_model_cache.message_material(m) for m in messages], stop, options]

    async def _reserve(
        self, messages: list[BaseMessage], options: dict[str, Any]
    ) -> Reservation | None:
        if self.rate_limiter is None:
            return None
        return await self.rate_limiter.acquire(tokens=estimate_tokens(messages, options))

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> AIMessage:
        messages = coerce_messages(input)
        stop = None
        if kwargs:
            self.check_call_options(kwargs)
            stop = _coerce_stop(kwargs.pop("stop", None))
        budget = config.get("budget") or self.budget
        generate = (
            self._agenerate_held
            if budget is None
            else functools.partial(self._agenerate_spending, budget)
        )
        if self.cache is not None or _model_cache.GLOBAL.cache is not None:
            owner = self._cache_model()
            cache = _model_cache.resolve_cache(owner)
            if cache is not None:
                return await _model_cache.agenerate_cached(
                    owner, cache, messages, stop, kwargs, generate
                )
        return await generate(messages, stop, kwargs)

    async def _agenerate_spending(
        self,
        budget: Budget,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> AIMessage:
        """`_agenerate_held` spending from `budget` (a cache hit never gets here: it is free)."""
        spend = await _budget.areserve(budget, self, messages, kwargs)
        try:
            message = await self._agenerate_held(messages, stop, kwargs)
        except BaseException:
            spend.failed()
            raise
        spend.settle(message)
        return message

    async def _agenerate_held(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AIMessage:
        """One reply, holding the run's concurrency slot and the rate limiter's reservation."""
        state = current_run()
        if state is None or state.limiter is None:
            if self.rate_limiter is None:
                return await self._agenerate(messages, stop=stop, **kwargs)
            reservation = await self._reserve(messages, kwargs)
            message = await self._agenerate(messages, stop=stop, **kwargs)
        else:
            async with leaf_slot():
                reservation = await self._reserve(messages, kwargs) if self.rate_limiter else None
                message = await self._agenerate(messages, stop=stop, **kwargs)
        if reservation is not None and message.usage is not None:
            reservation.settle(message.usage.total_tokens)
        return message

    def _astream(
        self, input: Any, config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[AIMessageChunk]:
        try:
            messages = coerce_messages(input)
            if kwargs:
                self.check_call_options(kwargs)
            stop = _coerce_stop(kwargs.pop("stop", None))
            budget = config.get("budget") or self.budget
            stream = (
                self._astream_uncached
                if budget is None
                else functools.partial(self._astream_spending, budget)
            )
            if self.cache is not None or _model_cache.GLOBAL.cache is not None:
                owner = self._cache_model()
                cache = _model_cache.resolve_cache(owner)
                if cache is not None:
                    return _model_cache.astream_cached(owner, cache, messages, stop, kwargs, stream)
        except Exception as exc:
            return _failing(exc)  # raised when the stream is read, as from a generator
        return stream(messages, stop, kwargs)

    async def _astream_spending(
        self,
        budget: Budget,
        messages: list[BaseMessage],
        stop: list[str] | None,
        kwargs: dict[str, Any],
    ) -> AsyncIterator[AIMessageChunk]:
        """`_astream_uncached` spending from `budget`: reserved before the request, settled
        by the chunk carrying the usage (or with the estimate, if none does)."""
        spend = await _budget.areserve(budget, self, messages, kwargs)
        usage: AIMessageChunk | None = None
        chunks = self._astream_uncached(messages, stop, kwargs)
        try:
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = chunk
                yield chunk
        except BaseException:
            if usage is None:
                spend.failed()
            raise
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            spend.settle(usage)  # (a no-op once failed)

    def _astream_uncached(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[AIMessageChunk]:
        state = current_run()
        if (state is None or state.limiter is None) and self.rate_limiter is None:
            # Nothing to hold or settle: the model's own stream, with no layer of ours.
            return self._astream_chunks(messages, stop=stop, **kwargs)
        return self._astream_held(messages, stop, kwargs)

    async def _astream_held(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> AsyncIterator[AIMessageChunk]:
        async with leaf_slot():
            reservation = await self._reserve(messages, kwargs)
            chunks = self._astream_chunks(messages, stop=stop, **kwargs)
            try:
                async for chunk in chunks:
                    if reservation is not None and chunk.usage is not None:
                        reservation.settle(chunk.usage.total_tokens)
                    yield chunk
            finally:
                # Closed explicitly, so an early exit ends the model's stream (and its HTTP
                # response) here and now, not whenever the generator is garbage collected.
                aclose = getattr(chunks, "aclose", None)
                if aclose is not None:
                    await aclose()


async def _failing(exc: Exception) -> AsyncIterator[AIMessageChunk]:
    raise exc
    yield  # an async generator  # type: ignore[unreachable]


def estimate_tokens(messages: list[BaseMessage], options: dict[str, Any]) -> int:
    """A rough token estimate for a call, taken before it runs (about 4 characters a token,
    plus `max_tokens` when given); the rate limiter corrects it with the real usage after."""
    prompt = sum(len(m.text) for m in messages) // 4 + 1
    max_tokens = options.get("max_tokens")
    return prompt + (max_tokens if isinstance(max_tokens, int) else 0)


def check_rate_limiter(value: object) -> RateLimiter | None:
    """Validate a model's `rate_limiter` argument."""
    if value is not None and not isinstance(value, RateLimiter):
        raise TypeError(f'Invalid "rate_limiter" argument: expected a RateLimiter, got {value!r}')
    return value
