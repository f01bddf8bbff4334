"""Output parsers: each parse path, each bad input, streaming."""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from llm import (
    CommaSeparatedListOutputParser,
    JsonOutputParser,
    OfflineChatModel,
    OutputParserError,
    PydanticOutputParser,
    StrOutputParser,
)
from prompts._messages import AIMessage, AIMessageChunk, HumanMessage

pytestmark = pytest.mark.anyio


class Person(BaseModel):
    name: str
    age: int


async def chunks_of(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


# -- StrOutputParser ---------------------------------------------------------------------------


async def test_str_parser_takes_message_content_and_passes_strings() -> None:
    parser = StrOutputParser()
    assert await parser.ainvoke(AIMessage(content="hi")) == "hi"
    assert await parser.ainvoke(HumanMessage(content="also")) == "also"
    assert await parser.ainvoke("plain") == "plain"


async def test_str_parser_streams_each_chunk() -> None:
    stream = StrOutputParser().atransform(
        chunks_of(AIMessageChunk(content="a"), AIMessageChunk(content=" b"), "c")
    )
    assert [c async for c in stream] == ["a", " b", "c"]


@pytest.mark.parametrize("bad", [42, None, {"content": "x"}])
async def test_parsers_reject_non_text_input_naming_it(bad: object) -> None:
    for parser in (StrOutputParser(), JsonOutputParser(), CommaSeparatedListOutputParser()):
        with pytest.raises(TypeError, match=type(bad).__name__):
            await parser.ainvoke(bad)  # type: ignore[arg-type]


async def test_str_parser_stream_rejects_non_text_chunk() -> None:
    with pytest.raises(TypeError, match="int"):
        _ = [c async for c in StrOutputParser().atransform(chunks_of("a", 3))]


# -- JsonOutputParser --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, "b": [true, null]}', {"a": 1, "b": [True, None]}),
        ("  [1, 2]\n", [1, 2]),
        ('```json\n{"a": "x"}\n```', {"a": "x"}),
        ('Here you go:\n```JSON\n{"a": 2}\n```\nEnjoy.', {"a": 2}),
        ('```\n{"a": 3}\n```', {"a": 3}),
        ('```json\n{"a": 4}', {"a": 4}),  # unclosed fence
        ('"just a string"', "just a string"),
    ],
)
async def test_json_parser_accepts_plain_and_fenced_json(text: str, expected: Any) -> None:
    assert await JsonOutputParser().ainvoke(text) == expected
    assert await JsonOutputParser().ainvoke(AIMessage(content=text)) == expected


@pytest.mark.parametrize(
    "text", ["", "not json", '{"a": 1', '{"a": 1} trailing', "```json\n```", "{'a': 1}"]
)
async def test_json_parser_rejects_invalid_json_with_the_text(text: str) -> None:
    with pytest.raises(OutputParserError, match="Invalid JSON") as info:
        await JsonOutputParser().ainvoke(text)
    assert info.value.text == text
    assert isinstance(info.value, ValueError)


async def test_json_parser_validates_against_a_schema_and_returns_the_json() -> None:
    parser = JsonOutputParser(pydantic_object=Person)
    assert await parser.ainvoke('{"name": "Ada", "age": "36"}') == {"name": "Ada", "age": "36"}
    with pytest.raises(OutputParserError, match="does not match Person") as info:
        await parser.ainvoke('{"name": "Ada"}')
    assert info.value.text == '{"name": "Ada"}'


def test_json_parser_format_instructions() -> None:
    assert "JSON" in JsonOutputParser().get_format_instructions()
    with_schema = JsonOutputParser(pydantic_object=Person).get_format_instructions()
    assert '"age"' in with_schema
    assert '"required"' in with_schema


async def test_json_parser_in_a_chain_and_its_stream() -> None:
    chain = OfflineChatModel(responses=['```json\n{"k": [1, 2]}\n```']) | JsonOutputParser()
    assert await chain.ainvoke("x") == {"k": [1, 2]}
    # Word-by-word chunks: partial values as the JSON grows, the last one complete.
    chunks = [c async for c in chain.astream("x")]
    assert chunks[-1] == {"k": [1, 2]}
    assert chunks == [{}, {"k": [1]}, {"k": [1, 2]}]


async def test_json_parser_streams_partial_objects_by_character() -> None:
    reply = '{"title": "Moon", "years": [1969, 1972], "crewed": true}'
    chain = OfflineChatModel(responses=[reply], chunk_size=1) | JsonOutputParser()
    chunks = [c async for c in chain.astream("x")]
    assert chunks[0] == {}
    assert {"title": "Moon"} in chunks
    assert {"title": "Moon", "years": [1969]} in chunks
    assert {"title": "Moon", "years": [19]} not in chunks  # no half-read numbers
    assert chunks[-1] == await chain.ainvoke("x")
    assert len(chunks) == len({repr(c) for c in chunks})  # each value yielded once


async def test_json_parser_stream_of_invalid_json_raises_with_text() -> None:
    chain = OfflineChatModel(responses=['{"a": 1,, }']) | JsonOutputParser()
    with pytest.raises(OutputParserError) as info:
        async for _ in chain.astream("x"):
            pass
    assert info.value.text == '{"a": 1,, }'


# -- PydanticOutputParser ----------------------------------------------------------------------


async def test_pydantic_parser_returns_an_instance() -> None:
    parser = PydanticOutputParser(pydantic_object=Person)
    assert await parser.ainvoke('```json\n{"name": "Ada", "age": 36}\n```') == Person(
        name="Ada", age=36
    )
    assert parser.parse('{"name": "Bo", "age": "7"}') == Person(name="Bo", age=7)


@pytest.mark.parametrize(
    "text", ['{"name": "Ada"}', '{"name": "Ada", "age": "old"}', "not json", "", "[1]"]
)
async def test_pydantic_parser_failures_carry_the_text(text: str) -> None:
    with pytest.raises(OutputParserError, match="Person") as info:
        await PydanticOutputParser(pydantic_object=Person).ainvoke(text)
    assert info.value.text == text


def test_pydantic_parser_format_instructions_include_the_schema() -> None:
    instructions = PydanticOutputParser(Person).get_format_instructions()
    assert '"properties"' in instructions
    assert '"name"' in instructions
    assert '"age"' in instructions


@pytest.mark.parametrize("bad", [dict, Person(name="a", age=1), "Person", None])
def test_schema_must_be_a_model_class(bad: Any) -> None:
    with pytest.raises(TypeError, match="pydantic_object"):
        PydanticOutputParser(pydantic_object=bad)
    if bad is not None:
        with pytest.raises(TypeError, match="pydantic_object"):
            JsonOutputParser(pydantic_object=bad)


# -- CommaSeparatedListOutputParser --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a, b, c", ["a", "b", "c"]),
        ("a,b ,  c  ", ["a", "b", "c"]),
        ('red, "green, light", blue', ["red", "green, light", "blue"]),
        ("one\ntwo, three", ["one", "two", "three"]),
        (" , a,, b ,", ["a", "b"]),
        ("", []),
        ("single", ["single"]),
    ],
)
async def test_list_parser_splits_on_commas(text: str, expected: list[str]) -> None:
    assert await CommaSeparatedListOutputParser().ainvoke(text) == expected


async def test_list_parser_is_lenient_with_quotes() -> None:
    parser = CommaSeparatedListOutputParser()
    assert await parser.ainvoke('a, "b, c') == ["a", "b, c"]  # an unclosed quote runs to the end
    assert await parser.ainvoke('He said "hi" twice, ok') == ['He said "hi" twice', "ok"]


@pytest.mark.parametrize(
    "pieces",
    [
        ["a, b", ", c"],
        ["a", ",", " b,", " c"],
        ['x, "y,', ' z", w'],
        ["", "one,, two,", ""],
        ["solo"],
    ],
)
async def test_list_parser_streams_complete_items_that_add_up(pieces: list[str]) -> None:
    parser = CommaSeparatedListOutputParser()
    streamed = [c async for c in parser.atransform(chunks_of(*pieces))]
    assert all(len(item) == 1 for item in streamed)
    assert [item for (item,) in streamed] == parser.parse("".join(pieces))


async def test_list_parser_streams_each_item_once_complete() -> None:
    parser = CommaSeparatedListOutputParser()
    stream = parser.atransform(chunks_of("a, b", "b, c"))
    assert await anext(stream) == ["a"]  # "b" may still grow, so it waits
    assert await anext(stream) == ["bb"]
    assert await anext(stream) == ["c"]
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


def test_list_parser_format_instructions() -> None:
    assert "comma-separated" in CommaSeparatedListOutputParser().get_format_instructions()


# -- all parsers -------------------------------------------------------------------------------


def test_parsers_pickle_and_work_sync() -> None:
    parsers: list[Any] = [
        StrOutputParser(),
        JsonOutputParser(pydantic_object=Person),
        PydanticOutputParser(pydantic_object=Person),
        CommaSeparatedListOutputParser(),
    ]
    text = '{"name": "Ada", "age": 1}'
    for parser in parsers:
        copy = pickle.loads(pickle.dumps(parser))
        assert copy.invoke(text) == parser.invoke(text)


def test_parser_error_pickles_with_its_text() -> None:
    error = OutputParserError("bad output", text="raw")
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.text) == ("bad output", "raw")


def test_reprs() -> None:
    assert repr(JsonOutputParser()) == "JsonOutputParser()"
    assert repr(JsonOutputParser(Person)) == "JsonOutputParser(pydantic_object=Person)"
    assert repr(PydanticOutputParser(Person)) == "PydanticOutputParser(pydantic_object=Person)"


def test_a_parser_without_parse_says_so() -> None:
    from llm import BaseOutputParser

    class Nothing(BaseOutputParser[str]):
        pass

    with pytest.raises(NotImplementedError, match="Nothing does not implement parse"):
        Nothing().invoke("x")
