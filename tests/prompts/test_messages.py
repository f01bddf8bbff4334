"""Messages: construction, text, and how streamed chunks (and their usage) add up."""

import pytest

from prompts import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, Usage


def test_content_may_be_positional_but_not_given_twice() -> None:
    assert HumanMessage("hi") == HumanMessage(content="hi")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="both positionally and by keyword"):
        HumanMessage("hi", content="again")  # type: ignore[misc]


def test_text_and_pretty() -> None:
    message = SystemMessage(content="Be brief.")
    assert message.text == "Be brief."
    assert message.pretty() == "system: Be brief."
    assert AIMessage(content="ok").pretty() == "ai: ok"


def test_usages_add_field_by_field() -> None:
    total = Usage(input_tokens=3, output_tokens=1, total_tokens=4) + Usage(
        input_tokens=0, output_tokens=2, total_tokens=2
    )
    assert total == Usage(input_tokens=3, output_tokens=3, total_tokens=6)


def test_chunks_carrying_usage_both_add_their_usage() -> None:
    first = AIMessageChunk(
        content="Hel", usage=Usage(input_tokens=5, output_tokens=1, total_tokens=6)
    )
    second = AIMessageChunk(
        content="lo", usage=Usage(input_tokens=0, output_tokens=1, total_tokens=1)
    )
    whole = first + second
    assert whole.content == "Hello"
    assert whole.usage == Usage(input_tokens=5, output_tokens=2, total_tokens=7)


@pytest.mark.parametrize("usage_first", [True, False])
def test_usage_of_one_chunk_is_kept_whichever_side_carries_it(usage_first: bool) -> None:
    usage = Usage(input_tokens=2, output_tokens=2, total_tokens=4)
    with_usage, without = AIMessageChunk(content="a", usage=usage), AIMessageChunk(content="b")
    whole = with_usage + without if usage_first else without + with_usage
    assert whole.usage == usage
    assert AIMessageChunk(content="a") + AIMessageChunk(content="b") == AIMessageChunk(
        content="ab"
    )  # no usage at all


def test_chunks_merge_metadata_and_keep_the_first_id_and_name() -> None:
    first = AIMessageChunk(content="a", id="one", response_metadata={"model": "m"})
    second = AIMessageChunk(
        content="b", id="two", name="bot", response_metadata={"finish_reason": "stop"}
    )
    whole = first + second
    assert (whole.id, whole.name) == ("one", "bot")
    assert whole.response_metadata == {"model": "m", "finish_reason": "stop"}
    assert whole.to_message() == AIMessage(
        content="ab",
        id="one",
        name="bot",
        response_metadata={"model": "m", "finish_reason": "stop"},
    )


def test_a_chunk_does_not_add_to_a_whole_message() -> None:
    with pytest.raises(TypeError):
        AIMessageChunk(content="a") + AIMessage(content="b")  # type: ignore[operator]


def test_content_may_be_a_list_of_parts_and_text_reads_their_text() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    message = HumanMessage(content=["Look: ", {"type": "text", "text": "a cat"}, image])
    assert message.content[2] == image
    assert message.text == "Look: a cat"
    assert HumanMessage(content_blocks=[{"type": "text", "text": "x"}]).text == "x"  # type: ignore[call-arg]
