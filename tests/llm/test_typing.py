"""Static types of model chains; mypy (strict) checks this file, pytest runs it."""

from typing import Any, assert_type

from pydantic import BaseModel

from llm import (
    ChatOpenAI,
    CommaSeparatedListOutputParser,
    JsonOutputParser,
    LanguageModelInput,
    OfflineChatModel,
    PydanticOutputParser,
    StrOutputParser,
)
from prompts._messages import AIMessage, AIMessageChunk
from runnables import Runnable, RunnableSequence


class Answer(BaseModel):
    text: str


def test_model_and_parser_types_flow_through_pipes() -> None:
    model = OfflineChatModel(responses=['{"text": "hi"}'])
    assert_type(model.invoke("x"), AIMessage)
    assert_type(next(iter(model.stream("x"))), AIMessageChunk)
    text = model | StrOutputParser()
    assert_type(text, RunnableSequence[LanguageModelInput, str])
    assert_type(text.invoke("x"), str)
    assert_type((model | PydanticOutputParser(Answer)).invoke("x"), Answer)
    assert_type((model | JsonOutputParser()).invoke("x"), Any)
    assert_type((model | CommaSeparatedListOutputParser()).invoke("x"), list[str])
    structured = ChatOpenAI(api_key="k").with_structured_output(Answer)
    assert_type(structured, Runnable[LanguageModelInput, Answer])


def test_tool_calling_types() -> None:
    from llm import BaseTool, StructuredTool, ToolExecutor, tool
    from prompts import ToolCall, ToolMessage
    from runnables import RunnableBinding, RunnableLambda

    @tool
    def double(x: int) -> int:
        """Double x."""
        return 2 * x

    assert_type(double, StructuredTool)
    assert_type(RunnableLambda(lambda x: x).as_tool(name="same"), BaseTool)
    model = OfflineChatModel(responses=["no calls"])
    bound = model.bind_tools([double])
    assert_type(bound, RunnableBinding[LanguageModelInput, AIMessage])
    reply = bound.invoke("x")
    assert_type(reply.tool_calls, list[ToolCall])
    assert_type(ToolExecutor([double]).invoke(reply), list[ToolMessage])
    assert_type(model.with_structured_output(Answer), Runnable[LanguageModelInput, Answer])
    raw = model.with_structured_output(Answer, include_raw=True)
    assert_type(raw, Runnable[LanguageModelInput, Any])
