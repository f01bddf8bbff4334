"""Where a tool's name, description and argument schema come from, and their checks.

- The name: the function's (the wrapped function's, for a `functools.partial`; the class's, for
  an object with `__call__`). It must be a valid OpenAI tool name.
- The description: the docstring, up to its first section (`Args:`, `Returns:`, ...).
- The schema: a pydantic model made from the signature. A field's description comes from
  `Annotated[T, "text"]`, `Annotated[T, Field(description=...)]`, a `Field(...)` default, or
  its line in the docstring's `Args:` section, in that order. Parameters that receive the run
  (`config`, `run_manager`, `callbacks`) are left out; `*args` and `**kwargs` are refused.
- Injected arguments (`Annotated[T, InjectedToolArg]`, `InjectedToolCallId`) stay in the schema
  the tool validates against, and are left out of the schema the model sees.
"""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, Field, create_model
from pydantic.fields import FieldInfo

from runnables._config import RunnableConfig
from runnables._lambda import _unwrap as unwrap
from runnables._lambda import is_async_callable

__all__ = [
    "InjectedToolArg",
    "InjectedToolCallId",
    "call_params",
    "call_schema",
    "check_args_schema",
    "check_description",
    "check_functions",
    "check_tool_name",
    "func_doc",
    "func_name",
    "injected_fields",
    "parse_docstring",
    "qualname",
    "run_params",
    "schema_from_signature",
]


class InjectedToolArg:
    """Marks an argument the caller supplies, not the model: `Annotated[str, InjectedToolArg]`.

    The argument is validated like any other, but left out of `tool_call_schema`, `args` and
    what `bind_tools` sends.
    """


class InjectedToolCallId(InjectedToolArg):
    """Marks the argument that receives the id of the tool call being answered:
    `Annotated[str, InjectedToolCallId]`. Such a tool must be invoked with a tool call."""


_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SECTION = re.compile(
    r"^\s*(Args|Arguments|Parameters|Returns|Yields|Raises|Example|Examples):\s*$"
)
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
RUN_PARAMS = frozenset({"self", "cls", "config", "run_manager", "callbacks"})
"""Parameters of a tool function that receive the run, never an argument from the model."""


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


def check_functions(
    func: Callable[..., Any] | None, coroutine: Callable[..., Any] | None
) -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    """A tool's `(func, coroutine)` checked: `func` callable, `coroutine` an `async def`; an
    `async def` given as `func` alone moves to `coroutine` (it must be awaited)."""
    if func is not None and not callable(func):
        raise TypeError(f'Invalid "func" argument: expected a function, got {func!r}')
    if coroutine is not None and not is_async_callable(coroutine):
        raise TypeError(
            f'Invalid "coroutine" argument: expected an async def function, got {coroutine!r}'
        )
    if func is not None and coroutine is None and is_async_callable(func):
        return None, func
    return func, coroutine


def check_args_schema(schema: object) -> type[BaseModel] | dict[str, Any]:
    """A pydantic model class or a JSON-schema dict, or a TypeError."""
    if isinstance(schema, dict) or (isinstance(schema, type) and issubclass(schema, BaseModel)):
        return schema
    raise TypeError(
        f'Invalid "args_schema" argument: {schema!r}; expected a pydantic model class or a '
        "JSON-schema dict"
    )


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


def _is_config_type(annotation: Any) -> bool:
    return annotation is RunnableConfig or (
        get_origin(annotation) is not None and RunnableConfig in get_args(annotation)
    )


def run_params(func: Callable[..., Any]) -> tuple[str | None, bool]:
    """The name of `func`'s parameter that receives the run's config (one named `config` or
    annotated `RunnableConfig`), and whether it takes `run_manager`."""
    try:
        params = inspect.signature(func).parameters
        hints = typing.get_type_hints(unwrap(func))
    except (NameError, TypeError, ValueError):
        hints = {}
        params = inspect.signature(func).parameters
    config = next((n for n in params if n == "config" or _is_config_type(hints.get(n))), None)
    return config, "run_manager" in params


@functools.lru_cache(maxsize=4096)
def _cached_run_params(func: Callable[..., Any]) -> tuple[str | None, bool]:
    return run_params(func)


def call_params(func: Callable[..., Any]) -> tuple[str | None, bool]:
    """`run_params(func)`, worked out once per function (a tool asks on every call)."""
    try:
        return _cached_run_params(func)
    except TypeError:  # an unhashable callable object
        return run_params(func)


def _describe(annotation: Any, default: Any, doc: str | None) -> tuple[Any, FieldInfo]:
    """A parameter's annotation and field, its description taken from wherever it was given."""
    field = default if isinstance(default, FieldInfo) else Field(default)
    description = field.description
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        for extra in extras:
            if isinstance(extra, FieldInfo) and extra.description and description is None:
                description = extra.description
            elif isinstance(extra, str) and description is None:
                description = extra
        # Text metadata means nothing to pydantic: keep only what it understands.
        kept = [e for e in extras if not isinstance(e, str)]
        annotation = Annotated[(base, *kept)] if kept else base
    if description is None and doc:
        description = doc
    if description is not None and field.description != description:
        field = FieldInfo.merge_field_infos(field, description=description)
    return annotation, field


def schema_from_signature(
    func: Callable[..., Any],
    name: str,
    field_docs: Mapping[str, str],
    *,
    skip: frozenset[str] = RUN_PARAMS,
    description: str | None = None,
) -> type[BaseModel]:
    """A pydantic model of `func`'s arguments, named `name` and described by `description` (as
    LangChain describes a function's: its docstring)."""
    signature = inspect.signature(func)
    try:
        hints = typing.get_type_hints(unwrap(func), include_extras=True)
    except (NameError, TypeError):
        hints = {}
    fields: dict[str, Any] = {}
    for param in signature.parameters.values():
        if param.name in skip or _is_config_type(hints.get(param.name)):
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(
                f"Invalid tool function {name!r}: parameter {param}; a tool's arguments must be "
                "named (no *args or **kwargs), or pass args_schema=..."
            )
        annotation = hints.get(param.name, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = _describe(annotation, default, field_docs.get(param.name))
    model: type[BaseModel] = create_model(name, __doc__=description or None, **fields)
    return model


def _injected(field: FieldInfo, marker: type[InjectedToolArg]) -> bool:
    for extra in field.metadata:
        if extra is marker or isinstance(extra, marker):
            return True
        if isinstance(extra, type) and issubclass(extra, marker):
            return True
    annotation = field.annotation
    if get_origin(annotation) is Annotated:
        return any(
            e is marker or isinstance(e, marker) or (isinstance(e, type) and issubclass(e, marker))
            for e in get_args(annotation)[1:]
        )
    return False


@functools.cache  # asked on every call of a tool: a schema's fields do not change
def injected_fields(
    schema: type[BaseModel], marker: type[InjectedToolArg] = InjectedToolArg
) -> tuple[str, ...]:
    """The fields of `schema` marked with `marker` (or a subclass of it)."""
    return tuple(n for n, f in schema.model_fields.items() if _injected(f, marker))


@functools.cache  # one model per tool, however often its schema is asked for
def call_schema(schema: type[BaseModel], name: str, description: str) -> type[BaseModel]:
    """`schema` as the model sees it: without injected fields, titled with the tool's name."""
    hidden = set(injected_fields(schema))
    fields: dict[str, Any] = {
        n: (f.annotation, f) for n, f in schema.model_fields.items() if n not in hidden
    }
    model: type[BaseModel] = create_model(name, __doc__=description or None, **fields)
    return model


def parse_docstring(doc: str) -> tuple[str, dict[str, str], bool]:
    """A Google-style docstring's text before its sections, its `Args:` descriptions, and
    whether it has an `Args:` section."""
    summary: list[str] = []
    fields: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = 0
    has_args = False
    for line in doc.splitlines():
        header = _SECTION.match(line)
        if header:
            section, current = header.group(1), None
            has_args = has_args or section in ("Args", "Arguments", "Parameters")
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
    return "\n".join(summary).strip(), fields, has_args


def qualname(func: Any) -> str | None:
    qualname = getattr(unwrap(func), "__qualname__", None)
    return qualname if isinstance(qualname, str) and "<locals>" not in qualname else None
