"""`StructuredTool` and `@tool`: a tool made from a sync or async function.

The name is the function's, the description its docstring up to the first section (`Args:`,
`Returns:`, ...), and the arguments' schema comes from the signature: annotations, defaults,
descriptions from `Annotated[T, "text"]`, `Field(description=...)` or the docstring's `Args:`
lines. A parameter named `config` (or annotated `RunnableConfig`) receives the run's config.
A sync function runs in a worker thread, an `async def` one on the loop, decided when the tool
is made. `@tool("name", runnable)` makes a tool of a runnable, as `runnable.as_tool` does.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, overload

from pydantic import BaseModel, PrivateAttr

import llm._tool_messages  # noqa: F401  (registers how tools answer tool calls)
from runnables import Runnable, RunnableConfig
from runnables._tool import BaseTool, run_tool_code
from runnables._tool_runnable import tool_from_runnable
from runnables._tool_schema import (
    call_params,
    check_args_schema,
    check_description,
    check_functions,
    check_tool_name,
    func_doc,
    func_name,
    parse_docstring,
    qualname,
    schema_from_signature,
)

__all__ = ["StructuredTool", "tool"]


class StructuredTool(BaseTool):
    """A tool made from a function (usually through `@tool` or `from_function`).

    `StructuredTool(func, name=..., ...)` is `from_function`; with keywords only
    (`StructuredTool(name=..., description=..., args_schema=..., func=...)`) the fields are
    taken as given, as in LangChain, and whatever is missing is found as `from_function` does.

    Attributes:
        func: The sync function, or None.
        coroutine: The `async def` function, or None. When both are given, both sync and async
            calls use the coroutine (one async core).
    """

    func: Callable[..., Any] | None = None
    coroutine: Callable[..., Awaitable[Any]] | None = None
    _given: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __init__(self, func: Callable[..., Any] | None = None, /, **data: Any) -> None:
        given = {"func": func, **data} if func is not None else dict(data)
        super().__init__(**_complete(given))
        self._given = given

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any] | None = None,
        coroutine: Callable[..., Awaitable[Any]] | None = None,
        name: str | None = None,
        description: str | None = None,
        return_direct: bool = False,
        args_schema: type[BaseModel] | dict[str, Any] | None = None,
        infer_schema: bool = True,
        *,
        response_format: Literal["content", "content_and_artifact"] = "content",
        parse_docstring: bool = False,
        error_on_invalid_docstring: bool = False,
        **kwargs: Any,
    ) -> StructuredTool:
        """A tool from `func` (sync or async) and/or `coroutine`.

        Args:
            func: The function; an `async def` one is taken as the coroutine.
            coroutine: An `async def` function for async calls.
            name: Default the function's name.
            description: Default the docstring up to its first section.
            return_direct: See `BaseTool`.
            args_schema: A pydantic model (or JSON-schema dict) of the arguments; default one
                made from the signature (unless `infer_schema` is False: arguments then pass
                as given, a string as the one positional argument).
            infer_schema: Whether to make the schema from the signature.
            response_format: "content", or "content_and_artifact" (the function returns
                `(content, artifact)`).
            parse_docstring: Check the docstring's `Args:` section against the signature
                (descriptions are always taken from it).
            error_on_invalid_docstring: With `parse_docstring`, raise on an `Args:` entry
                that names no parameter, or a missing `Args:` section.
            **kwargs: Other fields (`handle_tool_error`, `handle_validation_error`, ...).

        Raises:
            TypeError: No function is callable, `coroutine` is not `async def`, the signature
                takes `*args`/`**kwargs`, or `args_schema` is neither a model nor a dict.
            ValueError: The name is not a valid tool name, there is no description, or the
                docstring does not match the signature (see `error_on_invalid_docstring`).
        """
        return cls(
            func=func,
            coroutine=coroutine,
            name=name,
            description=description,
            return_direct=return_direct,
            args_schema=args_schema,
            infer_schema=infer_schema,
            response_format=response_format,
            parse_docstring=parse_docstring,
            error_on_invalid_docstring=error_on_invalid_docstring,
            **kwargs,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # `@tool` puts the tool where its function was, so the function cannot be pickled by
        # name; the tool is, instead. A schema made from the signature is made again.
        source = self.func if self.func is not None else self.coroutine
        module, path = getattr(source, "__module__", None), qualname(source)
        if module and path and _lookup(module, path) is self:
            return (_lookup, (module, path))
        return (_rebuild, (self._given,))

    def _input_model(self) -> type[BaseModel] | dict[str, Any] | None:
        return self.args_schema  # type: ignore[no-any-return]  # None: no inference here

    async def _execute(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], config: RunnableConfig
    ) -> Any:
        coroutine, func = self.coroutine, self.func
        source = coroutine if coroutine is not None else func
        if source is None:
            raise NotImplementedError(f"Tool {self.name!r} has neither func nor coroutine")
        config_param, takes_manager = call_params(source)
        is_async = coroutine is not None
        return await run_tool_code(
            source, is_async, args, kwargs, config, config_param, takes_manager
        )


def _complete(given: dict[str, Any]) -> dict[str, Any]:
    """The fields of a StructuredTool, with what is missing found from its function."""
    data = dict(given)
    infer = data.pop("infer_schema", True)
    parse = data.pop("parse_docstring", False)
    strict_doc = parse and data.pop("error_on_invalid_docstring", True)
    data.pop("error_on_invalid_docstring", None)
    func, coroutine = check_functions(data.get("func"), data.get("coroutine"))
    if coroutine is not data.get("coroutine"):  # an async def given as func moved
        data["func"], data["coroutine"] = None, coroutine
    source = func if func is not None else coroutine
    if source is None:
        if data.get("name") is None or data.get("description") is None:
            raise ValueError('Invalid "func" argument: None; give a function or a coroutine')
        return data
    name = check_tool_name(data.get("name") or func_name(source))
    data["name"] = name
    summary, field_docs, has_args = parse_docstring(func_doc(source))
    if data.get("description") is None:
        data["description"] = summary
    data["description"] = check_description(data["description"], name)
    if data.get("args_schema") is None and infer:
        data["args_schema"] = schema_from_signature(source, name, field_docs, description=summary)
    elif data.get("args_schema") is not None:
        check_args_schema(data["args_schema"])
    if strict_doc:
        _check_docstring(name, source, field_docs, has_args)
    for key in [k for k, v in data.items() if v is None and k not in ("func", "coroutine")]:
        del data[key]  # pydantic's defaults, not None, for what was not given
    return data


def _check_docstring(
    name: str, func: Callable[..., Any], field_docs: dict[str, str], has_args: bool
) -> None:
    params = set(schema_from_signature(func, name, {}).model_fields)
    if params and not has_args:
        raise ValueError(
            f"Invalid docstring of tool {name!r}: no 'Args:' section describing {sorted(params)}"
        )
    unknown = sorted(set(field_docs) - params)
    if unknown:
        raise ValueError(
            f"Invalid docstring of tool {name!r}: 'Args:' describes {unknown}, which are not "
            f"parameters (the parameters are {sorted(params)})"
        )


def _rebuild(given: dict[str, Any]) -> StructuredTool:
    return StructuredTool(**given)


def _lookup(module: str, path: str) -> Any:
    """The object at `module.path` (a tool `@tool` left where its function was), or None."""
    try:
        value: Any = importlib.import_module(module)
        for part in path.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        return None
    return value


class ToolDecorator(Protocol):
    """What `@tool(...)` returns: it makes a tool of a function, or of a runnable."""

    @overload
    def __call__(self, func: Runnable[Any, Any], /) -> BaseTool: ...
    @overload
    def __call__(self, func: Callable[..., Any], /) -> StructuredTool: ...


@overload
def tool(name_or_callable: Callable[..., Any], /) -> StructuredTool: ...
@overload
def tool(name_or_callable: str, runnable: Runnable[Any, Any], /) -> BaseTool: ...
@overload
def tool(
    name_or_callable: str | None = None,
    runnable: None = None,
    /,
    *,
    description: str | None = None,
    return_direct: bool = False,
    args_schema: type[BaseModel] | dict[str, Any] | None = None,
    infer_schema: bool = True,
    response_format: Literal["content", "content_and_artifact"] = "content",
    parse_docstring: bool = False,
    error_on_invalid_docstring: bool = True,
    handle_tool_error: bool | str | Callable[..., str] | None = False,
    handle_validation_error: bool | str | Callable[..., str] | None = False,
) -> ToolDecorator: ...


def tool(
    name_or_callable: Callable[..., Any] | str | None = None,
    runnable: Runnable[Any, Any] | None = None,
    /,
    *,
    description: str | None = None,
    return_direct: bool = False,
    args_schema: type[BaseModel] | dict[str, Any] | None = None,
    infer_schema: bool = True,
    response_format: Literal["content", "content_and_artifact"] = "content",
    parse_docstring: bool = False,
    error_on_invalid_docstring: bool = True,
    handle_tool_error: bool | str | Callable[..., str] | None = False,
    handle_validation_error: bool | str | Callable[..., str] | None = False,
) -> BaseTool | ToolDecorator:
    """Make a tool: `@tool`, `@tool("name")`, `@tool(parse_docstring=True, ...)`, or
    `tool("name", runnable)`.

    The options are `StructuredTool.from_function`'s; `handle_tool_error` and
    `handle_validation_error` set those fields (see `BaseTool`).

    Example:
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two integers.'''
        ...     return a + b
        >>> add.invoke({"a": 1, "b": 2})
        3
    """
    options: dict[str, Any] = {
        "description": description,
        "return_direct": return_direct,
        "args_schema": args_schema,
        "infer_schema": infer_schema,
        "response_format": response_format,
        "parse_docstring": parse_docstring,
        "error_on_invalid_docstring": error_on_invalid_docstring,
        "handle_tool_error": handle_tool_error,
        "handle_validation_error": handle_validation_error,
    }
    if runnable is not None:
        if not isinstance(name_or_callable, str):
            raise TypeError(
                f'Invalid "name" argument: {name_or_callable!r}; a runnable tool needs a name'
            )
        return _runnable_tool(name_or_callable, runnable, options)
    if isinstance(name_or_callable, Runnable):
        raise TypeError(
            f'Invalid "name" argument: {name_or_callable!r}; for a runnable, give its name '
            'first: tool("name", runnable)'
        )
    if callable(name_or_callable):
        return StructuredTool(name_or_callable, **options)
    if name_or_callable is not None and not isinstance(name_or_callable, str):
        raise TypeError(f'Invalid "name" argument: {name_or_callable!r}; expected a string')
    name = name_or_callable

    def decorate(func: Any) -> Any:
        if isinstance(func, Runnable):
            return _runnable_tool(name or func.name, func, options)
        return StructuredTool(func, name=name, **options)

    return decorate


def _runnable_tool(name: str, runnable: Runnable[Any, Any], options: dict[str, Any]) -> BaseTool:
    schema = options["args_schema"]
    if schema is not None and not isinstance(schema, type):
        raise TypeError(f'Invalid "args_schema" argument: {schema!r}; expected a pydantic model')
    made = tool_from_runnable(runnable, schema, name=name, description=options["description"])
    for field in (
        "return_direct",
        "response_format",
        "handle_tool_error",
        "handle_validation_error",
    ):
        setattr(made, field, options[field])
    return made
