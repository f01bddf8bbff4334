"""F-string templates, parsed once at construction and rendered from precomputed pieces.

The syntax is the one `str.format` uses: `{name}` inserts the variable `name` (with `str()`),
and `{{` / `}}` stand for literal braces. Parsing is done by `string.Formatter().parse`, the parser
behind `str.format`, so the rules are exactly Python's.

Only plain named fields are accepted. These are rejected at construction with a `ValueError`
naming the field, instead of being evaluated when the prompt is formatted:

- attribute or index access, `{x.y}` and `{x[0]}`: a template from an untrusted source could reach
  `{x.__class__.__init__.__globals__}` (LCEL rejects these too);
- conversions and format specs, `{x!r}` and `{x:>10}`: formatting is done by joining strings, and
  a stray `{"key": 1}` meant as literal JSON is caught here instead of producing odd text;
- positional fields, `{}` and `{0}`: prompts take named variables only.

A template is split once into a head literal and `(variable, literal)` pairs; rendering appends
`str(values[variable])` and the literal for each pair and joins the list (measured on a 3-variable
template: 0.5 us, against 0.63 us for `str.format_map`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from string import Formatter
from typing import Any, Literal, Protocol, TypeAlias

PromptTemplateFormat: TypeAlias = Literal["f-string", "mustache", "jinja2"]
"""The template syntaxes: `str.format` fields (the default), mustache, and jinja2 (sandboxed,
an optional dependency)."""

TEMPLATE_FORMATS: tuple[str, ...] = ("f-string", "mustache", "jinja2")


class Template(Protocol):
    """What every template format provides: its text, its variables and `render`."""

    template: str
    template_format: str

    @property
    def variables(self) -> tuple[str, ...]: ...

    def render(self, values: Mapping[str, Any]) -> str: ...


def check_template_format(value: object, *, param: str = "template_format") -> PromptTemplateFormat:
    """`value` if it names a template format.

    Raises:
        ValueError: It does not (the message names the parameter, the value and the formats).
    """
    if value not in TEMPLATE_FORMATS:
        raise ValueError(
            f'Invalid "{param}" argument {value!r}: expected one of {list(TEMPLATE_FORMATS)!r}'
        )
    return value  # type: ignore[return-value]  # one of the literals, checked above


def compile_template(
    template: object, template_format: str = "f-string", *, param: str = "template"
) -> Template:
    """A template parsed once in the given format.

    Args:
        template: The template text.
        template_format: `"f-string"`, `"mustache"` or `"jinja2"` (checked by the caller).
        param: The name used for `template` in error messages.

    Raises:
        TypeError: `template` is not a str.
        ValueError: The template is malformed.
        ImportError: `"jinja2"` without jinja2 installed.
    """
    if template_format == "f-string":
        return FStringTemplate(template, param=param)
    if template_format == "mustache":
        from prompts._mustache import MustacheTemplate

        return MustacheTemplate(template, param=param)
    from prompts._jinja import Jinja2Template

    return Jinja2Template(template, param=param)


_FORMATTER = Formatter()
_BRACES_HINT = "write {{ and }} for literal braces"


class MissingVariablesError(KeyError):
    """A prompt was formatted without some of its variables.

    A `KeyError` (as in LCEL), whose message names the missing variables and the expected ones,
    and, as a hint, the keys given that the prompt does not use (often a misspelling).

    Attributes:
        missing: The variables that were not given, in template order.
        expected: All the variables the prompt requires, in template order.
        unexpected: The keys given that are not variables of the prompt, in input order.
    """

    def __init__(
        self, missing: list[str], expected: list[str], unexpected: list[Any] | None = None
    ) -> None:
        unexpected = unexpected or []
        super().__init__(missing, expected, unexpected)
        self.missing = missing
        self.expected = expected
        self.unexpected = unexpected

    def __str__(self) -> str:
        text = f"Missing variables {self.missing!r} for prompt; expected {self.expected!r}"
        if self.unexpected:
            shown = ", ".join(repr(key) for key in self.unexpected[:_MAX_SHOWN])
            more = len(self.unexpected) - _MAX_SHOWN
            text += f"; got unexpected {shown}" + (f" and {more} more" if more > 0 else "")
        return text


_MAX_SHOWN = 10


def unexpected_keys(values: Mapping[str, Any], variables: Collection[str]) -> list[Any]:
    """The keys of `values` that are not among `variables`, for `MissingVariablesError`."""
    return [key for key in values if key not in variables]


class FStringTemplate:
    """An f-string template, parsed once.

    Args:
        template: The template text.
        param: The name used for `template` in error messages.

    Attributes:
        template: The template text.
        variables: The variable names, in order of first appearance.

    Raises:
        TypeError: `template` is not a str.
        ValueError: The template is malformed or has a field other than a plain `{name}`.
    """

    __slots__ = ("_head", "_tail", "template", "variables")
    template_format = "f-string"

    def __init__(self, template: object, *, param: str = "template") -> None:
        if not isinstance(template, str):
            raise TypeError(
                f'Invalid "{param}" argument: expected a str, got {type(template).__name__} '
                f"{template!r}"
            )
        try:
            parsed = list(_FORMATTER.parse(template))
        except ValueError as exc:
            raise ValueError(
                f'Invalid "{param}" argument {template!r}: {exc} ({_BRACES_HINT})'
            ) from None
        head: list[str] = []
        tail: list[tuple[str, str]] = []
        for literal, field, spec, conversion in parsed:
            # Literals between fields come as several pieces where `{{`/`}}` occurred.
            if tail:
                name, text = tail[-1]
                tail[-1] = (name, text + literal)
            else:
                head.append(literal)
            if field is not None:
                _check_field(field, spec, conversion, template, param)
                tail.append((field, ""))
        self.template = template
        self.variables: tuple[str, ...] = tuple(dict.fromkeys(name for name, _ in tail))
        self._head = "".join(head)
        self._tail = tuple(tail)

    def __repr__(self) -> str:
        return f"FStringTemplate({self.template!r})"

    @property
    def single_variable(self) -> str | None:
        """The variable's name if the template is exactly one field (`"{history}"`), else None."""
        if not self._head and len(self._tail) == 1 and not self._tail[0][1]:
            return self._tail[0][0]
        return None

    def render(self, values: Mapping[str, Any]) -> str:
        """Fill in the variables from `values` (extra keys are ignored).

        Raises:
            MissingVariablesError: Some variables are not in `values`.
        """
        parts = [self._head]
        append = parts.append
        try:
            for name, literal in self._tail:
                append(str(values[name]))
                append(literal)
        except KeyError:
            missing = [v for v in self.variables if v not in values]
            if not missing:
                raise  # raised by a value's __str__, not by a missing variable
            unexpected = unexpected_keys(values, self.variables)
            raise MissingVariablesError(missing, list(self.variables), unexpected) from None
        return "".join(parts)


def _check_field(
    field: str, spec: str | None, conversion: str | None, template: str, param: str
) -> None:
    shown = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
    shown += "}"
    if not field or field.isdigit():
        problem = "is positional; prompt variables must be named, like {topic}"
    elif "." in field or "[" in field:
        problem = "uses attribute or index access, which prompts do not evaluate"
    elif conversion:
        problem = f"uses the conversion !{conversion}, which prompts do not apply"
    elif spec:
        problem = f"uses the format spec :{spec}, which prompts do not apply"
    else:
        return
    raise ValueError(
        f'Invalid "{param}" argument {template!r}: field {shown} {problem} ({_BRACES_HINT})'
    )
