"""Numbered and markdown list parsers: LangChain's results, streamed item by item."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from llm import (
    CommaSeparatedListOutputParser,
    ListOutputParser,
    MarkdownListOutputParser,
    NumberedListOutputParser,
    OfflineChatModel,
)
from prompts import AIMessage, AIMessageChunk

pytestmark = pytest.mark.anyio


async def by_char(text: str) -> AsyncIterator[Any]:
    for c in text:
        yield AIMessageChunk(content=c)


# Each pair is langchain-core 1.8.3's result for that input.
NUMBERED = [
    ("1. foo\n2. bar\n3. baz", ["foo", "bar", "baz"]),
    ("Here:\n1. foo\n2) bar\n 3. baz qux\n10. ten", ["foo", "baz qux", "ten"]),
    ("no list", []),
    ("1.foo\n2.bar", []),
    ("1. a, b\n2. c", ["a, b", "c"]),
]

MARKDOWN = [
    ("- foo\n- bar\n* baz\n+ plus", ["foo", "bar", "baz"]),
    ("Here:\n - foo\n  * bar\nend", ["foo", "bar"]),
    ("no list", []),
    ("-foo\n- bar", ["bar"]),
    ("1. a\n- b", ["b"]),
]


@pytest.mark.parametrize(("text", "expected"), NUMBERED)
async def test_numbered_list_parser_gives_langchains_results(text: str, expected: Any) -> None:
    assert await NumberedListOutputParser().ainvoke(text) == expected
    assert NumberedListOutputParser().parse(text) == expected


@pytest.mark.parametrize(("text", "expected"), MARKDOWN)
async def test_markdown_list_parser_gives_langchains_results(text: str, expected: Any) -> None:
    assert await MarkdownListOutputParser().ainvoke(AIMessage(content=text)) == expected


@pytest.mark.parametrize(
    ("parser", "text", "items"),
    [
        (
            NumberedListOutputParser(),
            "Sure:\n1. foo\n2. bar baz\n3. qux",
            ["foo", "bar baz", "qux"],
        ),
        (MarkdownListOutputParser(), "- foo\n* bar baz\n- qux\n\nDone.", ["foo", "bar baz", "qux"]),
        (CommaSeparatedListOutputParser(), 'a, "b, c", d', ["a", "b, c", "d"]),
    ],
)
async def test_list_parsers_stream_one_complete_item_at_a_time(
    parser: ListOutputParser, text: str, items: list[str]
) -> None:
    streamed = [chunk async for chunk in parser.atransform(by_char(text))]
    assert streamed == [[item] for item in items]
    assert await parser.ainvoke(text) == items


async def test_an_item_is_streamed_as_soon_as_the_next_one_begins() -> None:
    arrived = []

    async def source() -> AsyncIterator[str]:
        for piece in ["1. foo\n", "2. b", "ar\n3. baz"]:
            arrived.append(piece)
            yield piece

    seen = []
    async for chunk in NumberedListOutputParser().atransform(source()):
        seen.append((chunk, len(arrived)))
    assert seen == [(["foo"], 2), (["bar"], 3), (["baz"], 3)]


async def test_list_parser_streams_through_a_model_chain() -> None:
    model = OfflineChatModel(responses=["- alpha beta\n- gamma\n- delta"])
    chain = model | MarkdownListOutputParser()
    assert [c async for c in chain.astream("x")] == [["alpha beta"], ["gamma"], ["delta"]]
    assert chain.invoke("x") == ["alpha beta", "gamma", "delta"]


async def test_a_list_parser_takes_its_own_pattern() -> None:
    parser = NumberedListOutputParser(pattern=r"\d+\)\s([^\n]+)")
    assert await parser.ainvoke("1) a\n2) b\n3. c") == ["a", "b"]
    assert repr(parser) == r"NumberedListOutputParser(pattern='\\d+\\)\\s([^\\n]+)')"
    assert repr(NumberedListOutputParser()) == "NumberedListOutputParser()"


@pytest.mark.parametrize(
    ("pattern", "error", "match"),
    [
        (5, TypeError, '"pattern" argument: 5'),
        ("(", ValueError, "\"pattern\" argument: '\\('"),
        (r"\d+", ValueError, "needs a group"),
    ],
)
def test_a_bad_pattern_fails_when_the_parser_is_made(
    pattern: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        MarkdownListOutputParser(pattern=pattern)


def test_list_parsers_give_format_instructions() -> None:
    assert "1. foo" in NumberedListOutputParser().get_format_instructions()
    assert "- foo" in MarkdownListOutputParser().get_format_instructions()
    assert "comma-separated" in CommaSeparatedListOutputParser().get_format_instructions()


def test_a_list_parser_reads_list_content() -> None:
    message = AIMessage(content=[{"type": "text", "text": "1. a\n"}, "2. b"])
    assert NumberedListOutputParser().invoke(message) == ["a", "b"]


class Lines(ListOutputParser):
    """A list parser of one's own: the reply's lines."""

    def _pieces(self, text: str) -> list[str]:
        return [line.strip() for line in text.split("\n")]


async def test_a_list_parser_of_ones_own_streams_like_the_others() -> None:
    assert [c async for c in Lines().atransform(by_char("a\n\nb c\nd"))] == [["a"], ["b c"], ["d"]]
    assert Lines().parse_result(["x\ny"], partial=True) == ["x", "y"]


def test_a_list_parser_without_pieces_says_so() -> None:
    with pytest.raises(NotImplementedError, match="Empty does not implement _pieces"):
        type("Empty", (ListOutputParser,), {})().parse("a")
