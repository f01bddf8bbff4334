"""`OfflineChatModel`: a deterministic stand-in for a chat model. Not an LLM; no network.

It has the interface of every chat model (invoke, batch, stream by chunks, `stop`, usage, the
common call-option checks, `bind_tools`, `with_structured_output`), so examples and tests run
without an API key, and its optional latency makes concurrency visible. It can be scripted to
call tools, so tool-calling programs run offline too.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeAlias

import anyio

from llm._budget import check_model_budget
from llm._chat_model import BaseChatModel, check_rate_limiter
from llm._model_cache import ModelCache, check_cache
from llm._schema_example import example_for_schema
from llm._validation import MANAGED_FIELDS, chat_completion_fields, check_int, check_number
from prompts._content import describe_content
from prompts._messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    Usage,
)
from prompts._tool_calls import tool_call
from prompts._trusted import trusted
from runnables import Budget, RateLimiter

__all__ = ["OfflineChatModel", "OfflineReply"]

PREFIX = "[offline model] "
_ECHO_WORDS = 24
_LINE_WORDS = 12

OfflineReply: TypeAlias = str | AIMessage
"""A scripted reply: its text, or a whole `AIMessage` (e.g. one with `tool_calls`)."""
Responder: TypeAlias = Callable[[list[BaseMessage]], OfflineReply]
"""A function that makes the reply to a list of input messages."""
# Split before each whitespace run that follows a word: "Hi there" -> ["Hi", " there"].
_WORD_PIECES = re.compile(r"(?<!\s)(?=\s+\S)")


class OfflineChatModel(BaseChatModel):
    """A scripted, deterministic chat model that runs offline. It is not a language model.

    Replies come from `responses`: a list, used in order and starting over after the last
    one, or a function of the messages. A reply is a string or an `AIMessage`, which may carry
    `tool_calls` (the model "calls" those tools).

    Without `responses` the reply reflects the whole prompt, shortened and deterministic:
    `"[offline model] <instruction> | <input>"`, the instruction being the system messages
    (each line cut to its first words) and the input the last human message; with no system
    message, `"[offline model] reply to: <input>"`. So each step of a chain visibly does its
    own task. When the call asks for structured output (`response_format` with a JSON schema,
    or `tool_choice` naming one tool, as `with_structured_output` does), the default reply is
    a minimal value of that schema instead.

    Usage counts are whitespace-separated words, a rough stand-in for tokens: `input_tokens`
    over all input messages, `output_tokens` over the reply.

    Call options: `stop` cuts the reply before the first stop sequence; `max_tokens` keeps that
    many words (`finish_reason` "length"). The common options are checked as every model
    checks them (`temperature=5` is rejected when bound). It takes the options an
    OpenAI-compatible model takes (the fields of `chat.completions.create`; server-specific
    ones go in `extra_body`) and ignores the rest, so it can stand in for `ChatOpenAI`; a name
    that is no such option (`temprature`) is rejected as `ChatOpenAI` rejects it.

    Args:
        responses: Scripted replies (strings or `AIMessage`s), or a function from the list of
            input messages to a reply.
        latency: Seconds to wait before replying (before the first chunk when streaming).
        chunk_delay: Seconds to wait between streamed chunks.
        chunk_size: Characters per streamed chunk; None streams word by word.
        rate_limiter: A shared `RateLimiter` to wait on before each call.
        cache: Where replies are cached (None: the global cache if one is set; True, False or
            a `BaseCache`, as for every chat model). The key includes the scripted responses.
        budget: A `runnables.Budget` every call spends from (see `ChatOpenAI`).

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: `responses` is empty, a delay is negative, or `chunk_size` is below 1.
    """

    _genai_provider = "offline"
    model = "offline"
    # It stands in for an OpenAI-compatible model, so it takes (and checks) the same options.
    _managed_options = MANAGED_FIELDS

    def _option_names(self) -> frozenset[str]:
        return chat_completion_fields()

    def __init__(
        self,
        *,
        responses: Sequence[OfflineReply]
        | Callable[[list[BaseMessage]], OfflineReply]
        | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_size: int | None = None,
        rate_limiter: RateLimiter | None = None,
        cache: ModelCache = None,
        budget: Budget | None = None,
    ) -> None:
        self.responses: tuple[OfflineReply, ...] | None = None
        self.respond: Responder | None = None
        if callable(responses):
            self.respond = responses
        elif responses is not None:
            if not isinstance(responses, list | tuple) or not all(
                isinstance(r, str | AIMessage) for r in responses
            ):
                raise TypeError(
                    f'Invalid "responses" argument: {responses!r}; expected a list of strings '
                    "or AIMessages, or a function of the messages"
                )
            if not responses:
                raise ValueError('Invalid "responses" argument: []; give at least one reply')
            self.responses = tuple(responses)
        self.latency = check_number("latency", latency, low=0.0)
        self.chunk_delay = check_number("chunk_delay", chunk_delay, low=0.0)
        self.chunk_size = None if chunk_size is None else check_int("chunk_size", chunk_size, low=1)
        self._calls = 0
        self.rate_limiter = check_rate_limiter(rate_limiter)
        self.cache = check_cache(cache)
        self.budget = check_model_budget(budget)

    def __repr__(self) -> str:
        args = []
        if self.responses is not None:
            args.append(f"responses={list(self.responses)!r}")
        if self.respond is not None:
            args.append(f"responses={self.respond!r}")
        for name in ("latency", "chunk_delay", "chunk_size"):
            value = getattr(self, name)
            if value:
                args.append(f"{name}={value!r}")
        return f"OfflineChatModel({', '.join(args)})"

    def _reply(
        self, messages: list[BaseMessage], stop: list[str] | None, options: dict[str, Any]
    ) -> AIMessage:
        # Taken before any await, so concurrent calls get scripted replies in start order.
        scripted: OfflineReply
        if self.responses is not None:
            scripted = self.responses[self._calls % len(self.responses)]
        elif self.respond is not None:
            scripted = self.respond(list(messages))
            if not isinstance(scripted, str | AIMessage):
                raise TypeError(
                    f"OfflineChatModel responses function returned {scripted!r}; expected a "
                    "string or an AIMessage"
                )
        else:
            scripted = _structured_reply(options) or _default_reply(messages)
        self._calls += 1
        calls = scripted.tool_calls if isinstance(scripted, AIMessage) else []
        text = scripted.text if isinstance(scripted, AIMessage) else scripted
        finish_reason = "tool_calls" if calls else "stop"
        for sequence in stop or ():
            cut = text.find(sequence)
            if cut != -1:
                text = text[:cut]
        max_tokens = options.get("max_tokens")
        if max_tokens is not None:
            words = _words(text)
            if len(words) > check_int("max_tokens", max_tokens, low=1):
                text, finish_reason = "".join(words[:max_tokens]), "length"
        input_tokens = sum([len(m.text.split()) for m in messages])
        output_tokens = len(text.split())
        return trusted(  # built here from checked values: no validation needed
            AIMessage,
            content=text,
            tool_calls=list(calls),
            usage=trusted(
                Usage,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                total_tokens=input_tokens + output_tokens,
            ),
            response_metadata={"model": "offline", "finish_reason": finish_reason},
        )

    async def _agenerate(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AIMessage:
        reply = self._reply(messages, stop, options)
        if self.latency:
            await anyio.sleep(self.latency)
        return reply

    async def _astream_chunks(
        self, messages: list[BaseMessage], *, stop: list[str] | None = None, **options: Any
    ) -> AsyncIterator[AIMessageChunk]:
        reply = self._reply(messages, stop, options)
        if self.latency:
            await anyio.sleep(self.latency)
        pieces = self._pieces(reply.text)
        for i, piece in enumerate(pieces):
            if i and self.chunk_delay:
                await anyio.sleep(self.chunk_delay)
            if i < len(pieces) - 1:
                yield trusted(AIMessageChunk, content=piece)
            else:  # the last chunk carries what describes the whole reply, and its tool calls
                yield trusted(
                    AIMessageChunk,
                    content=piece,
                    tool_calls=reply.tool_calls,
                    usage=reply.usage,
                    response_metadata=reply.response_metadata,
                )

    def _pieces(self, text: str) -> list[str]:
        if not text:
            return [""]
        if self.chunk_size is None:
            return _words(text)
        size = self.chunk_size
        return [text[i : i + size] for i in range(0, len(text), size)]


def _words(text: str) -> list[str]:
    """`text` cut before each word but the first; the pieces join back to `text`."""
    return [piece for piece in _WORD_PIECES.split(text) if piece]


def _shorten(text: str, limit: int) -> str:
    words = text.replace(PREFIX, "").split()
    if len(words) <= limit:
        return " ".join(words)
    return " ".join(words[:limit]) + " ..."


def _default_reply(messages: list[BaseMessage]) -> str:
    """The instruction (system lines, each shortened) and the input (the last human message)."""
    lines = [
        _shorten(line, _LINE_WORDS)
        for m in messages
        if isinstance(m, SystemMessage)
        for line in m.text.splitlines()
        if line.strip()
    ]
    if not lines:
        return PREFIX + "reply to: " + _echo(messages)
    human = [m for m in messages if isinstance(m, HumanMessage)]
    text = describe_content(human[-1].content) if human else ""
    echo = _shorten(text, _ECHO_WORDS) if text.strip() else "(no input)"
    return f"{PREFIX}{' / '.join(lines)} | {echo}"


def _structured_reply(options: dict[str, Any]) -> AIMessage | None:
    """A minimal value of the schema the call asks for (`with_structured_output`), if any."""
    response_format = options.get("response_format")
    if isinstance(response_format, dict):
        if response_format.get("type") == "json_schema":
            schema = response_format.get("json_schema", {}).get("schema", {})
            return AIMessage(content=json.dumps(example_for_schema(schema)))
        if response_format.get("type") == "json_object":
            return AIMessage(content=json.dumps({"reply": PREFIX.strip()}))
    choice = options.get("tool_choice")
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        for spec in options.get("tools") or ():
            function = spec.get("function", {})
            if function.get("name") == name:
                args = example_for_schema(function.get("parameters", {}))
                call = tool_call(name=name, args=args, id="offline_call_0")
                return AIMessage(content="", tool_calls=[call])
    return None


def _echo(messages: list[BaseMessage]) -> str:
    """The first words of the last human message (or of the last message, if none is human)."""
    human = [m for m in messages if isinstance(m, HumanMessage)]
    source = human[-1] if human else (messages[-1] if messages else None)
    words = describe_content(source.content).split() if source is not None else []
    if not words:
        return "(empty input)"
    if len(words) <= _ECHO_WORDS:
        return " ".join(words)
    return " ".join(words[:_ECHO_WORDS]) + " ..."
