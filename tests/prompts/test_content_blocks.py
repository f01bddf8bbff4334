"""Content as LangChain 1.x standard blocks: `content_blocks`, the block factories."""

from __future__ import annotations

from typing import Any

import pytest

from prompts import (
    AIMessage,
    HumanMessage,
    create_audio_block,
    create_file_block,
    create_image_block,
    create_non_standard_block,
    create_plaintext_block,
    create_reasoning_block,
    create_text_block,
    create_video_block,
    is_data_content_block,
    tool_call,
)

PNG = "data:image/png;base64,iVBORw0KGgo="


def test_string_content_is_one_text_block_and_empty_content_none() -> None:
    assert HumanMessage(content="hi").content_blocks == [{"type": "text", "text": "hi"}]
    assert HumanMessage(content="").content_blocks == []


def test_string_parts_and_standard_blocks_read_as_they_are() -> None:
    parts: list[Any] = ["a", {"type": "text", "text": "b", "index": 0}]
    parts.append({"type": "image", "url": "https://x/cat.png"})
    assert HumanMessage(content=parts).content_blocks == [
        {"type": "text", "text": "a"},
        {"type": "text", "text": "b", "index": 0},
        {"type": "image", "url": "https://x/cat.png"},
    ]


@pytest.mark.parametrize(
    ("part", "block"),
    [
        (
            {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
            {
                "type": "image",
                "base64": "iVBORw0KGgo=",
                "mime_type": "image/png",
                "extras": {"detail": "low"},
            },
        ),
        (
            {"type": "image_url", "image_url": {"url": "https://x/cat.png"}},
            {"type": "image", "url": "https://x/cat.png"},
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "audio", "base64": "UklGRg==", "mime_type": "audio/wav"},
        ),
        (
            {
                "type": "file",
                "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
            },
            {
                "type": "file",
                "base64": "JVBE",
                "mime_type": "application/pdf",
                "extras": {"filename": "a.pdf"},
            },
        ),
        ({"type": "file", "file": {"file_id": "file-1"}}, {"type": "file", "file_id": "file-1"}),
        (
            {"type": "image", "source_type": "base64", "data": "AA", "mime_type": "image/png"},
            {"type": "image", "base64": "AA", "mime_type": "image/png"},
        ),
        (
            {"type": "audio", "source_type": "url", "url": "https://x/a.mp3", "name": "a"},
            {"type": "audio", "url": "https://x/a.mp3", "extras": {"name": "a"}},
        ),
        (
            {"type": "cache_marker", "ttl": 5},
            {"type": "non_standard", "value": {"type": "cache_marker", "ttl": 5}},
        ),
    ],
    ids=["data-url", "url", "audio", "file-data", "file-id", "v0-base64", "v0-url", "unknown"],
)
def test_openai_and_older_parts_become_standard_blocks(
    part: dict[str, Any], block: dict[str, Any]
) -> None:
    assert HumanMessage(content=[part]).content_blocks == [block]


def test_an_ai_message_lists_its_tool_calls_and_provider_reasoning_as_blocks() -> None:
    call = tool_call(name="f", args={"a": 1}, id="c1")
    message = AIMessage(
        content="ok", tool_calls=[call], additional_kwargs={"reasoning_content": "hmm"}
    )
    assert message.content_blocks == [
        {"type": "reasoning", "reasoning": "hmm"},
        {"type": "text", "text": "ok"},
        {"type": "tool_call", "id": "c1", "name": "f", "args": {"a": 1}},
    ]


def test_factories_give_an_id_and_put_unknown_keywords_under_extras() -> None:
    text = create_text_block("hi", detail="x")
    assert text["id"].startswith("lc_")
    assert text == {"type": "text", "text": "hi", "id": text["id"], "extras": {"detail": "x"}}
    assert create_image_block(url="u", id="i1", index=0) == {
        "type": "image",
        "id": "i1",
        "url": "u",
        "index": 0,
    }
    file = create_file_block(base64="JVBE", mime_type="application/pdf", filename="a.pdf", id="f")
    assert file == {
        "type": "file",
        "id": "f",
        "base64": "JVBE",
        "mime_type": "application/pdf",
        "extras": {"filename": "a.pdf"},
    }
    assert create_audio_block(file_id="x", id="a")["file_id"] == "x"
    assert create_video_block(url="v", id="v")["type"] == "video"
    assert create_plaintext_block("notes", id="p")["mime_type"] == "text/plain"
    assert create_reasoning_block("r", id="r")["reasoning"] == "r"
    assert create_non_standard_block({"k": 1}, id="n")["value"] == {"k": 1}


def test_a_data_block_needs_its_data() -> None:
    with pytest.raises(ValueError, match="url, base64 or file_id"):
        create_image_block(mime_type="image/png")
    with pytest.raises(
        ValueError, match="An audio block needs one of url, base64 or file_id; got url=''"
    ):
        create_audio_block(url="")


def test_audio_video_and_file_blocks_of_base64_data_need_a_mime_type() -> None:
    # As LangChain's factories: caught when the block is made, not when it is sent.
    for factory in (create_audio_block, create_video_block, create_file_block):
        with pytest.raises(ValueError, match='Invalid "mime_type" argument: None'):
            factory(base64="AAAA")
    assert create_image_block(base64="AAAA")["base64"] == "AAAA"
    assert is_data_content_block({"type": "image", "url": "u"})
    assert is_data_content_block({"type": "image", "source_type": "base64", "data": "AA"})
    assert not is_data_content_block({"type": "image"})
    assert not is_data_content_block({"type": "text", "text": "x"})
    assert not is_data_content_block({"type": "image_url", "image_url": {"url": "u"}})
