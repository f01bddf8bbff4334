"""`with_structured_output`: a chat model asked for, and parsed into, a schema.

The schema may be a pydantic model (the result is an instance), a TypedDict class (a dict,
validated), or a JSON-schema dict (a dict, as the model wrote it); with `json_mode` it may be
None (the result is the JSON value as parsed). Three ways to ask:

- `json_schema` (default): `response_format={"type": "json_schema", ...}`; the reply's text is
  the JSON. OpenAI and most compatible servers (vLLM, llama.cpp, Ollama) support it.
- `function_calling`: the schema as the one tool, forced with `tool_choice`; the call's
  arguments are the JSON.
- `json_mode`: `response_format={"type": "json_object"}`; the prompt must describe the schema.

Streaming yields partial objects as the JSON grows: partial dicts, and for a pydantic model each
partial value that already validates. With `include_raw=True` the result is `{"raw": AIMessage,
"parsed": value or None, "parsing_error": None or the OutputParserError}`, and parsing errors
are returned there instead of raised.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import pydantic_core
from pydantic import BaseModel, PydanticUserError, TypeAdapter, ValidationError
from typing_extensions import is_typeddict

from llm._errors import OutputParserError
from llm._json_parser import NOTHING, load_json, partial_json, strip_fence
from llm._tool_specs import convert_to_openai_tool, forbid_extra_properties, schema_name
from prompts._messages import AIMessage, AIMessageChunk
from runnables import Runnable, RunnableConfig
from runnables._chunks import ChunkSum

if TYPE_CHECKING:
    from llm._chat_model import BaseChatModel, LanguageModelInput

__all__ = ["METHODS", "StructuredMethod", "structured_output"]

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]
METHODS: tuple[str, ...] = ("json_schema", "function_calling", "json_mode")


class _Schema:
    """What a schema argument means: its name, JSON schema and how to validate a value."""

    def __init__(self, schema: object) -> None:
        self.validate: Callable[[Any], Any]
        if schema is None:  # json_mode without a schema: any JSON value, as parsed
            self.name, self.json, self.description = "JSON", {}, None
            self.validate = _as_is
        elif isinstance(schema, type) and issubclass(schema, BaseModel):
            model = schema
            self.name, self.json = schema_name(schema), schema.model_json_schema()
            self.description = inspect.getdoc(schema)
            self.validate = model.model_validate
        elif isinstance(schema, type) and is_typeddict(schema):
            try:
                adapter: TypeAdapter[Any] = TypeAdapter(schema)
            except PydanticUserError as exc:  # typing.TypedDict before Python 3.12
                raise TypeError(f'Invalid "schema" argument: {schema!r}; {exc.message}') from exc
            self.name, self.json = schema_name(schema), adapter.json_schema()
            self.description = inspect.getdoc(schema)
            self.validate = adapter.validate_python
        elif isinstance(schema, Mapping):
            try:
                function = convert_to_openai_tool(dict(schema))["function"]
            except ValueError as exc:
                raise ValueError(f'Invalid "schema" argument: {exc}') from exc
            self.name, self.json = function["name"], function["parameters"]
            self.description = function.get("description")
            self.validate = _as_dict
        else:
            raise TypeError(
                f'Invalid "schema" argument: {schema!r}; expected a pydantic model class, a '
                "TypedDict class or a JSON-schema dict"
            )
        self.source = schema
        self.is_model = isinstance(schema, type) and issubclass(schema, BaseModel)


def _as_is(value: Any) -> Any:
    return value


def _as_dict(value: Any) -> Any:
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {value!r}")
    return value


def structured_output(
    model: BaseChatModel,
    schema: object,
    *,
    method: object = "json_schema",
    include_raw: object = False,
    strict: object = None,
) -> Runnable[LanguageModelInput, Any]:
    """The runnable behind `BaseChatModel.with_structured_output` (see the module docstring).

    Raises:
        TypeError: `schema` is of no accepted kind, or `include_raw` / `strict` is not a bool.
        ValueError: `method` is not one of the three.
    """
    if method not in METHODS:
        raise ValueError(f'Invalid "method" argument: {method!r}; expected one of {METHODS!r}')
    if schema is None and method != "json_mode":
        raise ValueError(
            f'Invalid "schema" argument: None; method={method!r} needs a schema (only '
            '"json_mode" parses any JSON without one)'
        )
    spec = _Schema(schema)
    if not isinstance(include_raw, bool):
        raise TypeError(f'Invalid "include_raw" argument: {include_raw!r}; expected a bool')
    if strict is not None and not isinstance(strict, bool):
        raise TypeError(f'Invalid "strict" argument: {strict!r}; expected a bool or None')
    tool_name: str | None = None
    step: Runnable[LanguageModelInput, AIMessage]
    if method == "function_calling":
        tool = {"name": spec.name, "parameters": spec.json}
        if spec.description:
            tool["description"] = spec.description
        step = model.bind_tools([tool], tool_choice=spec.name, strict=strict)
        tool_name = spec.name
    elif method == "json_mode":
        step = model.bind(response_format={"type": "json_object"})
    else:
        json_schema = copy.deepcopy(spec.json)
        if strict:
            forbid_extra_properties(json_schema)
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": spec.name, "schema": json_schema, "strict": bool(strict)},
        }
        step = model.bind(response_format=response_format)
    return step | StructuredOutputParser(spec, tool_name=tool_name, include_raw=include_raw)


class StructuredOutputParser(Runnable[AIMessage, Any]):
    """Reads a reply's JSON (its text, or the arguments of the call to `tool_name`) into the
    schema's value."""

    _kind = "parser"
    _sync_inline = _instant = True  # parsing never waits

    def __init__(self, spec: _Schema, *, tool_name: str | None, include_raw: bool) -> None:
        self.spec = spec
        self.tool_name = tool_name
        self.include_raw = include_raw

    def __repr__(self) -> str:
        return f"StructuredOutputParser({self.spec.name!r})"

    def _value(self, message: AIMessage) -> Any:
        if self.tool_name is None:
            text = message.text
            try:
                value = load_json(strip_fence(text))
            except ValueError as exc:
                raise OutputParserError(f"Invalid JSON in model output: {exc}", text=text) from exc
        else:
            value, text = self._tool_args(message)
        try:
            return self.spec.validate(value)
        except (ValidationError, ValueError) as exc:
            raise OutputParserError(
                f"Model output does not match {self.spec.name}: {exc}", text=text
            ) from exc

    def _tool_args(self, message: AIMessage) -> tuple[Any, str]:
        for call in message.tool_calls:
            if call["name"] == self.tool_name:
                return call["args"], pydantic_core.to_json(call["args"]).decode()
        for bad in message.invalid_tool_calls:
            if bad["name"] == self.tool_name:
                raise OutputParserError(
                    f"Invalid arguments in the call to {self.tool_name}: {bad['error']}",
                    text=bad["args"] or "",
                )
        raise OutputParserError(
            f"The model did not call {self.tool_name}; it answered {message.content!r}",
            text=message.text,
        )

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        message = _message(input)
        if not self.include_raw:
            return self._value(message)
        try:
            parsed, error = self._value(message), None
        except OutputParserError as exc:
            parsed, error = None, exc
        return {"raw": message, "parsed": parsed, "parsing_error": error}

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[Any]:
        total = ChunkSum()
        last: Any = NOTHING
        async for chunk in chunks:
            if not isinstance(chunk, AIMessageChunk):
                raise TypeError(f"{self.name} expects message chunks, got {chunk!r}")
            total.add(chunk)
            if self.include_raw:
                continue
            partial = self._partial(total.value)
            if partial is not NOTHING and partial != last:
                last = partial
                yield partial
        if not total.started:
            return
        final = await self._acall(total.value.to_message(), config)
        if final != last:
            yield final

    def _partial(self, total: AIMessageChunk) -> Any:
        if self.tool_name is None:
            value = partial_json(total.text)
        else:
            calls = [c for c in total.tool_calls if c["name"] == self.tool_name]
            value = calls[0]["args"] if calls and calls[0]["args"] else NOTHING
        if value is NOTHING or not self.spec.is_model:
            return value
        try:
            return self.spec.validate(value)
        except (ValidationError, ValueError):
            return NOTHING


def _message(value: object) -> AIMessage:
    if isinstance(value, AIMessageChunk):
        return value.to_message()
    if isinstance(value, AIMessage):
        return value
    if isinstance(value, str):
        return AIMessage(content=value)
    raise TypeError(f"StructuredOutputParser expects a message, got {type(value).__name__}")
