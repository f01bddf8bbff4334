"""Chat messages as pydantic models.

`SystemMessage`, `HumanMessage` and `AIMessage` carry `content`; `AIMessage` also carries token
`usage` and `response_metadata` when the model reports them. `AIMessageChunk`s (streamed pieces
of an AI message) add with `+` and turn into a whole message with `to_message()`.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeAlias

from pydantic import BaseModel, ConfigDict, Field


class Usage(BaseModel):
    """Token counts of one model call. Usages add with `+`."""

    model_config = ConfigDict(frozen=True)

    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
        )


class BaseMessage(BaseModel):
    """A chat message: a role (`type`) and text `content`.

    Content may be given positionally: `HumanMessage("hi")`.
    """

    model_config = ConfigDict(extra="forbid")

    type: ClassVar[str] = "base"
    role: ClassVar[str] = "user"

    content: str
    name: str | None = None
    id: str | None = None

    def __init__(self, content: str | None = None, /, **data: Any) -> None:
        if content is not None:
            if "content" in data:
                raise TypeError("content given both positionally and by keyword")
            data["content"] = content
        super().__init__(**data)

    @property
    def text(self) -> str:
        """The message's text content."""
        return self.content

    def pretty(self) -> str:
        """`role: content`, for printing."""
        return f"{self.type}: {self.content}"


class SystemMessage(BaseMessage):
    """Instructions for the model."""

    type: ClassVar[str] = "system"
    role: ClassVar[str] = "system"


class HumanMessage(BaseMessage):
    """A message from the user."""

    type: ClassVar[str] = "human"
    role: ClassVar[str] = "user"


class AIMessage(BaseMessage):
    """A reply from the model, with token usage and response metadata when known."""

    type: ClassVar[str] = "ai"
    role: ClassVar[str] = "assistant"

    usage: Usage | None = None
    response_metadata: dict[str, Any] = Field(default_factory=dict)


class AIMessageChunk(AIMessage):
    """A streamed piece of an AI message. Chunks add with `+`; `to_message()` makes it whole."""

    type: ClassVar[str] = "AIMessageChunk"

    def __add__(self, other: AIMessageChunk) -> AIMessageChunk:
        if not isinstance(other, AIMessageChunk):
            return NotImplemented
        if self.usage is None:
            usage = other.usage
        elif other.usage is None:
            usage = self.usage
        else:
            usage = self.usage + other.usage
        return AIMessageChunk(
            content=self.content + other.content,
            name=self.name or other.name,
            id=self.id or other.id,
            usage=usage,
            response_metadata={**self.response_metadata, **other.response_metadata},
        )

    def to_message(self) -> AIMessage:
        """The whole `AIMessage` this chunk (usually a sum of chunks) stands for."""
        return AIMessage(
            content=self.content,
            name=self.name,
            id=self.id,
            usage=self.usage,
            response_metadata=dict(self.response_metadata),
        )


AnyMessage: TypeAlias = SystemMessage | HumanMessage | AIMessage
"""Any concrete message, as schemas list them (a chunk is an `AIMessage`)."""

MESSAGE_TYPES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "human": HumanMessage,
    "user": HumanMessage,
    "ai": AIMessage,
    "assistant": AIMessage,
}
