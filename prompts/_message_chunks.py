"""Streamed pieces of the messages other than AI replies, as LangChain has them.

Each adds with `+` to a chunk of its own class (see `BaseMessageChunk`) and has the whole
message it stands for in `to_message()`. A `ChatMessageChunk` adds only to one of the same
`role`, a `ToolMessageChunk` to one answering the same tool call, a `FunctionMessageChunk` to
one of the same function: otherwise a ValueError, as in LangChain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from prompts._merge import merge_dicts, merge_lists
from prompts._messages import (
    BaseMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

if TYPE_CHECKING:
    from prompts._content import ContentBlock
    from prompts._merge import Content

__all__ = [
    "ChatMessageChunk",
    "FunctionMessageChunk",
    "HumanMessageChunk",
    "SystemMessageChunk",
    "ToolMessageChunk",
]


class HumanMessageChunk(HumanMessage, BaseMessageChunk):
    """A streamed piece of a human message."""

    type: ClassVar[str] = "HumanMessageChunk"

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

    def to_message(self) -> HumanMessage:
        """The whole `HumanMessage`."""
        return self._whole(HumanMessage)


class SystemMessageChunk(SystemMessage, BaseMessageChunk):
    """A streamed piece of a system message."""

    type: ClassVar[str] = "SystemMessageChunk"

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

    def to_message(self) -> SystemMessage:
        """The whole `SystemMessage`."""
        return self._whole(SystemMessage)


class ChatMessageChunk(ChatMessage, BaseMessageChunk):
    """A streamed piece of a message with any `role`; pieces of one role add up."""

    type: ClassVar[str] = "ChatMessageChunk"

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

    def _own_sum(self, other: ChatMessageChunk) -> dict[str, Any]:
        _same(self, other, "role", "with different roles")
        return {"role": self.role}

    def to_message(self) -> ChatMessage:
        """The whole `ChatMessage`."""
        return self._whole(ChatMessage, role=self.role)


class FunctionMessageChunk(FunctionMessage, BaseMessageChunk):
    """A streamed piece of a function's result; pieces of one function add up."""

    type: ClassVar[str] = "FunctionMessageChunk"

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

    def _own_sum(self, other: FunctionMessageChunk) -> dict[str, Any]:
        _same(self, other, "name", "with different names")
        return {}

    def to_message(self) -> FunctionMessage:
        """The whole `FunctionMessage`."""
        return self._whole(FunctionMessage)


class ToolMessageChunk(ToolMessage, BaseMessageChunk):
    """A streamed piece of a tool's result; pieces answering one tool call add up.

    Artifacts add as LangChain's do (strings concatenate, dicts and lists merge, equal values
    stay); the status is `"error"` if either piece's is.
    """

    type: ClassVar[str] = "ToolMessageChunk"

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

    def _own_sum(self, other: ToolMessageChunk) -> dict[str, Any]:
        _same(self, other, "tool_call_id", "answering different tool calls")
        status: Literal["success", "error"] = (
            "error" if "error" in (self.status, other.status) else "success"
        )
        return {
            "tool_call_id": self.tool_call_id,
            "artifact": _merge_artifacts(self.artifact, other.artifact),
            "status": status,
        }

    def to_message(self) -> ToolMessage:
        """The whole `ToolMessage`."""
        return self._whole(
            ToolMessage, tool_call_id=self.tool_call_id, status=self.status, artifact=self.artifact
        )


def _same(left: BaseMessageChunk, right: BaseMessageChunk, field: str, what: str) -> None:
    """Pieces of one message only: `field` must be equal on both, or a ValueError."""
    mine, theirs = getattr(left, field), getattr(right, field)
    if mine != theirs:
        raise ValueError(f"Cannot add {type(left).__name__}s {what}: {mine!r} and {theirs!r}")


def _merge_artifacts(left: Any, right: Any) -> Any:
    if left is None or right is None:
        return right if left is None else left
    if type(left) is not type(right):
        raise TypeError(f"Cannot add artifacts of different types: {left!r} and {right!r}")
    if isinstance(left, str):
        return left + right
    if isinstance(left, dict):
        return merge_dicts(left, right)
    if isinstance(left, list):
        return merge_lists(left, right)
    if left == right:
        return left
    raise ValueError(f"Cannot add artifacts {left!r} and {right!r}")
