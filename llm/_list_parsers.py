"""List parsers: the reply as a list of strings, streamed one complete item at a time.

- `CommaSeparatedListOutputParser`: `a, b, "c, d"` -> `["a", "b", "c, d"]`;
- `NumberedListOutputParser`: the items of `1. foo` lines;
- `MarkdownListOutputParser`: the items of `- foo` / `* foo` lines.

Streaming yields a one-item list per item once the next one has begun (the last item when the
reply ends), so the streamed lists add up to the `invoke` result.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from typing import Any

from llm._parsers import BaseOutputParser, check_text, reply_so_far
from runnables import RunnableConfig
from runnables._concurrency import closing

__all__ = [
    "CommaSeparatedListOutputParser",
    "ListOutputParser",
    "MarkdownListOutputParser",
    "NumberedListOutputParser",
]


class ListOutputParser(BaseOutputParser[list[str]]):
    """The base of the list parsers: a subclass implements `_pieces(text)`, the reply's items
    in order, the last of which may still grow while the reply streams (empty pieces are
    dropped from the result)."""

    def _pieces(self, text: str) -> list[str]:
        raise NotImplementedError(f"{type(self).__name__} does not implement _pieces")

    def parse(self, text: str) -> list[str]:
        """The items of `text`. Any text is a list, maybe an empty one.

        Raises:
            TypeError: `text` is not a str.
        """
        check_text(self, text)
        return [piece for piece in self._pieces(text) if piece]

    async def _atransform(
        self, chunks: AsyncIterator[Any], config: RunnableConfig, **kwargs: Any
    ) -> AsyncIterator[list[str]]:
        buffer = ""
        done = 0  # pieces already handled (empty ones are skipped, not yielded)
        async with closing(reply_so_far(self, chunks)) as texts:
            async for buffer in texts:
                pieces = self._pieces(buffer)
                # The last piece may still grow; every one before it is complete.
                for piece in pieces[done:-1]:
                    if piece:
                        yield [piece]
                done = max(done, len(pieces) - 1)
        for piece in self._pieces(buffer)[done:]:
            if piece:
                yield [piece]


class CommaSeparatedListOutputParser(ListOutputParser):
    """The reply as a list of strings, split on commas (and newlines).

    Items are stripped and empty ones dropped; double quotes protect commas inside an item
    (`a, "b, c"` -> `["a", "b, c"]`). Any text parses, so this parser raises no
    `OutputParserError`.
    """

    def _pieces(self, text: str) -> list[str]:
        # Not csv's strict mode: a stray quote in prose ('He said "hi" twice') is text.
        rows = csv.reader(io.StringIO(text), skipinitialspace=True)
        return [item.strip() for row in rows for item in row]

    def get_format_instructions(self) -> str:
        """Instructions for the prompt: a comma-separated list."""
        return (
            "Answer with a comma-separated list of values and nothing else, "
            "for example: `foo, bar, baz`."
        )


class _PatternListParser(ListOutputParser):
    """Items are the first group of each match of `pattern` (a regular expression)."""

    pattern: str
    _flags = 0

    def __init__(self, *, pattern: str | None = None) -> None:
        if pattern is not None:
            if not isinstance(pattern, str):
                raise TypeError(f'Invalid "pattern" argument: {pattern!r}; expected a string')
            try:
                compiled = re.compile(pattern, self._flags)
            except re.error as exc:
                raise ValueError(f'Invalid "pattern" argument: {pattern!r}; {exc}') from exc
            if compiled.groups < 1:
                raise ValueError(
                    f'Invalid "pattern" argument: {pattern!r}; it needs a group for the item'
                )
            self.pattern = pattern
        self._regex = re.compile(self.pattern, self._flags)

    def __repr__(self) -> str:
        own = self.pattern != type(self).pattern
        return f"{type(self).__name__}({f'pattern={self.pattern!r}' if own else ''})"

    def _pieces(self, text: str) -> list[str]:
        return [match.group(1) for match in self._regex.finditer(text)]


class NumberedListOutputParser(_PatternListParser):
    """The items of a numbered list: each `1. foo` gives `foo` (other text is ignored).

    Args:
        pattern: A regular expression whose first group is an item (default `\\d+\\.\\s([^\\n]+)`).

    Raises:
        TypeError: `pattern` is not a string.
        ValueError: `pattern` does not compile, or has no group.
    """

    pattern = r"\d+\.\s([^\n]+)"

    def get_format_instructions(self) -> str:
        """Instructions for the prompt: a numbered list, one item per line."""
        return (
            "Answer with a numbered list, one item per line, and nothing else, for example:\n"
            "1. foo\n2. bar\n3. baz"
        )


class MarkdownListOutputParser(_PatternListParser):
    """The items of a markdown list: each `- foo` or `* foo` line gives `foo`.

    Args:
        pattern: A regular expression (multi-line mode) whose first group is an item (default
            `^\\s*[-*]\\s([^\\n]+)$`).

    Raises:
        TypeError: `pattern` is not a string.
        ValueError: `pattern` does not compile, or has no group.
    """

    pattern = r"^\s*[-*]\s([^\n]+)$"
    _flags = re.MULTILINE

    def get_format_instructions(self) -> str:
        """Instructions for the prompt: a markdown list."""
        return "Answer with a markdown list and nothing else, for example:\n- foo\n- bar\n- baz"
