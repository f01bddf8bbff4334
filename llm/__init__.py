"""Chat models and output parsers.

`ChatOpenAI` talks to OpenAI or any OpenAI-compatible server through the official SDK;
`OfflineChatModel` is a deterministic stand-in that needs no network. Parsers turn a reply into
a string, JSON, a pydantic model instance or a list.
"""

from llm._chat_model import BaseChatModel, LanguageModelInput, PromptValueLike
from llm._errors import MissingAPIKeyError, OutputParserError
from llm._offline import OfflineChatModel
from llm._openai import ChatOpenAI
from llm._parsers import (
    BaseOutputParser,
    CommaSeparatedListOutputParser,
    JsonOutputParser,
    PydanticOutputParser,
    StrOutputParser,
)

__all__ = [
    "BaseChatModel",
    "BaseOutputParser",
    "ChatOpenAI",
    "CommaSeparatedListOutputParser",
    "JsonOutputParser",
    "LanguageModelInput",
    "MissingAPIKeyError",
    "OfflineChatModel",
    "OutputParserError",
    "PromptValueLike",
    "PydanticOutputParser",
    "StrOutputParser",
]
