"""prompts: chat messages, prompt values and prompt templates.

`PromptTemplate` (text) and `ChatPromptTemplate` (messages) are runnables that turn a dict of
variables into a `PromptValue`, readable as messages (`to_messages()`) or as text
(`to_string()`), ready for a chat model: `prompt | model`.

Messages (`HumanMessage`, `AIMessage`, ... and their chunks) carry text or a list of content
parts (text, images, audio, files); `content_blocks` reads them as LangChain's standard blocks.
LangChain's message utilities are here too: `trim_messages`, `filter_messages`,
`merge_message_runs`, `convert_to_messages`, `convert_to_openai_messages`,
`get_buffer_string`, `messages_to_dict` / `messages_from_dict`.
"""

import prompts._serve_codec  # noqa: F401  (registers messages with the serving wire)
from prompts._block_factories import (
    create_audio_block,
    create_file_block,
    create_image_block,
    create_non_standard_block,
    create_plaintext_block,
    create_reasoning_block,
    create_text_block,
    create_video_block,
)
from prompts._chat import ChatPromptTemplate, MessageLike
from prompts._content import (
    AudioContentBlock,
    ContentBlock,
    DataContentBlock,
    FileContentBlock,
    ImageContentBlock,
    NonStandardContentBlock,
    PlainTextContentBlock,
    ReasoningContentBlock,
    TextContentBlock,
    VideoContentBlock,
    is_data_content_block,
)
from prompts._message_chunks import (
    ChatMessageChunk,
    FunctionMessageChunk,
    HumanMessageChunk,
    SystemMessageChunk,
    ToolMessageChunk,
)
from prompts._message_templates import (
    AIMessagePromptTemplate,
    BaseMessagePromptTemplate,
    ChatMessagePromptTemplate,
    HumanMessagePromptTemplate,
    MessageTemplate,
    SystemMessagePromptTemplate,
)
from prompts._message_utils import (
    MessageLikeRepresentation,
    convert_to_messages,
    filter_messages,
    merge_message_runs,
    message_chunk_to_message,
    message_to_dict,
    messages_from_dict,
    messages_to_dict,
)
from prompts._messages import (
    AIMessage,
    AIMessageChunk,
    AnyMessage,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    Usage,
)
from prompts._openai_messages import (
    convert_to_openai_data_block,
    convert_to_openai_image_block,
    convert_to_openai_messages,
)
from prompts._placeholder import MessagesPlaceholder
from prompts._prompt import BasePromptTemplate, PromptTemplate
from prompts._template import MissingVariablesError, PromptTemplateFormat
from prompts._tool_calls import (
    InvalidToolCall,
    ToolCall,
    ToolCallChunk,
    invalid_tool_call,
    tool_call,
    tool_call_chunk,
)
from prompts._trim import (
    count_tokens_approximately,
    trim_messages,
)
from prompts._values import ChatPromptValue, PromptValue, StringPromptValue, get_buffer_string

__all__ = [
    "AIMessage",
    "AIMessageChunk",
    "AIMessagePromptTemplate",
    "AnyMessage",
    "AudioContentBlock",
    "BaseMessage",
    "BaseMessageChunk",
    "BaseMessagePromptTemplate",
    "BasePromptTemplate",
    "ChatMessage",
    "ChatMessageChunk",
    "ChatMessagePromptTemplate",
    "ChatPromptTemplate",
    "ChatPromptValue",
    "ContentBlock",
    "DataContentBlock",
    "FileContentBlock",
    "FunctionMessage",
    "FunctionMessageChunk",
    "HumanMessage",
    "HumanMessageChunk",
    "HumanMessagePromptTemplate",
    "ImageContentBlock",
    "InvalidToolCall",
    "MessageLike",
    "MessageLikeRepresentation",
    "MessageTemplate",
    "MessagesPlaceholder",
    "MissingVariablesError",
    "NonStandardContentBlock",
    "PlainTextContentBlock",
    "PromptTemplate",
    "PromptTemplateFormat",
    "PromptValue",
    "ReasoningContentBlock",
    "StringPromptValue",
    "SystemMessage",
    "SystemMessageChunk",
    "SystemMessagePromptTemplate",
    "TextContentBlock",
    "ToolCall",
    "ToolCallChunk",
    "ToolMessage",
    "ToolMessageChunk",
    "Usage",
    "VideoContentBlock",
    "convert_to_messages",
    "convert_to_openai_data_block",
    "convert_to_openai_image_block",
    "convert_to_openai_messages",
    "count_tokens_approximately",
    "create_audio_block",
    "create_file_block",
    "create_image_block",
    "create_non_standard_block",
    "create_plaintext_block",
    "create_reasoning_block",
    "create_text_block",
    "create_video_block",
    "filter_messages",
    "get_buffer_string",
    "invalid_tool_call",
    "is_data_content_block",
    "merge_message_runs",
    "message_chunk_to_message",
    "message_to_dict",
    "messages_from_dict",
    "messages_to_dict",
    "tool_call",
    "tool_call_chunk",
    "trim_messages",
]
