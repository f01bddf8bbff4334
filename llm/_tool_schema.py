"""Where a tool's name, description and argument schema come from, and their checks.

- The name: the function's (the wrapped function's, for a `functools.partial`; the class's, for
  an object with `__call__`). It must be a valid OpenAI tool name.
- The description: the docstring, up to its first section (`Args:`, `Returns:`, ...).
- The schema: a pydantic model made from the signature (annotations and defaults), each field
  described by its line in the docstring's `Args:` section. A `config` parameter is left out
  (it receives the run's config); `*args` and `**kwargs` are refused.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field, create_model

from runnables._lambda import _unwrap as unwrap

__all__ = [
    "check_args_schema",
    "check_description",
    "check_tool_name",
    "func_doc",
    "func_name",
    "parse_docstring",
    "qualname",
    "schema_from_signature",
    "unwrap",
]

_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Yields|Raises|Example|Examples):\s*$"
)
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def check_tool_name(name: object) -> str:
    """A valid tool name (OpenAI's rule: 1-64 letters, digits, `_` or `-`), or an error."""
    if not isinstance(name, str):
        raise TypeError(f'Invalid "name" argument: {name!r}; expected a string')
    if not _NAME.match(name):
        raise ValueError(
            f'Invalid "name" argument: {name!r}; a tool name is 1 to 64 letters, digits, '
            "'_' or '-'"
        )
    return name


def check_description(description: object, name: str) -> str:
    if not isinstance(description, str):
        raise TypeError(f'Invalid "description" argument: {description!r}; expected a string')
    if not description.strip():
        raise ValueError(
            f'Invalid "description" argument for tool {name!r}: empty; give the function a '
            "docstring or pass description=..."
        )
    return description.strip()


def check_args_schema(schema: object) -> type[BaseModel]:
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
        raise TypeError(f'Invalid "args_schema" argument: {schema!r}; expected a pydantic model')
    return schema


def _plain(func: Any) -> Any:
    """The function behind a `functools.partial`, or the object itself."""
    while isinstance(func, functools.partial):
        func = func.func
    return func


def func_name(func: Callable[..., Any]) -> str:
    """A function's name; for an object with `__call__`, its class's name."""
    inner = _plain(func)
    if inspect.isroutine(inner):
        return str(inner.__name__)
    return type(inner).__name__


def func_doc(func: Callable[..., Any]) -> str:
    """The docstring of the function (or of the callable object's class)."""
    inner = _plain(func)
    return inspect.getdoc(inner if inspect.isroutine(inner) else type(inner)) or ""


def schema_from_signature(
    func: Callable[..., Any],
    signature: inspect.Signature,
    name: str,
    field_docs: dict[str, str],
) -> type[BaseModel]:
    try:
        hints = typing.get_type_hints(unwrap(func))
    except (NameError, TypeError):
        hints = {}
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.name in ("config", "self", "cls"):
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"Invalid tool function {name!r}: parameter {param}; a tool's arguments must be "
                "named (no *args or **kwargs), or pass args_schema=..."
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (annotation, Field(default, description=field_docs.get(param.name)))
    model: type[BaseModel] = create_model(name, **fields)
    return model


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """A Google-style docstring's text before its sections, and its `Args:` descriptions."""
    summary: list[str] = []
    fields: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = 0
    for line in doc.splitlines():
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1), None
            continue
        if section is None:
            summary.append(line)
        elif section in ("Args", "Arguments", "Parameters") and line.strip():
            indent = len(line) - len(line.lstrip())
            match = _ARG_LINE.match(line)
            if match and (current is None or indent <= arg_indent):
                current, arg_indent = match.group(1).lstrip("*"), indent
                fields[current] = match.group(2).strip()
            elif current is not None:  # a continuation line of the current argument
                fields[current] = f"{fields[current]} {line.strip()}".strip()
    return "\n".join(summary).strip(), fields


def qualname(func: Any) -> str | None:
    qualname = getattr(unwrap(func), "__qualname__", None)
    return qualname if isinstance(qualname, str) and "<locals>" not in qualname else None
