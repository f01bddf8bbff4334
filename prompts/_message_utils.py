"""Message utilities with LangChain's names and behaviour: converting message-like values to
messages, filtering and merging message lists, and messages to and from dicts.

`filter_messages`, `merge_message_runs` and `trim_messages` (in `prompts._trim`) called without
messages return a runnable doing the same to its input, as LangChain's do:
`filter_messages(exclude_types=["system"]) | model`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeAlias

from prompts._merge import merge_content, merge_dicts
from prompts._message_chunks import (
    ChatMessageChunk,
    FunctionMessageChunk,
    HumanMessageChunk,
    SystemMessageChunk,
    ToolMessageChunk,
)
from prompts._messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    Usage,
)
from prompts._values import PromptValue
from runnables import Runnable, RunnableLambda

__all__ = [
    "MessageLikeRepresentation",
    "convert_to_messages",
    "filter_messages",
    "merge_message_runs",
    "message_chunk_to_message",
    "message_to_dict",
    "messages_from_dict",
    "messages_to_dict",
]

MessageLikeRepresentation: TypeAlias = (
    BaseMessage | str | tuple[str, Any] | list[Any] | dict[str, Any]
)
"""What `convert_to_messages` reads as a message: a message, a string (a human message), a
`(role, content)` pair, or a dict with `role` (or `type`) and `content`."""

_BY_TYPE: dict[str, type[BaseMessage]] = {
    cls.type: cls
    for cls in (
        HumanMessage,
        AIMessage,
        SystemMessage,
        ChatMessage,
        FunctionMessage,
        ToolMessage,
        AIMessageChunk,
        HumanMessageChunk,
        SystemMessageChunk,
        ChatMessageChunk,
        FunctionMessageChunk,
        ToolMessageChunk,
    )
}
_ROLES = "'human', 'user', 'ai', 'assistant', 'system', 'developer', 'function' or 'tool'"
_LC_CONSTRUCTOR_TYPES = {
    "HumanMessage": "human",
    "HumanMessageChunk": "human",
    "AIMessage": "ai",
    "AIMessageChunk": "ai",
    "SystemMessage": "system",
    "SystemMessageChunk": "system",
    "FunctionMessage": "function",
    "FunctionMessageChunk": "function",
    "ToolMessage": "tool",
    "ToolMessageChunk": "tool",
}


def runnable_support(func: Callable[..., list[BaseMessage]]) -> Any:
    """`func(messages, **options)`, or, without messages, a runnable applying it to its input."""

    @functools.wraps(func)
    def wrapped(messages: Any = None, /, **options: Any) -> Any:
        if messages is not None:
            return func(messages, **options)
        func([], **options)  # bad options fail when the step is built, not on its first input
        bound = functools.partial(func, **options)
        runnable: Runnable[Any, list[BaseMessage]] = RunnableLambda(bound, name=func.__name__)
        return runnable

    return wrapped


def _openai_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tool calls given as LangChain dicts or in OpenAI's `{"function": {...}}` form."""
    out = []
    for call in calls:
        if "function" in call:
            args = call["function"].get("arguments")
            if isinstance(args, str):
                args = json.loads(args, strict=False) if args.strip() else {}
            out.append({"name": call["function"]["name"], "args": args, "id": call.get("id")})
        else:
            out.append(call)
    return out


def _from_role(role: str, content: Any, **fields: Any) -> BaseMessage:
    """The message of `role` with `content`, a dict's other keys read as LangChain reads them
    (`name`, `id`, `tool_call_id`, `tool_calls`, `response_metadata`; the rest are
    `additional_kwargs`)."""
    kwargs: dict[str, Any] = {}
    for key in ("name", "id", "tool_call_id"):
        value = fields.pop(key, None)
        if value is not None:
            kwargs[key] = value
    calls = fields.pop("tool_calls", None)
    if fields.get("response_metadata"):
        kwargs["response_metadata"] = fields.pop("response_metadata")
    fields.pop("response_metadata", None)
    extra = fields.pop("additional_kwargs", None) or {}
    extra = {**fields, **extra}
    if role in ("human", "user"):
        cls: type[BaseMessage] = HumanMessage
    elif role in ("ai", "assistant"):
        cls = AIMessage
        if calls is not None:
            kwargs["tool_calls"] = _openai_tool_calls(calls)
    elif role in ("system", "developer"):
        cls = SystemMessage
        if role == "developer":
            extra["__openai_role__"] = "developer"
    elif role == "function":
        cls = FunctionMessage
    elif role == "tool":
        cls = ToolMessage
        for key in ("artifact", "status"):
            if extra.get(key) is not None:
                kwargs[key] = extra.pop(key)
            extra.pop(key, None)
    else:
        raise ValueError(f"Invalid message role {role!r}: expected one of {_ROLES}")
    if extra:
        kwargs["additional_kwargs"] = extra
    return cls(content=content, **kwargs)


def _to_message(item: object) -> BaseMessage:
    if isinstance(item, BaseMessage):
        return item
    if isinstance(item, str):
        return HumanMessage(content=item)
    if isinstance(item, dict):
        if (
            item.get("lc") == 1
            and item.get("type") == "constructor"
            and isinstance(item.get("id"), list)
            and item["id"]
            and isinstance(item.get("kwargs"), dict)
            and item["id"][-1] in _LC_CONSTRUCTOR_TYPES
        ):  # LangChain's serialized form of a message
            return _to_message({"type": _LC_CONSTRUCTOR_TYPES[item["id"][-1]], **item["kwargs"]})
        fields = dict(item)
        role = fields.pop("role", None) or fields.pop("type", None)
        if not isinstance(role, str) or "content" not in fields:
            raise ValueError(f"A message dict needs 'role' and 'content' keys, got {item!r}")
        fields.pop("type", None)
        return _from_role(role, fields.pop("content") or "", **fields)
    if isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], str):
        return _from_role(item[0], item[1])
    raise TypeError(
        "Invalid message: expected a message, a string, a (role, content) pair or a dict "
        f"with 'role' and 'content', got {type(item).__name__} {item!r}"
    )


def convert_to_messages(
    messages: Iterable[MessageLikeRepresentation] | PromptValue,
) -> list[BaseMessage]:
    """Messages from message-like values.

    Args:
        messages: A prompt value, or message-like values: messages (kept as they are),
            strings (human messages), `(role, content)` pairs, or dicts with `role` (or
            `type`) and `content`, and optionally `name`, `id`, `tool_call_id` and
            `tool_calls` (LangChain's or OpenAI's form). Roles: `human`/`user`,
            `ai`/`assistant`, `system`, `developer` (a system message sent with that role),
            `function`, `tool`.

    Returns:
        A new list of messages.

    Raises:
        ValueError: A role is not one of those, or a dict has no role or content.
        TypeError: A value is none of those forms.
    """
    if isinstance(messages, PromptValue):
        return messages.to_messages()
    if isinstance(messages, str | bytes) or not isinstance(messages, Iterable):
        # (A string would be read a character a message.)
        raise TypeError(
            'Invalid "messages" argument: expected a list of message-like values or a prompt '
            f"value, got {type(messages).__name__} {messages!r}"
        )
    return [_to_message(m) for m in messages]


def message_to_dict(message: BaseMessage) -> dict[str, Any]:
    """`{"type": <the message's type>, "data": <its fields, with "type">}`, LangChain's form (an
    AI message's `usage` is saved as LangChain's `usage_metadata`, so LangChain reads it)."""
    data = message.model_dump()
    if isinstance(message, AIMessage):
        data.pop("usage", None)
        data["usage_metadata"] = message.usage_metadata
    data["type"] = message.type
    return {"type": message.type, "data": data}


def messages_to_dict(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """`message_to_dict` of each message."""
    return [message_to_dict(m) for m in messages]


def _from_dict(item: dict[str, Any]) -> BaseMessage:
    kind = item.get("type")
    cls = _BY_TYPE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"Invalid message type {kind!r} in {item!r}: expected one of {sorted(_BY_TYPE)}"
        )
    data = {k: v for k, v in item["data"].items() if k not in ("type", "example")}
    usage = data.pop("usage_metadata", None)  # as LangChain saves it
    if isinstance(usage, dict) and cls in (AIMessage, AIMessageChunk):
        data["usage"] = Usage(
            input_tokens=usage.get("input_tokens", 0),
            output_tokens=usage.get("output_tokens", 0),
            total_tokens=usage.get("total_tokens", 0),
            input_token_details=usage.get("input_token_details"),
            output_token_details=usage.get("output_token_details"),
        )
    return cls(**data)


def messages_from_dict(messages: Sequence[dict[str, Any]]) -> list[BaseMessage]:
    """The messages of `messages_to_dict`'s dicts (LangChain's too; `usage_metadata` becomes
    `usage`).

    Raises:
        ValueError: A dict's `type` is not a message type.
    """
    return [_from_dict(m) for m in messages]


def message_chunk_to_message(chunk: BaseMessage) -> BaseMessage:
    """The whole message of a chunk; any other message as it is."""
    return chunk.to_message() if isinstance(chunk, BaseMessageChunk) else chunk


def _is_type(message: BaseMessage, types: Sequence[str | type[BaseMessage]]) -> bool:
    for kind in types:
        if message.type == kind if isinstance(kind, str) else isinstance(message, kind):
            return True
    return False


def _types(
    value: str | type[BaseMessage] | Sequence[str | type[BaseMessage]] | None, name: str
) -> Any:
    """`value` as a list of message types (one type alone is a list of one), or None."""
    if value is None:
        return None
    kinds = [value] if isinstance(value, str | type) else value
    if not isinstance(kinds, Sequence) or not all(
        isinstance(k, str) or (isinstance(k, type) and issubclass(k, BaseMessage)) for k in kinds
    ):
        raise TypeError(
            f'Invalid "{name}" argument: {value!r}; expected a message type ("human", "ai", ...'
            ", or a message class) or a list of them"
        )
    return list(kinds)


@runnable_support
def filter_messages(
    messages: Iterable[MessageLikeRepresentation] | PromptValue,
    *,
    include_names: Sequence[str] | None = None,
    exclude_names: Sequence[str] | None = None,
    include_types: Sequence[str | type[BaseMessage]] | None = None,
    exclude_types: Sequence[str | type[BaseMessage]] | None = None,
    include_ids: Sequence[str] | None = None,
    exclude_ids: Sequence[str] | None = None,
    exclude_tool_calls: Sequence[str] | bool | None = None,
) -> list[BaseMessage]:
    """The messages that pass the filters, in order.

    A message is dropped if it matches any `exclude_*` filter; then, if any `include_*` filter
    is given, it is kept only if it matches one. Types are message classes or `type` strings
    (`"human"`, `"ai"`, ...).

    Args:
        messages: Message-like values (see `convert_to_messages`).
        include_names: Keep messages with one of these names.
        exclude_names: Drop messages with one of these names.
        include_types: Keep messages of these types.
        exclude_types: Drop messages of these types.
        include_ids: Keep messages with one of these ids.
        exclude_ids: Drop messages with one of these ids.
        exclude_tool_calls: True: drop AI messages with tool calls and all tool messages. A
            list of tool call ids: drop those calls from AI messages (and an AI message left
            with none) and the tool messages answering them.

    Returns:
        A new list (a message whose tool calls were dropped is a copy).

    Raises:
        TypeError: `include_types` or `exclude_types` holds something that is neither a type
            string nor a message class.
    """
    include_types = _types(include_types, "include_types")
    exclude_types = _types(exclude_types, "exclude_types")
    kept: list[BaseMessage] = []
    for message in convert_to_messages(messages):
        if (
            (exclude_names and message.name in exclude_names)
            or (exclude_types and _is_type(message, exclude_types))
            or (exclude_ids and message.id in exclude_ids)
        ):
            continue
        if exclude_tool_calls is True:
            if isinstance(message, ToolMessage) or (
                isinstance(message, AIMessage) and message.tool_calls
            ):
                continue
        elif exclude_tool_calls:
            if isinstance(message, ToolMessage) and message.tool_call_id in exclude_tool_calls:
                continue
            if isinstance(message, AIMessage) and message.tool_calls:
                calls = [c for c in message.tool_calls if c["id"] not in exclude_tool_calls]
                if not calls:
                    continue
                content = message.content
                if isinstance(content, list):  # Anthropic-style tool_use parts go with them
                    content = [
                        p
                        for p in content
                        if not (
                            isinstance(p, dict)
                            and p.get("type") == "tool_use"
                            and p.get("id") in exclude_tool_calls
                        )
                    ]
                message = message.model_copy(update={"tool_calls": calls, "content": content})
        if not (include_names or include_types or include_ids) or (
            (include_names and message.name in include_names)
            or (include_types and _is_type(message, include_types))
            or (include_ids and message.id in include_ids)
        ):
            kept.append(message)
    return kept


def _merged_pair(first: BaseMessage, second: BaseMessage, separator: str) -> BaseMessage:
    left = first.content
    if isinstance(left, str) and isinstance(second.content, str) and left and second.content:
        left += separator
    update: dict[str, Any] = {
        "content": merge_content(left, second.content),
        "additional_kwargs": merge_dicts(first.additional_kwargs, second.additional_kwargs),
    }
    if isinstance(first, AIMessage) and isinstance(second, AIMessage):
        update["tool_calls"] = [*first.tool_calls, *second.tool_calls]
        update["invalid_tool_calls"] = [*first.invalid_tool_calls, *second.invalid_tool_calls]
        if first.usage is not None and second.usage is not None:
            update["usage"] = first.usage + second.usage
        else:
            update["usage"] = first.usage or second.usage
    return first.model_copy(update=update)


@runnable_support
def merge_message_runs(
    messages: Iterable[MessageLikeRepresentation] | PromptValue,
    *,
    chunk_separator: str = "\n",
) -> list[BaseMessage]:
    """Consecutive messages of one class merged into one (tool messages are never merged).

    Two string contents join with `chunk_separator` between them; list contents merge as
    chunks do. The merged message keeps the first one's `id`, `name` and `response_metadata`;
    `additional_kwargs` merge; an AI message gets the tool calls of both.

    Args:
        messages: Message-like values (see `convert_to_messages`).
        chunk_separator: What goes between two non-empty string contents.

    Returns:
        A new list of messages.
    """
    merged: list[BaseMessage] = []
    for message in convert_to_messages(messages):
        last = merged[-1] if merged else None
        if (
            last is None
            or isinstance(message, ToolMessage)
            or type(message) is not type(last)
            or (isinstance(message, ChatMessage) and message.role != getattr(last, "role", None))
        ):
            merged.append(message)
        else:
            merged[-1] = _merged_pair(last, message, chunk_separator)
    return merged
