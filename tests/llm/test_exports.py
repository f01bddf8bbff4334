import llm


def test_all_is_exact_and_importable() -> None:
    assert sorted(llm.__all__) == [
        "BaseChatModel",
        "BaseOutputParser",
        "BaseRetriever",
        "BaseTool",
        "BatchAPIChatModel",
        "BatchJobError",
        "ChatOpenAI",
        "CommaSeparatedListOutputParser",
        "DEFAULT_PRICES",
        "Document",
        "InjectedToolArg",
        "InjectedToolCallId",
        "JsonOutputParser",
        "LanguageModelInput",
        "ListOutputParser",
        "MarkdownListOutputParser",
        "MissingAPIKeyError",
        "NumberedListOutputParser",
        "OfflineChatModel",
        "OutputParserError",
        "PRICES_DATE",
        "Price",
        "PromptValueLike",
        "PydanticOutputParser",
        "StrOutputParser",
        "StructuredTool",
        "Tool",
        "ToolArgumentsError",
        "ToolException",
        "ToolExecutor",
        "UsageMetadataCallbackHandler",
        "UsageTotals",
        "UsageTracker",
        "add_openai_routes",
        "convert_to_openai_tool",
        "get_llm_cache",
        "get_usage_metadata_callback",
        "parse_json_markdown",
        "parse_partial_json",
        "set_llm_cache",
        "tool",
    ]
    for name in llm.__all__:
        assert getattr(llm, name) is not None


def test_importing_llm_does_not_import_the_openai_sdk() -> None:
    import subprocess
    import sys

    code = "import sys, llm; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
