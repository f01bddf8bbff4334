"""`pretty_repr()` / `pretty_print()` of messages, in LangChain's layout: a title bar of `=`
80 wide, the name if any, a blank line, the content; an AI message then lists its tool calls
(name, id, each argument) and invalid tool calls (with their error).
"""

from __future__ import annotations

from typing import Any

__all__ = ["pretty_repr"]

_WIDTH = 80


def _title(text: str, *, bold: bool) -> str:
    padded = f" {text} "
    side = (_WIDTH - len(padded)) // 2
    left, right = "=" * side, "=" * (side + len(padded) % 2)
    if bold:
        padded = f"\033[1m{padded}\033[0m"
    return f"{left}{padded}{right}"


def _call_lines(call: Any) -> list[str]:
    lines = [f"  {call.get('name', 'Tool')} ({call.get('id')})", f" Call ID: {call.get('id')}"]
    if call.get("error"):
        lines.append(f"  Error: {call.get('error')}")
    lines.append("  Args:")
    args = call.get("args")
    if isinstance(args, str):
        lines.append(f"    {args}")
    elif isinstance(args, dict):
        lines += [f"    {key}: {value}" for key, value in args.items()]
    return lines


def pretty_repr(message: Any, *, html: bool = False) -> str:
    """The message laid out for reading (`html`: the title in bold, for notebooks)."""
    title = _title(message.type.title() + " Message", bold=html)
    if message.name is not None:
        title += f"\nName: {message.name}"
    text = f"{title}\n\n{message.content}"
    calls = getattr(message, "tool_calls", None) or []
    invalid = getattr(message, "invalid_tool_calls", None) or []
    if not (calls or invalid):
        return text
    lines: list[str] = []
    if calls:
        lines.append("Tool Calls:")
        for call in calls:
            lines += _call_lines(call)
    if invalid:
        lines.append("Invalid Tool Calls:")
        for call in invalid:
            lines += _call_lines(call)
    return (text.strip() + "\n" + "\n".join(lines)).strip()
