"""`MessagesPlaceholder`: a slot in a chat prompt for a list of messages given at format time."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prompts._message_templates import BaseMessagePromptTemplate, title_line
from prompts._message_utils import convert_to_messages
from prompts._messages import BaseMessage
from prompts._template import MissingVariablesError, unexpected_keys

_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class MessagesPlaceholder(BaseMessagePromptTemplate):
    """A slot for a list of messages given at format time, such as a chat history.

    The variable's value must be a list of messages or of message-like values (`(role, text)`
    pairs, `{"role": ..., "content": ...}` dicts, strings, as `convert_to_messages` reads them);
    the messages are inserted as they are (their text is not templated).

    Args:
        variable_name: The variable holding the messages.
        optional: If true, a missing variable inserts no messages instead of raising.
        n_messages: If set, only the last `n_messages` messages are inserted.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: `variable_name` is empty or `n_messages` is not positive.
    """

    variable_name: str
    optional: bool = False
    n_messages: int | None = None

    def __post_init__(self) -> None:
        name = self.variable_name
        if not isinstance(name, str):
            raise TypeError(
                f'Invalid "variable_name" argument: expected a str, got {type(name).__name__} '
                f"{name!r}"
            )
        if not name:
            raise ValueError('Invalid "variable_name" argument: expected a name, got an empty str')
        if not isinstance(self.optional, bool):
            raise TypeError(f'Invalid "optional" argument: expected a bool, got {self.optional!r}')
        n = self.n_messages
        if n is not None and (not isinstance(n, int) or isinstance(n, bool)):
            raise TypeError(f'Invalid "n_messages" argument: expected an int, got {n!r}')
        if n is not None and n < 1:
            raise ValueError(f'Invalid "n_messages" argument: expected at least 1, got {n!r}')

    @property
    def input_variables(self) -> list[str]:
        """The variable's name, unless the placeholder is optional."""
        return [] if self.optional else [self.variable_name]

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """The messages held by the variable (a new list).

        Raises:
            MissingVariablesError: The variable is missing and the placeholder is not optional.
            TypeError: The value is not a list of messages or message-like values.
            ValueError: An item has an unknown role.
        """
        out: list[BaseMessage] = []
        try:
            self._append_to(kwargs, out)
        except KeyError:
            if self.variable_name in kwargs:
                raise
            name = [self.variable_name]
            raise MissingVariablesError(name, name, unexpected_keys(kwargs, name)) from None
        return out

    def _append_to(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        if self.optional:
            value = values.get(self.variable_name, _MISSING)
            if value is _MISSING:
                return
        else:
            value = values[self.variable_name]
        messages = to_messages(value, self.variable_name)
        out.extend(messages if self.n_messages is None else messages[-self.n_messages :])

    def pretty_repr(self, html: bool = False) -> str:
        """A title line, then the variable as `{name}`."""
        return f"{title_line('Messages Placeholder')}\n\n{{{self.variable_name}}}"


def to_messages(value: object, variable: str) -> list[BaseMessage]:
    """The messages of a placeholder's value.

    Args:
        value: A list (or tuple) of messages or message-like values.
        variable: The placeholder's variable, for error messages.

    Raises:
        TypeError: `value` or one of its items has the wrong type.
        ValueError: An item has an unknown role.
    """
    if not isinstance(value, list | tuple):
        raise TypeError(
            f"Variable {variable!r} of a MessagesPlaceholder must be a list of messages or "
            f"(role, text) tuples, got {type(value).__name__} {value!r}"
        )
    messages: list[BaseMessage] = []
    for i, item in enumerate(value):
        if isinstance(item, BaseMessage):
            messages.append(item)
        elif isinstance(item, str | dict) or (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str | list)
        ):
            # Read as convert_to_messages reads them, by its one role table (LangChain's
            # placeholder reads every role it does: tool, developer, function too).
            try:
                messages.extend(convert_to_messages([item]))
            except ValueError as exc:
                raise ValueError(
                    f"Variable {variable!r} of a MessagesPlaceholder: item {i} {item!r}: {exc}"
                ) from None
        else:
            raise TypeError(
                f"Variable {variable!r} of a MessagesPlaceholder must be a list of messages, "
                f"(role, content) tuples, strings or message dicts; item {i} is "
                f"{type(item).__name__} {item!r}"
            )
    return messages
