"""JSON from model replies: `parse_json_markdown`, `parse_partial_json`, `JsonOutputParser` and
`PydanticOutputParser`.

Parsing is pydantic-core's (`from_json`, with its partial mode for growing replies); nothing here
repairs JSON by hand. Models put raw control characters (a newline, a tab) inside JSON strings,
which strict JSON forbids; when a reply holds any, they are escaped inside its string literals
and the reply is parsed again, so such replies parse as they do in LangChain.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from llm._errors import OutputParserError
from llm._parsers import BaseOutputParser, check_text, growing_values
from runnables import RunnableConfig
from runnables._concurrency import closing

__all__ = [
    "NOTHING",
    "JsonOutputParser",
    "PydanticOutputParser",
    "load_json",
    "parse_json_markdown",
    "parse_partial_json",
    "partial_json",
    "strip_fence",
]

M = TypeVar("M", bound=BaseModel)

# The first fenced block (``` or ```json); an unclosed fence runs to the end of the text.
_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL | re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f]")
# A JSON string literal, possibly unterminated at the end of the text. Outside strings a JSON
# text has no quotes, so scanning left to right finds exactly the string literals.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?', re.DOTALL)
_NUMBER_END = frozenset("0123456789+-.eE")
_STRIP = " \n\r\t`"

NOTHING: Any = object()
"""What `partial_json` returns when no value can be read yet."""


def _escape_controls(text: str) -> str:
    def escape(literal: re.Match[str]) -> str:
        return _CONTROL.sub(lambda c: f"\\u{ord(c.group()):04x}", literal.group())

    return _STRING.sub(escape, text)


def load_json(text: str, *, partial: bool = False, strict: bool = False) -> Any:
    """Parse `text` as JSON with pydantic-core.

    Args:
        text: The JSON text.
        partial: Read a prefix of a JSON text: unfinished strings are kept as far as they go,
            unfinished numbers, literals and keys are left out.
        strict: Reject raw control characters inside strings (strict JSON).

    Raises:
        ValueError: `text` is not JSON (or, with `partial`, not the start of a JSON text).
    """
    return _from_json(text, "trailing-strings" if partial else False, strict)


def _from_json(text: str, mode: Literal["trailing-strings"] | bool, strict: bool) -> Any:
    try:
        return pydantic_core.from_json(text, allow_partial=mode)
    except ValueError:
        if strict or not _CONTROL.search(text):
            raise
    return pydantic_core.from_json(_escape_controls(text), allow_partial=mode)


def strip_fence(text: str) -> str:
    """The body of the first ``` (or ```json) fenced block in `text`, or `text`, stripped."""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip()


def partial_json(text: str) -> Any:
    """The JSON object or array so far in a growing reply (fences allowed), or `NOTHING`.

    A string value grows as it streams; a number is left out until something follows it, since
    `19` may be the start of `1969`.
    """
    body = strip_fence(text)
    if not body or body[0] not in "{[":
        return NOTHING
    try:
        value = load_json(body, partial=True)
        if body[-1] in _NUMBER_END and value == _from_json(body, True, False):
            # The same value with unfinished strings left out: the text does not end inside a
            # string, so it ends in a number (or a literal) that may still grow.
            return NOTHING
    except ValueError:
        return NOTHING
    return value


def parse_partial_json(s: str, *, strict: bool = False) -> Any:
    """Parse JSON that may be cut off: `{"a": [1, {"b": "c` gives `{"a": [1, {"b": "c"}]}`.

    LangChain's function of the same name. Unfinished strings are kept as far as they go;
    unfinished keys, numbers and literals are left out.

    Args:
        s: The (possibly incomplete) JSON text.
        strict: Reject raw control characters inside strings.

    Raises:
        json.JSONDecodeError: `s` is not the start of any JSON text (e.g. empty, or prose).
    """
    try:
        return load_json(s, strict=strict)
    except ValueError:
        pass
    try:
        return load_json(s, partial=True, strict=strict)
    except ValueError:
        return json.loads(s, strict=strict)  # raises the stdlib's error, as LangChain does


def parse_json_markdown(
    json_string: str, *, parser: Callable[[str], Any] = parse_partial_json
) -> Any:
    """Parse JSON from a model's reply, plain or in a ``` (or ```json) fenced block.

    LangChain's function of the same name: the whole text is tried first, then the first
    fenced block; each is stripped of whitespace and backticks and given to `parser`.

    Raises:
        json.JSONDecodeError: Neither holds JSON (with the default `parser`).
    """
    try:
        return parser(json_string.strip(_STRIP))
    except json.JSONDecodeError:
        match = _FENCE.search(json_string)
        if match is None:
            raise
    return parser(match.group(1).strip(_STRIP))


class JsonOutputParser(BaseOutputParser[Any]):
    """The reply parsed as JSON (a ```json fenced block is accepted).

    Streams successive partial values as the JSON grows (a string value grows as it streams),
    ending with the complete, validated value. With `diff=True` the stream yields JSON-patch
    operations (RFC 6902, as the `jsonpatch` package makes them) from each value to the next
    instead.

    Args:
        pydantic_object: Optional pydantic model the JSON must validate against. The parser
            still returns the parsed JSON (a dict, as LangChain does), not a model instance;
            use `PydanticOutputParser` for that. The model also shapes
            `get_format_instructions`.
        diff: Stream JSON-patch operations instead of whole values.

    Raises:
        TypeError: `pydantic_object` is not a pydantic model class, or `diff` is not a bool.
    """

    def __init__(
        self, pydantic_object: type[BaseModel] | None = None, *, diff: bool = False
    ) -> None:
        if pydantic_object is not None:
            _check_model_class(pydantic_object)
        if not isinstance(diff, bool):
            raise TypeError(f'Invalid "diff" argument: {diff!r}; expected a bool')
        self.pydantic_object = pydantic_object
        self.diff = diff

    def __repr__(self) -> str:
        args = []
        if self.pydantic_object is not None:
            args.append(f"pydantic_object={self.pydantic_object.__name__}")
        if self.diff:
            args.append("diff=True")
        return f"JsonOutputParser({', '.join(args)})"

    def parse(self, text: str) -> Any:
        """Parse `text` as JSON, after removing a surrounding ``` fence.

        Raises:
            OutputParserError: Not valid JSON, or not valid for `pydantic_object`.
            TypeError: `text` is not a str.
        """
        check_text(self, text)
        value = _parse_json(text)
        if self.pydantic_object is not None:
            try:
                self.pydantic_object.model_validate(value)
            except ValidationError as exc:
                raise OutputParserError(
                    f"Model output does not match {self.pydantic_object.__name__}: {exc}",
                    text=text,
                ) from exc
        return value

    def parse_partial(self, text: str) -> Any:
        return None if (value := partial_json(text)) is NOTHING else value

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        # Each value is a whole value (not a delta) unless `diff`; the last one is the fully
        # parsed, validated result.
        async with closing(growing_values(self, chunks, partial_json, NOTHING)) as values:
            async for last, value in values:
                yield self._step(last, value)

    def _step(self, last: Any, value: Any) -> Any:
        if not self.diff:
            return value
        import jsonpatch  # only with diff=True

        return jsonpatch.make_patch(None if last is NOTHING else last, value).patch

    def get_format_instructions(self) -> str:
        """Instructions for the prompt: answer in JSON (matching the schema, if one is set)."""
        if self.pydantic_object is None:
            return "Return a JSON object and nothing else."
        return _schema_instructions(self.pydantic_object)


class PydanticOutputParser(BaseOutputParser[M]):
    """The reply parsed into an instance of a pydantic model (a ```json fence is accepted).

    Streams each partial value that already validates (as an instance), then the final one.

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
            TypeError: `text` is not a str.
        """
        check_text(self, text)
        body = strip_fence(text)
        try:
            try:
                return self.pydantic_object.model_validate_json(body)
            except ValidationError:
                if not _CONTROL.search(body):
                    raise
            return self.pydantic_object.model_validate_json(_escape_controls(body))
        except ValidationError as exc:
            raise OutputParserError(
                f"Failed to parse {self.pydantic_object.__name__} from model output: {exc}",
                text=text,
            ) from exc

    def parse_partial(self, text: str) -> M | None:
        value = partial_json(text)
        if value is NOTHING:
            return None
        try:
            return self.pydantic_object.model_validate(value)
        except ValidationError:
            return None

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[M]:
        async with closing(growing_values(self, chunks, self.parse_partial)) as values:
            async for _, value in values:
                yield value

    def get_format_instructions(self) -> str:
        """Instructions for the prompt, including the model's JSON schema."""
        return _schema_instructions(self.pydantic_object)


def _parse_json(text: str) -> Any:
    try:
        return load_json(strip_fence(text))
    except ValueError as exc:
        raise OutputParserError(f"Invalid JSON in model output: {exc}", text=text) from exc


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
