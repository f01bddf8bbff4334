"""Jinja2 templates (`template_format="jinja2"`), rendered in jinja2's `SandboxedEnvironment`.

jinja2 is an optional dependency (`pip install "runnables[jinja2]"`); without it, building a
jinja2 template raises an `ImportError` saying so. The sandbox refuses unsafe attributes
(`__class__`, `__globals__`, ...) and calls, but it is a best effort, as jinja2 itself says:
do not render templates from untrusted sources.

A template is compiled once. Its variables are the names it reads without defining them
(jinja2's `meta.find_undeclared_variables`), in order of first appearance; every one must be
given, as with the other formats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prompts._template import MissingVariablesError, unexpected_keys

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

_env: SandboxedEnvironment | None = None

INSTALL_HINT = (
    'template_format="jinja2" needs the optional dependency jinja2: '
    'pip install "runnables[jinja2]" (or pip install jinja2)'
)


def _environment() -> SandboxedEnvironment:
    global _env
    if _env is None:
        try:
            from jinja2.sandbox import SandboxedEnvironment
        except ImportError as exc:
            raise ImportError(INSTALL_HINT) from exc
        _env = SandboxedEnvironment()
    return _env


class Jinja2Template:
    """A jinja2 template, compiled once in a sandboxed environment.

    Args:
        template: The template text.
        param: The name used for `template` in error messages.

    Attributes:
        template: The template text.
        variables: The names the template reads without defining them, in order of first
            appearance.

    Raises:
        ImportError: jinja2 is not installed.
        TypeError: `template` is not a str.
        ValueError: The template has a syntax error.
    """

    __slots__ = ("_compiled", "template", "variables")
    template_format = "jinja2"

    def __init__(self, template: object, *, param: str = "template") -> None:
        if not isinstance(template, str):
            raise TypeError(
                f'Invalid "{param}" argument: expected a str, got {type(template).__name__} '
                f"{template!r}"
            )
        env = _environment()
        from jinja2 import TemplateSyntaxError, meta

        try:
            tree = env.parse(template)
            self._compiled: Template = env.from_string(tree)
        except TemplateSyntaxError as exc:
            raise ValueError(
                f'Invalid "{param}" argument {template!r}: {exc.message} at line {exc.lineno}'
            ) from None
        undeclared = meta.find_undeclared_variables(tree)
        ordered = [v for _, kind, v in env.lex(template) if kind == "name" and v in undeclared]
        self.template = template
        self.variables: tuple[str, ...] = tuple(dict.fromkeys([*ordered, *sorted(undeclared)]))

    def __repr__(self) -> str:
        return f"Jinja2Template({self.template!r})"

    def __reduce__(self) -> tuple[type[Jinja2Template], tuple[str]]:
        # A compiled jinja2 template does not pickle: a prompt ships its text, compiled again.
        return (Jinja2Template, (self.template,))

    def render(self, values: Mapping[str, Any]) -> str:
        """Fill in the template from `values` (extra keys are passed too, as jinja2 does).

        Raises:
            MissingVariablesError: A variable is not in `values`.
        """
        for name in self.variables:
            if name not in values:
                missing = [v for v in self.variables if v not in values]
                unexpected = unexpected_keys(values, self.variables)
                raise MissingVariablesError(missing, list(self.variables), unexpected)
        return self._compiled.render(values)
