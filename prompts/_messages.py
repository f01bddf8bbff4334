"""Chat messages as pydantic models, in LangChain's shapes.

Every message has `content` (a string, or a list of content parts: strings and dicts such as
OpenAI's `image_url` parts or LangChain's standard blocks), `additional_kwargs`,
`response_metadata`, `name` and `id`; `.text` is its text and `.content_blocks` its content as
standard blocks (`prompts._content`). `SystemMessage`, `HumanMessage`, `AIMessage` (with the
model's `tool_calls`, `invalid_tool_calls` and token `usage`), `ToolMessage` (a tool's result),
`ChatMessage` (any `role`) and `FunctionMessage` (the older function-call result).

Streamed pieces are chunks (`BaseMessageChunk`): `AIMessageChunk` here, the others in
`prompts._message_chunks`. Chunks of one class add with `+` (content, `additional_kwargs` and
`response_metadata` merge as LangChain merges them, see `prompts._merge`; an AI chunk's
`tool_call_chunks` add up by index) and `to_message()` makes the whole message.
"""

from __future__ import annotations

import functools
import json
import uuid
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self, TypeAlias, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import core_schema

from prompts._content import ContentBlock, describe_content, to_content_blocks
from prompts._invalid import invalid_argument
from prompts._merge import Content, content_text, merge_content, merge_dicts
from prompts._pretty import pretty_repr
from prompts._tool_calls import (
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
    merge_tool_call_chunks,
    parse_tool_call_chunks,
    tool_call_chunk,
)
from prompts._trusted import SKIPPABLE_VALIDATORS

M = TypeVar("M", bound=BaseModel)


class Usage(BaseModel):
    """Token counts of one model call. Usages add with `+` (details key by key).

    Attributes:
        input_token_details: Parts of `input_tokens`, where the provider reports them, under
            LangChain's keys: `cache_read` (read from the provider's prompt cache, billed at
            the cached price), `cache_creation`, `audio`. None when nothing is known.
        output_token_details: Parts of `output_tokens`: `reasoning`, `audio`. None when
            nothing is known.
    """

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    input_token_details: dict[str, int] | None = None
    output_token_details: dict[str, int] | None = None

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            input_token_details=_add_details(self.input_token_details, other.input_token_details),
            output_token_details=_add_details(
                self.output_token_details, other.output_token_details
            ),
        )

    def as_dict(self) -> dict[str, Any]:
        """The counts in LangChain's `UsageMetadata` shape (details only where known)."""
        out: dict[str, Any] = {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.input_token_details is not None:
            out["input_token_details"] = dict(self.input_token_details)
        if self.output_token_details is not None:
            out["output_token_details"] = dict(self.output_token_details)
        return out


def _add_details(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int] | None:
    if a is None:
        return b
    if b is None:
        return a
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


def _without_type(cls: type[BaseMessage], data: Any) -> Any:
    if type(data) is not dict or "type" not in data:
        return data
    if data["type"] != cls.type:
        raise ValueError(f"type {data['type']!r} is not {cls.__name__}'s ({cls.type!r})")
    return {k: v for k, v in data.items() if k != "type"}


def _check_content(model: str, value: object) -> None:
    """Raise `InvalidArgumentError` unless `value` is content: a str, or a list of str and dict
    parts (as LangChain's messages take)."""
    if isinstance(value, str):
        return
    if isinstance(value, list):
        for i, part in enumerate(value):
            if not isinstance(part, str | dict):
                raise invalid_argument(
                    model, f"content[{i}]", part, "a content part (a str or a dict)"
                )
        return
    raise invalid_argument(model, "content", value, "a str or a list of content parts")


class BaseMessage(BaseModel):
    """A chat message: its `content` (text, or a list of content parts), with LangChain's
    `additional_kwargs` (provider payload), `response_metadata`, `name` and `id`.

    Content may be given positionally (`HumanMessage("hi")`), or as standard content blocks
    (`HumanMessage(content_blocks=[...])`), as LangChain allows.
    """

    model_config = ConfigDict(extra="forbid")

    type: ClassVar[str] = "base"
    _any_content: ClassVar[bool] = False
    """Whether the class takes content of any kind and makes it text (a tool's result)."""

    content: Content
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)
    response_metadata: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    id: str | None = Field(default=None, coerce_numbers_to_str=True)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        # LangChain's messages dump their `type` (a field there, a class constant here): a
        # dict naming this class's type is read without it, so LangChain's dumps load (also as
        # `AnyMessage`, where another class's type rules a class out). Made part of the schema,
        # not a validator, so that `trusted` (whose values never carry a type) skips it.
        schema = {**handler(source)}  # (a copy: pydantic may hand the same schema out again)
        ref = schema.pop("ref", None)  # the model stays one definition of JSON schemas
        return core_schema.no_info_before_validator_function(
            functools.partial(_without_type, source), schema, ref=ref
        )

    def __init__(self, content: Content | None = None, /, **data: Any) -> None:
        if content is not None:
            if "content" in data:
                raise TypeError("content given both positionally and by keyword")
            data["content"] = content
        if "content_blocks" in data:
            blocks = data.pop("content_blocks")
            if blocks is not None:
                if "content" in data:
                    raise TypeError("give either content or content_blocks, not both")
                data["content"] = blocks
        value = data.get("content")
        if type(value) is not str and "content" in data and not self._any_content:
            _check_content(type(self).__name__, value)
        # BaseModel.__init__'s one step, called directly: a frame less on every message made.
        self.__pydantic_validator__.validate_python(data, self_instance=self)

    @model_serializer(mode="wrap")
    def _dump_with_type(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Dumps carry the class's `type`, as LangChain's do: read back (also as `AnyMessage`),
        # a dump is the message it came from, not the first class whose fields fit it.
        data: dict[str, Any] = handler(self)
        data["type"] = self.type
        return data

    @property
    def text(self) -> str:
        """The message's text: the content if a string, else its text parts joined."""
        content = self.content
        return content if type(content) is str else content_text(content)

    @property
    def content_blocks(self) -> list[ContentBlock]:
        """The content as LangChain's standard content blocks (see `prompts._content`)."""
        return to_content_blocks(self.content)

    def pretty_repr(self, html: bool = False) -> str:
        """The message laid out for reading, as LangChain lays it out: a title bar, the
        name, the content (and an AI message's tool calls)."""
        return pretty_repr(self, html=html)

    def pretty_print(self) -> None:
        """Print `pretty_repr()`."""
        print(self.pretty_repr())

    def pretty(self) -> str:
        """`role: content`, for printing (parts that are not text named in brackets)."""
        content = self.content
        return f"{self.type}: {content if type(content) is str else describe_content(content)}"


class SystemMessage(BaseMessage):
    """Instructions for the model."""

    type: ClassVar[str] = "system"
    role: ClassVar[str] = "system"

    if TYPE_CHECKING:  # the signature type checkers see: content may be positional

        def __init__(
            self,
            content: Content | None = None,
            *,
            content_blocks: list[ContentBlock] | None = None,
            additional_kwargs: dict[str, Any] = ...,
            response_metadata: dict[str, Any] = ...,
            name: str | None = None,
            id: str | None = None,
        ) -> None: ...


class HumanMessage(BaseMessage):
    """A message from the user."""

    type: ClassVar[str] = "human"
    role: ClassVar[str] = "user"

    if TYPE_CHECKING:  # the signature type checkers see: content may be positional

        def __init__(
            self,
            content: Content | None = None,
            *,
            content_blocks: list[ContentBlock] | None = None,
            additional_kwargs: dict[str, Any] = ...,
            response_metadata: dict[str, Any] = ...,
            name: str | None = None,
            id: str | None = None,
        ) -> None: ...


class ChatMessage(BaseMessage):
    """A message with any `role`, for roles the other classes do not cover."""

    type: ClassVar[str] = "chat"

    if TYPE_CHECKING:  # the signature type checkers see: content may be positional

        def __init__(
            self,
            content: Content | None = None,
            *,
            content_blocks: list[ContentBlock] | None = None,
            additional_kwargs: dict[str, Any] = ...,
            response_metadata: dict[str, Any] = ...,
            name: str | None = None,
            id: str | None = None,
            role: str,
        ) -> None: ...

    role: str


class FunctionMessage(BaseMessage):
    """The result of a function call in the older function-calling API (`name` is the
    function's); new code answers tool calls with `ToolMessage`."""

    type: ClassVar[str] = "function"
    role: ClassVar[str] = "function"

    if TYPE_CHECKING:  # the signature type checkers see: content may be positional

        def __init__(
            self,
            content: Content | None = None,
            *,
            content_blocks: list[ContentBlock] | None = None,
            additional_kwargs: dict[str, Any] = ...,
            response_metadata: dict[str, Any] = ...,
            name: str,
            id: str | None = None,
        ) -> None: ...

    name: str  # required here


class AIMessage(BaseMessage):
    """A reply from the model, with its tool calls and token usage.

    Attributes:
        tool_calls: The tools the model asks to call, `{"name", "args", "id", "type"}` each.
        invalid_tool_calls: Calls whose arguments were not a JSON object, kept with the raw
            arguments and the error (`{"name", "args", "id", "error", "type"}`).
    """

    type: ClassVar[str] = "ai"
    role: ClassVar[str] = "assistant"

    if TYPE_CHECKING:  # the signature type checkers see: content may be positional

        def __init__(
            self,
            content: Content | None = None,
            *,
            content_blocks: list[ContentBlock] | None = None,
            additional_kwargs: dict[str, Any] = ...,
            response_metadata: dict[str, Any] = ...,
            name: str | None = None,
            id: str | None = None,
            tool_calls: list[ToolCall] = ...,
            invalid_tool_calls: list[InvalidToolCall] = ...,
            usage: Usage | None = None,
            usage_metadata: Usage | dict[str, Any] | None = None,
        ) -> None: ...

    tool_calls: list[ToolCall] = Field(default_factory=list)
    invalid_tool_calls: list[InvalidToolCall] = Field(default_factory=list)
    # `usage_metadata=` is LangChain's name for it (a dict of the same counts).
    usage: Usage | None = Field(None, validation_alias=AliasChoices("usage", "usage_metadata"))

    @property
    def usage_metadata(self) -> dict[str, Any] | None:
        """The token usage in LangChain's shape (`{"input_tokens", "output_tokens",
        "total_tokens"}`, with `input_token_details` / `output_token_details` where known),
        or None: `usage` as a dict (a copy; `usage` is the one source)."""
        usage = self.usage
        return None if usage is None else usage.as_dict()

    @field_validator("tool_calls")
    @classmethod
    def _typed_calls(cls, calls: list[ToolCall]) -> list[ToolCall]:
        # Given as plain dicts ({"name", "args", "id"}), calls get their `type` as LangChain's do.
        # (A field validator runs only when the field is given: free for plain replies.)
        for call in calls:
            call.setdefault("type", "tool_call")
        return calls

    @field_validator("invalid_tool_calls")
    @classmethod
    def _typed_invalid_calls(cls, calls: list[InvalidToolCall]) -> list[InvalidToolCall]:
        for bad in calls:
            bad.setdefault("type", "invalid_tool_call")
        return calls

    @property
    def content_blocks(self) -> list[ContentBlock]:
        """The content as standard blocks, then the tool calls not already among them as
        `tool_call` blocks; `additional_kwargs["reasoning_content"]` (as some providers send
        it) comes first as a `reasoning` block when the content has none."""
        blocks = to_content_blocks(self.content)
        reasoning = self.additional_kwargs.get("reasoning_content")
        if isinstance(reasoning, str) and not any(b["type"] == "reasoning" for b in blocks):
            blocks.insert(0, {"type": "reasoning", "reasoning": reasoning})
        seen = {b.get("id") for b in blocks if b["type"] == "tool_call"}
        for call in self.tool_calls:
            if call["id"] is None or call["id"] not in seen:
                blocks.append(
                    {
                        "type": "tool_call",
                        "id": call["id"],
                        "name": call["name"],
                        "args": call["args"],
                    }
                )
        return blocks

    def pretty(self) -> str:
        """`ai: content`, then one line per tool call."""
        lines = [super().pretty()]
        lines += [
            f"  tool call {c['name']}({json.dumps(c['args'])}) id={c['id']}"
            for c in self.tool_calls
        ]
        lines += [f"  invalid tool call {c['name']}: {c['error']}" for c in self.invalid_tool_calls]
        return "\n".join(lines)


SKIPPABLE_VALIDATORS[AIMessage] = frozenset()  # its validators add each call's `type`


class BaseMessageChunk(BaseMessage):
    """A streamed piece of a message. Chunks of one class add with `+`, as LangChain's do
    (content, `additional_kwargs` and `response_metadata` merge; see `prompts._merge`), and
    `to_message()` makes the whole message they stand for."""

    def _merged(self, other: BaseMessageChunk) -> dict[str, Any]:
        """The fields every chunk class adds the same way."""
        return {
            "content": merge_content(self.content, other.content),
            "additional_kwargs": merge_dicts(self.additional_kwargs, other.additional_kwargs),
            "response_metadata": merge_dicts(self.response_metadata, other.response_metadata),
            "name": self.name or other.name,
            "id": self.id or other.id,
        }

    def __add__(self, other: Self | list[Self]) -> Self:
        if isinstance(other, list):  # LangChain's `chunk + [chunk, ...]`
            total = self
            for item in other:
                total = total + item
            return total
        if type(other) is not type(self):
            if isinstance(other, BaseMessageChunk):
                raise TypeError(
                    f"Cannot add {type(other).__name__} to {type(self).__name__}: "
                    "chunks of different message classes do not add up"
                )
            return NotImplemented
        return type(self)(**self._merged(other), **self._own_sum(other))

    def _own_sum(self, other: Any) -> dict[str, Any]:
        """The sum of the fields this class adds to `BaseMessage`'s."""
        return {}

    def to_message(self) -> BaseMessage:
        """The whole message this chunk (usually a sum of chunks) stands for."""
        raise NotImplementedError(f"{type(self).__name__} does not implement to_message")

    def _whole(self, cls: type[M], **extra: Any) -> M:
        return cls(
            content=self.content,
            additional_kwargs=dict(self.additional_kwargs),
            response_metadata=dict(self.response_metadata),
            name=self.name,
            id=self.id,
            **extra,
        )


class AIMessageChunk(AIMessage, BaseMessageChunk):
    """A streamed piece of an AI message. Chunks add with `+`; `to_message()` makes it whole.

    `tool_call_chunks` hold the streamed pieces of tool calls (`args` as JSON text fragments);
    chunks with the same `index` add up. `tool_calls` shows what the pieces so far parse to
    (partial JSON is read as far as it goes); `to_message()` parses them strictly.
    """

    type: ClassVar[str] = "AIMessageChunk"

    if TYPE_CHECKING:  # the signature type checkers see: content may be positional

        def __init__(
            self,
            content: Content | None = None,
            *,
            content_blocks: list[ContentBlock] | None = None,
            additional_kwargs: dict[str, Any] = ...,
            response_metadata: dict[str, Any] = ...,
            name: str | None = None,
            id: str | None = None,
            tool_calls: list[ToolCall] = ...,
            invalid_tool_calls: list[InvalidToolCall] = ...,
            usage: Usage | None = None,
            usage_metadata: Usage | dict[str, Any] | None = None,
            tool_call_chunks: list[ToolCallChunk] = ...,
        ) -> None: ...

    tool_call_chunks: list[ToolCallChunk] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sync_tool_calls(self) -> AIMessageChunk:
        if not (self.tool_call_chunks or self.tool_calls or self.invalid_tool_calls):
            return self  # the common case: a piece of text
        if self.tool_call_chunks:
            for chunk in self.tool_call_chunks:
                chunk.setdefault("type", "tool_call_chunk")
            if not self.tool_calls and not self.invalid_tool_calls:
                self.tool_calls, self.invalid_tool_calls = parse_tool_call_chunks(
                    self.tool_call_chunks, partial=True
                )
        elif self.tool_calls or self.invalid_tool_calls:
            # A whole message made into one chunk: its calls become chunks, so sums keep them.
            self.tool_call_chunks = [
                tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
                for i, c in enumerate(self.tool_calls)
            ] + [
                tool_call_chunk(name=c["name"], args=c["args"], id=c["id"], index=i)
                for i, c in enumerate(self.invalid_tool_calls, start=len(self.tool_calls))
            ]
        return self

    def _own_sum(self, other: AIMessageChunk) -> dict[str, Any]:
        if self.usage is None:
            usage = other.usage
        elif other.usage is None:
            usage = self.usage
        else:
            usage = self.usage + other.usage
        return {
            "tool_call_chunks": (
                merge_tool_call_chunks(self.tool_call_chunks, other.tool_call_chunks)
                if self.tool_call_chunks or other.tool_call_chunks
                else []
            ),
            "usage": usage,
        }

    def to_message(self) -> AIMessage:
        """The whole `AIMessage` this chunk (usually a sum of chunks) stands for.

        Tool call arguments must now be complete JSON objects; those that are not go to
        `invalid_tool_calls` with the error.
        """
        calls, invalid = parse_tool_call_chunks(self.tool_call_chunks, partial=False)
        return self._whole(
            AIMessage, tool_calls=calls, invalid_tool_calls=invalid, usage=self.usage
        )


# A chunk's validator only syncs its tool calls with their chunks: a piece of text needs none.
SKIPPABLE_VALIDATORS[AIMessageChunk] = frozenset(
    {"tool_call_chunks", "tool_calls", "invalid_tool_calls"}
)


class ToolMessage(BaseMessage):
    """A tool's result, sent back to the model in answer to one of its tool calls.

    Attributes:
        tool_call_id: The `id` of the tool call this answers.
        status: `"success"`, or `"error"` when the content describes the tool's failure.
        artifact: The tool's full output, when `content` is only what the model should see
            (never sent to the model).
    """

    type: ClassVar[str] = "tool"
    role: ClassVar[str] = "tool"

    if TYPE_CHECKING:  # the signature type checkers see: content may be positional

        def __init__(
            self,
            content: Content | None = None,
            *,
            content_blocks: list[ContentBlock] | None = None,
            additional_kwargs: dict[str, Any] = ...,
            response_metadata: dict[str, Any] = ...,
            name: str | None = None,
            id: str | None = None,
            tool_call_id: str,
            status: Literal["success", "error"] = "success",
            artifact: Any = None,
        ) -> None: ...

    tool_call_id: str
    status: Literal["success", "error"] = "success"
    artifact: Any = None

    _any_content: ClassVar[bool] = True

    @field_validator("content", mode="before")
    @classmethod
    def _content_as_text(cls, content: Any) -> Any:
        # A tool's raw result (a number, a dict) is sent as its text, as LangChain does.
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return [p if isinstance(p, str | dict) else str(p) for p in content]
        return str(content)

    @field_validator("tool_call_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float | uuid.UUID) else value


AnyMessage: TypeAlias = (
    SystemMessage | HumanMessage | AIMessage | ToolMessage | ChatMessage | FunctionMessage
)
"""Any concrete message, as schemas list them (a chunk is an instance of its message class)."""


MESSAGE_TYPES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "human": HumanMessage,
    "user": HumanMessage,
    "ai": AIMessage,
    "assistant": AIMessage,
}
"""The message class of each role a `(role, text)` pair may name."""
