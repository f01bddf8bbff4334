"""The errors of tools, which subclass the builtins callers already catch:

Exception
├── ToolException         the tool's own failure, which the model may be shown
└── ValueError
    └── ToolArgumentsError    arguments that do not fit the tool's schema; names each field
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

__all__ = ["ToolArgumentsError", "ToolException"]


class ToolException(Exception):
    """A failure of the tool's own work. With the tool's `handle_tool_error` set, it becomes
    the answer (for a tool call, a `ToolMessage` with `status="error"`) instead of raising."""


class ToolArgumentsError(ValueError):
    """A tool was given arguments that do not validate against its schema.

    The message names the tool and each bad field, e.g. `Invalid arguments for tool
    'get_weather': 'city': Field required`.

    Attributes:
        tool: The tool's name.
        errors: pydantic's error list (`loc`, `msg`, `type`, ...), one per bad field.
        arguments: The arguments as given.
    """

    def __init__(self, tool: str, error: ValidationError | str, args: Any = None) -> None:
        if isinstance(error, str):
            detail, errors = error, []
        else:
            errors = error.errors(include_url=False, include_context=False, include_input=False)
            detail = "; ".join(
                f"{'.'.join(str(part) for part in e['loc']) or '(arguments)'!r}: {e['msg']}"
                for e in errors
            )
        super().__init__(f"Invalid arguments for tool {tool!r}: {detail} (got {args!r})")
        self.tool = tool
        self.errors = errors
        self.arguments = args

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_tool_error, (str(self), self.tool, self.errors, self.arguments))


def _rebuild_tool_error(
    message: str, tool: str, errors: list[Any], arguments: Any
) -> ToolArgumentsError:
    error = ToolArgumentsError.__new__(ToolArgumentsError)
    ValueError.__init__(error, message)
    error.tool, error.errors, error.arguments = tool, errors, arguments
    return error
