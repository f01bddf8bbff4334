"""Mustache templates (`template_format="mustache"`), parsed once into a tree and rendered from it.

The subset LangChain's prompts use, with its results:

- `{{name}}` inserts a value HTML-escaped (`&`, `<`, `>`, `"`), `{{{name}}}` and `{{&name}}`
  insert it as is; `None` and a missing dotted name give an empty string, `0` and `False` print;
- `{{a.b.0}}` walks into dicts (by key) and lists or tuples (by index), never into attributes of
  other objects, so a template cannot reach `__class__` and the like;
- `{{#name}}...{{/name}}` repeats its body for each item of a list, renders it once inside a
  dict or any other true value, and skips it for a false or empty value; `{{^name}}...{{/name}}`
  renders its body only for a false or empty value; `{{.}}` is the current item;
- `{{! comment }}` is dropped, `{{=<% %>=}}` changes the delimiters; a line holding only a
  section, end, comment or delimiter tag disappears with its newline (the spec's standalone rule).

Partials (`{{>name}}`) have no source in a prompt and are rejected when the template is built,
instead of rendering as nothing. Lambdas are not called: a callable is just a true value.

The variables of a template are the top-level names used outside any section (for `{{a.b}}`,
`a`); names inside a section may come from the section's value, so they are not required.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from pydantic import create_model

from prompts._template import MissingVariablesError, unexpected_keys

_Node: TypeAlias = "str | tuple[str, str] | tuple[str, str, list[_Node]]"
"""A literal, `("var" | "raw", key)`, or `("section" | "inverted", key, children)`."""

_SIGILS = {"!": "comment", "#": "section", "^": "inverted", "/": "end", ">": "partial"}
_STANDALONE = frozenset({"comment", "section", "inverted", "end", "partial", "delimiter"})
_NOT_FOUND: Any = object()


class MustacheTemplate:
    """A mustache template, parsed once.

    Args:
        template: The template text.
        param: The name used for `template` in error messages.

    Attributes:
        template: The template text.
        variables: The top-level names used outside sections, in order of first appearance.
        paths: Every name used outside sections, split at the dots (for input schemas).
        sections: The top-level names that open a section or inverted section.

    Raises:
        TypeError: `template` is not a str.
        ValueError: A tag is unclosed, empty, a partial, or sections do not nest.
    """

    __slots__ = ("_nodes", "paths", "sections", "template", "variables")
    template_format = "mustache"

    def __init__(self, template: object, *, param: str = "template") -> None:
        if not isinstance(template, str):
            raise TypeError(
                f'Invalid "{param}" argument: expected a str, got {type(template).__name__} '
                f"{template!r}"
            )
        self.template = template
        self._nodes = _parse(template, param)
        names: dict[str, None] = {}
        paths: list[tuple[str, ...]] = []
        sections: set[str] = set()
        for node in self._nodes:
            if isinstance(node, str) or node[1] == ".":
                continue
            path = tuple(node[1].split("."))
            names.setdefault(path[0])
            if len(node) == 3:
                sections.add(path[0])
            else:
                paths.append(path)
        self.variables: tuple[str, ...] = tuple(names)
        self.paths = paths
        self.sections = frozenset(sections)

    def __repr__(self) -> str:
        return f"MustacheTemplate({self.template!r})"

    def render(self, values: Mapping[str, Any]) -> str:
        """Fill in the template from `values` (extra keys are ignored).

        Raises:
            MissingVariablesError: A top-level variable is not in `values`.
        """
        for name in self.variables:
            if name not in values:
                missing = [v for v in self.variables if v not in values]
                unexpected = unexpected_keys(values, self.variables)
                raise MissingVariablesError(missing, list(self.variables), unexpected)
        out: list[str] = []
        _render(self._nodes, [values], out)
        return "".join(out)


def _parse(template: str, param: str) -> list[_Node]:
    root: list[_Node] = []
    stack: list[tuple[str, list[_Node]]] = []  # (open section key, its parent's children)
    nodes = root
    left, right = "{{", "}}"
    pos = 0
    after_tag = 0  # where the last tag ended: a standalone tag must be alone on its line

    def fail(problem: str) -> ValueError:
        line = template.count("\n", 0, pos) + 1
        return ValueError(f'Invalid "{param}" argument {template!r}: {problem} at line {line}')

    while True:
        start = template.find(left, pos)
        if start < 0:
            if template[pos:]:
                nodes.append(template[pos:])
            break
        literal = template[pos:start]
        inner_start = start + len(left)
        kind = "var"
        closing = right
        if left == "{{" and template.startswith("{", inner_start):
            kind, closing, inner_start = "raw", "}" + right, inner_start + 1
        end = template.find(closing, inner_start)
        if end < 0:
            pos = start
            raise fail("unclosed tag")
        tag = template[inner_start:end].strip()
        pos = end + len(closing)
        if kind == "var" and tag[:1] in _SIGILS:
            kind, tag = _SIGILS[tag[0]], tag[1:].strip()
        elif kind == "var" and tag.startswith("&"):
            kind, tag = "raw", tag[1:].strip()
        elif kind == "var" and tag.startswith("=") and tag.endswith("=") and len(tag) > 1:
            kind = "delimiter"
            parts = tag[1:-1].split()
            if len(parts) != 2:
                raise fail(f"bad delimiter tag {{{{{tag}}}}}")
            left, right = parts
        if not tag and kind != "comment":
            raise fail("empty tag")
        if kind in _STANDALONE:
            line_start = template.rfind("\n", 0, start) + 1
            line_end = template.find("\n", pos)
            rest = template[pos : len(template) if line_end < 0 else line_end]
            if (
                line_start >= after_tag
                and not literal[len(literal) - (start - line_start) :].strip(" \t")
                and not rest.strip(" \t\r")
            ):
                literal = literal[: len(literal) - (start - line_start)]
                pos = len(template) if line_end < 0 else line_end + 1
        after_tag = pos
        if literal:
            nodes.append(literal)
        if kind in ("var", "raw"):
            nodes.append((kind, tag))
        elif kind in ("section", "inverted"):
            children: list[_Node] = []
            nodes.append((kind, tag, children))
            stack.append((tag, nodes))
            nodes = children
        elif kind == "end":
            if not stack:
                raise fail(f"closing tag {{{{/{tag}}}}} was never opened")
            opened, nodes = stack.pop()
            if opened != tag:
                raise fail(f"closing tag {{{{/{tag}}}}} does not match the open {{{{#{opened}}}}}")
        elif kind == "partial":
            raise fail(f"partial {{{{>{tag}}}}}: prompts have no partials")
    if stack:
        raise fail(f"section {{{{#{stack[-1][0]}}}}} is never closed")
    return root


def _lookup(key: str, scopes: list[Any]) -> Any:
    if key == ".":
        return scopes[-1]
    parts = key.split(".")
    for scope in reversed(scopes):
        value = _walk(scope, parts)
        if value is not _NOT_FOUND:
            return value
    return _NOT_FOUND


def _walk(value: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(value, Mapping):
            if part not in value:
                return _NOT_FOUND
            value = value[part]
        elif isinstance(value, list | tuple):
            try:
                value = value[int(part)]
            except (ValueError, IndexError):
                return _NOT_FOUND
        else:
            return _NOT_FOUND  # no attribute access on other objects
    return value


def _text(value: Any) -> str:
    if value is _NOT_FOUND or value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _render(nodes: list[_Node], scopes: list[Any], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, str):
            out.append(node)
        elif len(node) == 2:
            text = _text(_lookup(node[1], scopes))
            out.append(_escape(text) if node[0] == "var" else text)
        else:
            kind, key, children = node
            value = _lookup(key, scopes)
            empty = value is _NOT_FOUND or _is_false(value)
            if kind == "inverted":
                if empty:
                    _render(children, scopes, out)
            elif empty:
                continue
            elif isinstance(value, Sequence) and not isinstance(value, str):
                for item in value:
                    _render(children, [*scopes, item], out)
            else:
                _render(children, [*scopes, value], out)


def _is_false(value: Any) -> bool:
    # A non-empty string, 0 excepted, is what mustache calls true; so is any other truthy value.
    return not value


def schema_types(templates: Sequence[MustacheTemplate]) -> dict[str, Any]:
    """The input types of the variables of mustache templates that are not plain strings.

    A section's variable may be a list, a dict or a flag: `Any`. A dotted name `{{a.b}}` makes
    `a` an object with an optional string `b` (a missing inner name renders as nothing), as
    LangChain's schema for mustache prompts says; nested names nest further.
    """
    tree: dict[str, Any] = {}
    sections: set[str] = set()
    for template in templates:
        sections |= template.sections
        for path in template.paths:
            if len(path) > 1:
                node = tree
                for part in path[:-1]:
                    child = node.get(part)
                    if not isinstance(child, dict):  # `{{a.b}}` then `{{a.b.c}}`: b nests
                        child = node[part] = {}
                    node = child
                node.setdefault(path[-1], None)
    types: dict[str, Any] = {name: Any for name in sections}
    for name, children in tree.items():
        if name not in sections:
            types[name] = _object_model(name, children)
    return types


def _object_model(name: str, children: dict[str, Any]) -> Any:
    fields = {
        key: ((_object_model(key, sub) if sub else str) | None, None)
        for key, sub in children.items()
    }
    return _model(name, tuple(fields.items()))


@functools.lru_cache(maxsize=256)
def _model(name: str, fields: tuple[tuple[str, Any], ...]) -> Any:
    return create_model(name, **dict(fields))
