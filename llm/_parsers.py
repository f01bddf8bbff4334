"""Output parsers: steps that turn a model's reply (a message, or its text) into a value.

- `BaseOutputParser`: the base; `parse(text)` and LangChain's other entry points (`aparse`,
  `parse_result`, `parse_with_prompt`).
- `StrOutputParser`: the reply's text; streams chunk by chunk.
- JSON (`llm._json_parser`): `JsonOutputParser`, `PydanticOutputParser`.
- Lists (`llm._list_parsers`): comma-separated, numbered and markdown lists.

Each parser takes a message or a string; a message's text is its `content` when that is a
string, else the text parts of its content joined (`message.text`). Text that does not parse
raises `OutputParserError` carrying that text; an input that is neither a message nor a string
raises `TypeError`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any, Generic, TypeVar

from prompts._messages import AnyMessage, BaseMessage
from runnables import Runnable, RunnableConfig
from runnables._concurrency import closing

__all__ = ["BaseOutputParser", "StrOutputParser", "aclose_stream"]

T = TypeVar("T", covariant=True)


class BaseOutputParser(Runnable[str | BaseMessage, T], Generic[T]):
    """A step that parses a model reply; subclasses implement `parse(text)`.

    Streaming parsers also implement `_atransform`; `parse_partial(text)` is the value of a
    reply that is still growing (by default, `parse`).
    """

    _kind = "parser"
    _sync_inline = _instant = True  # parsing never waits

    @property
    def InputType(self) -> Any:  # LCEL's name
        """A reply: its text, or a message."""
        return self.custom_input_type or str | AnyMessage

    def parse(self, text: str) -> T:
        """Parse the reply's text.

        Raises:
            OutputParserError: The text cannot be parsed; `.text` holds it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement parse")

    def parse_partial(self, text: str) -> Any:
        """The value of a reply that may still grow (None where there is none yet)."""
        return self.parse(text)

    async def aparse(self, text: str) -> T:
        """`parse`, as a coroutine (LangChain's name)."""
        return self.parse(text)

    def parse_result(self, result: Sequence[Any], *, partial: bool = False) -> Any:
        """Parse the first of a list of results, as LangChain's parsers take generations.

        Args:
            result: Model outputs: messages, strings, or objects with a `message` (a chat
                generation) or a `text`. The first one is parsed.
            partial: Parse it as a reply that may still grow (`parse_partial`).

        Raises:
            ValueError: `result` is empty.
            TypeError: Its first item is none of those.
        """
        if not result:
            raise ValueError(f'Invalid "result" argument: {result!r}; expected one result')
        first = result[0]
        item = getattr(first, "message", None)
        if item is None:
            item = first if isinstance(first, str | BaseMessage) else getattr(first, "text", first)
        text = self._text(item)
        return self.parse_partial(text) if partial else self.parse(text)

    async def aparse_result(self, result: Sequence[Any], *, partial: bool = False) -> Any:
        """`parse_result`, as a coroutine (LangChain's name)."""
        return self.parse_result(result, partial=partial)

    def parse_with_prompt(self, completion: str, prompt: Any) -> T:
        """Parse `completion`; the prompt is accepted for LangChain's signature and unused."""
        return self.parse(completion)

    def get_format_instructions(self) -> str:
        """Instructions for the prompt on how to answer, where the parser has them."""
        raise NotImplementedError(f"{type(self).__name__} has no format instructions")

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> T:
        return self.parse(self._text(input))

    def _text(self, value: object) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, BaseMessage):
            return value.text
        raise TypeError(
            f"{self.name} expects a message or a string, got {type(value).__name__}: {value!r}"
        )


class StrOutputParser(BaseOutputParser[str]):
    """The reply's text: a message's text (`message.text`); a string passes through.

    Streams: each incoming chunk (e.g. an `AIMessageChunk`) becomes its text, as it arrives.
    """

    def parse(self, text: str) -> str:
        """Return `text` unchanged."""
        return text

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                # A message first: the common case on the per-chunk hot path.
                yield chunk.text if isinstance(chunk, BaseMessage) else self._text(chunk)
        finally:
            await aclose_stream(chunks)


def check_text(parser: BaseOutputParser[Any], text: object) -> None:
    """Raise a TypeError naming `parse`'s argument unless `text` is a str (a reply's text)."""
    if not isinstance(text, str):
        raise TypeError(
            f'Invalid "text" argument of {parser.name}.parse: expected a str (the reply\'s '
            f"text; invoke the parser with a message), got {type(text).__name__} {text!r}"
        )


async def reply_so_far(
    parser: BaseOutputParser[Any], chunks: AsyncIterator[Any]
) -> AsyncGenerator[str, None]:
    """The reply's text so far, after each input chunk (a message or a string): the one loop of
    every parser that reads a growing reply. The input stream is closed when this generator
    ends or is closed (a consumer stopping early ends the upstream stream too)."""
    text = ""
    try:
        async for chunk in chunks:
            text += parser._text(chunk)
            yield text
    finally:
        await aclose_stream(chunks)


async def growing_values(
    parser: BaseOutputParser[Any],
    chunks: AsyncIterator[Any],
    partial: Callable[[str], Any],
    none: Any = None,
) -> AsyncGenerator[tuple[Any, Any], None]:
    """`(previous, value)` each time the value of the reply so far changes: `partial(text)` after
    each chunk (`none` where there is no value yet), then `parser.parse` of the whole reply
    (which raises if it is not valid). `previous` is `none` before the first value."""
    text = ""
    last = none
    async with closing(reply_so_far(parser, chunks)) as texts:
        async for text in texts:
            value = partial(text)
            if value is not none and value != last:
                yield last, value
                last = value
    final = parser.parse(text)
    if final != last:
        yield last, final


async def aclose_stream(chunks: AsyncIterator[Any]) -> None:
    """Close an input stream, so stopping early (an error, or a consumer that breaks out) ends
    the upstream stream too."""
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()
