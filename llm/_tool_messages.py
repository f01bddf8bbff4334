"""How a tool answers a tool call: a `ToolMessage`, registered with the tool base at import.

The tool base lives in `runnables` (a tool is a runnable with a name, a description and an
argument schema); messages live in the layers above it. Importing `llm` hands the base this
module's `answer_call`, so the core never imports `llm` or `prompts`.

Content: text as it is; a list of content blocks (dicts with a "type": text, images, ...) as
message parts, as LangChain keeps them; a pydantic model as its JSON; anything else JSON can
write, as JSON; the rest as `str()`. A `ToolMessage` the tool returned is kept as it is.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from prompts._messages import ToolMessage
from runnables._tool import register_call_answer

__all__ = ["answer_call", "tool_content"]


def tool_content(result: object) -> str | list[str | dict[str, Any]]:
    """A tool's result as the content of its `ToolMessage`."""
    if isinstance(result, str):
        return result
    if (
        isinstance(result, list)
        and result
        and all(isinstance(part, dict) and isinstance(part.get("type"), str) for part in result)
    ):
        return list(result)  # content blocks: a multimodal answer stays one
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    try:
        return json.dumps(result, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(result)


def answer_call(
    content: Any, *, artifact: Any, tool_call_id: str, name: str, status: str
) -> ToolMessage:
    """The `ToolMessage` answering tool call `tool_call_id` with `content`."""
    if isinstance(content, ToolMessage):
        return content
    return ToolMessage(
        content=tool_content(content),
        tool_call_id=tool_call_id,
        name=name,
        status="error" if status == "error" else "success",
        artifact=artifact,
    )


register_call_answer(answer_call)
