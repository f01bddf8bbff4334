"""`ChatPromptTemplate`: a list of message templates, fixed messages and placeholders.

`ChatPromptTemplate.from_messages([...])` takes, in any order:

- `(role, template)` tuples, with roles `system`, `human`/`user`, `ai`/`assistant`: templated;
- `("placeholder", "{name}")`: an optional `MessagesPlaceholder("name", optional=True)`;
- a plain str: a human message template;
- message objects (`SystemMessage(...)`, ...): inserted as they are, never templated;
- `MessageTemplate` and `MessagesPlaceholder` objects.

Formatting produces a `ChatPromptValue` whose messages come in the declared order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from prompts._message_templates import ROLES, MessagesPlaceholder, MessageTemplate
from prompts._messages import AnyMessage, BaseMessage
from prompts._prompt import BasePromptTemplate
from prompts._template import FStringTemplate
from prompts._values import ChatPromptValue

MessageLike: TypeAlias = BaseMessage | MessageTemplate | MessagesPlaceholder | tuple[str, str] | str
"""What `ChatPromptTemplate.from_messages` accepts as one entry."""

_ENTRY_ROLES = sorted([*ROLES, "placeholder"])


class _FixedMessage:
    """A message inserted as is (a step of the format loop, like the templates)."""

    __slots__ = ("message",)

    def __init__(self, message: BaseMessage) -> None:
        self.message = message

    def _append_to(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        out.append(self.message)


_Step: TypeAlias = _FixedMessage | MessageTemplate | MessagesPlaceholder


class ChatPromptTemplate(BasePromptTemplate[ChatPromptValue]):
    """A chat prompt: produces a `ChatPromptValue` holding one message per entry.

    Args:
        messages: The entries (see the module docstring for the accepted forms).
        partial_variables: Variables fixed now, as with `partial`.

    Attributes:
        messages: The entries, each a `BaseMessage`, `MessageTemplate` or `MessagesPlaceholder`.

    Raises:
        TypeError: `messages` is not a list, or an entry has the wrong type; the message shows
            the entry and its index.
        ValueError: Unknown role (the message lists the allowed ones), or a malformed template.

    Example:
        >>> prompt = ChatPromptTemplate.from_messages(
        ...     [("system", "You explain {topic}."), ("human", "{question}")]
        ... )
        >>> prompt.format(topic="space", question="Why is it dark?")
        'System: You explain space.\\nHuman: Why is it dark?'
    """

    messages: list[BaseMessage | MessageTemplate | MessagesPlaceholder]

    def __init__(
        self,
        messages: Sequence[MessageLike],
        *,
        partial_variables: Mapping[str, Any] | None = None,
    ) -> None:
        if not isinstance(messages, list | tuple):
            raise TypeError(
                'Invalid "messages" argument: expected a list of (role, template) tuples, '
                f"messages or placeholders, got {type(messages).__name__} {messages!r}"
            )
        self.messages = [_coerce_entry(entry, i) for i, entry in enumerate(messages)]
        self._steps: tuple[_Step, ...] = tuple(
            _FixedMessage(e) if isinstance(e, BaseMessage) else e for e in self.messages
        )
        variables: list[str] = []
        required: set[str] = set()
        optional: set[str] = set()
        for entry in self.messages:
            if isinstance(entry, MessageTemplate):
                variables.extend(entry.input_variables)
                required.update(entry.input_variables)
            elif isinstance(entry, MessagesPlaceholder):
                variables.append(entry.variable_name)
                (optional if entry.optional else required).add(entry.variable_name)
        self._set_variables(list(dict.fromkeys(variables)), optional - required, partial_variables)

    @classmethod
    def from_messages(
        cls,
        messages: Sequence[MessageLike],
        *,
        partial_variables: Mapping[str, Any] | None = None,
    ) -> ChatPromptTemplate:
        """A chat prompt from a list of entries (see the class docstring)."""
        return cls(messages, partial_variables=partial_variables)

    @classmethod
    def from_template(
        cls, template: str, *, partial_variables: Mapping[str, Any] | None = None
    ) -> ChatPromptTemplate:
        """A chat prompt holding one human message with this template."""
        if not isinstance(template, str):
            raise TypeError(
                f'Invalid "template" argument: expected a str, got {type(template).__name__} '
                f"{template!r}"
            )
        return cls([("human", template)], partial_variables=partial_variables)

    def __repr__(self) -> str:
        return f"ChatPromptTemplate(messages={self.messages!r})"

    def _variable_types(self) -> dict[str, Any]:
        return {
            m.variable_name: list[AnyMessage | tuple[str, str]]
            for m in self.messages
            if isinstance(m, MessagesPlaceholder)
        }

    def _format(self, values: Mapping[str, Any]) -> ChatPromptValue:
        out: list[BaseMessage] = []
        for step in self._steps:
            step._append_to(values, out)
        return ChatPromptValue._of(out)

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """Fill in the variables and return the messages.

        Raises:
            MissingVariablesError: A required variable is missing.
        """
        return self._render(kwargs).messages

    def format(self, **kwargs: Any) -> str:
        """Fill in the variables and return the messages as a transcript (`"Human: ..."`)."""
        return self._render(kwargs).to_string()


def _coerce_entry(entry: object, index: int) -> BaseMessage | MessageTemplate | MessagesPlaceholder:
    if isinstance(entry, BaseMessage | MessageTemplate | MessagesPlaceholder):
        return entry
    where = f"messages[{index}]"
    if isinstance(entry, str):
        return MessageTemplate._create(
            "human", entry, where=where, param=where, allowed=_ENTRY_ROLES
        )
    if isinstance(entry, tuple | list) and len(entry) == 2:
        role, template = entry
        shown = f"{where} {entry!r}"
        if role == "placeholder":
            return _placeholder(template, shown)
        return MessageTemplate._create(
            role, template, where=shown, param=f"{where} template", allowed=_ENTRY_ROLES
        )
    raise TypeError(
        f'Invalid "messages" entry at index {index}: expected a (role, template) tuple, a '
        f"message, a MessageTemplate or a MessagesPlaceholder, got {type(entry).__name__} "
        f"{entry!r}"
    )


def _placeholder(template: object, shown: str) -> MessagesPlaceholder:
    name = FStringTemplate(template, param=f"{shown} template").single_variable
    if name is None:
        raise ValueError(
            f"Invalid placeholder {shown}: the template must be one variable, like '{{history}}'"
        )
    return MessagesPlaceholder(name, optional=True)
