"""Argument checks shared by the models: reject bad values when a model is built, naming them."""

from __future__ import annotations

import functools
import inspect
import math


def check_number(
    name: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    positive: bool = False,
) -> float:
    """Return `value` as a float if it is a real number within bounds.

    Raises:
        TypeError: `value` is not an int or float (bools are rejected).
        ValueError: it is NaN, infinite, not > 0 (with `positive`) or outside `[low, high]`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f'Invalid "{name}" argument: {value!r}; expected a number')
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f'Invalid "{name}" argument: {value!r}; expected a finite number')
    if positive and number <= 0:
        raise ValueError(f'Invalid "{name}" argument: {value!r}; expected a number > 0')
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f"[{low:g}, {high:g}]" if low is not None and high is not None else f">= {low:g}"
        raise ValueError(f'Invalid "{name}" argument: {value!r}; expected a number in {bounds}')
    return number


def check_int(name: str, value: object, *, low: int) -> int:
    """Return `value` if it is an int `>= low`.

    Raises:
        TypeError: `value` is not an int (bools are rejected).
        ValueError: it is below `low`.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'Invalid "{name}" argument: {value!r}; expected an int')
    if value < low:
        raise ValueError(f'Invalid "{name}" argument: {value!r}; expected an int >= {low}')
    return value


def check_optional_str(name: str, value: object) -> str | None:
    """Return `value` if it is None or a non-empty string.

    Raises:
        TypeError: `value` is not a string.
        ValueError: it is empty.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f'Invalid "{name}" argument: {value!r}; expected a string')
    if not value:
        raise ValueError(f'Invalid "{name}" argument: {value!r}; expected a non-empty string')
    return value


def check_temperature(value: object) -> float | None:
    """A sampling temperature in [0, 2], or None."""
    return None if value is None else check_number("temperature", value, low=0.0, high=2.0)


def check_max_tokens(value: object) -> int | None:
    """A positive token count, or None."""
    return None if value is None else check_int("max_tokens", value, low=1)


MANAGED_FIELDS = frozenset({"messages", "model", "stream", "stream_options"})
"""Request fields an OpenAI-style model sets itself; options and `model_kwargs` may not."""


@functools.cache
def chat_completion_fields() -> frozenset[str]:
    """The request fields of the installed SDK's `chat.completions.create` (imported on first
    use; the SDK takes ~0.4 s to import)."""
    from openai.resources.chat.completions import AsyncCompletions

    return frozenset(inspect.signature(AsyncCompletions.create).parameters) - {"self"}
