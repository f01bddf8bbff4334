"""Errors raised by the `llm` package.

All subclass `ValueError`, so code that already catches bad values keeps working:

    ValueError
    ├── OutputParserError     a model's output could not be parsed; `.text` holds that output
    ├── MissingAPIKeyError    no API key was given (`api_key=`) or found (`OPENAI_API_KEY`)
    └── ToolArgumentsError    a tool's arguments do not fit its schema; names tool and fields

Errors of the `openai` SDK (`openai.RateLimitError`, `openai.InternalServerError`, ...) are not
wrapped: they reach the caller with their own type. A non-streaming reply that is not a chat
completion (an SSE body, a body that is not JSON, JSON without `choices`) raises the SDK's
`openai.APIResponseValidationError`, whose message says which and shows the start of the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError


class OutputParserError(ValueError):
    """A model's output could not be parsed.

    Attributes:
        text: The offending output, exactly as the parser received it.
    """

    def __init__(self, message: str, *, text: str) -> None:
        super().__init__(message)
        self.text = text

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only `text` needs help to survive pickling (e.g. across worker processes).
        return (_rebuild_parser_error, (str(self), self.text))


def _rebuild_parser_error(message: str, text: str) -> OutputParserError:
    return OutputParserError(message, text=text)


class MissingAPIKeyError(ValueError):
    """No API key was passed as `api_key=` and the environment variable is not set either."""


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
