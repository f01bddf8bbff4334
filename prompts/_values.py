"""Prompt values: what a prompt template produces and a chat model consumes.

A `PromptValue` can be read two ways, so one template can feed a chat model or a text model:

- `to_messages()`: a list of chat messages;
- `to_string()`: one string.

`StringPromptValue` holds text (as one human message when read as messages). `ChatPromptValue`
holds messages (as a transcript, `"System: ...\\nHuman: ...\\nAI: ..."`, when read as a string).
Values are immutable dataclasses: cheap to build on the hot path, comparable with `==`, picklable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from prompts._messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from prompts._xml_transcript import xml_entry


class PromptValue(ABC):
    """The output of a prompt template, readable as messages or as a string."""

    __slots__ = ()

    @abstractmethod
    def to_string(self) -> str:
        """The prompt as one string."""

    @abstractmethod
    def to_messages(self) -> list[BaseMessage]:
        """The prompt as a new list of chat messages."""


@dataclass(frozen=True, slots=True)
class StringPromptValue(PromptValue):
    """A prompt made of text, as produced by `PromptTemplate`.

    Args:
        text: The formatted prompt.

    Raises:
        TypeError: `text` is not a str.
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(
                f'Invalid "text" argument: expected a str, got {type(self.text).__name__} '
                f"{self.text!r}"
            )

    def to_string(self) -> str:
        """The text itself."""
        return self.text

    def to_messages(self) -> list[BaseMessage]:
        """The text as a single `HumanMessage`."""
        return [HumanMessage(content=self.text)]


@dataclass(frozen=True, slots=True)
class ChatPromptValue(PromptValue):
    """A prompt made of chat messages, as produced by `ChatPromptTemplate`.

    Args:
        messages: The formatted messages, in order.

    Raises:
        TypeError: `messages` is not a list of `BaseMessage`.
    """

    messages: list[BaseMessage]

    def __post_init__(self) -> None:
        # A plain loop: this runs on every chat prompt call, and all(<genexpr>) costs 2x more.
        messages = self.messages
        ok = isinstance(messages, list)
        if ok:
            for message in messages:
                if not isinstance(message, BaseMessage):
                    ok = False
                    break
        if not ok:
            raise TypeError(
                'Invalid "messages" argument: expected a list of messages, got '
                f"{type(messages).__name__} {messages!r}"
            )

    @classmethod
    def _of(cls, messages: list[BaseMessage]) -> ChatPromptValue:
        """A value of messages a template just made (known to be a list of messages): the
        check in `__post_init__` is skipped on this hot path."""
        value = object.__new__(cls)
        object.__setattr__(value, "messages", messages)
        return value

    def to_string(self) -> str:
        """The messages as a transcript: one `Role: content` line per message."""
        return get_buffer_string(self.messages)

    def to_messages(self) -> list[BaseMessage]:
        """A new list holding the messages (the value itself is not changed through it)."""
        return list(self.messages)


def get_buffer_string(
    messages: Sequence[BaseMessage],
    human_prefix: str = "Human",
    ai_prefix: str = "AI",
    *,
    system_prefix: str = "System",
    function_prefix: str = "Function",
    tool_prefix: str = "Tool",
    message_separator: str = "\n",
    format: Literal["prefix", "xml"] = "prefix",
) -> str:
    """Render messages as a transcript, one `Role: text` entry per message, as LangChain does.

    The text is the message's `.text` (the text parts of list content; images and other parts
    are left out). An AI message's tool calls follow its text, as their `str`. A
    `ChatMessage` is labelled with its role; any other message type by its `type`.

    Args:
        messages: The messages to render.
        human_prefix: Label of human messages.
        ai_prefix: Label of AI messages (chunks included).
        system_prefix: Label of system messages.
        function_prefix: Label of function messages.
        tool_prefix: Label of tool messages.
        message_separator: What goes between two entries.
        format: `"prefix"` for `Role: text` entries; `"xml"` for one
            `<message type="role">` element each (the labels lowercased, text escaped, see
            `prompts._xml_transcript`), when the text may itself look like a role prefix.

    Returns:
        The entries joined with `message_separator` (an empty string for no messages).

    Raises:
        ValueError: `format` is neither.
    """
    if format not in ("prefix", "xml"):
        raise ValueError(f'Invalid "format" argument: {format!r}; expected "prefix" or "xml"')
    lines = []
    for message in messages:
        if isinstance(message, HumanMessage):
            role = human_prefix
        elif isinstance(message, AIMessage):
            role = ai_prefix
        elif isinstance(message, SystemMessage):
            role = system_prefix
        elif isinstance(message, ToolMessage):
            role = tool_prefix
        elif isinstance(message, FunctionMessage):
            role = function_prefix
        elif isinstance(message, ChatMessage):
            role = message.role
        else:
            role = message.type
        if format == "xml":
            label = role if isinstance(message, ChatMessage) else role.lower()
            lines.append(xml_entry(message, label))
            continue
        line = f"{role}: {message.text}"
        if isinstance(message, AIMessage):
            if message.tool_calls:
                line += str(message.tool_calls)
            elif "function_call" in message.additional_kwargs:
                line += str(message.additional_kwargs["function_call"])
        lines.append(line)
    return message_separator.join(lines)
