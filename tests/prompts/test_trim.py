"""`trim_messages` and `count_tokens_approximately`.

Every expected value here was checked against langchain-core 1.8.3 on the same input.
"""

from __future__ import annotations

from typing import Any

import pytest

from prompts import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    count_tokens_approximately,
    tool_call,
    trim_messages,
)
from runnables import Runnable

PARTS: list[str | dict[str, Any]] = [
    {"type": "text", "text": "part one"},
    {"type": "text", "text": "part two"},
    {"type": "image_url", "image_url": {"url": "https://x"}},
]


def conversation() -> list[BaseMessage]:
    calls = [tool_call(name="f", args={"x": 1}, id="c1"), tool_call(name="g", args={}, id="c2")]
    return [
        SystemMessage(content="you are nice", id="s"),
        HumanMessage(content="q1 line one\nline two\nline three", id="h1", name="bob"),
        AIMessage(content="a1", id="a1", tool_calls=calls),
        ToolMessage(content="r1", tool_call_id="c1", id="t1"),
        ToolMessage(content="r2", tool_call_id="c2", id="t2"),
        HumanMessage(content=PARTS, id="h2"),
        AIMessage(content="final answer here", id="a2", name="bot"),
    ]


def words(messages: list[BaseMessage]) -> int:
    """Tokens as words plus one per message."""
    return sum(len(m.text.split()) + 1 for m in messages)


def characters(message: BaseMessage) -> int:
    return len(message.text)


def shown(messages: list[BaseMessage]) -> list[tuple[str | None, Any]]:
    return [(m.id, m.content) for m in messages]


def test_last_keeps_the_latest_messages_that_fit() -> None:
    assert trim_messages(conversation(), max_tokens=3, token_counter=words) == []
    assert shown(trim_messages(conversation(), max_tokens=8, token_counter=words)) == [
        ("h2", PARTS),
        ("a2", "final answer here"),
    ]
    kept = trim_messages(conversation(), max_tokens=3, token_counter=len)  # counts messages
    assert [m.id for m in kept] == ["t2", "h2", "a2"]


def test_first_keeps_the_earliest_and_a_partial_message_keeps_its_first_lines() -> None:
    first = trim_messages(
        conversation(), max_tokens=8, token_counter=words, strategy="first", allow_partial=True
    )
    assert shown(first) == [("s", "you are nice"), ("h1", "q1 line one\n")]
    five = trim_messages(
        conversation(), max_tokens=5, token_counter=words, strategy="first", allow_partial=True
    )
    assert shown(five) == [("s", "you are nice")]


def test_a_partial_list_message_keeps_its_last_parts_with_strategy_last() -> None:
    kept = trim_messages(
        conversation(), max_tokens=25, token_counter=characters, allow_partial=True
    )  # a counter of one message: its first parameter is annotated BaseMessage
    assert shown(kept) == [("h2", PARTS[1:]), ("a2", "final answer here")]


def test_a_custom_text_splitter_cuts_the_partial_message() -> None:
    kept = trim_messages(
        conversation()[:2],
        max_tokens=6,
        token_counter=words,
        strategy="first",
        allow_partial=True,
        text_splitter=lambda text: text.split(" "),
    )
    assert shown(kept) == [("s", "you are nice"), ("h1", "q1line")]


def test_include_system_start_on_and_end_on() -> None:
    def kept_ids(budget: int) -> list[str | None]:
        kept = trim_messages(
            conversation(), max_tokens=budget, token_counter=words, include_system=True
        )
        return [m.id for m in kept]

    with_system = [kept_ids(n) for n in (3, 8, 12, 20)]
    assert with_system == [
        ["s"],
        ["s", "a2"],
        ["s", "h2", "a2"],
        ["s", "a1", "t1", "t2", "h2", "a2"],
    ]
    starting = trim_messages(conversation(), max_tokens=20, token_counter=words, start_on="human")
    assert [m.id for m in starting] == ["h2", "a2"]
    ending = trim_messages(
        conversation(), max_tokens=12, token_counter=words, strategy="first", end_on="human"
    )
    assert [m.id for m in ending] == ["s", "h1"]
    both = trim_messages(
        conversation(),
        max_tokens=20,
        token_counter=words,
        include_system=True,
        start_on=["human"],
        end_on=(AIMessage, "tool"),
    )
    assert [m.id for m in both] == ["s", "h2", "a2"]


def test_the_approximate_counter() -> None:
    assert [count_tokens_approximately([m]) for m in conversation()] == [8, 13, 38, 5, 5, 93, 11]
    kept = trim_messages(conversation(), max_tokens=60, token_counter="approximate")
    assert [m.id for m in kept] == ["a2"]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"strategy": "first", "start_on": "human"}, "start_on"),
        ({"strategy": "first", "include_system": True}, "include_system"),
        ({"token_counter": "exact"}, "token_counter"),
        ({"strategy": "middle"}, "strategy"),
    ],
)
def test_bad_options_are_value_errors(options: dict[str, Any], error: str) -> None:
    arguments: dict[str, Any] = {"max_tokens": 3, "token_counter": words, **options}
    with pytest.raises(ValueError, match=error):
        trim_messages(conversation(), **arguments)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_tokens": "3"}, TypeError),
        ({"max_tokens": None}, TypeError),
        ({"max_tokens": True}, TypeError),
        ({"max_tokens": -1}, ValueError),
        ({"end_on": [3]}, TypeError),
        ({"start_on": 3}, TypeError),
    ],
)
def test_bad_budgets_and_types_fail_naming_the_argument(
    options: dict[str, Any], error: type[Exception]
) -> None:
    arguments: dict[str, Any] = {"max_tokens": 3, "token_counter": words, **options}
    match = f'Invalid "{next(iter(options))}" argument: '
    with pytest.raises(error, match=match):
        trim_messages(conversation(), **arguments)
    with pytest.raises(error, match=match):
        trim_messages(**arguments)  # the step form: when it is made, not on its first input


def test_trim_messages_without_messages_is_a_runnable() -> None:
    trimmer = trim_messages(max_tokens=2, token_counter=len)
    assert isinstance(trimmer, Runnable)
    assert [m.id for m in trimmer.invoke(conversation())] == ["h2", "a2"]
