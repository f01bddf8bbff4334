import prompts


def test_all_is_exact_and_importable() -> None:
    assert prompts.__all__ == [
        "AIMessage",
        "AIMessageChunk",
        "BaseMessage",
        "BasePromptTemplate",
        "ChatPromptTemplate",
        "ChatPromptValue",
        "HumanMessage",
        "InvalidToolCall",
        "MessageLike",
        "MessageTemplate",
        "MessagesPlaceholder",
        "MissingVariablesError",
        "PromptTemplate",
        "PromptValue",
        "StringPromptValue",
        "SystemMessage",
        "ToolCall",
        "ToolCallChunk",
        "ToolMessage",
        "Usage",
        "get_buffer_string",
        "invalid_tool_call",
        "tool_call",
        "tool_call_chunk",
    ]
    assert prompts.__all__ == sorted(prompts.__all__)
    for name in prompts.__all__:
        assert getattr(prompts, name) is not None
