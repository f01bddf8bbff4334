"""Output parsers: steps that turn a model's reply (a message, or its text) into a value.

- `StrOutputParser`: the reply's text; streams chunk by chunk.
- `JsonOutputParser`: the parsed JSON (```json fences allowed), optionally checked against a
  pydantic model.
- `PydanticOutputParser`: an instance of a pydantic model.
- `CommaSeparatedListOutputParser`: a list of strings; streams one complete item at a time.

Each parser takes a message or a string. Text that does not parse raises `OutputParserError`
carrying that text; an input that is neither a message nor a string raises `TypeError`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from llm._errors import OutputParserError
from prompts._messages import AnyMessage, BaseMessage
from runnables import Runnable, RunnableConfig

__all__ = [
    "BaseOutputParser",
    "CommaSeparatedListOutputParser",
    "JsonOutputParser",
    "PydanticOutputParser",
    "StrOutputParser",
]

T = TypeVar("T", covariant=True)
M = TypeVar("M", bound=BaseModel)

# The first fenced block (``` or ```json); an unclosed fence runs to the end of the text.
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)


class BaseOutputParser(Runnable[str | BaseMessage, T], Generic[T]):
    """A step that parses a model reply; subclasses implement `parse(text)`."""

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
    """The reply's text: a message's `content`; a string passes through.

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
            await _aclose(chunks)


def _strip_fence(text: str) -> str:
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip()


_NOTHING: Any = object()


def _parse_partial(text: str) -> Any:
    """The JSON value so far in a growing reply, or `_NOTHING` if none can be read yet."""
    body = _strip_fence(text)
    if not body or body[0] not in "{[":
        return _NOTHING
    if body[-1] in "0123456789+-.eE":
        # A number may still be growing ("19" of "1969"); wait until something follows it.
        return _NOTHING
    try:
        return pydantic_core.from_json(body, allow_partial=True)
    except ValueError:
        return _NOTHING


class JsonOutputParser(BaseOutputParser[Any]):
    """The reply parsed as JSON (a ```json fenced block is accepted).

    Streams successive partial values as the JSON grows (each chunk a whole value that
    replaces the previous one), ending with the complete, validated value.

    Args:
        pydantic_object: Optional pydantic model the JSON must validate against. The parser
            still returns the parsed JSON (a dict, as LCEL does), not a model instance; use
            `PydanticOutputParser` for that. The model also shapes `get_format_instructions`.

    Raises:
        TypeError: `pydantic_object` is not a pydantic model class.
    """

    def __init__(self, pydantic_object: type[BaseModel] | None = None) -> None:
        if pydantic_object is not None:
            _check_model_class(pydantic_object)
        self.pydantic_object = pydantic_object

    def __repr__(self) -> str:
        if self.pydantic_object is None:
            return "JsonOutputParser()"
        return f"JsonOutputParser(pydantic_object={self.pydantic_object.__name__})"

    def parse(self, text: str) -> Any:
        """Parse `text` as JSON, after removing a surrounding ``` fence.

        Raises:
            OutputParserError: Not valid JSON, or not valid for `pydantic_object`.
        """
        try:
            value = pydantic_core.from_json(_strip_fence(text))
        except ValueError as exc:
            raise OutputParserError(f"Invalid JSON in model output: {exc}", text=text) from exc
        if self.pydantic_object is not None:
            try:
                self.pydantic_object.model_validate(value)
            except ValidationError as exc:
                raise OutputParserError(
                    f"Model output does not match {self.pydantic_object.__name__}: {exc}",
                    text=text,
                ) from exc
        return value

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        # Successive partial values as the JSON grows (each a whole value, not a delta), parsed
        # by pydantic-core's partial mode; the last one is the fully parsed, validated result.
        text = ""
        last: Any = _NOTHING
        try:
            async for chunk in chunks:
                text += self._text(chunk)
                partial = _parse_partial(text)
                if partial is not _NOTHING and partial != last:
                    last = partial
                    yield partial
        finally:
            await _aclose(chunks)
        final = self.parse(text)
        if final != last:
            yield final

    def get_format_instructions(self) -> str:
        """Instructions for the prompt: answer in JSON (matching the schema, if one is set)."""
        if self.pydantic_object is None:
            return "Return a JSON object and nothing else."
        return _schema_instructions(self.pydantic_object)


class PydanticOutputParser(BaseOutputParser[M]):
    """The reply parsed into an instance of a pydantic model (a ```json fence is accepted).

    Args:
        pydantic_object: The pydantic model class.

    Raises:
        TypeError: `pydantic_object` is not a pydantic model class.
    """

    def __init__(self, pydantic_object: type[M]) -> None:
        _check_model_class(pydantic_object)
        self.pydantic_object = pydantic_object

    def __repr__(self) -> str:
        return f"PydanticOutputParser(pydantic_object={self.pydantic_object.__name__})"

    @property
    def OutputType(self) -> Any:  # LCEL's name
        return self.custom_output_type or self.pydantic_object

    def parse(self, text: str) -> M:
        """Validate `text` (JSON) into a `pydantic_object` instance.

        Raises:
            OutputParserError: Not valid JSON, or not valid for the model.
        """
        try:
            return self.pydantic_object.model_validate_json(_strip_fence(text))
        except ValidationError as exc:
            raise OutputParserError(
                f"Failed to parse {self.pydantic_object.__name__} from model output: {exc}",
                text=text,
            ) from exc

    def get_format_instructions(self) -> str:
        """Instructions for the prompt, including the model's JSON schema."""
        return _schema_instructions(self.pydantic_object)


class CommaSeparatedListOutputParser(BaseOutputParser[list[str]]):
    """The reply as a list of strings, split on commas (and newlines).

    Items are stripped and empty ones dropped; double quotes protect commas inside an item
    (`a, "b, c"` -> `["a", "b, c"]`). Any text parses, so this parser raises no
    `OutputParserError`. Streams one single-item list per complete item, so the
    streamed lists add up to the `invoke` result.
    """

    def parse(self, text: str) -> list[str]:
        """Split `text` into items. Any text is a list (an unclosed quote runs to the end)."""
        return [item for item in _csv_items(text) if item]

    def get_format_instructions(self) -> str:
        """Instructions for the prompt: a comma-separated list."""
        return (
            "Answer with a comma-separated list of values and nothing else, "
            "for example: `foo, bar, baz`."
        )

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[list[str]]:
        buffer = ""
        done = 0  # items already emitted (counting empty ones, which are skipped)
        try:
            async for chunk in chunks:
                buffer += self._text(chunk)
                items = _csv_items(buffer)
                # The last item may still grow; everything before it is complete.
                for item in items[done:-1]:
                    if item:
                        yield [item]
                done = max(done, len(items) - 1)
        finally:
            await _aclose(chunks)
        for item in self.parse(buffer)[_count_nonempty(buffer, done) :]:
            yield [item]


async def _aclose(chunks: AsyncIterator[Any]) -> None:
    # Stopping early (an error, or a consumer that breaks out) ends the upstream stream too.
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


def _csv_items(text: str) -> list[str]:
    # Not csv's strict mode: a stray quote in prose ('He said "hi" twice') is text, not an error.
    rows = csv.reader(io.StringIO(text), skipinitialspace=True)
    return [item.strip() for row in rows for item in row]


def _count_nonempty(text: str, done: int) -> int:
    return sum(1 for item in _csv_items(text)[:done] if item)


def _check_model_class(value: object) -> None:
    if not (isinstance(value, type) and issubclass(value, BaseModel)):
        raise TypeError(
            f'Invalid "pydantic_object" argument: {value!r}; expected a pydantic model class'
        )


def _schema_instructions(model: type[BaseModel]) -> str:
    schema = json.dumps(model.model_json_schema(), ensure_ascii=False)
    return (
        "Return only a JSON object, with no other text, that conforms to this JSON schema:\n"
        f"```json\n{schema}\n```"
    )
