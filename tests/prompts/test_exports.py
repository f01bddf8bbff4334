import prompts


def test_all_is_exact_and_importable() -> None:
    assert prompts.__all__ == [
        "AIMessage",
        "AIMessageChunk",
        "AnyMessage",
        "BaseMessage",
        "BaseMessageChunk",
        "BasePromptTemplate",
        "ChatMessage",
        "ChatMessageChunk",
        "ChatPromptTemplate",
        "ChatPromptValue",
        "FunctionMessage",
        "FunctionMessageChunk",
        "HumanMessage",
        "HumanMessageChunk",
        "InvalidToolCall",
        "MessageLike",
        "MessageTemplate",
        "MessagesPlaceholder",
        "MissingVariablesError",
        "PromptTemplate",
        "PromptValue",
        "StringPromptValue",
        "SystemMessage",
        "SystemMessageChunk",
        "ToolCall",
        "ToolCallChunk",
        "ToolMessage",
        "ToolMessageChunk",
        "Usage",
        "get_buffer_string",
        "invalid_tool_call",
        "tool_call",
        "tool_call_chunk",
    ]
    assert prompts.__all__ == sorted(prompts.__all__)
    for name in prompts.__all__:
        assert getattr(prompts, name) is not None
