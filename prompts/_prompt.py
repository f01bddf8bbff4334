"""Prompt templates as runnables: the shared `BasePromptTemplate`, and `PromptTemplate` for text.

A prompt template is a step: `prompt.invoke({"topic": "space"})` returns a prompt value, and
`prompt | model` builds a chain. Its input is a dict of variables (extra keys are ignored); a
prompt with exactly one input variable also takes the bare value, `prompt.invoke("space")`.

Variables are listed in order of first appearance in the template(s). `partial(...)` fixes some of
them (a callable value is called, with no arguments, each time the prompt is formatted); the rest
are `input_variables`. A missing variable raises `MissingVariablesError` (a `KeyError`) naming the
missing and the expected variables, and any keys given that the prompt does not use.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from pydantic import create_model

from prompts._mustache import MustacheTemplate, schema_types
from prompts._template import (
    MissingVariablesError,
    PromptTemplateFormat,
    check_template_format,
    compile_template,
    unexpected_keys,
)
from prompts._values import PromptValue, StringPromptValue
from runnables import Runnable, RunnableConfig

if TYPE_CHECKING:
    from pydantic import BaseModel

V = TypeVar("V", bound=PromptValue, covariant=True)


class BasePromptTemplate(Runnable[Any, V]):
    """Shared behaviour of prompt templates: input handling, partials, missing-variable errors.

    A subclass parses its template(s) in `__init__`, calls `_set_variables`, and implements
    `_format(values) -> PromptValue`.

    Attributes:
        input_variables: Variables the caller must give, in order of first appearance.
        optional_variables: Variables the caller may leave out (optional message placeholders).
        partial_variables: Variables fixed by `partial` (values or zero-argument callables).
    """

    _kind = "prompt"
    _sync_inline = _instant = True  # formatting never waits

    input_variables: list[str]
    optional_variables: list[str]
    partial_variables: dict[str, Any]
    _variables: tuple[str, ...]
    _optional: frozenset[str]

    def _set_variables(
        self,
        variables: Sequence[str],
        optional: Collection[str],
        partial_variables: Mapping[str, Any] | None,
        *,
        param: str = "partial_variables",
    ) -> None:
        partials = _check_partials(partial_variables, variables, param)
        self._variables = tuple(variables)
        self._optional = frozenset(optional)
        self.partial_variables = partials
        self.input_variables = [v for v in variables if v not in partials and v not in optional]
        self.optional_variables = [v for v in variables if v in optional and v not in partials]

    def _format(self, values: Mapping[str, Any]) -> V:
        raise NotImplementedError(f"{type(self).__name__} does not implement _format")

    def _variable_types(self) -> dict[str, Any]:
        """Types of variables that are not strings (a chat prompt's placeholders)."""
        return {}

    def get_input_schema(self, config: RunnableConfig | None = None) -> type[BaseModel]:
        """`PromptInput`: a required string per input variable (placeholders: lists of
        messages); optional variables default to None."""
        if self.custom_input_type is not None:
            return super().get_input_schema(config)
        types = self._variable_types()
        fields: dict[str, tuple[Any, Any]] = {
            v: (types.get(v, str), ...) for v in self.input_variables
        }
        fields.update({v: (types.get(v, str), None) for v in self.optional_variables})
        return _input_model(tuple(fields.items()))

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> V:
        if type(input) is not dict:
            input = self._coerce_input(input)
        return self._render(input)

    def _coerce_input(self, input: Any) -> Mapping[str, Any]:
        if isinstance(input, Mapping):
            return input
        if len(self.input_variables) == 1:
            return {self.input_variables[0]: input}
        raise TypeError(
            f"{type(self).__name__} expects a dict with the variables {self.input_variables!r}, "
            f"got {type(input).__name__} {input!r}"
        )

    def _render(self, values: Mapping[str, Any]) -> V:
        if self.partial_variables:
            values = self._with_partials(values)
        try:
            return self._format(values)
        except KeyError:
            missing = [v for v in self.input_variables if v not in values]
            if not missing:
                raise
            unexpected = unexpected_keys(values, self._variables)
            raise MissingVariablesError(missing, list(self.input_variables), unexpected) from None

    def _with_partials(self, values: Mapping[str, Any]) -> dict[str, Any]:
        merged = dict(values)
        for name, value in self.partial_variables.items():
            if name not in merged:  # a value given by the caller wins, as in LCEL
                merged[name] = value() if callable(value) else value
        return merged

    def format_prompt(self, **kwargs: Any) -> V:
        """Fill in the variables and return the prompt value (what `invoke` returns).

        Raises:
            MissingVariablesError: A required variable is missing.
        """
        return self._render(kwargs)

    async def aformat_prompt(self, **kwargs: Any) -> V:
        """`format_prompt`, for async code."""
        return self._render(kwargs)

    def partial(self, **kwargs: Any) -> Self:
        """A copy of this template with some variables fixed.

        Args:
            **kwargs: Variable values; a callable is called (with no arguments) at format time.

        Returns:
            A new template; these variables leave `input_variables`.

        Raises:
            ValueError: A name is not a variable of this template.
        """
        new = copy.copy(self)
        new._set_variables(
            self._variables,
            self._optional,
            {**self.partial_variables, **kwargs},
            param="partial",
        )
        return new


@functools.lru_cache(maxsize=256)
def _input_model(fields: tuple[tuple[str, tuple[Any, Any]], ...]) -> type[BaseModel]:
    # Cached: asking a prompt (or an equal one) again gives the same model class.
    return create_model("PromptInput", **dict(fields))  # type: ignore[call-overload,no-any-return]


def _check_partials(
    partials: Mapping[str, Any] | None, variables: Sequence[str], param: str
) -> dict[str, Any]:
    if partials is None:
        return {}
    if not isinstance(partials, Mapping):
        raise TypeError(
            f'Invalid "{param}" argument: expected a dict, got {type(partials).__name__} '
            f"{partials!r}"
        )
    unknown = [name for name in partials if name not in variables]
    if unknown:
        raise ValueError(
            f'Invalid "{param}" argument: {unknown!r} are not variables of the prompt; '
            f"its variables are {list(variables)!r}"
        )
    return dict(partials)


class PromptTemplate(BasePromptTemplate[StringPromptValue]):
    """A text prompt with `{variable}` fields; produces a `StringPromptValue`.

    Args:
        template: The template, in `template_format`'s syntax (f-string fields: see
            `prompts._template`; mustache: `prompts._mustache`; jinja2: `prompts._jinja`).
        input_variables: Optional, for LCEL compatibility; inferred from the template. If given,
            it must name the same variables.
        partial_variables: Variables fixed now, as with `partial`.
        template_format: `"f-string"` (the default), `"mustache"` or `"jinja2"`.

    Raises:
        TypeError: `template` is not a str.
        ValueError: The template is malformed, `template_format` is not a known format, or
            `input_variables` / `partial_variables` do not match its variables.
        ImportError: `template_format="jinja2"` without jinja2 installed.

    Example:
        >>> PromptTemplate.from_template("Tell me about {topic}").format(topic="space")
        'Tell me about space'
    """

    def __init__(
        self,
        template: str,
        *,
        input_variables: Sequence[str] | None = None,
        partial_variables: Mapping[str, Any] | None = None,
        template_format: PromptTemplateFormat = "f-string",
    ) -> None:
        self.template_format = check_template_format(template_format)
        self._template = compile_template(template, template_format)
        self.template = template
        self._set_variables(self._template.variables, (), partial_variables)
        if input_variables is not None:
            _check_declared(input_variables, self.input_variables)

    @classmethod
    def from_template(
        cls,
        template: str,
        *,
        template_format: PromptTemplateFormat = "f-string",
        partial_variables: Mapping[str, Any] | None = None,
    ) -> PromptTemplate:
        """A prompt from a template string; its variables are inferred.

        Args:
            template: The template text.
            template_format: `"f-string"` (`{name}`), `"mustache"` (`{{name}}`, sections) or
                `"jinja2"` (sandboxed; needs the `jinja2` extra).
            partial_variables: Variables fixed now, as with `partial`.
        """
        return cls(template, template_format=template_format, partial_variables=partial_variables)

    @classmethod
    def from_file(
        cls,
        template_file: str | os.PathLike[str],
        encoding: str | None = None,
        *,
        template_format: PromptTemplateFormat = "f-string",
        partial_variables: Mapping[str, Any] | None = None,
    ) -> PromptTemplate:
        """A prompt whose template is the text of a file.

        Args:
            template_file: The file's path.
            encoding: Its encoding (None: the platform's default, as `open` has it).
            template_format: As for `from_template`.
            partial_variables: As for `from_template`.

        Raises:
            OSError: The file cannot be read.
        """
        text = Path(template_file).read_text(encoding=encoding)
        return cls(text, template_format=template_format, partial_variables=partial_variables)

    def __repr__(self) -> str:
        fmt = (
            ""
            if self.template_format == "f-string"
            else f", template_format={self.template_format!r}"
        )
        return (
            f"PromptTemplate(template={self.template!r}, input_variables={self.input_variables!r}"
            f"{fmt})"
        )

    def __add__(self, other: PromptTemplate | str) -> PromptTemplate:
        """A prompt whose template is this one's followed by `other` (a prompt of the same
        format, or a template string); partial variables of both are kept."""
        if isinstance(other, str):
            other = PromptTemplate(other, template_format=self.template_format)
        if not isinstance(other, PromptTemplate):
            return NotImplemented
        if other.template_format != self.template_format:
            raise ValueError(
                f"Cannot add a {other.template_format!r} prompt to a {self.template_format!r} "
                "one: their templates must have the same format"
            )
        return PromptTemplate(
            self.template + other.template,
            template_format=self.template_format,
            partial_variables={**self.partial_variables, **other.partial_variables},
        )

    def _variable_types(self) -> dict[str, Any]:
        if isinstance(self._template, MustacheTemplate):
            return schema_types([self._template])
        return {}

    def _format(self, values: Mapping[str, Any]) -> StringPromptValue:
        return StringPromptValue(self._template.render(values))

    def format(self, **kwargs: Any) -> str:
        """Fill in the variables and return the text.

        Raises:
            MissingVariablesError: A required variable is missing.
        """
        return self._render(kwargs).text

    async def aformat(self, **kwargs: Any) -> str:
        """`format`, for async code."""
        return self._render(kwargs).text

    def pretty_repr(self, html: bool = False) -> str:
        """The template with each input variable shown as `{name}`."""
        return self._render({v: "{" + v + "}" for v in self.input_variables}).text

    def pretty_print(self) -> None:
        """Print `pretty_repr()`."""
        print(self.pretty_repr())


def _check_declared(declared: object, inferred: list[str]) -> None:
    if isinstance(declared, str) or not isinstance(declared, Sequence):
        raise TypeError(
            f'Invalid "input_variables" argument: expected a list of str, got '
            f"{type(declared).__name__} {declared!r}"
        )
    if set(declared) != set(inferred):
        raise ValueError(
            f'Invalid "input_variables" argument: {list(declared)!r} does not match the '
            f"template's variables {inferred!r}"
        )
