"""LangChain 1.x's standard content blocks: typed dicts, their factories, and how a message's
content reads as blocks (`BaseMessage.content_blocks`).

A message's content stays what it was given as (a string, or a list of strings and
provider-format dicts such as OpenAI's `image_url` parts). `content_blocks` reads it as standard
blocks:

- a string, or a string part: `{"type": "text", "text": ...}` (an empty string content: no block);
- a standard block (`text`, `image`, `audio`, `video`, `file`, `text-plain`, `reasoning`, ...)
  as it is;
- an older LangChain block with `source_type` (`"url"`, `"base64"`, `"id"`): the standard block
  with `url`, `base64` + `mime_type` or `file_id`, other keys under `extras`;
- OpenAI Chat Completions parts: `image_url` becomes an `image` block (`base64` + `mime_type`
  for a data URL, else `url`; `detail` under `extras`), `input_audio` an `audio` block
  (`mime_type` `audio/<format>`), `file` a `file` block (`file_id`, or `base64` + `mime_type`
  from its data URL, `filename` under `extras`);
- anything else: `{"type": "non_standard", "value": <the part>}`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, NotRequired, TypeAlias

from typing_extensions import TypedDict

from prompts._tool_calls import InvalidToolCall, ToolCall, ToolCallChunk

__all__ = [
    "KNOWN_BLOCK_TYPES",
    "AudioContentBlock",
    "ContentBlock",
    "DataContentBlock",
    "FileContentBlock",
    "ImageContentBlock",
    "NonStandardContentBlock",
    "PlainTextContentBlock",
    "ReasoningContentBlock",
    "TextContentBlock",
    "VideoContentBlock",
    "is_data_content_block",
    "to_content_blocks",
]


class TextContentBlock(TypedDict):
    """Text, with optional `annotations` (citations)."""

    type: Literal["text"]
    text: str
    id: NotRequired[str]
    annotations: NotRequired[list[dict[str, Any]]]
    index: NotRequired[int | str]
    extras: NotRequired[dict[str, Any]]


class ReasoningContentBlock(TypedDict):
    """The model's reasoning, where the provider shows it."""

    type: Literal["reasoning"]
    reasoning: NotRequired[str]
    id: NotRequired[str]
    index: NotRequired[int | str]
    extras: NotRequired[dict[str, Any]]


class _DataBlock(TypedDict):
    id: NotRequired[str]
    url: NotRequired[str]
    base64: NotRequired[str]
    file_id: NotRequired[str]
    mime_type: NotRequired[str]
    index: NotRequired[int | str]
    extras: NotRequired[dict[str, Any]]


class ImageContentBlock(_DataBlock):
    """An image, by `url`, inline `base64` data (with `mime_type`) or a provider `file_id`."""

    type: Literal["image"]


class AudioContentBlock(_DataBlock):
    """Audio, by `url`, inline `base64` data (with `mime_type`) or a provider `file_id`."""

    type: Literal["audio"]


class VideoContentBlock(_DataBlock):
    """Video, by `url`, inline `base64` data (with `mime_type`) or a provider `file_id`."""

    type: Literal["video"]


class FileContentBlock(_DataBlock):
    """A document (a PDF, ...), by `url`, inline `base64` data or a provider `file_id`."""

    type: Literal["file"]


class PlainTextContentBlock(_DataBlock):
    """A plain-text document, inline (`text`) or by reference, with `title` and `context`."""

    type: Literal["text-plain"]
    text: NotRequired[str]
    title: NotRequired[str]
    context: NotRequired[str]


class NonStandardContentBlock(TypedDict):
    """A provider-specific part, kept as it came in `value`."""

    type: Literal["non_standard"]
    value: dict[str, Any]
    id: NotRequired[str]
    index: NotRequired[int | str]


DataContentBlock: TypeAlias = (
    ImageContentBlock
    | VideoContentBlock
    | AudioContentBlock
    | PlainTextContentBlock
    | FileContentBlock
)
"""A block carrying data (by URL, inline base64 or provider file id)."""

ContentBlock: TypeAlias = (
    TextContentBlock
    | ReasoningContentBlock
    | NonStandardContentBlock
    | DataContentBlock
    | ToolCall
    | ToolCallChunk
    | InvalidToolCall
)
"""Any standard content block."""

KNOWN_BLOCK_TYPES: frozenset[str] = frozenset(
    {
        "text",
        "reasoning",
        "refusal",
        "tool_call",
        "tool_call_chunk",
        "invalid_tool_call",
        "server_tool_call",
        "server_tool_call_chunk",
        "server_tool_result",
        "image",
        "audio",
        "video",
        "file",
        "text-plain",
        "non_standard",
    }
)
"""The `type`s of LangChain's standard blocks."""

_DATA_TYPES = frozenset({"image", "audio", "video", "file", "text-plain"})
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]+)?(?:;[^,]*)?;base64,(?P<data>.*)$", re.DOTALL)


def _finish(
    block: dict[str, Any], index: int | str | None, extras: dict[str, Any]
) -> dict[str, Any]:
    if index is not None:
        block["index"] = index
    if extras:
        block["extras"] = extras
    return block


def is_data_content_block(block: dict[str, Any]) -> bool:
    """Whether `block` is a standard data block (image, audio, video, file, text-plain) that
    carries its data: a `url`, `base64` or `file_id` (or an older block's `source_type` data)."""
    if block.get("type") not in _DATA_TYPES:
        return False
    if any(key in block for key in ("url", "base64", "file_id", "text")):
        return True
    source = block.get("source_type")
    return (source == "url" and "url" in block) or (
        source in ("base64", "id") and ("data" in block or "id" in block)
    )


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`(mime_type, base64 data)` of a `data:<mime>;base64,<data>` URL, or None."""
    match = _DATA_URL.match(url)
    if match is None or not match["mime"]:
        return None
    return match["mime"], match["data"]


def _extras(part: dict[str, Any], known: set[str], prefix: str = "") -> dict[str, Any]:
    return {prefix + k: v for k, v in part.items() if k not in known}


def _from_openai(part: dict[str, Any]) -> dict[str, Any] | None:
    """The standard block of an OpenAI Chat Completions part, or None if it is not one."""
    kind = part.get("type")
    if kind == "image_url":
        image = part.get("image_url")
        if isinstance(image, str):
            image = {"url": image}
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            return None
        extras = _extras(part, {"type", "image_url"})
        for key, value in image.items():
            if key != "url":
                extras[key if key == "detail" else f"image_url_{key}"] = value
        parsed = parse_data_url(image["url"])
        block: dict[str, Any] = {"type": "image"}
        if parsed is None:
            block["url"] = image["url"]
        else:
            block["mime_type"], block["base64"] = parsed
        return _finish(block, None, extras)
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict) or "data" not in audio or "format" not in audio:
            return None
        extras = _extras(part, {"type", "input_audio"})
        extras.update(_extras(audio, {"data", "format"}, "audio_"))
        block = {"type": "audio", "base64": audio["data"], "mime_type": f"audio/{audio['format']}"}
        return _finish(block, None, extras)
    if kind == "file":
        file = part.get("file")
        if not isinstance(file, dict):
            return None
        extras = _extras(part, {"type", "file"})
        if "file_id" in file:
            extras.update(_extras(file, {"file_id"}, "file_"))
            return _finish({"type": "file", "file_id": file["file_id"]}, None, extras)
        parsed = parse_data_url(file.get("file_data") or "")
        if parsed is None:
            return None
        extras.update(_extras(file, {"file_data", "filename"}, "file_"))
        if file.get("filename") is not None:
            extras["filename"] = file["filename"]
        mime_type, data = parsed
        return _finish({"type": "file", "base64": data, "mime_type": mime_type}, None, extras)
    return None


def _from_v0(part: dict[str, Any]) -> dict[str, Any] | None:
    """The standard block of an older LangChain data block (`source_type`), or None."""
    source = part.get("source_type")
    block: dict[str, Any] = {"type": part["type"]}
    if source == "url" and "url" in part:
        block["url"] = part["url"]
        known = {"type", "source_type", "url", "mime_type"}
    elif source == "base64" and "data" in part:
        block["base64"] = part["data"]
        known = {"type", "source_type", "data", "mime_type"}
    elif source == "id" and "id" in part:
        block["file_id"] = part["id"]
        known = {"type", "source_type", "id", "mime_type"}
    else:
        return None
    if "mime_type" in part:
        block["mime_type"] = part["mime_type"]
    return _finish(block, None, _extras(part, known))


def to_content_blocks(content: str | list[str | dict[str, Any]]) -> list[ContentBlock]:
    """`content` read as standard blocks (see the module docstring)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[Any] = []
    for part in content:
        if isinstance(part, str):
            blocks.append({"type": "text", "text": part})
            continue
        kind = part.get("type")
        converted: dict[str, Any] | None = None
        if kind in ("image_url", "input_audio") or (
            kind == "file" and isinstance(part.get("file"), dict)
        ):
            converted = _from_openai(part)
        elif kind in KNOWN_BLOCK_TYPES:
            if "source_type" not in part:
                blocks.append(part)
                continue
            if kind in _DATA_TYPES:
                converted = _from_v0(part)
        blocks.append(converted or {"type": "non_standard", "value": part})
    return blocks


def _base64_size(data: str) -> int:
    """The number of bytes `data` (base64) decodes to."""
    data = data.strip()
    return len(data) * 3 // 4 - (len(data) - len(data.rstrip("=")))


def _describe_block(block: dict[str, Any]) -> str:
    kind = block["type"]
    if kind == "non_standard":
        return f"[{block['value'].get('type', 'part')}]"
    if kind not in _DATA_TYPES:
        return f"[{kind}]"
    if "base64" in block:
        mime = block.get("mime_type", "unknown type")
        return f"[{kind}: {mime}, {_base64_size(block['base64'])} bytes]"
    if "url" in block:
        return f"[{kind}: {block['url']}]"
    if "file_id" in block:
        return f"[{kind}: file {block['file_id']}]"
    return f"[{kind}]"


def describe_content(content: str | list[str | dict[str, Any]]) -> str:
    """The content as text, each part that is not text named in brackets where it stands:
    `"What is this? [image: image/png, 67 bytes]"` (an image by URL: `[image: <url>]`)."""
    if isinstance(content, str):
        return content
    out = ""
    after_part = False  # a space goes between a named part and what follows it
    for block in to_content_blocks(content):
        if block["type"] == "text":
            text: str = block["text"]
            out += " " + text if after_part and text[:1] not in ("", " ") else text
            after_part = False
        elif block["type"] != "reasoning":
            named = _describe_block(dict(block))
            out += " " + named if out and not out.endswith(" ") else named
            after_part = True
    return out
