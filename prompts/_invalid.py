"""`InvalidArgumentError`: a wrong kind of value given to a pydantic model's constructor.

A message or document made with content of the wrong kind (`HumanMessage(content=5)`) fails when
it is made, naming the parameter and showing the value, as every constructor here does. The
error is a `TypeError` (a wrong kind) and still a pydantic `ValidationError` (so a `ValueError`),
which is what LangChain's models raise there: code catching either keeps working.
"""

from __future__ import annotations

from typing import Any

from pydantic_core import ValidationError

__all__ = ["InvalidArgumentError", "invalid_argument"]


class InvalidArgumentError(ValidationError, TypeError):
    """A constructor's argument of the wrong kind (a `TypeError` and a `ValidationError`)."""

    _message: str

    def __str__(self) -> str:
        return self._message


def invalid_argument(model: str, param: str, value: Any, expected: str) -> InvalidArgumentError:
    """The error for `model(param=value)` where `param` must be `expected`."""
    error = InvalidArgumentError.from_exception_data(
        model,
        [{"type": "is_instance_of", "loc": (param,), "input": value, "ctx": {"class": expected}}],
    )
    error._message = (
        f'Invalid "{param}" argument of {model}: expected {expected}, '
        f"got {type(value).__name__} {value!r}"
    )
    return error
