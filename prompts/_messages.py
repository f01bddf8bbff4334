"""Chat messages as pydantic models.

`SystemMessage`, `HumanMessage` and `AIMessage` carry `content`; `AIMessage` also carries token
`usage` and `response_metadata` when the model reports them. `AIMessageChunk`s (streamed pieces
of an AI message) add with `+` and turn into a whole message with `to_message()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import PydanticUndefined

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
_set = object.__setattr__
_IMMUTABLE = (type(None), str, int, float, bool, tuple, frozenset)
_Plan: TypeAlias = tuple[frozenset[str], dict[str, Any], tuple[tuple[str, Callable[[], Any]], ...]]
_plans: dict[type[BaseModel], _Plan | None] = {}


def _plan(cls: type[BaseModel]) -> _Plan | None:
    """How `trusted` fills the fields of `cls`: the required ones, every field's default in
    field order, the default factories (None: it cannot, use the constructor)."""
    decorators = cls.__pydantic_decorators__
    if (
        decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
        or cls.__pydantic_post_init__ is not None
    ):
        return None
    required: set[str] = set()
    template: dict[str, Any] = {}
    factories: list[tuple[str, Callable[[], Any]]] = []
    for name, field in cls.model_fields.items():
        template[name] = None if field.default is PydanticUndefined else field.default
        if field.default_factory is not None:
            factories.append((name, field.default_factory))  # type: ignore[arg-type]
        elif field.default is PydanticUndefined:
            required.add(name)
        elif not isinstance(field.default, _IMMUTABLE):
            return None  # a mutable default pydantic would copy
    return frozenset(required), template, tuple(factories)


def trusted(cls: type[M], /, **values: Any) -> M:
    """An instance of a model from values known to be valid, without validating them again.

    For internal hot paths (a prompt's rendered text, an offline model's reply), where the
    values are built by our own code with the right types. A model with validators, a
    `model_post_init` or a mutable default goes through its constructor instead.
    """
    plan = _plans[cls] if cls in _plans else _plans.setdefault(cls, _plan(cls))
    if plan is None or not plan[0] <= values.keys():
        return cls(**values)  # (a required field missing: the constructor says so)
    data = plan[1].copy()  # field order, as pydantic keeps it; `update` keeps the order
    data.update(values)
    for name, factory in plan[2]:
        if name not in values:
            data[name] = factory()
    model = _new(cls)
    _set(model, "__dict__", data)
    _set(model, "__pydantic_fields_set__", set(values))
    _set(model, "__pydantic_extra__", None)
    _set(model, "__pydantic_private__", None)
    return model


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
