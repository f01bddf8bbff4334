"""Tools: runnables a model can call by name, with arguments checked against a pydantic schema.

- `BaseTool`: `name`, `description`, `args_schema` (a pydantic model) and `args` (its JSON-schema
  properties). Invoked with a dict of arguments it returns the result; invoked with a tool call
  (`{"name", "args", "id", "type": "tool_call"}`, as in `AIMessage.tool_calls`) it returns a
  `ToolMessage` holding the result as text and the call's id.
- `@tool` / `StructuredTool`: a tool from a sync or async function. The name is the function's,
  the description its docstring (without the `Args:` section, whose lines describe the fields),
  and the schema comes from the signature, or from an explicit pydantic model.
- `Runnable.as_tool(...)` (see `tool_from_runnable`): any runnable as a tool.

Arguments that do not validate raise `ToolArgumentsError` naming the tool and each bad field.
A sync function runs in a worker thread; an `async def` function on the loop. While it runs,
the tool holds one slot of the run's `max_concurrency` (it is a leaf step).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any, overload

from pydantic import BaseModel, RootModel, ValidationError, create_model

from llm._errors import ToolArgumentsError
from llm._tool_schema import (
    check_args_schema,
    check_description,
    check_tool_name,
    func_doc,
    func_name,
    parse_docstring,
    qualname,
    schema_from_signature,
)
from prompts._messages import ToolMessage
from runnables import Runnable, RunnableConfig, leaf_slot
from runnables._concurrency import run_in_thread
from runnables._events import call_child
from runnables._lambda import is_async_callable

__all__ = ["BaseTool", "StructuredTool", "tool", "tool_from_runnable"]


class BaseTool(Runnable[Any, Any]):
    """A step a model can call: a name, a description and a pydantic schema of its arguments.

    Subclasses implement `_arun(args, config)`, receiving the validated arguments as a dict.

    Attributes:
        name: What the model calls the tool (letters, digits, `_` and `-`, at most 64).
        description: What the tool does, for the model.
        args_schema: The pydantic model its arguments must validate against.
    """

    description: str = ""
    args_schema: type[BaseModel]
    _kind = "tool"  # what run events and traces call this step

    @property
    def args(self) -> dict[str, Any]:
        """The JSON-schema properties of the arguments (`{"city": {"type": "string"}}`)."""
        properties: dict[str, Any] = self.args_schema.model_json_schema().get("properties", {})
        return properties

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    async def _arun(self, args: dict[str, Any], config: RunnableConfig) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement _arun")

    async def _acall(self, input: Any, config: RunnableConfig, **kwargs: Any) -> Any:
        call = input if _is_tool_call(input) else None
        args = self.validate_args(call["args"] if call is not None else input)
        result = await self._arun(args, config)
        if call is None:
            return result
        return to_tool_message(result, tool_call_id=call.get("id") or "", name=self.name)

    def validate_args(self, args: object) -> dict[str, Any]:
        """The arguments validated against `args_schema`, as a dict of field values.

        A tool with one field also takes that field's value alone (`tool.invoke("Paris")`).

        Raises:
            ToolArgumentsError: The arguments do not validate; the message names the tool and
                each bad field.
        """
        fields = self.args_schema.model_fields
        if not isinstance(args, dict) and len(fields) == 1:
            args = {next(iter(fields)): args}
        try:
            model = self.args_schema.model_validate(args)
        except ValidationError as exc:
            raise ToolArgumentsError(self.name, exc, args) from exc
        return {field: getattr(model, field) for field in fields}


def _is_tool_call(value: object) -> bool:
    return isinstance(value, dict) and value.get("type") == "tool_call" and "args" in value


def to_tool_message(result: object, *, tool_call_id: str, name: str) -> ToolMessage:
    """A tool's result as the `ToolMessage` answering a call: text as is, a pydantic model or
    anything JSON can write as JSON, anything else as `str()`. A `ToolMessage` is kept."""
    if isinstance(result, ToolMessage):
        return result
    if isinstance(result, str):
        content = result
    elif isinstance(result, BaseModel):
        content = result.model_dump_json()
    else:
        try:
            content = json.dumps(result, ensure_ascii=False)
        except (TypeError, ValueError):
            content = str(result)
    return ToolMessage(content=content, tool_call_id=tool_call_id, name=name)


class StructuredTool(BaseTool):
    """A tool made from a function (usually through `@tool`).

    Args:
        func: A sync or async function. Its parameters are the tool's arguments; a parameter
            named `config` receives the run's config instead.
        name: The tool's name; default the function's.
        description: Default the function's docstring, up to its `Args:` section.
        args_schema: A pydantic model for the arguments; default one made from the signature
            (annotations and defaults) and the docstring's `Args:` descriptions.

    Raises:
        TypeError: `func` is not callable, takes `*args`/`**kwargs`, or `args_schema` is not a
            pydantic model class.
        ValueError: The name is not a valid tool name, or there is no description.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        args_schema: type[BaseModel] | None = None,
    ) -> None:
        if not callable(func):
            raise TypeError(f'Invalid "func" argument: expected a function, got {func!r}')
        self.func = func
        self._name = check_tool_name(name if name is not None else func_name(func))
        summary, field_docs = parse_docstring(func_doc(func))
        self.description = check_description(
            description if description is not None else summary, self._name
        )
        signature = inspect.signature(func)
        self._takes_config = "config" in signature.parameters
        self._given = (name, description, args_schema)  # to rebuild when unpickled
        if args_schema is None:
            args_schema = schema_from_signature(func, signature, self._name, field_docs)
        self.args_schema = check_args_schema(args_schema)
        self._async = is_async_callable(func)

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        args_schema: type[BaseModel] | None = None,
    ) -> StructuredTool:
        """LangChain's spelling of the constructor."""
        return cls(func, name=name, description=description, args_schema=args_schema)

    def __reduce__(self) -> tuple[Any, ...]:
        # `@tool` puts the tool where its function was, so the function cannot be pickled by
        # name; the tool is, instead. A schema made from the signature is made again.
        module, path = getattr(self.func, "__module__", None), qualname(self.func)
        if module and path and _lookup(module, path, default=None) is self:
            return (_lookup, (module, path))
        return (_rebuild_structured_tool, (self.func, *self._given))

    async def _arun(self, args: dict[str, Any], config: RunnableConfig) -> Any:
        if self._takes_config:
            args = {**args, "config": config}
        async with leaf_slot():
            if self._async:
                return await self.func(**args)
            return await run_in_thread(functools.partial(self.func, **args))


class _RunnableTool(BaseTool):
    """A runnable as a tool: its input is the validated arguments (or the one `input` value)."""

    def __init__(
        self,
        runnable: Runnable[Any, Any],
        name: str,
        description: str,
        args_schema: type[BaseModel],
        unwrap: bool,
        given: tuple[str | None, str | None, type[BaseModel] | None],
    ) -> None:
        self.runnable = runnable
        self._given = given
        self._name = name
        self.description = description
        self.args_schema = args_schema
        self._unwrap = unwrap

    def __reduce__(self) -> tuple[Any, ...]:
        # A schema made here (create_model) cannot be pickled by name: it is made again.
        return (_rebuild_runnable_tool, (self.runnable, *self._given))

    async def _arun(self, args: dict[str, Any], config: RunnableConfig) -> Any:
        # As a child step (its events nest under the tool's): inside a run, the config is already
        # checked and passed down, so no public entry point is needed.
        return await call_child(self.runnable, args["input"] if self._unwrap else args, config)


def tool_from_runnable(
    runnable: Runnable[Any, Any],
    *,
    name: str | None = None,
    description: str | None = None,
    args_schema: type[BaseModel] | None = None,
) -> BaseTool:
    """`runnable` as a tool (what `Runnable.as_tool` returns).

    With `args_schema`, the runnable receives the validated arguments as a dict. Without it, the
    step's input schema decides: an object's fields (a prompt's variables, typed) are the
    arguments; any other input is one argument, `input`, of the input's type, whose value the
    step receives.

    Raises:
        TypeError: `runnable` is not a runnable, or `args_schema` is not a pydantic model class.
        ValueError: The name is not a valid tool name.
    """
    if not isinstance(runnable, Runnable):
        raise TypeError(f'Invalid "runnable" argument: expected a Runnable, got {runnable!r}')
    given = (name, description, args_schema)
    tool_name = check_tool_name(name if name is not None else runnable.name)
    if description is None:
        doc = inspect.getdoc(getattr(runnable, "func", None)) if hasattr(runnable, "func") else None
        description = parse_docstring(doc)[0] if doc else f"Runs {tool_name}."
    unwrap = False
    if args_schema is None:
        # The step's own input schema, as LangChain does: an object's fields are the arguments
        # (a prompt's variables, a parallel's keys); any other input is one argument, `input`.
        args_schema = runnable.get_input_schema()
        if issubclass(args_schema, RootModel) or not args_schema.model_fields:
            root = args_schema.model_fields.get("root")
            annotation: Any = root.annotation if root is not None else Any
            args_schema = create_model(tool_name, input=(annotation, ...))
            unwrap = True
    schema = check_args_schema(args_schema)
    return _RunnableTool(
        runnable, tool_name, check_description(description, tool_name), schema, unwrap, given
    )


def _rebuild_runnable_tool(
    runnable: Runnable[Any, Any],
    name: str | None,
    description: str | None,
    args_schema: type[BaseModel] | None,
) -> BaseTool:
    return tool_from_runnable(runnable, name=name, description=description, args_schema=args_schema)


def _rebuild_structured_tool(
    func: Callable[..., Any],
    name: str | None,
    description: str | None,
    args_schema: type[BaseModel] | None,
) -> StructuredTool:
    return StructuredTool(func, name=name, description=description, args_schema=args_schema)


_MISSING: Any = object()


def _lookup(module: str, qualname: str, default: Any = _MISSING) -> Any:
    """The object at `module.qualname` (a tool `@tool` left where its function was)."""
    import importlib

    try:
        value: Any = importlib.import_module(module)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        if default is _MISSING:
            raise
        return default
    return value


@overload
def tool(func: Callable[..., Any], /) -> StructuredTool: ...
@overload
def tool(
    name: str | None = None,
    /,
    *,
    description: str | None = None,
    args_schema: type[BaseModel] | None = None,
) -> Callable[[Callable[..., Any]], StructuredTool]: ...


def tool(
    func_or_name: Callable[..., Any] | str | None = None,
    /,
    *,
    description: str | None = None,
    args_schema: type[BaseModel] | None = None,
) -> StructuredTool | Callable[[Callable[..., Any]], StructuredTool]:
    """Make a tool from a function: `@tool`, `@tool("name")` or `@tool(args_schema=Model)`.

    See `StructuredTool` for how the name, description and schema are found.

    Example:
        >>> @tool
        ... def add(a: int, b: int) -> int:
        ...     '''Add two integers.'''
        ...     return a + b
        >>> add.invoke({"a": 1, "b": 2})
        3
    """
    if callable(func_or_name):
        return StructuredTool(func_or_name, description=description, args_schema=args_schema)
    if func_or_name is not None and not isinstance(func_or_name, str):
        raise TypeError(f'Invalid "name" argument: {func_or_name!r}; expected a string')
    name = func_or_name

    def decorate(func: Callable[..., Any]) -> StructuredTool:
        return StructuredTool(func, name=name, description=description, args_schema=args_schema)

    return decorate
