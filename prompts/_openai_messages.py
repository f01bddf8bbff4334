"""Messages in OpenAI's Chat Completions form: `convert_to_openai_messages`, and the content
part conversion the chat model uses to send list content.

Content parts become OpenAI's parts:

- a string, or a `text` block: `{"type": "text", "text": ...}`;
- OpenAI parts (`image_url`, `input_audio`, `file`) as they are;
- standard blocks: `image` (by `url`, or `base64` + `mime_type`) an `image_url` part (a data
  URL for inline data); `audio` (`base64` + `mime_type`) an `input_audio` part; `file`
  (`base64` + `mime_type`, or `file_id`) a `file` part (`filename` from the block or its
  `extras`); the older blocks with `source_type` alike; Anthropic's inline `image` too;
- anything else as it is (or, `pass_through_unknown_blocks=False`, a ValueError).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal, cast

from prompts._message_utils import MessageLikeRepresentation, convert_to_messages
from prompts._messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

__all__ = [
    "convert_to_openai_data_block",
    "convert_to_openai_image_block",
    "convert_to_openai_messages",
    "openai_content",
    "openai_part",
    "openai_role",
]


def openai_role(message: BaseMessage) -> str:
    """The Chat Completions role of `message` (`"developer"` for a system message whose
    `additional_kwargs["__openai_role__"]` says so, as LangChain marks it)."""
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, ToolMessage):
        return "tool"
    if isinstance(message, SystemMessage):
        role = message.additional_kwargs.get("__openai_role__", "system")
        return role if isinstance(role, str) else "system"
    if isinstance(message, FunctionMessage):
        return "function"
    if isinstance(message, ChatMessage):
        return message.role
    raise ValueError(f"No OpenAI role for {type(message).__name__} {message!r}")


def _data(block: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """`(url, base64, file_id)` of a standard or older data block."""
    source = block.get("source_type")
    if source is None:
        return block.get("url"), block.get("base64"), block.get("file_id")
    if source == "url":
        return block.get("url"), None, None
    if source == "base64":
        return None, block.get("data"), None
    if source == "id":
        return None, None, block.get("id")
    return None, None, None


def _need_mime(block: dict[str, Any]) -> str:
    mime = block.get("mime_type")
    if not isinstance(mime, str):
        raise ValueError(f"A {block['type']} block with base64 data needs a mime_type: {block!r}")
    return mime


def _image_url(block: dict[str, Any], url: str | None, data: str | None) -> dict[str, Any] | None:
    if url is None and data is None:
        return None
    if url is None:
        url = f"data:{_need_mime(block)};base64,{data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _from_data_block(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    url, data, file_id = _data(block)
    if kind == "image":
        part = _image_url(block, url, data)
        if part is not None:
            return part
        source = block.get("source")  # Anthropic's inline image
        if isinstance(source, dict) and {"media_type", "type", "data"} <= source.keys():
            url = f"data:{source['media_type']};{source['type']},{source['data']}"
            return {"type": "image_url", "image_url": {"url": url}}
        return None
    if kind == "audio":
        if data is None:
            return None
        audio_format = _need_mime(block).split("/")[-1]
        return {"type": "input_audio", "input_audio": {"data": data, "format": audio_format}}
    if kind == "file":
        if file_id is not None:
            return {"type": "file", "file": {"file_id": file_id}}
        if data is None:
            if url is not None:
                raise ValueError(f"Chat Completions takes no file URLs; got the block {block!r}")
            return None
        file: dict[str, Any] = {"file_data": f"data:{_need_mime(block)};base64,{data}"}
        extras = block.get("extras") or block.get("metadata") or {}
        filename = block.get("filename") or extras.get("filename")
        if filename:
            file["filename"] = filename
        return {"type": "file", "file": file}
    return None


def convert_to_openai_image_block(block: dict[str, Any]) -> dict[str, Any]:
    """A standard (or older) image block as a Chat Completions `image_url` part.

    Raises:
        ValueError: The block has neither a `url` nor `base64` data (with its `mime_type`).
    """
    url, data, _ = _data(block)
    part = _image_url(block, url, data)
    if part is not None:
        return part
    raise ValueError(f"An image block needs a url or base64 data to send: {block!r}")


def convert_to_openai_data_block(
    block: dict[str, Any], api: Literal["chat/completions", "responses"] = "chat/completions"
) -> dict[str, Any]:
    """A standard (or older) image, file or audio block in the form OpenAI's `api` takes.

    Raises:
        ValueError: A block type or source that API does not take (a file URL for Chat
            Completions, audio other than base64, video), or base64 data without a mime_type.
    """
    kind = block.get("type")
    if kind == "image":
        part = convert_to_openai_image_block(block)
        if api == "chat/completions":
            return part
        out: dict[str, Any] = {"type": "input_image", "image_url": part["image_url"]["url"]}
        detail = block.get("detail") or (block.get("extras") or {}).get("detail")
        if detail:
            out["detail"] = detail
        return out
    if kind == "file":
        url, data, file_id = _data(block)
        if data is not None or file_id is not None:
            part = _from_data_block(block) or {}
            if api == "chat/completions":
                return part
            return {"type": "input_file", **part["file"]}
        if url is not None:
            if api == "chat/completions":
                raise ValueError(f"Chat Completions takes no file URLs; got the block {block!r}")
            return {"type": "input_file", "file_url": url}
        raise ValueError(f"A file block needs base64 data, a file_id or a url: {block!r}")
    if kind == "audio":
        audio = _from_data_block(block)
        if audio is None:
            raise ValueError(f"An audio block needs base64 data to send to OpenAI: {block!r}")
        return audio
    raise ValueError(f"OpenAI takes no {kind!r} blocks: {block!r}")


def openai_part(part: str | dict[str, Any], *, pass_through: bool = True) -> dict[str, Any]:
    """One content part in OpenAI's form (see the module docstring).

    Raises:
        ValueError: A part that cannot be converted (an unknown one, with `pass_through`
            False; a data block missing what OpenAI needs).
    """
    if isinstance(part, str):
        return {"type": "text", "text": part}
    kind = part.get("type")
    if kind == "text":
        if "text" not in part:
            raise ValueError(f"A text part needs 'text': {part!r}")
        return {"type": "text", "text": part["text"]}
    if kind == "image_url":
        if "image_url" not in part:
            raise ValueError(f"An image_url part needs 'image_url': {part!r}")
        return {"type": "image_url", "image_url": part["image_url"]}
    if kind in ("input_audio", "file") and isinstance(part.get(kind), dict):
        return part
    converted = _from_data_block(part) if kind in ("image", "audio", "file") else None
    if converted is not None:
        return converted
    if pass_through:
        return part
    raise ValueError(f"Unrecognized content part, not in a form OpenAI takes: {part!r}")


def openai_content(
    content: str | list[str | dict[str, Any]],
    *,
    text_format: Literal["string", "block"] = "string",
    pass_through: bool = True,
) -> str | list[dict[str, Any]]:
    """A message's content as OpenAI takes it: a string stays one (`text_format="string"`);
    a list becomes OpenAI's parts, joined into one string (newline between) when they are all
    text and `text_format="string"`."""
    if isinstance(content, str):
        if text_format == "string":
            return content
        return [{"type": "text", "text": content}] if content else []
    if not content:
        return "" if text_format == "string" else []
    parts = [openai_part(p, pass_through=pass_through) for p in content]
    if text_format == "string" and all(p.get("type") == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def openai_tool_calls(message: AIMessage, *, invalid: bool = False) -> list[dict[str, Any]]:
    """The message's tool calls as Chat Completions `tool_calls`.

    Args:
        message: An AI message.
        invalid: Also its invalid tool calls, their arguments as the model sent them (a request
            sending the conversation back: each call id needs its place).
    """
    calls: list[tuple[Any, Any, Any]] = [
        (call["id"], call["name"], json.dumps(call["args"], ensure_ascii=False))
        for call in message.tool_calls
    ]
    if invalid:
        calls += [(call["id"], call["name"], call["args"]) for call in message.invalid_tool_calls]
    return [
        {"type": "function", "id": id_, "function": {"name": name, "arguments": args}}
        for id_, name, args in calls
    ]


def convert_to_openai_messages(
    messages: MessageLikeRepresentation | Sequence[MessageLikeRepresentation],
    *,
    text_format: Literal["string", "block"] = "string",
    include_id: bool = False,
    pass_through_unknown_blocks: bool = True,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Messages as OpenAI Chat Completions message dicts, LangChain's shape.

    Args:
        messages: One message-like value (a message, a string, a dict) or a sequence of them
            (see `convert_to_messages`).
        text_format: `"string"`: text content as a string (all-text parts joined with
            newlines); `"block"`: content always as a list of parts.
        include_id: Add each message's `id`.
        pass_through_unknown_blocks: Keep parts OpenAI has no form for as they are; False:
            raise a ValueError.

    Returns:
        One dict for one message given alone, else a list: `role`, `content`, and `name`,
        `tool_calls`, `tool_call_id`, `refusal` or `id` where they apply.

    Raises:
        ValueError: An unknown `text_format`, or a part that cannot be converted.
    """
    if text_format not in ("string", "block"):
        raise ValueError(
            f'Invalid "text_format" argument: {text_format!r}; expected "string" or "block"'
        )
    single = isinstance(messages, BaseMessage | dict | str)
    items: Sequence[Any] = [messages] if single else cast("Sequence[Any]", messages)
    out: list[dict[str, Any]] = []
    for message in convert_to_messages(items):
        entry: dict[str, Any] = {"role": openai_role(message)}
        if message.name:
            entry["name"] = message.name
        if isinstance(message, AIMessage) and message.tool_calls:
            entry["tool_calls"] = openai_tool_calls(message)
        if message.additional_kwargs.get("refusal"):
            entry["refusal"] = message.additional_kwargs["refusal"]
        if isinstance(message, ToolMessage):
            entry["tool_call_id"] = message.tool_call_id
        if include_id and message.id:
            entry["id"] = message.id
        entry["content"] = openai_content(
            message.content, text_format=text_format, pass_through=pass_through_unknown_blocks
        )
        out.append(entry)
    return out[0] if single else out
