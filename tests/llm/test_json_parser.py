"""JSON parsing of replies: partial strings, diffs, control characters, LangChain's helpers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonpatch
import pytest
from pydantic import BaseModel

from llm import (
    CommaSeparatedListOutputParser,
    JsonOutputParser,
    OfflineChatModel,
    OutputParserError,
    PydanticOutputParser,
    StrOutputParser,
    parse_json_markdown,
    parse_partial_json,
)
from prompts import AIMessage, AIMessageChunk

pytestmark = pytest.mark.anyio


class Person(BaseModel):
    name: str
    age: int = 0


async def chunks_of(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def by_char(text: str) -> AsyncIterator[Any]:
    return chunks_of(*(AIMessageChunk(content=c) for c in text))


# -- partial strings -----------------------------------------------------------------------------


async def test_a_string_value_grows_as_it_streams() -> None:
    stream = JsonOutputParser().atransform(by_char('{"title": "Moon", "n": {"x": "ab"}}'))
    values = [v async for v in stream]
    assert values[:6] == [
        {},
        {"title": ""},
        {"title": "M"},
        {"title": "Mo"},
        {"title": "Moo"},
        {"title": "Moon"},
    ]
    assert values[-3:] == [
        {"title": "Moon", "n": {"x": ""}},
        {"title": "Moon", "n": {"x": "a"}},
        {"title": "Moon", "n": {"x": "ab"}},
    ]


async def test_a_string_ending_in_digits_still_grows_but_a_number_waits() -> None:
    values = [v async for v in JsonOutputParser().atransform(by_char('{"v": "x19", "n": 1969}'))]
    assert {"v": "x1"} in values
    assert {"v": "x19"} in values
    assert {"v": "x19", "n": 19} not in values  # half a number is a wrong number
    assert values[-1] == {"v": "x19", "n": 1969}


async def test_a_partial_escape_is_left_out_until_complete() -> None:
    values = [v async for v in JsonOutputParser().atransform(by_char('{"a": "x\\ny"}'))]
    assert values[-3:] == [{"a": "x"}, {"a": "x\n"}, {"a": "x\ny"}]


async def test_streamed_partials_of_a_fenced_reply_through_a_model() -> None:
    model = OfflineChatModel(responses=['```json\n{"summary": "a b c d"}\n```'])
    values = [v async for v in (model | JsonOutputParser()).astream("x")]
    summaries = [{"summary": s} for s in ("a", "a b", "a b c", "a b c d")]
    assert values == [{}, *summaries]


# -- diff=True -----------------------------------------------------------------------------------


async def test_diff_streams_json_patch_operations_that_rebuild_the_value() -> None:
    text = '{"title": "Mo", "years": [1969]}'
    patches = [p async for p in JsonOutputParser(diff=True).atransform(by_char(text))]
    assert patches[:3] == [
        [{"op": "replace", "path": "", "value": {}}],
        [{"op": "add", "path": "/title", "value": ""}],
        [{"op": "replace", "path": "/title", "value": "M"}],
    ]
    assert [{"op": "add", "path": "/years", "value": []}] in patches
    value: Any = None
    for patch in patches:
        value = jsonpatch.apply_patch(value, patch)
    assert value == json.loads(text)


async def test_diff_changes_the_stream_only_not_invoke() -> None:
    parser = JsonOutputParser(diff=True)
    assert await parser.ainvoke('{"a": 1}') == {"a": 1}
    assert parser.invoke('{"a": 1}') == {"a": 1}
    assert repr(parser) == "JsonOutputParser(diff=True)"


def test_diff_must_be_a_bool() -> None:
    with pytest.raises(TypeError, match="Invalid \"diff\" argument: 'yes'"):
        JsonOutputParser(diff="yes")  # type: ignore[arg-type]


# -- raw control characters ----------------------------------------------------------------------

CONTROL = '{"name": "line1\nline2\ttab\rend", "age": 3}'


async def test_json_parser_accepts_raw_control_characters_inside_strings() -> None:
    expected = {"name": "line1\nline2\ttab\rend", "age": 3}
    assert await JsonOutputParser().ainvoke(CONTROL) == expected
    assert await JsonOutputParser().ainvoke(f"```json\n{CONTROL}\n```") == expected
    streamed = [v async for v in JsonOutputParser().atransform(by_char(CONTROL))]
    assert {"name": "line1\nli"} in streamed
    assert streamed[-1] == expected


async def test_pydantic_parser_accepts_raw_control_characters_inside_strings() -> None:
    parser = PydanticOutputParser(pydantic_object=Person)
    assert await parser.ainvoke(CONTROL) == Person(name="line1\nline2\ttab\rend", age=3)


async def test_control_characters_outside_strings_are_still_invalid() -> None:
    with pytest.raises(OutputParserError, match="Invalid JSON"):
        await JsonOutputParser().ainvoke('{"a":\x01 1}')
    with pytest.raises(OutputParserError, match="Failed to parse Person"):
        await PydanticOutputParser(pydantic_object=Person).ainvoke('{"name":\x01 "x"}')


async def test_structured_output_accepts_raw_control_characters() -> None:
    model = OfflineChatModel(responses=[CONTROL])
    assert await model.with_structured_output(Person, method="json_mode").ainvoke("x") == Person(
        name="line1\nline2\ttab\rend", age=3
    )


# -- PydanticOutputParser streams ----------------------------------------------------------------


async def test_pydantic_parser_streams_each_partial_instance_that_validates() -> None:
    parser = PydanticOutputParser(pydantic_object=Person)
    values = [v async for v in parser.atransform(by_char('{"name": "Ada", "age": 36}'))]
    assert values[:4] == [Person(name=""), Person(name="A"), Person(name="Ad"), Person(name="Ada")]
    assert values[-1] == Person(name="Ada", age=36)
    assert Person(name="Ada", age=3) not in values


async def test_pydantic_parser_stream_of_a_reply_that_never_validates_raises() -> None:
    parser = PydanticOutputParser(pydantic_object=Person)
    with pytest.raises(OutputParserError, match="Failed to parse Person"):
        _ = [v async for v in parser.atransform(by_char('{"age": 3}'))]


# -- parse_partial_json / parse_json_markdown ----------------------------------------------------

# Each pair is langchain-core 1.8.3's result for that input.
PARTIAL_CASES = [
    ('{"a": "b', {"a": "b"}),
    ('{"a": 1', {"a": 1}),
    ("[1, 2", [1, 2]),
    ('{"a": [1, {"b": "c', {"a": [1, {"b": "c"}]}),
    ('{"a":', {}),
    ('{"a"', {}),
    ('{"a": tr', {}),
    ('{"a": "x\\', {"a": "x"}),
    ('{"a": -', {}),
    ('[{"a": 1}, {"b"', [{"a": 1}, {}]),
    ('"str', "str"),
    ('{"a": "b", ', {"a": "b"}),
    ('{"a": null, "b": fa', {"a": None}),
    ('  {"a": 1}  ', {"a": 1}),
    ('{"a": "b\nc"}', {"a": "b\nc"}),
    ('{"a": "b"} tail', {"a": "b"}),
]


@pytest.mark.parametrize(("text", "expected"), PARTIAL_CASES)
def test_parse_partial_json_gives_langchains_results(text: str, expected: Any) -> None:
    assert parse_partial_json(text) == expected


@pytest.mark.parametrize("text", ["", "xx", "nope"])
def test_parse_partial_json_raises_a_json_decode_error_on_no_json(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_partial_json(text)


def test_parse_partial_json_strict_rejects_control_characters() -> None:
    assert parse_partial_json('{"a": "b\nc"}', strict=False) == {"a": "b\nc"}
    with pytest.raises(json.JSONDecodeError):
        parse_partial_json('{"a": "b\nc"}', strict=True)


MARKDOWN_CASES = [
    ('```json\n{"a": 1}\n```', {"a": 1}),
    ('here:\n```\n{"a": 1}\n```', {"a": 1}),
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": 1', {"a": 1}),
    ('```json\n{"a": "b', {"a": "b"}),
    ('```json\n{"a": "b\nc"}\n```', {"a": "b\nc"}),
    ("[1, 2]", [1, 2]),
    ('"s"', "s"),
]


@pytest.mark.parametrize(("text", "expected"), MARKDOWN_CASES)
def test_parse_json_markdown_gives_langchains_results(text: str, expected: Any) -> None:
    assert parse_json_markdown(text) == expected


@pytest.mark.parametrize("text", ["", "nope", 'text {"a": 1} tail'])
def test_parse_json_markdown_raises_a_json_decode_error_on_no_json(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        parse_json_markdown(text)


def test_parse_json_markdown_takes_another_parser() -> None:
    assert parse_json_markdown("```json\n[1]\n```", parser=json.loads) == [1]


# -- LangChain's other entry points --------------------------------------------------------------


class Generation:
    """The shape of LangChain's generations: a `text`, and for chat a `message`."""

    def __init__(self, text: str, message: AIMessage | None = None) -> None:
        self.text = text
        self.message = message


async def test_aparse_parses_like_parse() -> None:
    assert await JsonOutputParser().aparse('{"a": 1}') == {"a": 1}
    assert await PydanticOutputParser(pydantic_object=Person).aparse('{"name": "B"}') == Person(
        name="B"
    )
    with pytest.raises(OutputParserError):
        await JsonOutputParser().aparse("nope")


async def test_parse_result_takes_generations_messages_and_strings() -> None:
    parser = JsonOutputParser()
    assert parser.parse_result([Generation('{"a": 1}')]) == {"a": 1}
    message = AIMessage(content='{"b": 2}')
    assert parser.parse_result([Generation("ignored", message=message)]) == {"b": 2}
    assert parser.parse_result([message]) == {"b": 2}
    assert parser.parse_result(['{"c": 3}', "second"]) == {"c": 3}
    assert await parser.aparse_result([message]) == {"b": 2}


def test_parse_result_partial_reads_a_growing_reply() -> None:
    parser = JsonOutputParser()
    assert parser.parse_result([Generation('{"a": "b')], partial=True) == {"a": "b"}
    assert parser.parse_result([Generation("no json yet")], partial=True) is None
    with pytest.raises(OutputParserError):
        parser.parse_result([Generation('{"a": "b')])
    pydantic = PydanticOutputParser(pydantic_object=Person)
    assert pydantic.parse_result([Generation('{"name": "A')], partial=True) == Person(name="A")
    assert pydantic.parse_result([Generation('{"age": 1')], partial=True) is None


def test_parse_result_rejects_an_empty_result() -> None:
    with pytest.raises(ValueError, match=r'"result" argument: \[\]'):
        JsonOutputParser().parse_result([])


def test_parse_with_prompt_parses_the_completion() -> None:
    assert JsonOutputParser().parse_with_prompt('{"a": 1}', "the prompt") == {"a": 1}


def test_a_parser_without_format_instructions_says_so() -> None:
    with pytest.raises(NotImplementedError, match="StrOutputParser has no format instructions"):
        StrOutputParser().get_format_instructions()


# -- list content (content parts) ----------------------------------------------------------------


async def test_parsers_read_the_text_parts_of_list_content() -> None:
    parts: list[str | dict[str, Any]] = [
        {"type": "text", "text": '{"a": '},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
        "1}",
    ]
    message = AIMessage(content=parts)
    assert await StrOutputParser().ainvoke(message) == '{"a": 1}'
    assert await JsonOutputParser().ainvoke(message) == {"a": 1}


async def test_str_parser_streams_the_text_of_list_content_chunks() -> None:
    stream = StrOutputParser().atransform(
        chunks_of(
            AIMessageChunk(content=[{"type": "text", "text": "a", "index": 0}]),
            AIMessageChunk(content=[{"type": "text", "text": "b", "index": 0}]),
            AIMessageChunk(content="plain"),
        )
    )
    assert [c async for c in stream] == ["a", "b", "plain"]


@pytest.mark.parametrize(("text", "value"), [("42", 42), ('"hi"', "hi"), ("true", True)])
async def test_a_bare_json_value_streams_once_when_complete(text: str, value: Any) -> None:
    assert [v async for v in JsonOutputParser().atransform(by_char(text))] == [value]
    patches = [p async for p in JsonOutputParser(diff=True).atransform(by_char(text))]
    assert patches == [[{"op": "replace", "path": "", "value": value}]]


@pytest.mark.parametrize(
    "parser", [JsonOutputParser(), CommaSeparatedListOutputParser()], ids=lambda p: p.name
)
def test_parse_names_a_text_that_is_not_a_string(parser: Any) -> None:
    with pytest.raises(TypeError, match=r'"text" argument of \w+\.parse.*got int 5'):
        parser.parse(5)
