"""`ChatPromptTemplate`: a list of message templates, fixed messages and placeholders.

`ChatPromptTemplate.from_messages([...])` (or `ChatPromptTemplate([...])`) takes, in any order:

- `(role, template)` pairs, roles `system`, `human`/`user`, `ai`/`assistant`; the template is a
  string or a list of content parts (text, `image_url`, other dicts: see `prompts._multipart`);
- `(MessageClass, template)`: `SystemMessage`, `HumanMessage` or `AIMessage` name their role;
  `(HumanMessagePromptTemplate, template)` and the other template classes build one;
- `{"role": ..., "content": ...}` dicts (exactly these keys), read as a pair;
- `("placeholder", "{name}")`: an optional `MessagesPlaceholder("name", optional=True)`;
  `("placeholder", ["{name}", False])` makes it required;
- a plain str: a human message template;
- message objects (`SystemMessage(...)`, ...): inserted as they are, never templated;
- message templates, `MessagesPlaceholder`s, and other chat prompts (their entries in place).

`template_format` applies to every template given as text. Formatting produces a
`ChatPromptValue` whose messages come in the declared order. Prompts concatenate with `+`
(another prompt, a message, a template, a str, a pair or a list of entries), index like lists
(`prompt[0]` is an entry, `prompt[1:]` a new prompt) and grow with `append` / `extend`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias, overload

from prompts._message_templates import (
    KIND_TEMPLATES,
    ROLES,
    BaseMessagePromptTemplate,
    MessageTemplate,
    title_line,
)
from prompts._messages import AnyMessage, BaseMessage
from prompts._multipart import PartsTemplate
from prompts._mustache import MustacheTemplate, schema_types
from prompts._placeholder import MessagesPlaceholder
from prompts._prompt import BasePromptTemplate, _check_declared
from prompts._template import PromptTemplateFormat, check_template_format
from prompts._values import ChatPromptValue

MessageLike: TypeAlias = (
    "BaseMessage | BaseMessagePromptTemplate | ChatPromptTemplate"
    " | tuple[str | type, str | Sequence[Any]] | dict[str, Any] | str"
)
"""What `ChatPromptTemplate.from_messages` accepts as one entry."""

Entry: TypeAlias = "BaseMessage | BaseMessagePromptTemplate | ChatPromptTemplate"

_ENTRY_ROLES = sorted([*ROLES, "placeholder"])
_DICT_KEYS = frozenset({"role", "content"})


class _FixedMessage:
    """A message inserted as is (a step of the format loop, like the templates)."""

    __slots__ = ("message",)

    def __init__(self, message: BaseMessage) -> None:
        self.message = message

    def _append_to(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        out.append(self.message)


class _Nested:
    """A chat prompt inside another: its messages, with its own partial variables."""

    __slots__ = ("prompt",)

    def __init__(self, prompt: ChatPromptTemplate) -> None:
        self.prompt = prompt

    def _append_to(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        prompt = self.prompt
        if prompt.partial_variables:
            values = prompt._with_partials(values)
        prompt._format_into(values, out)


_Step: TypeAlias = _FixedMessage | _Nested | BaseMessagePromptTemplate


class ChatPromptTemplate(BasePromptTemplate[ChatPromptValue]):
    """A chat prompt: produces a `ChatPromptValue` holding one message per entry.

    Args:
        messages: The entries (see the module docstring for the accepted forms).
        template_format: The format of the templates given as text: `"f-string"` (the
            default), `"mustache"` or `"jinja2"`.
        partial_variables: Variables fixed now, as with `partial`.
        input_variables: Optional, for LangChain compatibility; inferred from the entries. If
            given, it must name the same variables (optional placeholders' may be listed).

    Attributes:
        messages: The entries, each a message, a message template, a `MessagesPlaceholder` or
            a chat prompt.

    Raises:
        TypeError: `messages` is not a list, or an entry has the wrong type; the message shows
            the entry and its index.
        ValueError: Unknown role or template format (the message lists the allowed ones), a
            malformed template, or `input_variables` that do not match the entries'.

    Example:
        >>> prompt = ChatPromptTemplate.from_messages(
        ...     [("system", "You explain {topic}."), ("human", "{question}")]
        ... )
        >>> prompt.format(topic="space", question="Why is it dark?")
        'System: You explain space.\\nHuman: Why is it dark?'
    """

    messages: list[Entry]

    def __init__(
        self,
        messages: Sequence[MessageLike],
        *,
        template_format: PromptTemplateFormat = "f-string",
        partial_variables: Mapping[str, Any] | None = None,
        input_variables: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(messages, list | tuple):
            raise TypeError(
                'Invalid "messages" argument: expected a list of (role, template) tuples, '
                f"messages or placeholders, got {type(messages).__name__} {messages!r}"
            )
        check_template_format(template_format)
        entries = [_coerce_entry(entry, i, template_format) for i, entry in enumerate(messages)]
        self._build(entries, partial_variables)
        if input_variables is not None:
            # Ported code often lists an optional placeholder's variable too: it may.
            optional = set(self.optional_variables)
            declared = input_variables
            if isinstance(declared, list | tuple):
                declared = [v for v in declared if v not in optional]
            _check_declared(declared, self.input_variables)

    def _build(self, entries: list[Entry], partial_variables: Mapping[str, Any] | None) -> None:
        self.messages = entries
        self._steps: tuple[_Step, ...] = tuple(
            _FixedMessage(e)
            if isinstance(e, BaseMessage)
            else _Nested(e)
            if isinstance(e, ChatPromptTemplate)
            else e
            for e in entries
        )
        variables: list[str] = []
        required: set[str] = set()
        optional: set[str] = set()
        for entry in entries:
            if isinstance(entry, MessagesPlaceholder):
                variables.append(entry.variable_name)
                (optional if entry.optional else required).add(entry.variable_name)
            elif isinstance(entry, ChatPromptTemplate):
                variables.extend(entry.input_variables + entry.optional_variables)
                required.update(entry.input_variables)
                optional.update(entry.optional_variables)
            elif isinstance(entry, BaseMessagePromptTemplate):
                variables.extend(entry.input_variables)
                required.update(entry.input_variables)
        self._set_variables(list(dict.fromkeys(variables)), optional - required, partial_variables)

    @classmethod
    def from_messages(
        cls,
        messages: Sequence[MessageLike],
        template_format: PromptTemplateFormat = "f-string",
        *,
        partial_variables: Mapping[str, Any] | None = None,
    ) -> ChatPromptTemplate:
        """A chat prompt from a list of entries (see the class docstring)."""
        return cls(messages, template_format=template_format, partial_variables=partial_variables)

    @classmethod
    def from_template(
        cls,
        template: str,
        *,
        template_format: PromptTemplateFormat = "f-string",
        partial_variables: Mapping[str, Any] | None = None,
    ) -> ChatPromptTemplate:
        """A chat prompt holding one human message with this template."""
        if not isinstance(template, str):
            raise TypeError(
                f'Invalid "template" argument: expected a str, got {type(template).__name__} '
                f"{template!r}"
            )
        return cls(
            [("human", template)],
            template_format=template_format,
            partial_variables=partial_variables,
        )

    def __repr__(self) -> str:
        return f"ChatPromptTemplate(messages={self.messages!r})"

    def _variable_types(self) -> dict[str, Any]:
        types: dict[str, Any] = {}
        mustache: list[MustacheTemplate] = []
        for m in self.messages:
            if isinstance(m, MessagesPlaceholder):
                types[m.variable_name] = list[AnyMessage | tuple[str, str]]
            elif isinstance(m, ChatPromptTemplate):
                types.update(m._variable_types())
            elif isinstance(m, MessageTemplate):
                parsed = m._template
                found = parsed.templates if isinstance(parsed, PartsTemplate) else [parsed]
                mustache.extend(t for t in found if isinstance(t, MustacheTemplate))
        if mustache:
            types = {**schema_types(mustache), **types}
        return types

    def _format(self, values: Mapping[str, Any]) -> ChatPromptValue:
        out: list[BaseMessage] = []
        for step in self._steps:  # `_format_into`, inlined: this is every chat prompt's path
            step._append_to(values, out)
        return ChatPromptValue._of(out)

    def _format_into(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        for step in self._steps:
            step._append_to(values, out)

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """Fill in the variables and return the messages.

        Raises:
            MissingVariablesError: A required variable is missing.
        """
        return self._render(kwargs).messages

    async def aformat_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """`format_messages`, for async code."""
        return self._render(kwargs).messages

    def format(self, **kwargs: Any) -> str:
        """Fill in the variables and return the messages as a transcript (`"Human: ..."`)."""
        return self._render(kwargs).to_string()

    async def aformat(self, **kwargs: Any) -> str:
        """`format`, for async code."""
        return self._render(kwargs).to_string()

    # -- a prompt as a list of entries ------------------------------------------------------

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> ChatPromptTemplate: ...

    def __getitem__(self, index: int | slice) -> Entry | ChatPromptTemplate:
        """An entry (`prompt[0]`), or a new prompt of a slice's entries (`prompt[1:]`, no
        partial variables: as LangChain, the slice starts afresh)."""
        if isinstance(index, slice):
            return ChatPromptTemplate(self.messages[index])
        return self.messages[index]

    def __len__(self) -> int:
        """The number of entries."""
        return len(self.messages)

    def __add__(self, other: MessageLike | list[MessageLike]) -> ChatPromptTemplate:
        """A new prompt: these entries, then `other`'s.

        `other` may be a chat prompt, a message, a message template or placeholder, a str (a
        human template), a `(role, template)` pair or a list of entries. Partial variables of
        both prompts are kept (`other`'s win).
        """
        partials = dict(self.partial_variables)
        if isinstance(other, ChatPromptTemplate):
            partials.update(other.partial_variables)
            added: list[Entry] = list(other.messages)
        elif isinstance(other, list):
            added = list(ChatPromptTemplate(other).messages)
        elif isinstance(other, BaseMessage | BaseMessagePromptTemplate | str | tuple | dict):
            added = [_coerce_entry(other, len(self.messages), "f-string", param="other")]
        else:
            return NotImplemented
        return _combined([*self.messages, *added], partials)

    def __radd__(self, other: MessageLike | list[MessageLike]) -> ChatPromptTemplate:
        """`message + prompt`, `[entries] + prompt`, ...: `other`'s entries first."""
        if isinstance(other, list):
            added: list[Entry] = list(ChatPromptTemplate(other).messages)
        elif isinstance(other, BaseMessage | BaseMessagePromptTemplate | str | tuple | dict):
            added = [_coerce_entry(other, 0, "f-string", param="other")]
        else:
            return NotImplemented
        return _combined([*added, *self.messages], dict(self.partial_variables))

    def append(self, message: MessageLike) -> None:
        """Add an entry at the end (its variables join `input_variables`).

        Raises:
            TypeError, ValueError: As for an entry of `from_messages`.
        """
        entry = _coerce_entry(message, len(self.messages), "f-string", param="message")
        # A new list: a copy made by `partial` must not change with this prompt.
        self._build([*self.messages, entry], self.partial_variables)

    def extend(self, messages: Sequence[MessageLike]) -> None:
        """Add entries at the end (their variables join `input_variables`)."""
        if not isinstance(messages, list | tuple):
            raise TypeError(
                f'Invalid "messages" argument: expected a list of entries, got '
                f"{type(messages).__name__} {messages!r}"
            )
        start = len(self.messages)
        added = [
            _coerce_entry(m, start + i, "f-string", param="messages")
            for i, m in enumerate(messages)
        ]
        self._build([*self.messages, *added], self.partial_variables)

    def pretty_repr(self, html: bool = False) -> str:
        """Each entry's readable view (a title line, then its template), blank-line separated.

        Args:
            html: Accepted for LangChain compatibility; the text is the same.
        """
        return "\n\n".join(_pretty(entry) for entry in self.messages)

    def pretty_print(self) -> None:
        """Print `pretty_repr()`."""
        print(self.pretty_repr())


def _combined(entries: list[Entry], partials: dict[str, Any]) -> ChatPromptTemplate:
    prompt = ChatPromptTemplate(entries)
    known = {*prompt.input_variables, *prompt.optional_variables}
    return prompt.partial(**{k: v for k, v in partials.items() if k in known})


def _pretty(entry: Entry) -> str:
    if isinstance(entry, BaseMessage):
        # As LangChain titles a message: its type, title-cased ("Ai Message"), and its name.
        head = title_line(f"{entry.type.title()} Message")
        if entry.name is not None:
            head += f"\nName: {entry.name}"
        return f"{head}\n\n{entry.text}"
    return entry.pretty_repr()


def _coerce_entry(entry: object, index: int, template_format: str, *, param: str = "") -> Entry:
    if isinstance(entry, BaseMessage | BaseMessagePromptTemplate | ChatPromptTemplate):
        return entry
    where = f"messages[{index}]" if not param or param == "messages" else f'"{param}"'
    if isinstance(entry, str):
        return MessageTemplate._create(
            "human",
            entry,
            where=where,
            param=where,
            allowed=_ENTRY_ROLES,
            template_format=template_format,
        )
    if isinstance(entry, dict):
        if entry.keys() != _DICT_KEYS:
            raise ValueError(
                f'Invalid "messages" entry at index {index}: a dict entry must have exactly '
                f"the keys 'role' and 'content', got {entry!r}"
            )
        pair: Any = (entry["role"], entry["content"])
    elif isinstance(entry, tuple | list) and len(entry) == 2:
        pair = entry
    else:
        raise TypeError(
            f'Invalid "messages" entry at index {index}: expected a (role, template) tuple, a '
            "{'role', 'content'} dict, a message, a message template or a MessagesPlaceholder, "
            f"got {type(entry).__name__} {entry!r}"
        )
    role, template = pair
    shown = f"{where} {entry!r}"
    if isinstance(role, type):
        return _from_class(role, template, template_format, index, entry)
    if role == "placeholder":
        return _placeholder(template, shown)
    return MessageTemplate._create(
        role,
        template,
        where=shown,
        param=f"{where} template",
        allowed=_ENTRY_ROLES,
        template_format=template_format,
    )


def _from_class(
    cls: type, template: object, template_format: str, index: int, entry: object
) -> Entry:
    shown = f'Invalid "messages" entry at index {index} {entry!r}'
    if issubclass(cls, MessageTemplate) and hasattr(cls, "from_template"):
        try:
            made: Entry = cls.from_template(template, template_format)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{shown}: {exc}") from None
        return made
    for message_cls, kind in KIND_TEMPLATES.items():
        if cls is message_cls:
            try:
                return kind.from_template(template, template_format)  # type: ignore[arg-type]
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{shown}: {exc}") from None
    raise ValueError(
        f"{shown}: a class as the first item must be SystemMessage, HumanMessage, AIMessage or "
        f"a message template class, got {cls.__name__}"
    )


def _placeholder(template: object, shown: str) -> MessagesPlaceholder:
    optional = True
    if isinstance(template, list | tuple) and len(template) == 2:
        template, optional = template
        if not isinstance(optional, bool):
            raise TypeError(
                f"Invalid placeholder {shown}: the second item must be a bool (optional), got "
                f"{optional!r}"
            )
    if not (
        isinstance(template, str)
        and len(template) > 2
        and template[0] == "{"
        and template[-1] == "}"
        and "{" not in template[1:-1]
        and "}" not in template[1:-1]
    ):
        raise ValueError(
            f"Invalid placeholder {shown}: the template must be one variable, like '{{history}}'"
        )
    return MessagesPlaceholder(template[1:-1], optional=optional)
