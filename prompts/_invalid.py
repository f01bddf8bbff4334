"""`InvalidArgumentError`: a wrong kind of value given to a pydantic model's constructor.

A message or document made with content of the wrong kind (`HumanMessage(content=5)`) fails when
it is made, naming the parameter and showing the value, as every constructor here does. The
error is a `TypeError` (a wrong kind) and still a pydantic `ValidationError` (so a `ValueError`),
which is what LangChain's models raise there: code catching either keeps working.
"""

from __future__ import annotations

import reprlib
from typing import Any

from pydantic_core import ValidationError

__all__ = ["InvalidArgumentError", "invalid_argument"]


class InvalidArgumentError(ValidationError, TypeError):
    """A constructor's argument of the wrong kind (a `TypeError` and a `ValidationError`)."""

    def __str__(self) -> str:
        # Worked out from the error data, which pydantic keeps when it pickles or copies one.
        error = self.errors()[0]
        param, value = error["loc"][0], error["input"]
        expected = error.get("ctx", {}).get("class", "?")
        try:
            shown = reprlib.repr(value)
        except Exception:
            shown = f"<{type(value).__name__} whose repr fails>"
        return (
            f'Invalid "{param}" argument of {self.title}: expected {expected}, '
            f"got {type(value).__name__} {shown}"
        )


def invalid_argument(model: str, param: str, value: Any, expected: str) -> InvalidArgumentError:
    """The error for `model(param=value)` where `param` must be `expected`."""
    return InvalidArgumentError.from_exception_data(
        model,
        [{"type": "is_instance_of", "loc": (param,), "input": value, "ctx": {"class": expected}}],
    )
