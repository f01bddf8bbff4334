"""The parts of a chat prompt: `MessageTemplate` (one templated message) and `MessagesPlaceholder`.

A `MessageTemplate` is a role and an f-string template: formatting it gives one message of that
role. A `MessagesPlaceholder` names a variable holding a list of messages (a chat history), which
is inserted as is. `ChatPromptTemplate` chains these; each part can also be formatted on its own.

Roles are `system`, `human`/`user` and `ai`/`assistant`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prompts._messages import MESSAGE_TYPES, BaseMessage, trusted
from prompts._template import FStringTemplate, MissingVariablesError, unexpected_keys

ROLES: list[str] = sorted(MESSAGE_TYPES)
_MISSING: Any = object()


def message_class(role: object, *, where: str, allowed: list[str] = ROLES) -> type[BaseMessage]:
    """The message class for a role name.

    Args:
        role: `system`, `human`, `user`, `ai` or `assistant`.
        where: Where the role was found, for error messages.
        allowed: The roles to list in the error message.

    Raises:
        TypeError: `role` is not a str.
        ValueError: `role` is not a known role.
    """
    if not isinstance(role, str):
        raise TypeError(f"Invalid role in {where}: expected a str, got {type(role).__name__}")
    cls = MESSAGE_TYPES.get(role)
    if cls is None:
        raise ValueError(f"Unknown message role {role!r} in {where}; expected one of {allowed!r}")
    return cls


class MessageTemplate:
    """One chat message with `{variable}` fields, e.g. `MessageTemplate("human", "About {topic}")`.

    Args:
        role: `system`, `human`/`user` or `ai`/`assistant`.
        template: The f-string template of the message's content.

    Attributes:
        role: The role as given.
        template: The template text.
        input_variables: Its variables, in order of first appearance.

    Raises:
        TypeError: `role` or `template` is not a str.
        ValueError: Unknown role, or a malformed template.
    """

    __slots__ = ("_cls", "_template", "input_variables", "role", "template")

    def __init__(self, role: str, template: str) -> None:
        self._setup(role, template, where='the "role" argument', param="template")

    @classmethod
    def _create(
        cls, role: object, template: object, *, where: str, param: str, allowed: list[str]
    ) -> MessageTemplate:
        self = cls.__new__(cls)
        self._setup(role, template, where=where, param=param, allowed=allowed)
        return self

    def _setup(
        self,
        role: object,
        template: object,
        *,
        where: str,
        param: str,
        allowed: list[str] = ROLES,
    ) -> None:
        self._cls = message_class(role, where=where, allowed=allowed)
        self._template = FStringTemplate(template, param=param)
        self.role: str = role  # type: ignore[assignment]  # checked by message_class
        self.template: str = self._template.template
        self.input_variables = list(self._template.variables)

    def __repr__(self) -> str:
        return f"MessageTemplate({self.role!r}, {self.template!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageTemplate):
            return NotImplemented
        return self._cls is other._cls and self.template == other.template

    __hash__ = None  # type: ignore[assignment]

    def format(self, **kwargs: Any) -> BaseMessage:
        """The message with the variables filled in.

        Raises:
            MissingVariablesError: A variable is missing.
        """
        return self._cls(content=self._template.render(kwargs))

    def _append_to(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        # The rendered text is a str: no need to validate it (`trusted` is about 3x cheaper
        # than the validating constructor; pydantic's model_construct is slower than both).
        out.append(trusted(self._cls, content=self._template.render(values)))


@dataclass(frozen=True, slots=True)
class MessagesPlaceholder:
    """A slot for a list of messages given at format time, such as a chat history.

    The variable's value must be a list of messages or of `(role, text)` tuples; the messages are
    inserted as they are (their text is not templated).

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
            TypeError: The value is not a list of messages or `(role, text)` tuples.
            ValueError: A tuple has an unknown role.
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


def to_messages(value: object, variable: str) -> list[BaseMessage]:
    """The messages of a placeholder's value.

    Args:
        value: A list (or tuple) of messages or `(role, text)` tuples.
        variable: The placeholder's variable, for error messages.

    Raises:
        TypeError: `value` or one of its items has the wrong type.
        ValueError: A tuple has an unknown role.
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
        elif (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], str)
        ):
            cls = message_class(item[0], where=f"item {i} of variable {variable!r}")
            messages.append(cls(content=item[1]))
        else:
            raise TypeError(
                f"Variable {variable!r} of a MessagesPlaceholder must be a list of messages or "
                f"(role, text) tuples; item {i} is {type(item).__name__} {item!r}"
            )
    return messages
