"""Chat models and output parsers.

`ChatOpenAI` talks to OpenAI or any OpenAI-compatible server through the official SDK;
`OfflineChatModel` is a deterministic stand-in that needs no network. Parsers turn a reply into
a string, JSON, a pydantic model instance or a list. Tools (`@tool`) are steps a model can call:
`model.bind_tools([...])` offers them, `ToolExecutor` runs the calls in a reply, and
`model.with_structured_output(Schema)` parses replies into a schema, and
`ChatOpenAI(...).with_batch_api()` sends a run's calls through OpenAI's Batch API. A retriever
(`BaseRetriever`) finds the `Document`s relevant to a query.
"""

from typing import TYPE_CHECKING, Any

from llm._batch_api import BatchAPIChatModel
from llm._chat_model import BaseChatModel, LanguageModelInput, PromptValueLike
from llm._documents import Document
from llm._errors import (
    BatchJobError,
    MissingAPIKeyError,
    OutputParserError,
    ToolArgumentsError,
    ToolException,
)
from llm._json_parser import (
    JsonOutputParser,
    PydanticOutputParser,
    parse_json_markdown,
    parse_partial_json,
)
from llm._list_parsers import (
    CommaSeparatedListOutputParser,
    ListOutputParser,
    MarkdownListOutputParser,
    NumberedListOutputParser,
)
from llm._model_cache import get_llm_cache, set_llm_cache
from llm._offline import OfflineChatModel
from llm._openai import ChatOpenAI
from llm._parsers import BaseOutputParser, StrOutputParser
from llm._retrievers import BaseRetriever
from llm._simple_tool import Tool
from llm._structured_tool import StructuredTool, tool
from llm._tool_executor import ToolExecutor
from llm._tool_specs import convert_to_openai_tool
from llm._usage import (
    DEFAULT_PRICES,
    PRICES_DATE,
    Price,
    UsageMetadataCallbackHandler,
    UsageTotals,
    UsageTracker,
    get_usage_metadata_callback,
)
from runnables._tool import BaseTool
from runnables._tool_schema import InjectedToolArg, InjectedToolCallId

if TYPE_CHECKING:
    from llm._openai_routes import add_openai_routes

__all__ = [
    "DEFAULT_PRICES",
    "PRICES_DATE",
    "BaseChatModel",
    "BaseOutputParser",
    "BaseRetriever",
    "BaseTool",
    "BatchAPIChatModel",
    "BatchJobError",
    "ChatOpenAI",
    "CommaSeparatedListOutputParser",
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


def __getattr__(name: str) -> Any:
    # add_openai_routes needs the `serve` extra (starlette): imported on first use, so `import
    # llm` works, and stays quick, without it.
    if name == "add_openai_routes":
        from llm._openai_routes import add_openai_routes

        return add_openai_routes
    raise AttributeError(f"module 'llm' has no attribute {name!r}")
