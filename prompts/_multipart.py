"""Multipart message templates: a list of content parts whose strings hold variables.

A message template's content may be a list instead of a string (LangChain's forms):

- a str, `{"text": ...}` or `{"type": "text", "text": ...}`: a text part, formatted to
  `{"type": "text", "text": ...}` (a part whose text comes out empty is left out);
- `{"image_url": "..."}` or `{"type": "image_url", "image_url": "..." | {"url": ..., ...}}`:
  an image part, formatted to `{"type": "image_url", "image_url": {"url": ..., ...}}`;
- any other dict (`input_audio`, `file`, provider blocks): every string inside it, at any
  depth of dicts and lists, is a template; keys are not.

Each string is parsed once, in the template format of the message (jinja2 is refused for dict
parts, as LangChain refuses it: a dict part is often data, not code).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prompts._template import Template, compile_template

_TEXT_KEYS = frozenset({"type", "text"})
_IMAGE_KEYS = frozenset({"type", "image_url"})


class PartsTemplate:
    """The parts of a multipart message, each string parsed once.

    Args:
        parts: The list of parts (see the module docstring).
        template_format: The format of every string in them.
        where: Where the parts were given, for error messages.

    Attributes:
        parts: The parts as given.
        variables: Their variables, in order of first appearance.
        templates: Every parsed string, in order (for schemas).

    Raises:
        TypeError: `parts` is not a list, or a part is neither a str nor a dict.
        ValueError: A string is malformed, or jinja2 is asked for a dict part.
    """

    __slots__ = ("_steps", "parts", "templates", "variables")

    def __init__(self, parts: object, template_format: str, *, where: str) -> None:
        if not isinstance(parts, list | tuple):
            raise TypeError(
                f"Invalid {where}: expected a str or a list of parts, got "
                f"{type(parts).__name__} {parts!r}"
            )
        self.parts = list(parts)
        self.templates: list[Template] = []
        steps: list[tuple[str, Any]] = []
        for i, part in enumerate(parts):
            here = f"{where} part {i} {part!r}"
            if isinstance(part, str) or (
                isinstance(part, dict) and "text" in part and part.keys() <= _TEXT_KEYS
            ):
                text = part if isinstance(part, str) else part["text"]
                steps.append(("text", self._compile(text, template_format, here)))
            elif isinstance(part, dict) and "image_url" in part and part.keys() <= _IMAGE_KEYS:
                image = part["image_url"]
                if isinstance(image, str):
                    image = {"url": image}
                elif not isinstance(image, dict):
                    raise TypeError(
                        f"Invalid {here}: image_url must be a str or a dict, got "
                        f"{type(image).__name__} {image!r}"
                    )
                steps.append(("image", self._tree(image, template_format, here)))
            elif isinstance(part, dict):
                if template_format == "jinja2":
                    raise ValueError(
                        f"Invalid {here}: jinja2 is not allowed in dict parts; use "
                        "'f-string' or 'mustache'"
                    )
                steps.append(("dict", self._tree(part, template_format, here)))
            else:
                raise TypeError(
                    f"Invalid {here}: expected a str or a dict, got {type(part).__name__}"
                )
        self._steps = tuple(steps)
        names: dict[str, None] = {}
        for template in self.templates:
            names.update(dict.fromkeys(template.variables))
        self.variables: tuple[str, ...] = tuple(names)

    def _compile(self, text: object, template_format: str, where: str) -> Template:
        template = compile_template(text, template_format, param=where)
        self.templates.append(template)
        return template

    def _tree(self, value: Any, template_format: str, where: str) -> Any:
        # The same shape with every string replaced by its parsed template.
        if isinstance(value, str):
            return _Field(self._compile(value, template_format, where))
        if isinstance(value, dict):
            return {k: self._tree(v, template_format, where) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._tree(v, template_format, where) for v in value)
        return value

    def render(self, values: Mapping[str, Any]) -> list[str | dict[str, Any]]:
        """The content parts with the variables filled in.

        Raises:
            MissingVariablesError: A variable is missing.
        """
        out: list[str | dict[str, Any]] = []
        for kind, step in self._steps:
            if kind == "text":
                text = step.render(values)
                if text:
                    out.append({"type": "text", "text": text})
            elif kind == "image":
                out.append({"type": "image_url", "image_url": _fill(step, values)})
            else:
                out.append(_fill(step, values))
        return out


def _fill(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_fill(v, values) for v in value)
    if type(value) is _Field:
        return value.template.render(values)
    return value


class _Field:
    """A string of a dict part, parsed (told apart from the part's other, literal values)."""

    __slots__ = ("template",)

    def __init__(self, template: Template) -> None:
        self.template = template
