"""`OfflineChatModel`: a deterministic stand-in for a chat model. Not an LLM; no network.

It has the interface of every chat model (invoke, batch, stream by chunks, `stop`, usage), so
examples and tests run without an API key, and its optional latency makes concurrency visible.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio

from llm._chat_model import BaseChatModel, check_rate_limiter
from llm._validation import check_int, check_number
from prompts._messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    Usage,
    trusted,
)
from runnables import RateLimiter

__all__ = ["OfflineChatModel"]

PREFIX = "[offline model] "
_ECHO_WORDS = 24
# Split before each whitespace run that follows a word: "Hi there" -> ["Hi", " there"].
_WORD_PIECES = re.compile(r"(?<!\s)(?=\s+\S)")


class OfflineChatModel(BaseChatModel):
    """A scripted, deterministic chat model that runs offline. It is not a language model.

    Replies come from `responses`, in order, starting over after the last one. Without
    `responses`, the reply is `"[offline model] reply to: "` followed by the first words of the
    last human message, so a chain's output still reads sensibly, and says what made it.

    Usage counts are whitespace-separated words, a rough stand-in for tokens: `input_tokens`
    over all input messages, `output_tokens` over the reply.

    Call options: `stop` cuts the reply before the first stop sequence; `max_tokens` keeps that
    many words (`finish_reason` "length"); other options (e.g. `temperature`) are accepted and
    ignored, so the model can stand in for any other.

    Args:
        responses: Scripted replies.
        latency: Seconds to wait before replying (before the first chunk when streaming).
        chunk_delay: Seconds to wait between streamed chunks.
        chunk_size: Characters per streamed chunk; None streams word by word.
        rate_limiter: A shared `RateLimiter` to wait on before each call.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: `responses` is empty, a delay is negative, or `chunk_size` is below 1.
    """

    _genai_provider = "offline"
    model = "offline"

    def __init__(
        self,
        *,
        responses: Sequence[str] | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        chunk_size: int | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        if responses is not None:
            if not isinstance(responses, list | tuple) or not all(
                isinstance(r, str) for r in responses
            ):
                raise TypeError(
                    f'Invalid "responses" argument: {responses!r}; expected a list of strings'
                )
            if not responses:
                raise ValueError('Invalid "responses" argument: []; give at least one reply')
        self.responses: tuple[str, ...] | None = None if responses is None else tuple(responses)
        self.latency = check_number("latency", latency, low=0.0)
        self.chunk_delay = check_number("chunk_delay", chunk_delay, low=0.0)
        self.chunk_size = None if chunk_size is None else check_int("chunk_size", chunk_size, low=1)
        self._calls = 0
        self.rate_limiter = check_rate_limiter(rate_limiter)

    def __repr__(self) -> str:
        args = []
        if self.responses is not None:
            args.append(f"responses={list(self.responses)!r}")
        for name in ("latency", "chunk_delay", "chunk_size"):
            value = getattr(self, name)
            if value:
                args.append(f"{name}={value!r}")
        return f"OfflineChatModel({', '.join(args)})"

    def _reply(
        self, messages: list[BaseMessage], stop: list[str] | None, options: dict[str, Any]
    ) -> AIMessage:
        # Taken before any await, so concurrent calls get scripted replies in start order.
        if self.responses is not None:
            text = self.responses[self._calls % len(self.responses)]
        else:
            text = PREFIX + "reply to: " + _echo(messages)
        self._calls += 1
        finish_reason = "stop"
        for sequence in stop or ():
            cut = text.find(sequence)
            if cut != -1:
                text = text[:cut]
        max_tokens = options.get("max_tokens")
        if max_tokens is not None:
            words = _words(text)
            if len(words) > check_int("max_tokens", max_tokens, low=1):
                text, finish_reason = "".join(words[:max_tokens]), "length"
        input_tokens = sum([len(m.content.split()) for m in messages])
        output_tokens = len(text.split())
        return trusted(  # built here from checked values: no validation needed
            AIMessage,
            content=text,
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
        pieces = self._pieces(reply.content)
        for i, piece in enumerate(pieces):
            if i and self.chunk_delay:
                await anyio.sleep(self.chunk_delay)
            if i < len(pieces) - 1:
                yield trusted(AIMessageChunk, content=piece)
            else:  # the last chunk carries what describes the whole reply
                yield trusted(
                    AIMessageChunk,
                    content=piece,
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


def _echo(messages: list[BaseMessage]) -> str:
    """The first words of the last human message (or of the last message, if none is human)."""
    human = [m for m in messages if isinstance(m, HumanMessage)]
    source = human[-1] if human else (messages[-1] if messages else None)
    words = source.content.split() if source is not None else []
    if not words:
        return "(empty input)"
    if len(words) <= _ECHO_WORDS:
        return " ".join(words)
    return " ".join(words[:_ECHO_WORDS]) + " ..."
