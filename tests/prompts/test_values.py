import dataclasses
import pickle
from typing import Any

import pytest

from prompts import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatPromptValue,
    HumanMessage,
    PromptValue,
    StringPromptValue,
    SystemMessage,
    get_buffer_string,
)


def test_string_value_reads_as_text_and_as_one_human_message() -> None:
    value = StringPromptValue("Tell me about space")

    assert value.to_string() == "Tell me about space"
    assert value.text == "Tell me about space"
    assert value.to_messages() == [HumanMessage(content="Tell me about space")]
    assert type(value.to_messages()[0]) is HumanMessage


def test_chat_value_reads_as_transcript() -> None:
    value = ChatPromptValue(
        [
            SystemMessage(content="Be brief."),
            HumanMessage(content="Hi"),
            AIMessage(content="Hello"),
        ]
    )

    assert value.to_string() == "System: Be brief.\nHuman: Hi\nAI: Hello"


def test_chat_value_to_messages_is_a_new_list() -> None:
    messages: list[BaseMessage] = [HumanMessage(content="Hi")]
    value = ChatPromptValue(messages)

    out = value.to_messages()
    out.append(AIMessage(content="extra"))

    assert value.to_messages() == [HumanMessage(content="Hi")]
    assert value.messages == [HumanMessage(content="Hi")]


def test_empty_chat_value() -> None:
    value = ChatPromptValue([])

    assert value.to_string() == ""
    assert value.to_messages() == []


def test_values_compare_by_content() -> None:
    assert StringPromptValue("a") == StringPromptValue("a")
    assert StringPromptValue("a") != StringPromptValue("b")
    assert ChatPromptValue([HumanMessage(content="a")]) == ChatPromptValue(
        [HumanMessage(content="a")]
    )
    assert ChatPromptValue([HumanMessage(content="a")]) != ChatPromptValue([AIMessage(content="a")])


def test_values_are_frozen() -> None:
    value = StringPromptValue("a")

    with pytest.raises(dataclasses.FrozenInstanceError):
        value.text = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    "value",
    [
        StringPromptValue("Tell me about {topic}"),
        ChatPromptValue([SystemMessage(content="s"), HumanMessage(content="h")]),
    ],
)
def test_values_pickle(value: PromptValue) -> None:
    restored = pickle.loads(pickle.dumps(value))

    assert restored == value
    assert restored.to_string() == value.to_string()


def test_values_are_prompt_values() -> None:
    assert isinstance(StringPromptValue("a"), PromptValue)
    assert isinstance(ChatPromptValue([]), PromptValue)
    with pytest.raises(TypeError):
        PromptValue()  # type: ignore[abstract]


@pytest.mark.parametrize("text", [42, None, b"bytes", ["a"]])
def test_string_value_rejects_non_str(text: Any) -> None:
    with pytest.raises(TypeError, match='"text"') as info:
        StringPromptValue(text)

    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    "messages",
    ["Hi", ("a", "b"), [HumanMessage(content="ok"), "not a message"], [("human", "hi")], None],
)
def test_chat_value_rejects_non_message_lists(messages: Any) -> None:
    with pytest.raises(TypeError, match='"messages"') as info:
        ChatPromptValue(messages)

    assert repr(messages) in str(info.value)


def test_buffer_string_labels_every_message_type() -> None:
    messages: list[BaseMessage] = [
        SystemMessage(content="s"),
        HumanMessage(content="h"),
        AIMessage(content="a"),
        AIMessageChunk(content="c"),
    ]

    assert get_buffer_string(messages) == "System: s\nHuman: h\nAI: a\nAI: c"
    assert (
        get_buffer_string(messages, human_prefix="User", ai_prefix="Bot")
        == "System: s\nUser: h\nBot: a\nBot: c"
    )


def test_buffer_string_of_a_custom_message_uses_its_type() -> None:
    class ToolMessage(BaseMessage):
        type = "tool"

    assert get_buffer_string([ToolMessage(content="42")]) == "tool: 42"


def test_buffer_string_keeps_multiline_content() -> None:
    assert get_buffer_string([HumanMessage(content="a\nb")]) == "Human: a\nb"
