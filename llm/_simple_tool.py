"""`Tool`: LangChain's single-input tool, a function of one string.

`Tool(name, func, description)` calls `func` with the one value it is given: a string, or the
value of a one-key dict (what a model sends for the `__arg1` argument the tool advertises). A
dict with more keys is a `ToolException`. With `args_schema`, the arguments are validated
first, and a single field's value is still passed positionally.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

import llm._tool_messages  # noqa: F401  (registers how tools answer tool calls)
from runnables import RunnableConfig
from runnables._tool import BaseTool, run_tool_code
from runnables._tool_errors import ToolException
from runnables._tool_schema import call_params, check_functions

__all__ = ["Tool"]


class Tool(BaseTool):
    """A tool of one string input: `Tool(name, func, description, coroutine=None)`.

    Args:
        name: The tool's name.
        func: A sync function of one argument, or None (with `coroutine`).
        description: What the tool does, for the model.
        coroutine: An `async def` function of one argument; used for every call when given.
        **kwargs: Other fields (`return_direct`, `args_schema`, `handle_tool_error`, ...).

    Raises:
        TypeError: `func` is not callable, or `coroutine` is not `async def`.
        ValueError: Neither is given, or the name is not a valid tool name.
    """

    func: Callable[..., Any] | None
    coroutine: Callable[..., Awaitable[Any]] | None = None

    def __init__(
        self,
        name: str,
        func: Callable[..., Any] | None,
        description: str,
        *,
        coroutine: Callable[..., Awaitable[Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        func, coroutine = check_functions(func, coroutine)
        if func is None and coroutine is None:
            raise ValueError('Invalid "func" argument: None; give a function or a coroutine')
        super().__init__(
            name=name, func=func, description=description, coroutine=coroutine, **kwargs
        )

    @classmethod
    def from_function(
        cls,
        func: Callable[..., Any] | None,
        name: str,
        description: str,
        return_direct: bool = False,
        args_schema: type[BaseModel] | None = None,
        coroutine: Callable[..., Awaitable[Any]] | None = None,
        **kwargs: Any,
    ) -> Tool:
        """LangChain's other spelling of the constructor."""
        return cls(
            name,
            func,
            description,
            coroutine=coroutine,
            return_direct=return_direct,
            args_schema=args_schema,
            **kwargs,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {k: getattr(self, k) for k in type(self).model_fields if k not in ("name", "func")}
        return (_rebuild, (type(self), self.name, self.func, fields))

    def _input_model(self) -> type[BaseModel] | dict[str, Any] | None:
        return self.args_schema  # type: ignore[no-any-return]

    def _to_args(
        self, tool_input: Any, call: dict[str, Any] | None
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        if self.args_schema is not None:
            args, kwargs = super()._to_args(tool_input, call)
            return ((*kwargs.values(),), {}) if len(kwargs) == 1 else (args, kwargs)
        if isinstance(tool_input, dict):
            if len(tool_input) != 1:
                raise ToolException(
                    f"Too many arguments to single-input tool {self.name!r}: "
                    f"{list(tool_input)!r}; use StructuredTool for several arguments"
                )
            return (next(iter(tool_input.values())),), {}
        return (tool_input,), {}

    async def _execute(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], config: RunnableConfig
    ) -> Any:
        coroutine, func = self.coroutine, self.func
        source = coroutine if coroutine is not None else func
        assert source is not None  # checked when the tool was made
        config_param = call_params(source)[0]
        is_async = coroutine is not None
        return await run_tool_code(source, is_async, args, kwargs, config, config_param, False)


def _rebuild(cls: type[Tool], name: str, func: Any, fields: dict[str, Any]) -> Tool:
    return cls(name, func, **fields)
