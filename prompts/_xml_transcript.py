"""`get_buffer_string(..., format="xml")`: one `<message type="...">` element per message, as
LangChain writes it, for transcripts whose text may itself contain `Human:`-like prefixes.

Text is escaped; parts carrying inline (base64) data are left out; images, audio and video by
URL or file id become empty elements (`<image url="..." />`); reasoning is wrapped in
`<reasoning>`; long plain-text documents and server tool arguments are cut at 500 characters.
An AI message with tool calls nests its text in `<content>` and each call in `<tool_call>`.
"""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from prompts._messages import AIMessage, BaseMessage

__all__ = ["xml_entry"]

_LIMIT = 500
_ID_LIMIT = 64


def _cut(text: str, limit: int = _LIMIT) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _inline_data(part: dict[str, Any]) -> bool:
    if part.get("base64"):
        return True
    url = part.get("url", "")
    image_url = part.get("image_url")
    if isinstance(image_url, dict):
        url = image_url.get("url", "") or url
    return isinstance(url, str) and url.startswith("data:")


def _part(part: dict[str, Any]) -> str | None:
    if _inline_data(part):
        return None
    kind = part.get("type", "")
    if kind == "text":
        return escape(part["text"]) if part.get("text") else None
    if kind == "reasoning":
        return (
            f"<reasoning>{escape(part['reasoning'])}</reasoning>" if part.get("reasoning") else None
        )
    if kind in ("image", "audio", "video"):
        for key in ("url", "file_id"):
            if part.get(key):
                return f"<{kind} {key}={quoteattr(part[key])} />"
        return None
    if kind == "image_url":
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else None
        return f"<image url={quoteattr(url)} />" if url else None
    if kind == "text-plain":
        return escape(_cut(part["text"])) if part.get("text") else None
    if kind == "server_tool_call":
        args = escape(_cut(json.dumps(part.get("args", {}), ensure_ascii=False)))
        id_, name = quoteattr(str(part.get("id") or "")), quoteattr(str(part.get("name") or ""))
        return f"<server_tool_call id={id_} name={name}>{args}</server_tool_call>"
    if kind == "server_tool_result":
        output = part.get("output")
        shown = escape(_cut(json.dumps(output, ensure_ascii=False))) if output else ""
        call = quoteattr(str(part.get("tool_call_id") or ""))
        status = quoteattr(str(part.get("status") or ""))
        return (
            f"<server_tool_result tool_call_id={call} status={status}>{shown}</server_tool_result>"
        )
    return None


def xml_entry(message: BaseMessage, label: str) -> str:
    """The message as one `<message type=label>` element."""
    content = message.content
    if isinstance(content, str):
        pieces = [escape(content)] if content else []
    else:
        pieces = []
        for part in content:
            shown = (escape(part) or None) if isinstance(part, str) else _part(part)
            if shown:
                pieces.append(shown)
    kind = quoteattr(label)
    calls = message.tool_calls if isinstance(message, AIMessage) else []
    function_call = None if calls else message.additional_kwargs.get("function_call")
    if not isinstance(message, AIMessage) or not (calls or function_call):
        return f"<message type={kind}>{' '.join(pieces)}</message>"
    lines = [f"<message type={kind}>"]
    if pieces:
        lines.append(f"  <content>{' '.join(pieces)}</content>")
    for call in calls:
        id_ = call.get("id") or ""
        shown_id = quoteattr(id_ if len(id_) <= _ID_LIMIT else id_[:_ID_LIMIT] + "...")
        args = escape(json.dumps(call.get("args", {}), ensure_ascii=False))
        lines.append(
            f"  <tool_call id={shown_id} name={quoteattr(call['name'])}>{args}</tool_call>"
        )
    if function_call:
        name = quoteattr(str(function_call.get("name") or ""))
        args = escape(str(function_call.get("arguments") or "{}"))
        lines.append(f"  <function_call name={name}>{args}</function_call>")
    lines.append("</message>")
    return "\n".join(lines)
