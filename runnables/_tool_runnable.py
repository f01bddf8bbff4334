"""Any runnable as a tool: what `Runnable.as_tool` returns.

The runnable's input schema gives the arguments: an object's fields (a prompt's variables, a
parallel's keys) are the arguments and the step receives them as a dict; any other input is one
argument, `input`, of the input's type, whose value the step receives. `args_schema` or
`arg_types` replace that schema.
"""

from __future__ import annotations

import inspect
from typing import Any

from pydantic import BaseModel, PrivateAttr, PydanticSchemaGenerationError, RootModel, create_model

from runnables._base import Runnable
from runnables._config import RunnableConfig
from runnables._events import call_child
from runnables._tool import BaseTool
from runnables._tool_schema import (
    check_args_schema,
    check_description,
    check_tool_name,
    parse_docstring,
)

__all__ = ["RunnableTool", "tool_from_runnable"]


class RunnableTool(BaseTool):
    """A runnable as a tool (made by `Runnable.as_tool`)."""

    runnable: Runnable[Any, Any]
    _unwrap: bool = PrivateAttr(False)
    _given: tuple[Any, ...] = PrivateAttr(())

    def __reduce__(self) -> tuple[Any, ...]:
        # A schema made here (create_model) cannot be pickled by name: it is made again.
        return (_rebuild, (self.runnable, *self._given))

    async def _execute(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], config: RunnableConfig
    ) -> Any:
        # A child step whose own leaves hold the run's slots (the tool holds none, so a
        # limit of 1 cannot deadlock); its events nest under the tool's.
        value = kwargs["input"] if self._unwrap else kwargs
        return await call_child(self.runnable, value, config)


def tool_from_runnable(
    runnable: Runnable[Any, Any],
    args_schema: type[BaseModel] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    arg_types: dict[str, type] | None = None,
) -> BaseTool:
    """`runnable` as a tool (see the module docstring for its arguments).

    Raises:
        TypeError: `runnable` is not a runnable, `args_schema` is not a pydantic model class,
            or `arg_types` is not a dict.
        ValueError: The name is not a valid tool name.
    """
    if not isinstance(runnable, Runnable):
        raise TypeError(f'Invalid "runnable" argument: expected a Runnable, got {runnable!r}')
    given = (args_schema, name, description, arg_types)
    tool_name = check_tool_name(name if name is not None else runnable.name)
    if description is None:
        doc = inspect.getdoc(getattr(runnable, "func", None)) if hasattr(runnable, "func") else None
        description = parse_docstring(doc)[0] if doc else f"Runs {tool_name}."
    unwrap = False
    if arg_types is not None:
        if not isinstance(arg_types, dict):
            raise TypeError(f'Invalid "arg_types" argument: {arg_types!r}; expected a dict')
        fields: dict[str, Any] = {k: (t, ...) for k, t in arg_types.items()}
        try:
            args_schema = create_model(tool_name, **fields)
        except PydanticSchemaGenerationError:
            raise TypeError(
                f'Invalid "arg_types" argument: {arg_types!r}; expected argument names mapped '
                "to types"
            ) from None
    if args_schema is None:
        args_schema = runnable.get_input_schema()
        if issubclass(args_schema, RootModel) or not args_schema.model_fields:
            root = args_schema.model_fields.get("root")
            annotation: Any = root.annotation if root is not None else Any
            args_schema = create_model(tool_name, input=(annotation, ...))
            unwrap = True
    schema = check_args_schema(args_schema)
    if not isinstance(schema, type):
        raise TypeError(f'Invalid "args_schema" argument: {schema!r}; expected a pydantic model')
    made = RunnableTool(
        name=tool_name,
        description=check_description(description, tool_name),
        args_schema=schema,
        runnable=runnable,
    )
    made._unwrap, made._given = unwrap, given
    return made


def _rebuild(
    runnable: Runnable[Any, Any],
    args_schema: type[BaseModel] | None,
    name: str | None,
    description: str | None,
    arg_types: dict[str, type] | None,
) -> BaseTool:
    return tool_from_runnable(
        runnable, args_schema, name=name, description=description, arg_types=arg_types
    )
