"""Tool calls as a model states them: whole (`ToolCall`), broken (`InvalidToolCall`) or streamed
in pieces (`ToolCallChunk`).

The shapes are LangChain's, so code ported from it reads the same:

    ToolCall         {"name": str, "args": dict, "id": str | None, "type": "tool_call"}
    InvalidToolCall  {"name", "args": str (as received), "id", "error": str, "type": ...}
    ToolCallChunk    {"name", "args": str fragment, "id", "index": int, "type": ...}

Chunks with the same `index` add up (their `args` fragments concatenate). `parse_tool_call_chunks`
turns added-up chunks into calls: arguments that are not a JSON object become invalid calls,
kept with the error, never dropped.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NotRequired

import pydantic_core
from typing_extensions import TypedDict

__all__ = [
    "InvalidToolCall",
    "ToolCall",
    "ToolCallChunk",
    "invalid_tool_call",
    "merge_tool_call_chunks",
    "parse_tool_call_chunks",
    "tool_call",
    "tool_call_chunk",
]


class ToolCall(TypedDict):
    """A request from the model to call the tool `name` with `args`."""

    name: str
    args: dict[str, Any]
    id: str | None
    type: NotRequired[Literal["tool_call"]]


class InvalidToolCall(TypedDict):
    """A tool call whose arguments could not be read; `args` is the raw text, `error` says why."""

    name: str | None
    args: str | None
    id: str | None
    error: str | None
    type: NotRequired[Literal["invalid_tool_call"]]


class ToolCallChunk(TypedDict):
    """A streamed piece of a tool call; pieces with the same `index` add up."""

    name: str | None
    args: str | None
    id: str | None
    index: int | None
    type: NotRequired[Literal["tool_call_chunk"]]


def tool_call(*, name: str, args: dict[str, Any], id: str | None) -> ToolCall:
    """A `ToolCall` dict."""
    return ToolCall(name=name, args=args, id=id, type="tool_call")


def invalid_tool_call(
    *, name: str | None, args: str | None, id: str | None, error: str | None
) -> InvalidToolCall:
    """An `InvalidToolCall` dict."""
    return InvalidToolCall(name=name, args=args, id=id, error=error, type="invalid_tool_call")


def tool_call_chunk(
    *,
    name: str | None = None,
    args: str | None = None,
    id: str | None = None,
    index: int | None = None,
) -> ToolCallChunk:
    """A `ToolCallChunk` dict."""
    return ToolCallChunk(name=name, args=args, id=id, index=index, type="tool_call_chunk")


def merge_tool_call_chunks(
    left: list[ToolCallChunk], right: list[ToolCallChunk]
) -> list[ToolCallChunk]:
    """`left` followed by `right`, where a right chunk with the index of a left one is added to
    it: `args` fragments concatenate, `name` and `id` keep the first one given."""
    merged = [tool_call_chunk(**_fields(chunk)) for chunk in left]
    for chunk in right:
        index = chunk.get("index")
        same = next((m for m in merged if index is not None and m["index"] == index), None)
        if same is None:
            merged.append(tool_call_chunk(**_fields(chunk)))
            continue
        same["args"] = (same["args"] or "") + (chunk.get("args") or "")
        same["name"] = same["name"] or chunk.get("name")
        same["id"] = same["id"] or chunk.get("id")
    return merged


def _fields(chunk: ToolCallChunk) -> dict[str, Any]:
    return {key: chunk.get(key) for key in ("name", "args", "id", "index")}


def parse_tool_call_chunks(
    chunks: list[ToolCallChunk], *, partial: bool
) -> tuple[list[ToolCall], list[InvalidToolCall]]:
    """The calls that added-up chunks stand for.

    Args:
        chunks: Added-up chunks, one per call.
        partial: Read unfinished JSON as far as it goes (while streaming); otherwise the
            arguments must be complete JSON.

    Returns:
        The valid calls and the invalid ones, each in chunk order.
    """
    calls: list[ToolCall] = []
    invalid: list[InvalidToolCall] = []
    for chunk in chunks:
        name, raw, id_ = chunk.get("name"), chunk.get("args"), chunk.get("id")
        args, error = parse_args(raw, partial=partial)
        if args is None:
            invalid.append(invalid_tool_call(name=name, args=raw, id=id_, error=error))
        else:
            calls.append(tool_call(name=name or "", args=args, id=id_))
    return calls, invalid


def parse_args(raw: str | None, *, partial: bool = False) -> tuple[dict[str, Any] | None, str]:
    """A tool call's `arguments` text as a dict, or None and the reason it is not one."""
    if not raw or not raw.strip():
        return {}, ""
    try:
        if partial:
            value = pydantic_core.from_json(raw, allow_partial="trailing-strings")
        else:
            value = json.loads(raw)
    except ValueError as exc:
        return None, f"arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, f"arguments are not a JSON object: {raw!r}"
    return value, ""
