"""The parts of a chat prompt: message templates and `MessagesPlaceholder`.

`BaseMessagePromptTemplate` is what they share: `input_variables`, `format_messages(**kw)` (and
`aformat_messages`), `pretty_repr()`. Its kinds:

- `MessageTemplate(role, template)`: one message of a role (`system`, `human`/`user`,
  `ai`/`assistant`) whose content is a template: a string, or a list of content parts (see
  `prompts._multipart`), in any template format;
- LangChain's classes, each a `MessageTemplate` of a fixed kind: `HumanMessagePromptTemplate`,
  `SystemMessagePromptTemplate`, `AIMessagePromptTemplate` and `ChatMessagePromptTemplate`
  (a `ChatMessage` with any `role`), built with `from_template(...)` or `(prompt=PromptTemplate)`;
- `MessagesPlaceholder("history")` (in `prompts._placeholder`): a variable holding a list of
  messages, inserted as they are.

`ChatPromptTemplate` chains these; each can also be formatted on its own.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from prompts._messages import (
    MESSAGE_TYPES,
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
)
from prompts._multipart import PartsTemplate
from prompts._prompt import PromptTemplate, _check_declared, _check_partials
from prompts._template import (
    MissingVariablesError,
    PromptTemplateFormat,
    Template,
    check_template_format,
    compile_template,
    unexpected_keys,
)
from prompts._trusted import trusted

ROLES: list[str] = sorted(MESSAGE_TYPES)
_MISSING: Any = object()
_TITLES = {SystemMessage: "System", HumanMessage: "Human", AIMessage: "AI", ChatMessage: "Chat"}


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


def title_line(title: str) -> str:
    """`title` centred in a line of `=`, 80 wide, as LangChain's pretty printing heads a part."""
    padded = f" {title} "
    side = max(0, (80 - len(padded)) // 2)
    return "=" * side + padded + "=" * max(0, 80 - len(padded) - side)


class BaseMessagePromptTemplate:
    """What the parts of a chat prompt share: variables, `format_messages`, `pretty_repr`."""

    __slots__ = ()

    @property
    def input_variables(self) -> list[str]:
        """The variables the caller must give."""
        raise NotImplementedError

    def _append_to(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        raise NotImplementedError

    def format_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """The messages of this part with the variables filled in.

        Raises:
            MissingVariablesError: A required variable is missing.
        """
        out: list[BaseMessage] = []
        try:
            self._append_to(kwargs, out)
        except KeyError:
            expected = self.input_variables
            missing = [v for v in expected if v not in kwargs]
            if not missing:
                raise
            raise MissingVariablesError(
                missing, expected, unexpected_keys(kwargs, expected)
            ) from None
        return out

    async def aformat_messages(self, **kwargs: Any) -> list[BaseMessage]:
        """`format_messages`, for async code."""
        return self.format_messages(**kwargs)

    def pretty_repr(self, html: bool = False) -> str:
        """A readable view: a title line, then the template with variables as `{name}`.

        Args:
            html: Accepted for LangChain compatibility; the text is the same.
        """
        raise NotImplementedError

    def pretty_print(self) -> None:
        """Print `pretty_repr()`."""
        print(self.pretty_repr())


class MessageTemplate(BaseMessagePromptTemplate):
    """One chat message whose content is a template, e.g. `MessageTemplate("human", "About {x}")`.

    Args:
        role: `system`, `human`/`user` or `ai`/`assistant`.
        template: The content's template: a string, or a list of content parts (text parts,
            `image_url` parts, other dicts) whose strings are templates.
        template_format: `"f-string"` (the default), `"mustache"` or `"jinja2"`.
        partial_variables: Variables fixed now (values, or zero-argument callables called at
            each format).
        additional_kwargs: Given to every message made (a provider's extra fields).

    Attributes:
        role: The role as given.
        template: The template as given.
        template_format: Its format.
        input_variables: Its variables less the partial ones, in order of first appearance.
        partial_variables: The fixed variables.
        additional_kwargs: As given.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: Unknown role or template format, or a malformed template.
        ImportError: `"jinja2"` without jinja2 installed.
    """

    __slots__ = (
        "_cls",
        "_fields",
        "_input_variables",
        "_prompt",
        "_simple",
        "_template",
        "additional_kwargs",
        "partial_variables",
        "role",
        "template",
        "template_format",
    )

    def __init__(
        self,
        role: str,
        template: str | Sequence[str | dict[str, Any]],
        *,
        template_format: PromptTemplateFormat = "f-string",
        partial_variables: Mapping[str, Any] | None = None,
        additional_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        cls = message_class(role, where='the "role" argument')
        self._setup(cls, role, template, template_format, partial_variables, additional_kwargs)

    @classmethod
    def _create(
        cls,
        role: object,
        template: object,
        *,
        where: str,
        param: str,
        allowed: list[str],
        template_format: str = "f-string",
    ) -> MessageTemplate:
        message_cls = message_class(role, where=where, allowed=allowed)
        self = MessageTemplate.__new__(KIND_TEMPLATES[message_cls])
        self._setup(message_cls, role, template, template_format, None, None, param=param)
        return self

    def _setup(
        self,
        message_cls: type[BaseMessage],
        role: object,
        template: object,
        template_format: str,
        partial_variables: Mapping[str, Any] | None,
        additional_kwargs: Mapping[str, Any] | None,
        *,
        param: str = "template",
        parsed: Template | PartsTemplate | None = None,
    ) -> None:
        template_format = check_template_format(template_format)
        if parsed is None:
            if isinstance(template, str):
                parsed = compile_template(template, template_format, param=param)
            else:
                parsed = PartsTemplate(template, template_format, where=f'"{param}" argument')
        if additional_kwargs is not None and not isinstance(additional_kwargs, Mapping):
            raise TypeError(
                'Invalid "additional_kwargs" argument: expected a dict, got '
                f"{type(additional_kwargs).__name__} {additional_kwargs!r}"
            )
        variables = parsed.variables
        self._cls = message_cls
        self._template = parsed
        self._prompt: PromptTemplate | None = None
        self.role: str = role  # type: ignore[assignment]  # checked by message_class
        self.template = template if isinstance(template, str) else list(template)  # type: ignore[call-overload]
        self.template_format = template_format
        self.partial_variables = _check_partials(partial_variables, variables, "partial_variables")
        self._input_variables = [v for v in variables if v not in self.partial_variables]
        self.additional_kwargs = dict(additional_kwargs or {})
        self._fields: dict[str, Any] = {}
        if message_cls is ChatMessage:
            self._fields["role"] = role
        self._simple = not self.partial_variables and not self._fields

    @property
    def input_variables(self) -> list[str]:
        """Its variables less the partial ones, in order of first appearance."""
        return self._input_variables

    @property
    def prompt(self) -> PromptTemplate | list[PromptTemplate | dict[str, Any]]:
        """The template as LangChain shows it: a `PromptTemplate`, or for a list of parts, a
        `PromptTemplate` per text part and the other parts as given."""
        if isinstance(self._template, PartsTemplate):
            return [
                PromptTemplate(
                    part if isinstance(part, str) else part["text"],
                    template_format=self.template_format,
                )
                if isinstance(part, str) or ("text" in part and part.keys() <= {"type", "text"})
                else part
                for part in self._template.parts
            ]
        if self._prompt is None:
            self._prompt = PromptTemplate(
                self.template,
                template_format=self.template_format,
                partial_variables=self.partial_variables,
            )
        return self._prompt

    def __repr__(self) -> str:
        return f"MessageTemplate({self.role!r}, {self.template!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MessageTemplate):
            return NotImplemented
        return (
            self._cls is other._cls
            and self.template == other.template
            and self.template_format == other.template_format
            and self._fields == other._fields
            and self.partial_variables == other.partial_variables
            and self.additional_kwargs == other.additional_kwargs
        )

    __hash__ = None  # type: ignore[assignment]

    def format(self, **kwargs: Any) -> BaseMessage:
        """The message with the variables filled in.

        Raises:
            MissingVariablesError: A variable is missing.
        """
        return self.format_messages(**kwargs)[0]

    async def aformat(self, **kwargs: Any) -> BaseMessage:
        """`format`, for async code."""
        return self.format_messages(**kwargs)[0]

    def _append_to(self, values: Mapping[str, Any], out: list[BaseMessage]) -> None:
        if self._simple and not self.additional_kwargs:
            # Rendered content is ours and well formed: no need to validate it (`trusted` is
            # about 3x cheaper than the validating constructor).
            out.append(trusted(self._cls, content=self._template.render(values)))
            return
        if self.partial_variables:
            merged = dict(values)
            for name, value in self.partial_variables.items():
                if name not in merged:
                    merged[name] = value() if callable(value) else value
            values = merged
        content = self._template.render(values)
        if self.additional_kwargs:
            # Each message its own dict (a caller may change it); `_fields` is unpacked, not
            # copied: the call makes the keyword dict anyway.
            out.append(
                trusted(
                    self._cls,
                    content=content,
                    additional_kwargs=dict(self.additional_kwargs),
                    **self._fields,
                )
            )
        else:
            out.append(trusted(self._cls, content=content, **self._fields))

    def pretty_repr(self, html: bool = False) -> str:
        """A title line naming the message's kind, then the template with variables shown as
        `{name}` (parts that are not text shown as JSON)."""
        title = title_line(f"{_TITLES.get(self._cls, self._cls.__name__)} Message")
        dummies = {v: "{" + v + "}" for v in self.input_variables}
        if not isinstance(self._template, PartsTemplate):
            return f"{title}\n\n{self.format(**dummies).text}"
        shown = [
            part["text"] if part.get("type") == "text" else json.dumps(part)
            for part in self.format(**dummies).content
            if isinstance(part, dict)
        ]
        return title + "".join(f"\n\n{text}" for text in shown)


class _KindTemplate(MessageTemplate):
    """A `MessageTemplate` whose message class is fixed by its subclass (LangChain's forms)."""

    __slots__ = ()
    _message_class: ClassVar[type[BaseMessage]]
    _role: ClassVar[str]

    def __init__(
        self,
        *,
        prompt: PromptTemplate,
        additional_kwargs: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        if not isinstance(prompt, PromptTemplate):
            raise TypeError(
                f'Invalid "prompt" argument: expected a PromptTemplate, got '
                f"{type(prompt).__name__} {prompt!r}"
            )
        role = self._take_role(fields)
        self._setup(
            self._message_class,
            role,
            prompt.template,
            prompt.template_format,
            prompt.partial_variables,
            additional_kwargs,
            parsed=prompt._template,
        )
        self._prompt = prompt

    def _take_role(self, fields: dict[str, Any]) -> str:
        if fields:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {sorted(fields)!r}")
        return self._role

    @classmethod
    def from_template(
        cls,
        template: str | Sequence[str | dict[str, Any]],
        template_format: PromptTemplateFormat = "f-string",
        *,
        partial_variables: Mapping[str, Any] | None = None,
        additional_kwargs: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Self:
        """A message template from a template string or a list of content parts.

        Args:
            template: The content's template (see `MessageTemplate`).
            template_format: `"f-string"`, `"mustache"` or `"jinja2"`.
            partial_variables: Variables fixed now.
            additional_kwargs: Given to every message made.
            **fields: `role=` for `ChatMessagePromptTemplate`.
        """
        self = cls.__new__(cls)
        role = self._take_role(fields)
        self._setup(
            cls._message_class,
            role,
            template,
            template_format,
            partial_variables,
            additional_kwargs,
        )
        return self

    @classmethod
    def from_template_file(
        cls,
        template_file: str | os.PathLike[str],
        input_variables: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> Self:
        """A message template whose template is the text of a file (read as UTF-8).

        Args:
            template_file: The file's path.
            input_variables: Optional; if given, it must name the template's variables.
            **kwargs: As for `from_template`.
        """
        template = Path(template_file).read_text(encoding="utf-8")
        self = cls.from_template(template, **kwargs)
        if input_variables is not None:
            _check_declared(input_variables, self.input_variables)
        return self

    def __repr__(self) -> str:
        role = f", role={self.role!r}" if self._fields else ""
        return f"{type(self).__name__}(template={self.template!r}{role})"


class HumanMessagePromptTemplate(_KindTemplate):
    """A template of `HumanMessage`s: `HumanMessagePromptTemplate.from_template("{question}")`."""

    __slots__ = ()
    _message_class = HumanMessage
    _role = "human"


class SystemMessagePromptTemplate(_KindTemplate):
    """A template of `SystemMessage`s: `SystemMessagePromptTemplate.from_template("Be {tone}")`."""

    __slots__ = ()
    _message_class = SystemMessage
    _role = "system"


class AIMessagePromptTemplate(_KindTemplate):
    """A template of `AIMessage`s, e.g. a few-shot answer."""

    __slots__ = ()
    _message_class = AIMessage
    _role = "ai"


class ChatMessagePromptTemplate(_KindTemplate):
    """A template of `ChatMessage`s with any `role`:
    `ChatMessagePromptTemplate.from_template("{critique}", role="critic")`."""

    __slots__ = ()
    _message_class = ChatMessage
    _role = "chat"

    def _take_role(self, fields: dict[str, Any]) -> str:
        role = fields.pop("role", _MISSING)
        if role is _MISSING:
            raise TypeError(f'{type(self).__name__} needs a "role" argument, like role="critic"')
        if not isinstance(role, str):
            raise TypeError(
                f'Invalid "role" argument: expected a str, got {type(role).__name__} {role!r}'
            )
        super()._take_role(fields)
        return role


KIND_TEMPLATES: dict[type[BaseMessage], type[_KindTemplate]] = {
    HumanMessage: HumanMessagePromptTemplate,
    SystemMessage: SystemMessagePromptTemplate,
    AIMessage: AIMessagePromptTemplate,
}
"""The LangChain class of the templates made from a `(role, template)` entry, by message class."""
