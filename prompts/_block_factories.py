"""LangChain 1.x's factories of standard content blocks (`create_text_block`, ...).

Each gives the block an `id` (a new `lc_<uuid>` unless one is given, as LangChain's do) and
puts keyword arguments the block type does not define under its `extras`.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from prompts._content import (
    AudioContentBlock,
    FileContentBlock,
    ImageContentBlock,
    NonStandardContentBlock,
    PlainTextContentBlock,
    ReasoningContentBlock,
    TextContentBlock,
    VideoContentBlock,
    _finish,
)

__all__ = [
    "create_audio_block",
    "create_file_block",
    "create_image_block",
    "create_non_standard_block",
    "create_plaintext_block",
    "create_reasoning_block",
    "create_text_block",
    "create_video_block",
]


def _new_id(id: str | None) -> str:
    # LangChain's factories give every block an id; theirs start with "lc_".
    return id if id is not None else f"lc_{uuid.uuid4()}"


def create_text_block(
    text: str,
    *,
    id: str | None = None,
    annotations: list[dict[str, Any]] | None = None,
    index: int | str | None = None,
    **kwargs: Any,
) -> TextContentBlock:
    """A text block; keyword arguments beyond the block's own go under `extras`."""
    block: dict[str, Any] = {"type": "text", "text": text, "id": _new_id(id)}
    if annotations is not None:
        block["annotations"] = annotations
    return cast("TextContentBlock", _finish(block, index, kwargs))


def _article(word: str) -> str:
    return "An" if word[0] in "aeiou" else "A"


def _data_block(
    kind: str,
    url: str | None,
    base64: str | None,
    file_id: str | None,
    mime_type: str | None,
    id: str | None,
    index: int | str | None,
    extras: dict[str, Any],
) -> Any:
    if not (url or base64 or file_id):  # empty strings are no data either, as in LangChain
        raise ValueError(
            f"{_article(kind)} {kind} block needs one of url, base64 or file_id; got "
            f"url={url!r}, base64={base64!r}, file_id={file_id!r}"
        )
    if base64 and not mime_type and kind != "image":
        # Caught here, as LangChain does, rather than when the block is sent to a provider.
        raise ValueError(
            f'Invalid "mime_type" argument: {mime_type!r}; a {kind} block of base64 data needs one'
        )
    block: dict[str, Any] = {"type": kind, "id": _new_id(id)}
    for key, value in (("url", url), ("base64", base64), ("file_id", file_id)):
        if value is not None:
            block[key] = value
    if mime_type is not None:
        block["mime_type"] = mime_type
    return _finish(block, index, extras)


def create_image_block(
    *,
    url: str | None = None,
    base64: str | None = None,
    file_id: str | None = None,
    mime_type: str | None = None,
    id: str | None = None,
    index: int | str | None = None,
    **kwargs: Any,
) -> ImageContentBlock:
    """An image block, from one of `url`, `base64` or `file_id`.

    Raises:
        ValueError: None of the three is given.
    """
    block: ImageContentBlock = _data_block(
        "image", url, base64, file_id, mime_type, id, index, kwargs
    )
    return block


def create_audio_block(
    *,
    url: str | None = None,
    base64: str | None = None,
    file_id: str | None = None,
    mime_type: str | None = None,
    id: str | None = None,
    index: int | str | None = None,
    **kwargs: Any,
) -> AudioContentBlock:
    """An audio block, from one of `url`, `base64` or `file_id`.

    Raises:
        ValueError: None of the three is given, or `base64` without `mime_type`.
    """
    block: AudioContentBlock = _data_block(
        "audio", url, base64, file_id, mime_type, id, index, kwargs
    )
    return block


def create_video_block(
    *,
    url: str | None = None,
    base64: str | None = None,
    file_id: str | None = None,
    mime_type: str | None = None,
    id: str | None = None,
    index: int | str | None = None,
    **kwargs: Any,
) -> VideoContentBlock:
    """A video block, from one of `url`, `base64` or `file_id`.

    Raises:
        ValueError: None of the three is given, or `base64` without `mime_type`.
    """
    block: VideoContentBlock = _data_block(
        "video", url, base64, file_id, mime_type, id, index, kwargs
    )
    return block


def create_file_block(
    *,
    url: str | None = None,
    base64: str | None = None,
    file_id: str | None = None,
    mime_type: str | None = None,
    id: str | None = None,
    index: int | str | None = None,
    **kwargs: Any,
) -> FileContentBlock:
    """A file block, from one of `url`, `base64` or `file_id` (a `filename` goes under
    `extras`, as every other extra keyword does).

    Raises:
        ValueError: None of the three is given, or `base64` without `mime_type`.
    """
    block: FileContentBlock = _data_block(
        "file", url, base64, file_id, mime_type, id, index, kwargs
    )
    return block


def create_plaintext_block(
    text: str | None = None,
    url: str | None = None,
    base64: str | None = None,
    file_id: str | None = None,
    title: str | None = None,
    context: str | None = None,
    id: str | None = None,
    index: int | str | None = None,
    **kwargs: Any,
) -> PlainTextContentBlock:
    """A plain-text document block (`mime_type` `text/plain`)."""
    block: dict[str, Any] = {"type": "text-plain", "mime_type": "text/plain", "id": _new_id(id)}
    for key, value in (
        ("text", text),
        ("url", url),
        ("base64", base64),
        ("file_id", file_id),
        ("title", title),
        ("context", context),
    ):
        if value is not None:
            block[key] = value
    return cast("PlainTextContentBlock", _finish(block, index, kwargs))


def create_reasoning_block(
    reasoning: str | None = None,
    id: str | None = None,
    index: int | str | None = None,
    **kwargs: Any,
) -> ReasoningContentBlock:
    """A reasoning block."""
    block = {"type": "reasoning", "reasoning": reasoning or "", "id": _new_id(id)}
    return cast("ReasoningContentBlock", _finish(block, index, kwargs))


def create_non_standard_block(
    value: dict[str, Any], *, id: str | None = None, index: int | str | None = None
) -> NonStandardContentBlock:
    """A block holding a provider-specific part as it is."""
    block = {"type": "non_standard", "value": value, "id": _new_id(id)}
    return cast("NonStandardContentBlock", _finish(block, index, {}))
