"""`trim_messages`: keep a conversation within a token budget, as LangChain's does.

With `strategy="last"` (the usual one for chat history) the latest messages that fit are kept,
optionally with the leading system message (`include_system`) and starting on a given type
(`start_on="human"`); with `"first"`, the earliest. `allow_partial` keeps the part of the
message on the border that fits (its last parts or lines for `"last"`, first for `"first"`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeAlias

from prompts._message_utils import (
    MessageLikeRepresentation,
    _is_type,
    _types,
    convert_to_messages,
    runnable_support,
)
from prompts._messages import AIMessage, BaseMessage, SystemMessage, ToolMessage
from prompts._openai_messages import openai_role
from prompts._values import PromptValue

__all__ = ["count_tokens_approximately", "trim_messages"]

_TypeSpec: TypeAlias = str | type[BaseMessage] | Sequence[str | type[BaseMessage]]
_Counter: TypeAlias = Callable[[list[BaseMessage]], int]


def count_tokens_approximately(
    messages: Iterable[MessageLikeRepresentation],
    *,
    chars_per_token: float = 4.0,
    extra_tokens_per_message: float = 3.0,
    count_name: bool = True,
    tokens_per_image: int = 85,
) -> int:
    """A quick token estimate, LangChain's: the characters of each message (its text parts,
    the `repr` of other parts, its role, name, tool calls and tool call id) over
    `chars_per_token`, rounded up, plus `extra_tokens_per_message` each and
    `tokens_per_image` for each image part."""
    total = 0.0
    for message in convert_to_messages(messages):
        chars = 0
        content = message.content
        if isinstance(content, str):
            chars += len(content)
        else:
            for part in content:
                if isinstance(part, str):
                    chars += len(part)
                elif part.get("type") in ("image", "image_url"):
                    total += tokens_per_image
                elif part.get("type") == "text":
                    chars += len(part.get("text", ""))
                else:
                    chars += len(repr(part))
        if isinstance(message, AIMessage) and isinstance(content, str) and message.tool_calls:
            chars += len(repr(message.tool_calls))
        if isinstance(message, ToolMessage):
            chars += len(message.tool_call_id)
        chars += len(openai_role(message))
        if message.name and count_name:
            chars += len(message.name)
        total += math.ceil(chars / chars_per_token) + extra_tokens_per_message
    return math.ceil(total)


def _approximate(messages: list[BaseMessage]) -> int:
    return count_tokens_approximately(messages)


def _list_counter(token_counter: Any) -> _Counter:
    """A counter of a list of messages from what `trim_messages` was given."""
    if token_counter == "approximate":
        return _approximate
    if isinstance(token_counter, str):
        raise ValueError(
            f'Invalid "token_counter" argument: {token_counter!r}; the one name known is '
            "'approximate'"
        )
    counts_messages = getattr(token_counter, "get_num_tokens_from_messages", None)
    if callable(counts_messages):
        method: _Counter = counts_messages
        return method
    if not callable(token_counter):
        raise TypeError(
            'Invalid "token_counter" argument: expected a function of a list of messages, '
            f"a function of one message, or 'approximate', got {token_counter!r}"
        )
    try:
        first = next(iter(inspect.signature(token_counter).parameters.values()), None)
    except (TypeError, ValueError):  # a builtin without a signature
        first = None
    per_message = first is not None and first.annotation in (BaseMessage, "BaseMessage")
    if per_message:
        return lambda messages: sum(token_counter(m) for m in messages)
    counter: _Counter = token_counter
    return counter


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + lines[-1:]


def _first_text(content: str | list[Any]) -> str | None:
    if isinstance(content, str):
        return content
    for part in content:
        if isinstance(part, str):
            return part
        if isinstance(part, dict) and part.get("type") == "text":
            text = part.get("text")
            return text if isinstance(text, str) else None
    return None


def _longest_prefix(count: int, fits: Callable[[int], bool]) -> int:
    """The largest n in [0, count] with `fits(n)` (fits is monotone: true up to some n)."""
    low, high = 0, count
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def _partial(
    kept: list[BaseMessage],
    border: BaseMessage,
    *,
    max_tokens: int,
    counter: _Counter,
    splitter: Callable[[str], list[str]],
    from_end: bool,
) -> BaseMessage | None:
    """The largest part of `border` that fits after `kept`: its first (or, `from_end`, last)
    content parts, else the first (last) pieces of its first text."""
    content = border.content
    if isinstance(content, list):
        parts = list(reversed(content)) if from_end else list(content)
        for size in range(len(parts) - 1, 0, -1):
            piece = parts[:size]
            candidate = border.model_copy(
                update={"content": list(reversed(piece)) if from_end else piece}, deep=True
            )
            if counter([*kept, candidate]) <= max_tokens:
                return candidate
    text = _first_text(content)
    if not text:
        return None
    pieces = splitter(text)
    if from_end:
        pieces.reverse()
    base = counter(kept)

    def text_of(n: int) -> str:
        chosen = pieces[:n]
        return "".join(reversed(chosen) if from_end else chosen)

    def fits(n: int) -> bool:
        return base + counter([border.model_copy(update={"content": text_of(n)})]) <= max_tokens

    n = _longest_prefix(len(pieces), fits)
    return border.model_copy(update={"content": text_of(n)}, deep=True) if n else None


def _first(
    messages: list[BaseMessage],
    *,
    max_tokens: int,
    counter: _Counter,
    splitter: Callable[[str], list[str]],
    partial: bool,
    from_end: bool,
    end_on: list[str | type[BaseMessage]] | None,
) -> list[BaseMessage]:
    if not messages:
        return []
    if counter(messages) <= max_tokens:
        kept = list(messages)
    else:
        n = _longest_prefix(len(messages), lambda k: counter(messages[:k]) <= max_tokens)
        kept = messages[:n]
        if partial and n < len(messages):
            part = _partial(
                kept,
                messages[n],
                max_tokens=max_tokens,
                counter=counter,
                splitter=splitter,
                from_end=from_end,
            )
            if part is not None:
                kept.append(part)
    if end_on:
        while kept and not _is_type(kept[-1], end_on):
            kept.pop()
    return kept


@runnable_support
def trim_messages(
    messages: Iterable[MessageLikeRepresentation] | PromptValue,
    *,
    max_tokens: int,
    token_counter: Callable[[list[BaseMessage]], int]
    | Callable[[BaseMessage], int]
    | Literal["approximate"]
    | Any,
    strategy: Literal["first", "last"] = "last",
    allow_partial: bool = False,
    end_on: _TypeSpec | None = None,
    start_on: _TypeSpec | None = None,
    include_system: bool = False,
    text_splitter: Callable[[str], list[str]] | None = None,
) -> list[BaseMessage]:
    """The messages that fit in `max_tokens`, as LangChain trims them.

    Args:
        messages: Message-like values (see `convert_to_messages`).
        max_tokens: The budget.
        token_counter: Counts the tokens of a list of messages (`len` counts messages), or of
            one message (a function whose first parameter is annotated `BaseMessage`), or
            `"approximate"` (`count_tokens_approximately`), or a model with
            `get_num_tokens_from_messages`.
        strategy: `"last"` keeps the latest messages, `"first"` the earliest.
        allow_partial: Keep the part of the border message that fits.
        end_on: Drop messages at the end until one of these types (after trimming for
            `"first"`, before for `"last"`).
        start_on: (`"last"` only) drop messages at the start until one of these types.
        include_system: (`"last"` only) keep a leading system message, counted in the budget.
        text_splitter: Splits a text for `allow_partial` (default: into lines, each keeping
            its newline).

    Returns:
        A new list of messages.

    Raises:
        TypeError: `max_tokens` is not an int, `token_counter` is none of the forms above, or
            `end_on` / `start_on` are not message types.
        ValueError: `start_on` or `include_system` with `strategy="first"`, a negative
            `max_tokens`, an unknown strategy or counter name.

    Without `messages`, the result is a step trimming its input; its options are checked when
    it is made.
    """
    if strategy not in ("first", "last"):
        raise ValueError(f'Invalid "strategy" argument: {strategy!r}; expected "first" or "last"')
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise TypeError(f'Invalid "max_tokens" argument: {max_tokens!r}; expected an int')
    if max_tokens < 0:
        raise ValueError(f'Invalid "max_tokens" argument: {max_tokens!r}; expected at least 0')
    if strategy == "first" and start_on:
        raise ValueError("start_on is only valid with strategy='last'")
    if strategy == "first" and include_system:
        raise ValueError("include_system is only valid with strategy='last'")
    counter = _list_counter(token_counter)
    splitter = text_splitter or _split_lines
    listed = convert_to_messages(messages)
    ends, starts = _types(end_on, "end_on"), _types(start_on, "start_on")
    if strategy == "first":
        return _first(
            listed,
            max_tokens=max_tokens,
            counter=counter,
            splitter=splitter,
            partial=allow_partial,
            from_end=False,
            end_on=ends,
        )
    if ends:
        while listed and not _is_type(listed[-1], ends):
            listed.pop()
    system = None
    budget = max_tokens
    if include_system and listed and isinstance(listed[0], SystemMessage):
        system, listed = listed[0], listed[1:]
        budget = max(0, max_tokens - counter([system]))
    kept = _first(
        listed[::-1],
        max_tokens=budget,
        counter=counter,
        splitter=splitter,
        partial=allow_partial,
        from_end=True,
        end_on=starts,
    )[::-1]
    return [system, *kept] if system is not None else kept
