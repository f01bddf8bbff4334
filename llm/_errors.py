"""Errors raised by the `llm` package.

All subclass `ValueError`, so code that already catches bad values keeps working:

    ValueError
    ├── OutputParserError     a model's output could not be parsed; `.text` holds that output
    ├── MissingAPIKeyError    no API key was given (`api_key=`) or found (`OPENAI_API_KEY`)
    └── ToolArgumentsError    a tool's arguments do not fit its schema; names tool and fields

    RuntimeError
    └── BatchJobError         a Batch API job ended `failed`, `expired` or `cancelled` before
                              answering a call; `.job_id` and `.status` name it

    Exception
    └── ToolException         a tool's own failure, which the model may be shown (a tool's
                              `handle_tool_error` turns it into the answer)

Both tool errors live with the tool base in `runnables` (tools are runnables) and are
re-exported here.

Errors of the `openai` SDK (`openai.RateLimitError`, `openai.InternalServerError`, ...) are not
wrapped: they reach the caller with their own type. A non-streaming reply that is not a chat
completion (an SSE body, a body that is not JSON, JSON without `choices`) raises the SDK's
`openai.APIResponseValidationError`, whose message says which and shows the start of the body.
A Batch API line that failed raises the SDK's status error for its status (`openai.RateLimitError`
for a 429, ...), as the direct call would have.
"""

from __future__ import annotations

from runnables._tool_errors import ToolArgumentsError, ToolException

__all__ = [
    "BatchJobError",
    "MissingAPIKeyError",
    "OutputParserError",
    "ToolArgumentsError",
    "ToolException",
]


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


class BatchJobError(RuntimeError):
    """A Batch API job ended without answering a call: `failed`, `expired` or `cancelled`.

    Calls the job had already answered keep their results; only the others raise this.

    Attributes:
        job_id: The job's id (`batch_...`).
        status: The job's final status.
    """

    def __init__(self, job_id: str, status: str, detail: str | None = None) -> None:
        message = f"Batch API job {job_id!r} ended {status!r} before answering this call"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.job_id = job_id
        self.status = status
        self.detail = detail

    def __reduce__(self) -> tuple[object, ...]:
        return (BatchJobError, (self.job_id, self.status, self.detail))
