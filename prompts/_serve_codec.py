"""Messages and prompt values on the serving wire (`runnables.serve`), in LangServe's shapes.

`runnables` knows no message classes, so this module registers them with its wire format:
each message and chunk class is written with its `type` tag (`"ai"`, `"AIMessageChunk"`, ...)
and LangChain's field names (`usage_metadata`), and read back from that tag, so a served chain's
messages reach `RemoteRunnable` (ours or LangServe's) as messages again. Prompt values are
written as LangServe writes them (`ChatPromptValueConcrete`, `StringPromptValue`).
"""

from __future__ import annotations

from typing import Any

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
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from prompts._values import ChatPromptValue, StringPromptValue
from runnables._serve_protocol import register_wire_decoder, register_wire_encoder

__all__: list[str] = []

_MESSAGE_CLASSES: tuple[type[BaseMessage], ...] = (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
_LANGCHAIN_ONLY = ("chunk_position", "example")
"""Fields of LangChain's dumps that these classes do not have (and need not: defaults)."""


def _encode_message(message: BaseMessage) -> dict[str, Any]:
    data: dict[str, Any] = message.model_dump(mode="json")
    if "usage" in data:  # LangChain's name on the wire, without the unset parts (not None)
        usage = data.pop("usage")
        data["usage_metadata"] = _without_none(usage) if isinstance(usage, dict) else usage
    return data


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    return {
        k: _without_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None
    }


def _decoder(cls: type[BaseMessage]) -> Any:
    def decode(data: dict[str, Any]) -> BaseMessage:
        fields = {k: v for k, v in data.items() if k not in _LANGCHAIN_ONLY}
        return cls.model_validate(fields)

    return decode


def _encode_chat_value(value: ChatPromptValue) -> dict[str, Any]:
    return {"messages": list(value.messages), "type": "ChatPromptValueConcrete"}


def _decode_chat_value(data: dict[str, Any]) -> ChatPromptValue:
    messages = data.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, BaseMessage) for m in messages):
        raise ValueError("a chat prompt value holds a list of messages")
    return ChatPromptValue(messages)


def _encode_string_value(value: StringPromptValue) -> dict[str, Any]:
    return {"text": value.text, "type": "StringPromptValue"}


def _decode_string_value(data: dict[str, Any]) -> StringPromptValue:
    return StringPromptValue(data.get("text"))  # type: ignore[arg-type]  # it checks: TypeError


for _cls in _MESSAGE_CLASSES:
    register_wire_encoder(_cls, _encode_message)
    register_wire_decoder(_cls.type, _decoder(_cls))
register_wire_encoder(ChatPromptValue, _encode_chat_value)
register_wire_encoder(StringPromptValue, _encode_string_value)
register_wire_decoder("ChatPromptValueConcrete", _decode_chat_value)
register_wire_decoder("ChatPromptValue", _decode_chat_value)
register_wire_decoder("StringPromptValue", _decode_string_value)
