"""Adding stream chunks up: the one place every streaming step does it.

A stream's chunks add up to the step's whole output: `AIMessageChunk`s and strings with `+`,
keyed chunks of parallel steps (`AddableDict`) key by key. Chunks that cannot be added (two whole
objects, such as a JSON parser's successive partial dicts) replace each other, the last one
being the value, as LCEL does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

__all__ = ["AddableDict", "ChunkSum", "add_chunks", "collect_chunks", "sum_chunks"]


def add_chunks(left: Any, right: Any) -> Any:
    """Add two stream chunks with `+`; chunks that do not add replace each other."""
    try:
        return left + right
    except TypeError:
        return right


class ChunkSum:
    """A running total of chunks: `add` each one as it passes, read `value` at the end.

    `started` tells an empty stream (no chunk at all) from a stream whose sum is None.
    """

    __slots__ = ("started", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.started = False

    def add(self, chunk: Any) -> None:
        """Add one chunk (the first one starts the sum)."""
        if self.started:
            self.value = add_chunks(self.value, chunk)
        else:
            self.value, self.started = chunk, True


def sum_chunks(chunks: Iterable[Any]) -> Any:
    """Add up the chunks of a (sync) iterable; None when it is empty."""
    total = ChunkSum()
    for chunk in chunks:
        total.add(chunk)
    return total.value


async def collect_chunks(chunks: AsyncIterator[Any]) -> Any:
    """Add up a stream of chunks; None when it is empty."""
    total = ChunkSum()
    async for chunk in chunks:
        total.add(chunk)
    return total.value


class AddableDict(dict[str, Any]):
    """A dict chunk that adds key by key: `{"a": "x"} + {"a": "y", "b": 1} == {"a": "xy", "b": 1}`.

    Parallel, assign and pick stream these, so adding a stream's chunks gives the whole output.
    """

    def __add__(self, other: Any) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        merged = AddableDict(self)
        for key, value in other.items():
            merged[key] = add_chunks(merged[key], value) if key in merged else value
        return merged

    def __radd__(self, other: Any) -> AddableDict:
        if not isinstance(other, dict):
            return NotImplemented
        return AddableDict(other) + self
